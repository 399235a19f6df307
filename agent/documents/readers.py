"""Read a record file into a :class:`~agent.documents.model.Document`, whatever its format.

:func:`read_document` dispatches on the extension: Word (.docx, .docm, .dotx), OpenDocument
text (.odt), PDF (text layer) and Excel (.xlsx, .xlsm). Blocks come in reading order (a table
where it stands, nested tables too), Unicode NFC, stripped, blank ones left out; text typed in
a legacy TCVN3 or VNI font is converted and the block marked (by the font of each run, else
guessed from the paragraph's content: :mod:`agent.documents.legacy`).

Invariants: the file is only read. Whatever the file holds, the only exceptions are
:class:`Unreadable` (with its reason), :class:`TooComplex` (a zip bomb, or memory ran out) and
``OSError`` when the file itself cannot be opened (vanished, locked): that one is the caller's
to retry. Packages declaring more than :data:`~agent.documents.legacy.MAX_UNPACKED_BYTES`
unpacked, or an XML part past :func:`~agent.documents.legacy.check_part`'s caps, are refused
before parsing. Only the parts a reader needs are unpacked (never a .docx's pictures).

These readers give no bound on time or memory for what they do parse: the agent runs them in
a worker process with limits (:mod:`agent.documents.sandbox`).
"""

from __future__ import annotations

import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .legacy import (
    PackageError,
    WordStyles,
    XmlElement,
    check_unpacked_size,
    decode_pieces,
    main_document,
    paragraph_runs,
    plan_runs,
    read_part,
    related_parts,
    run_text,
    w,
)
from .model import Block, Document, Limit, TooComplex, Unreadable, UnreadableReason

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office 97–2003, and password-protected OOXML
LEGACY_SUFFIXES = frozenset({".doc", ".xls", ".ppt"})
OOXML_SUFFIXES = frozenset({".docx", ".docm", ".dotx", ".xlsx", ".xlsm"})


def read_document(path: Path) -> Document:
    """The blocks of text of a record file. Raises :class:`Unreadable`: LEGACY_FORMAT for
    .doc/.xls/.ppt, ENCRYPTED for a password, CORRUPT for a damaged or disguised file,
    NO_TEXT for a PDF without a text layer, UNSUPPORTED for any other extension; and
    :class:`TooComplex` for a zip bomb (SIZE) or when memory ran out (MEMORY)."""
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
) -> Block | None:
    """One block from the pieces of text of a paragraph with their fonts and boldness, legacy
    runs converted; None when it is blank."""
    plans = plan_runs(pieces, fonts)
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
_ODT_SKIP = frozenset(
    {_q(_TEXT, "tracked-changes"), _q(_TEXT, "sequence-decls"), _q(_TABLE, "table-columns")}
)
_Format = tuple[str | None, bool]  # (font, bold)


class _OdtStyles:
    """Fonts, boldness and heading names of an ODF document's styles (parents followed)."""

    def __init__(self, roots: Sequence[XmlElement]) -> None:
        self._faces: dict[str, str] = {}
        self._styles: dict[str, XmlElement] = {}
        self._default: _Format = (None, False)
        self._formats: dict[tuple[str | None, _Format], _Format] = {}
        for root in roots:
            for face in root.iter(_q(_STYLE, "font-face")):
                name = face.get(_q(_STYLE, "name"), "")
                self._faces[name] = (face.get(_q(_SVG, "font-family")) or name).strip("'\"")
            for style in root.iter(_q(_STYLE, "style")):
                self._styles[style.get(_q(_STYLE, "name"), "")] = style
            for default in root.iter(_q(_STYLE, "default-style")):
                if default.get(_q(_STYLE, "family")) == "paragraph":
                    self._default = self._own(default, (None, False))

    def _chain(self, name: str | None) -> list[XmlElement]:
        found: list[XmlElement] = []
        while name and name in self._styles and all(self._styles[name] is not s for s in found):
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


def _read_odt(path: Path) -> Document:
    with _open_package(path) as package:
        content = read_part(package, "content.xml")
        roots = [read_part(package, "styles.xml")] if "styles.xml" in package.namelist() else []
    styles = _OdtStyles([*roots, content])
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


def _odt_block(paragraph: XmlElement, styles: _OdtStyles, in_table: bool) -> Block | None:
    style = paragraph.get(_T_STYLE_NAME)
    pieces: list[tuple[str, _Format]] = []
    _odt_pieces(paragraph, styles.text_format(style), styles, pieces)
    if paragraph.tag == _T_H:
        level_text = paragraph.get(_q(_TEXT, "outline-level"), "1")
        level: int | None = int(level_text) if level_text.isdigit() else 1
    else:
        level = styles.title_or_heading(style)
    return _block(
        [text for text, _ in pieces],
        [fmt[0] for _, fmt in pieces],
        [fmt[1] for _, fmt in pieces],
        heading_level=level,
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
            count = child.get(_q(_TEXT, "c"), "1")
            out.append((" " * min(int(count) if count.isdigit() else 1, 100), fmt))
        elif child.tag in _ODT_BREAKS:
            out.append((_ODT_BREAKS[child.tag], fmt))
        if child.tail:
            out.append((child.tail, fmt))


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


_READERS: dict[str, Callable[[Path], Document]] = {
    ".docx": _read_docx,
    ".docm": _read_docx,
    ".dotx": _read_docx,
    ".odt": _read_odt,
    ".pdf": _read_pdf,
    ".xlsx": _read_xlsx,
    ".xlsm": _read_xlsx,
}
