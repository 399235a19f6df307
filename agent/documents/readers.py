"""Read a record file into a :class:`~agent.documents.model.Document`, whatever its format.

:func:`read_document` dispatches on the extension: Word (.docx, .docm, .dotx), OpenDocument
text and spreadsheets (.odt, .ods), PDF (text layer), Excel (.xlsx, .xlsm), PowerPoint (.pptx,
.pptm, .ppsx) and plain text (.txt, .md); :data:`~agent.documents.model.READABLE_SUFFIXES`
lists them. Blocks come in reading order (a table where it stands, nested tables too; a
spreadsheet row by row; slides in the presentation's order), Unicode NFC, stripped, blank ones
left out; text typed in a legacy TCVN3 or VNI font is converted and the block marked (by the
font of each run, else guessed from the paragraph's content, or from a plain-text file's
whole text: :mod:`agent.documents.legacy`).

Invariants: the file is only read. Whatever the file holds, the only exceptions are
:class:`Unreadable` (with its reason), :class:`TooComplex` (a zip bomb, or memory ran out) and
``OSError`` when the file itself cannot be opened (vanished, locked): that one is the caller's
to retry. Packages declaring more than :data:`~agent.documents.legacy.MAX_UNPACKED_BYTES`
unpacked, or an XML part past :func:`~agent.documents.legacy.check_part`'s caps, are refused
before parsing. Only the parts a reader needs are unpacked (never a .docx's pictures). A
plain-text file past :data:`MAX_TEXT_BYTES` and a spreadsheet whose repeated rows and columns
expand past :data:`MAX_CELLS` cells of text are refused (TooComplex SIZE) before they are read
or expanded, a plain-text file of more than :data:`MAX_CELLS` lines of text before a block is
made; empty repeated cells are never expanded at all, blank lines never looked at twice.

These readers give no bound on time or memory for what they do parse: the agent runs them in
a worker process with limits (:mod:`agent.documents.sandbox`).
"""

from __future__ import annotations

import bisect
import codecs
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .legacy import (
    MAX_STYLE_CHAIN,
    PackageError,
    WordStyles,
    XmlElement,
    check_unpacked_size,
    decode_pieces,
    guess_encoding,
    has_unicode_vietnamese,
    main_document,
    paragraph_runs,
    plan_runs,
    read_part,
    related_by_id,
    related_parts,
    run_text,
    w,
)
from .model import (
    READABLE_SUFFIXES,
    Block,
    Document,
    Legacy,
    Limit,
    TooComplex,
    Unreadable,
    UnreadableReason,
)

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office 97–2003, and password-protected OOXML
LEGACY_SUFFIXES = frozenset({".doc", ".xls", ".ppt"})
OOXML_SUFFIXES = frozenset({".docx", ".docm", ".dotx", ".xlsx", ".xlsm", ".pptx", ".pptm", ".ppsx"})


def read_document(path: Path) -> Document:
    """The blocks of text of a record file. Raises :class:`Unreadable`: LEGACY_FORMAT for
    .doc/.xls/.ppt, ENCRYPTED for a password, CORRUPT for a damaged or disguised file (or
    a .txt holding binary data), NO_TEXT for a PDF without a text layer, UNSUPPORTED for
    any other extension; and :class:`TooComplex` for a zip bomb or an oversized text file
    or spreadsheet (SIZE) or when memory ran out (MEMORY)."""
    suffix = path.suffix.lower()
    if suffix in LEGACY_SUFFIXES:
        raise Unreadable(UnreadableReason.LEGACY_FORMAT, suffix)
    reader = _READERS.get(suffix)
    if reader is None:
        raise Unreadable(UnreadableReason.UNSUPPORTED, suffix or "no extension")
    with path.open("rb") as file:
        head = file.read(len(OLE_MAGIC))
    if head == OLE_MAGIC:
        # Office keeps a password-protected .docx/.xlsx in an OLE container.
        encrypted = suffix in OOXML_SUFFIXES
        reason = UnreadableReason.ENCRYPTED if encrypted else UnreadableReason.CORRUPT
        raise Unreadable(reason, "OLE container")
    try:
        return reader(path)
    except (Unreadable, TooComplex):
        raise
    except MemoryError:
        raise TooComplex(Limit.MEMORY, "out of memory") from None
    except (PackageError, zipfile.BadZipFile) as exc:
        raise Unreadable(UnreadableReason.CORRUPT, str(exc)) from exc
    except Exception as exc:
        # The one boundary: third-party parsers fed a hostile or broken file raise anything
        # (IndexError, ValueError, RecursionError…); the file is then unreadable, not us broken.
        raise Unreadable(UnreadableReason.CORRUPT, f"{type(exc).__name__}: {exc}") from exc


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _open_package(path: Path) -> zipfile.ZipFile:
    package = zipfile.ZipFile(path)
    try:
        check_unpacked_size(package)
    except PackageError:
        package.close()
        raise
    return package


def _block(
    pieces: Sequence[str],
    fonts: Sequence[str | None],
    bolds: Sequence[bool],
    *,
    heading_level: int | None = None,
    in_table: bool = False,
    encoding: Legacy | None = None,
) -> Block | None:
    """One block from the pieces of text of a paragraph with their fonts and boldness, legacy
    runs converted; None when it is blank. ``encoding``: what the whole file was typed in (a
    plain-text file has no fonts), for every piece without a Unicode Vietnamese letter."""
    if encoding is None:
        plans = plan_runs(pieces, fonts)
    else:
        plans = [None if has_unicode_vietnamese(p) else (encoding, False) for p in pieces]
    decoded = decode_pieces(pieces, plans)
    # A soft hyphen left after decoding is invisible: drop it so matching sees whole words.
    text = _nfc("".join(decoded)).replace("\u00ad", "").strip()
    if not text:
        return None
    changed = zip(plans, pieces, decoded, strict=True)
    legacy = next((plan[0] for plan, old, new in changed if plan and old != new), None)
    shown = [bold for bold, piece in zip(bolds, decoded, strict=True) if piece.strip()]
    return Block(
        text=text,
        heading_level=heading_level,
        bold=bool(shown) and all(shown),
        in_table=in_table,
        legacy=legacy,
    )


# --- Word -----------------------------------------------------------------------------------

_W_P, _W_TBL = w("p"), w("tbl")
# Body children that never hold paragraphs (or hold deleted or moved-away ones).
_W_SKIP = frozenset(w(t) for t in ("sectPr", "tblPr", "tblGrid", "trPr", "tcPr", "del", "moveFrom"))


def _read_docx(path: Path) -> Document:
    with _open_package(path) as package:
        main = main_document(package)
        styles = WordStyles.of(package, related_parts(package, main))
        body = read_part(package, main).find(w("body"))
    if body is None:
        raise PackageError("no document body")
    blocks = (_docx_block(p, styles, in_table) for p, in_table in _docx_paragraphs(body, False))
    return Document(format="docx", blocks=tuple(b for b in blocks if b is not None))


def _docx_paragraphs(container: XmlElement, in_table: bool) -> Iterator[tuple[XmlElement, bool]]:
    """The paragraphs of the body in document order: tables (nested ones too) and content
    controls are entered where they stand."""
    for child in container:
        if child.tag == _W_P:
            yield child, in_table
        elif child.tag not in _W_SKIP:
            yield from _docx_paragraphs(child, in_table or child.tag == _W_TBL)


def _docx_block(paragraph: XmlElement, styles: WordStyles, in_table: bool) -> Block | None:
    paragraph_style = styles.paragraph_style(paragraph)
    runs = list(paragraph_runs(paragraph))
    formats = [styles.run_format(run, paragraph_style) for run in runs]
    return _block(
        [run_text(run) for run in runs],
        [font for font, _ in formats],
        [bold for _, bold in formats],
        heading_level=styles.heading_level(paragraph, paragraph_style),
        in_table=in_table,
    )


# --- OpenDocument text ----------------------------------------------------------------------

_ODF = "urn:oasis:names:tc:opendocument:xmlns:"
_TEXT, _STYLE, _TABLE, _OFFICE = (f"{_ODF}{n}:1.0" for n in ("text", "style", "table", "office"))
_FO, _SVG = f"{_ODF}xsl-fo-compatible:1.0", f"{_ODF}svg-compatible:1.0"


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


_T_P, _T_H, _T_S = (_q(_TEXT, n) for n in ("p", "h", "s"))
_ODT_SPANS = frozenset(_q(_TEXT, n) for n in ("span", "a", "meta"))
_T_STYLE_NAME = _q(_TEXT, "style-name")
_ODT_BREAKS = {_q(_TEXT, "tab"): "\t", _q(_TEXT, "line-break"): "\n"}
# Never entered for paragraphs: change-tracking, declarations, columns, comments (a
# spreadsheet cell holds its comment beside its paragraphs).
_ODT_SKIP = frozenset(
    {
        _q(_TEXT, "tracked-changes"),
        _q(_TEXT, "sequence-decls"),
        _q(_TABLE, "table-columns"),
        _q(_OFFICE, "annotation"),
    }
)
_Format = tuple[str | None, bool]  # (font, bold)
_TEXT_FAMILIES = frozenset({"paragraph", "text", "table-cell"})  # the styles text is in


class _OdtStyles:
    """Fonts, boldness and heading names of an ODF document's styles (parents followed);
    the default format is that of ``family``'s default style (text documents: paragraphs;
    spreadsheets: cells)."""

    def __init__(self, roots: Sequence[XmlElement], family: str = "paragraph") -> None:
        self._faces: dict[str, str] = {}
        self._styles: dict[str, XmlElement] = {}
        self._default: _Format = (None, False)
        self._formats: dict[tuple[str | None, _Format], _Format] = {}
        for root in roots:
            for face in root.iter(_q(_STYLE, "font-face")):
                name = face.get(_q(_STYLE, "name"), "")
                self._faces[name] = (face.get(_q(_SVG, "font-family")) or name).strip("'\"")
            for style in root.iter(_q(_STYLE, "style")):
                # Names are unique per family only: a drawing's "Default" is not a cell's.
                if style.get(_q(_STYLE, "family")) in _TEXT_FAMILIES:
                    self._styles[style.get(_q(_STYLE, "name"), "")] = style
            for default in root.iter(_q(_STYLE, "default-style")):
                if default.get(_q(_STYLE, "family")) == family:
                    self._default = self._own(default, (None, False))

    def _chain(self, name: str | None) -> list[XmlElement]:
        found: list[XmlElement] = []
        while (
            name
            and name in self._styles
            and len(found) < MAX_STYLE_CHAIN
            and all(self._styles[name] is not s for s in found)
        ):
            found.append(self._styles[name])
            name = self._styles[name].get(_q(_STYLE, "parent-style-name"))
        return found

    def _own(self, style: XmlElement, inherited: _Format) -> _Format:
        props = style.find(_q(_STYLE, "text-properties"))
        if props is None:
            return inherited
        face = props.get(_q(_STYLE, "font-name"))
        font = self._faces.get(face, face) if face else props.get(_q(_FO, "font-family"))
        weight = props.get(_q(_FO, "font-weight"))
        bold = inherited[1] if weight is None else weight == "bold" or weight[:1] in "6789"
        return (font.strip("'\"") if font else inherited[0], bold)

    def text_format(self, name: str | None, inherited: _Format | None = None) -> _Format:
        """The (font, bold) of text in style ``name`` inside text formatted ``inherited``
        (the document default when None)."""
        base = self._default if inherited is None else inherited
        key = (name, base)
        if key not in self._formats:
            result = base
            for style in reversed(self._chain(name)):
                result = self._own(style, result)
            self._formats[key] = result
        return self._formats[key]

    def title_or_heading(self, name: str | None) -> int | None:
        for style in self._chain(name):
            shown = style.get(_q(_STYLE, "display-name")) or style.get(_q(_STYLE, "name"), "")
            level = _odt_level_from_name(shown.replace("_20_", " "))
            if level is not None:
                return level
        return None


def _odt_level_from_name(name: str) -> int | None:
    lowered = name.strip().lower()
    if lowered == "title":
        return 0
    if lowered.startswith("heading ") and lowered[8:].isdigit():
        return int(lowered[8:])
    return None


def _odf_parts(path: Path, family: str) -> tuple[XmlElement, _OdtStyles]:
    """The content of an ODF package and its styles (those of styles.xml, then its own)."""
    with _open_package(path) as package:
        content = read_part(package, "content.xml")
        roots = [read_part(package, "styles.xml")] if "styles.xml" in package.namelist() else []
    return content, _OdtStyles([*roots, content], family)


def _read_odt(path: Path) -> Document:
    content, styles = _odf_parts(path, "paragraph")
    text = content.find(f"{_q(_OFFICE, 'body')}/{_q(_OFFICE, 'text')}")
    if text is None:
        raise PackageError("no office:text (not a text document)")
    blocks = (_odt_block(p, styles, in_table) for p, in_table in _odt_paragraphs(text, False))
    return Document(format="odt", blocks=tuple(b for b in blocks if b is not None))


def _odt_paragraphs(container: XmlElement, in_table: bool) -> Iterator[tuple[XmlElement, bool]]:
    for child in container:
        if child.tag in (_T_P, _T_H):
            yield child, in_table
        elif child.tag not in _ODT_SKIP:
            yield from _odt_paragraphs(child, in_table or child.tag == _q(_TABLE, "table"))


def _count(value: str | None, default: int) -> int:
    """A count from an attribute of a hostile file: ASCII digits, else ``default`` ("²" is a
    digit to str.isdigit, not to int); past 18 digits, 10**18 (int() refuses 4,300)."""
    if value is None or not (value.isascii() and value.isdecimal()):
        return default
    return int(value) if len(value) <= 18 else 10**18


def _odt_block(paragraph: XmlElement, styles: _OdtStyles, in_table: bool) -> Block | None:
    style = paragraph.get(_T_STYLE_NAME)
    pieces: list[tuple[str, _Format]] = []
    _odt_pieces(paragraph, styles.text_format(style), styles, pieces)
    if paragraph.tag == _T_H:
        level: int | None = _count(paragraph.get(_q(_TEXT, "outline-level")), 1)
    else:
        level = styles.title_or_heading(style)
    return _formatted_block(pieces, heading_level=level, in_table=in_table)


def _formatted_block(
    pieces: Sequence[tuple[str, _Format]], *, heading_level: int | None, in_table: bool
) -> Block | None:
    return _block(
        [text for text, _ in pieces],
        [fmt[0] for _, fmt in pieces],
        [fmt[1] for _, fmt in pieces],
        heading_level=heading_level,
        in_table=in_table,
    )


def _odt_pieces(
    element: XmlElement, fmt: _Format, styles: _OdtStyles, out: list[tuple[str, _Format]]
) -> None:
    """The text of a paragraph or span, piece by piece with its format; notes, annotations and
    frames (text boxes) are left out."""
    if element.text:
        out.append((element.text, fmt))
    for child in element:
        if child.tag in _ODT_SPANS:
            _odt_pieces(child, styles.text_format(child.get(_T_STYLE_NAME), fmt), styles, out)
        elif child.tag == _T_S:
            out.append((" " * min(_count(child.get(_q(_TEXT, "c")), 1), 100), fmt))
        elif child.tag in _ODT_BREAKS:
            out.append((_ODT_BREAKS[child.tag], fmt))
        if child.tail:
            out.append((child.tail, fmt))


# --- OpenDocument spreadsheet ---------------------------------------------------------------

# The worker refuses an answer past 16 MiB, and a block takes 30 bytes of it at the least: a
# spreadsheet expanding to more cells of text (a text file of more lines) than this could
# never come back anyway.
MAX_CELLS = 500_000
_T_TABLE, _T_ROW, _T_COLUMN = (_q(_TABLE, n) for n in ("table", "table-row", "table-column"))
_T_CELLS = frozenset(_q(_TABLE, n) for n in ("table-cell", "covered-table-cell"))
# Where rows and columns are grouped (header rows, outline groups): entered where they stand.
_T_GROUPS = frozenset(
    _q(_TABLE, n)
    for n in (
        "table-header-rows",
        "table-rows",
        "table-row-group",
        "table-header-columns",
        "table-columns",
        "table-column-group",
    )
)
_T_ROWS_REPEATED, _T_COLUMNS_REPEATED = (
    _q(_TABLE, f"number-{n}-repeated") for n in ("rows", "columns")
)
_T_CELL_STYLE, _T_DEFAULT_CELL_STYLE = (
    _q(_TABLE, n) for n in ("style-name", "default-cell-style-name")
)


def _read_ods(path: Path) -> Document:
    content, styles = _odf_parts(path, "table-cell")
    spreadsheet = content.find(f"{_q(_OFFICE, 'body')}/{_q(_OFFICE, 'spreadsheet')}")
    if spreadsheet is None:
        raise PackageError("no office:spreadsheet (not a spreadsheet)")
    blocks: list[Block] = []
    for sheet in spreadsheet.iterchildren(_T_TABLE):
        _ods_sheet(sheet, styles, blocks)
    return Document(format="ods", blocks=tuple(blocks))


def _repeated(element: XmlElement, attribute: str) -> int:
    return max(_count(element.get(attribute), 1), 1)


def _ods_lines(container: XmlElement) -> Iterator[XmlElement]:
    """The columns and rows of a sheet, in order, out of their groups."""
    for child in container:
        if child.tag in (_T_ROW, _T_COLUMN):
            yield child
        elif child.tag in _T_GROUPS:
            yield from _ods_lines(child)


def _ods_sheet(sheet: XmlElement, styles: _OdtStyles, out: list[Block]) -> None:
    """Every cell of text of one sheet onto ``out``, row by row. Repeated rows and cells
    (LibreOffice writes a run of equal ones once, with a count) are expanded only when they
    hold text: a sheet's trailing million empty rows cost one element."""
    # The columns' default cell styles: column_styles[i] from column column_starts[i] on.
    column_starts: list[int] = []
    column_styles: list[str | None] = []
    columns = 0
    for line in _ods_lines(sheet):
        if line.tag == _T_COLUMN:
            column_starts.append(columns)
            column_styles.append(line.get(_T_DEFAULT_CELL_STYLE))
            columns += _repeated(line, _T_COLUMNS_REPEATED)
            continue
        row: list[Block] = []
        row_style = line.get(_T_DEFAULT_CELL_STYLE)
        column = 0
        for cell in line:
            if cell.tag not in _T_CELLS:
                continue
            times = _repeated(cell, _T_COLUMNS_REPEATED)
            if len(cell):  # an empty cell has no children: skipped, however often repeated
                # The cell's own style, else its row's default, else its column's (ODF's order).
                style = cell.get(_T_CELL_STYLE) or row_style
                if style is None and column < columns:
                    style = column_styles[bisect.bisect_right(column_starts, column) - 1]
                block = _ods_cell_block(cell, style, styles)
                if block is not None:
                    _expand(row, [block], times, pending=len(out))
            column += times
        if row:
            _expand(out, row, _repeated(line, _T_ROWS_REPEATED))


def _expand(out: list[Block], blocks: list[Block], times: int, *, pending: int = 0) -> None:
    """``blocks`` repeated ``times`` onto ``out`` (``pending`` more blocks go before it);
    TooComplex SIZE, before expanding anything, past :data:`MAX_CELLS` blocks in all."""
    if pending + len(out) + len(blocks) * times > MAX_CELLS:
        raise TooComplex(Limit.SIZE, f"more than {MAX_CELLS} cells of text once expanded")
    out.extend(blocks * times)


def _ods_cell_block(cell: XmlElement, style: str | None, styles: _OdtStyles) -> Block | None:
    """One block for a cell: its paragraphs (a cell with line breaks has several) joined by
    line breaks, in the cell's format (font, bold) unless a paragraph or span says more."""
    cell_format = styles.text_format(style)
    pieces: list[tuple[str, _Format]] = []
    for paragraph, _ in _odt_paragraphs(cell, True):
        if pieces:
            pieces.append(("\n", cell_format))
        own = styles.text_format(paragraph.get(_T_STYLE_NAME), cell_format)
        _odt_pieces(paragraph, own, styles, pieces)
    return _formatted_block(pieces, heading_level=None, in_table=True)


# --- PDF ------------------------------------------------------------------------------------


def _read_pdf(path: Path) -> Document:
    # Imported here: most records are .docx, and these two cost a fifth of a second to load.
    import pypdf
    from pypdf.errors import PyPdfError

    try:
        reader = pypdf.PdfReader(path)
        # An empty user password is not a protection anyone notices: try it first.
        if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
            raise Unreadable(UnreadableReason.ENCRYPTED, "PDF password")
        lines = [line for page in reader.pages for line in (page.extract_text() or "").splitlines()]
    except PyPdfError as exc:
        raise Unreadable(UnreadableReason.CORRUPT, str(exc)) from exc
    blocks = tuple(b for b in (_block([line], [None], [False]) for line in lines) if b)
    if not blocks:
        raise Unreadable(UnreadableReason.NO_TEXT, "no text layer")
    return Document(format="pdf", blocks=blocks)


# --- Excel ----------------------------------------------------------------------------------


def _read_xlsx(path: Path) -> Document:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    _open_package(path).close()  # the size guard, before openpyxl unpacks anything
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except (InvalidFileException, KeyError) as exc:
        raise Unreadable(UnreadableReason.CORRUPT, str(exc)) from exc
    try:
        blocks = tuple(_xlsx_blocks(workbook))
    finally:
        workbook.close()
    return Document(format="xlsx", blocks=blocks)


def _xlsx_blocks(workbook: Any) -> Iterator[Block]:  # an openpyxl Workbook
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                font = cell.font
                block = _block([str(cell.value)], [font.name], [bool(font.b)], in_table=True)
                if block is not None:
                    yield block


# --- PowerPoint -----------------------------------------------------------------------------

_P_NS = "http://schemas.openxmlformats.org/presentationml/2006/main"
_A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_P_SP, _P_GROUP, _P_FRAME = (_q(_P_NS, n) for n in ("sp", "grpSp", "graphicFrame"))
_A_P, _A_BR, _A_RPR, _A_T = (_q(_A_NS, n) for n in ("p", "br", "rPr", "t"))
_A_RUNS = frozenset({_q(_A_NS, "r"), _q(_A_NS, "fld")})  # a field (slide number, date) too
_PLACEHOLDER = "/".join(_q(_P_NS, n) for n in ("nvSpPr", "nvPr", "ph"))
_TITLE_LEVELS = {"ctrTitle": 0, "title": 1}  # the title slide's title, a slide's title


def _read_pptx(path: Path) -> Document:
    blocks: list[Block] = []
    with _open_package(path) as package:
        main = main_document(package)
        slides = related_by_id(package, main)
        listed = read_part(package, main).find(_q(_P_NS, "sldIdLst"))
        seen: set[str] = set()
        for slide_id in listed if listed is not None else ():
            part = slides.get(slide_id.get(_R_ID, ""))
            if part is None:  # a dangling id: PowerPoint drops that slide when it repairs
                continue
            if part in seen:  # listed again (100,000 times costs 100,000 parses): read once
                continue
            seen.add(part)
            shapes = read_part(package, part).find(f"{_q(_P_NS, 'cSld')}/{_q(_P_NS, 'spTree')}")
            if shapes is not None:
                blocks.extend(b for b in _pptx_shapes(shapes) if b is not None)
    return Document(format="pptx", blocks=tuple(blocks))


def _pptx_shapes(tree: XmlElement) -> Iterator[Block | None]:
    """The paragraphs of a slide's shapes in the slide's order (groups entered where they
    stand), a table's cells row by row. Pictures, charts and diagrams give no text."""
    for shape in tree:
        if shape.tag == _P_SP:
            placeholder = shape.find(_PLACEHOLDER)
            kind = placeholder.get("type", "") if placeholder is not None else ""
            body = shape.find(_q(_P_NS, "txBody"))
            for paragraph in body.iterchildren(_A_P) if body is not None else ():
                yield _pptx_block(paragraph, _TITLE_LEVELS.get(kind), in_table=False)
        elif shape.tag == _P_GROUP:
            yield from _pptx_shapes(shape)
        elif shape.tag == _P_FRAME:
            for table in shape.iter(_q(_A_NS, "tbl")):
                for paragraph in table.iter(_A_P):
                    yield _pptx_block(paragraph, None, in_table=True)
        elif shape.tag == _q(_MC_NS, "AlternateContent"):  # newer content: its first choice
            choice = shape.find(_q(_MC_NS, "Choice"))
            if choice is not None:
                yield from _pptx_shapes(choice)


def _pptx_block(paragraph: XmlElement, heading_level: int | None, in_table: bool) -> Block | None:
    """A paragraph's runs with their own font (a:latin) and boldness; a font the run inherits
    from the layout or theme is never a legacy one a teacher picked: its text is guessed."""
    pieces: list[str] = []
    fonts: list[str | None] = []
    bolds: list[bool] = []
    for child in paragraph:
        if child.tag in _A_RUNS:
            props = child.find(_A_RPR)
            latin = props.find(_q(_A_NS, "latin")) if props is not None else None
            pieces.append("".join(t.text or "" for t in child.iterchildren(_A_T)))
            fonts.append(latin.get("typeface") if latin is not None else None)
            bolds.append(props is not None and props.get("b") in ("1", "true"))
        elif child.tag == _A_BR:
            pieces.append("\n")
            fonts.append(fonts[-1] if fonts else None)
            bolds.append(False)
    return _block(pieces, fonts, bolds, heading_level=heading_level, in_table=in_table)


# --- Plain text -----------------------------------------------------------------------------

# A 300-page book is about 1 MB of plain text: past this, a file is not read at all. (What is
# read may still be refused by the worker, whose answer stops at 16 MiB: an escaped letter
# there takes up to six bytes.)
MAX_TEXT_BYTES = 8 * 1024 * 1024
_GUESS_CHARS = 64 * 1024  # a file is saved in one encoding: its start tells which
# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MD_HEADING = re.compile(r" {0,3}(#{1,6})[ \t]+")


def _read_text(path: Path) -> Document:
    """A .txt or .md file, a line per block (a Markdown "# heading" marked as one)."""
    with path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        data = file.read(MAX_TEXT_BYTES + 1) if size <= MAX_TEXT_BYTES else b""
    if size > MAX_TEXT_BYTES or len(data) > MAX_TEXT_BYTES:
        raise TooComplex(Limit.SIZE, f"more than {MAX_TEXT_BYTES} bytes of plain text")
    text, encoding = _decoded_text(data)
    markdown = path.suffix.lower() == ".md"
    # Blank lines skipped before any work: 8 MiB of them cost the worker's whole CPU limit.
    lines = [line for line in text.splitlines() if line and not line.isspace()]
    if len(lines) > MAX_CELLS:  # blocks past what the worker's answer could hold: unread
        raise TooComplex(Limit.SIZE, f"more than {MAX_CELLS} lines of text")
    blocks: list[Block] = []
    for line in lines:
        level, shown = _markdown_heading(line) if markdown else (None, line)
        block = _block([shown], [None], [False], heading_level=level, encoding=encoding)
        if block is not None:
            blocks.append(block)
    return Document(format="md" if markdown else "txt", blocks=tuple(blocks))


def _markdown_heading(line: str) -> tuple[int | None, str]:
    """(level, text) of an ATX heading ("## Rút kinh nghiệm ##"), else (None, the line)."""
    match = _MD_HEADING.match(line)
    if match is None:
        return None, line
    text = line[match.end() :].rstrip()
    closed = text.rstrip("#")  # the closing hashes go only after a space
    return len(match.group(1)), closed if not closed or closed[-1] in " \t" else text


def _decoded_text(data: bytes) -> tuple[str, Legacy | None]:
    """The text of a plain-text file, and the legacy encoding its content says it was typed
    in (None: each line is judged alone, like a paragraph of a document). UTF-8, or UTF-16/32
    with a byte-order mark; else 8-bit: Windows Western characters when they read as TCVN3 or
    VNI (a file saved from an editor showing .VnTime or VNI-Times), else Windows Vietnamese
    (cp1258)."""
    for mark, codec in _BOMS:
        if data.startswith(mark):
            text = data.decode(codec, errors="replace")
            if "\0" in text:  # binary data behind what looks like a mark (FF FE starts many)
                raise Unreadable(UnreadableReason.CORRUPT, "binary data, not plain text")
            return text, guess_encoding(text[:_GUESS_CHARS])
    if b"\0" in data:
        raise Unreadable(UnreadableReason.CORRUPT, "binary data, not plain text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        western = data.decode("cp1252", errors="replace")
        encoding = guess_encoding(western[:_GUESS_CHARS])
        if encoding is not None:
            return western, encoding
        return data.decode("cp1258", errors="replace"), None
    return text, guess_encoding(text[:_GUESS_CHARS])


_READERS: dict[str, Callable[[Path], Document]] = {
    ".docx": _read_docx,
    ".docm": _read_docx,
    ".dotx": _read_docx,
    ".odt": _read_odt,
    ".ods": _read_ods,
    ".pdf": _read_pdf,
    ".xlsx": _read_xlsx,
    ".xlsm": _read_xlsx,
    ".pptx": _read_pptx,
    ".pptm": _read_pptx,
    ".ppsx": _read_pptx,
    ".txt": _read_text,
    ".md": _read_text,
}
assert _READERS.keys() == READABLE_SUFFIXES, "model.READABLE_SUFFIXES names what is read here"
