"""Real documents for the validation tests: .docx, .odt, .ods, .pdf, .xlsx, written by the
libraries teachers' files come from (python-docx, odfpy, fpdf2, openpyxl) into a test's
tmp_path, and .pptx written by hand (:func:`make_pptx`).

A paragraph is given as plain text, as ``(text, style, font, bold)``, as a :class:`Para` of
:class:`Run` pieces (mixed fonts in one paragraph), or as a :class:`Table` standing where it
is in the list. :func:`tcvn3` and :func:`vni` make runs typed in the legacy fonts, the way
Word stores them (Western characters + the font's name).
"""

from __future__ import annotations

import random
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import docx
import openpyxl
import pytest
from docx.document import Document as DocxDocument
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.table import _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run as DocxRun
from fpdf import FPDF
from msoffcrypto.format.ooxml import OOXMLFile
from odf.opendocument import OpenDocument, OpenDocumentSpreadsheet, OpenDocumentText
from odf.style import FontFace, Style, TextProperties
from odf.table import Table as OdfTable
from odf.table import TableCell, TableColumn, TableRow
from odf.text import H, P, Span
from openpyxl.styles import Font
from PIL import Image

from agent.documents.legacy import encode, is_capitals_font
from agent.documents.model import Document as ReadDocument
from agent.documents.model import Legacy, Unreadable, UnreadableReason
from agent.documents.readers import read_document

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass(frozen=True)
class Run:
    text: str
    font: str | None = None
    bold: bool = False
    # Write U+00AD as <w:softHyphen/>, as Word does for a TCVN3 "ư" typed in .VnTime.
    soft_hyphen_element: bool = False


@dataclass(frozen=True)
class Para:
    runs: tuple[Run, ...]
    style: str | None = None


@dataclass(frozen=True)
class Table:
    """Rows of cells; a cell is text, a Run, a Para, a nested Table or a list of these."""

    rows: tuple[tuple[object, ...], ...]


Item = str | tuple | Para | Table | Run


def tcvn3(text: str, font: str = ".VnTime", *, bold: bool = False, shy: bool = False) -> Run:
    """A run typed in a TCVN3 font; with an "H" font (".VnTimeH") it shows in capitals."""
    encoded = encode(text, Legacy.TCVN3, capitals=is_capitals_font(font))
    return Run(encoded, font, bold, soft_hyphen_element=shy)


def vni(text: str, font: str = "VNI-Times", *, bold: bool = False) -> Run:
    return Run(encode(text, Legacy.VNI), font, bold)


def _para(item: Item) -> Para:
    if isinstance(item, Para):
        return item
    if isinstance(item, Run):
        return Para((item,))
    if isinstance(item, str):
        return Para((Run(item),))
    text, style, font, bold = item
    return Para((Run(text, font, bold),), style)


# --- Word -----------------------------------------------------------------------------------


def make_docx(
    path: Path,
    paragraphs: Sequence[Item] = (),
    tables: Sequence[Table] = (),
    *,
    default_font: str | None = None,
) -> Path:
    """A .docx with the paragraphs (tables among them stand where they are), then ``tables``.
    ``default_font`` is the Normal style's font, inherited by runs that name none."""
    document = docx.Document()
    if default_font is not None:
        document.styles["Normal"].font.name = default_font
    for item in [*paragraphs, *tables]:
        if isinstance(item, Table):
            _add_table(document, item)
        else:
            _fill_paragraph(document.add_paragraph(), _para(item))
    document.save(str(path))
    return path


def _fill_paragraph(paragraph: Paragraph, para: Para) -> None:
    if para.style is not None:
        paragraph.style = para.style
    for run in para.runs:
        added = paragraph.add_run()
        if run.soft_hyphen_element:
            _write_with_soft_hyphens(added, run.text)
        else:
            added.text = run.text
        if run.font is not None:
            added.font.name = run.font
        if run.bold:
            added.bold = True


def _write_with_soft_hyphens(run: DocxRun, text: str) -> None:
    for index, part in enumerate(text.split("\u00ad")):
        if index:
            run._r.append(OxmlElement("w:softHyphen"))
        if part:
            t = OxmlElement("w:t")
            t.text = part
            t.set(qn("xml:space"), "preserve")
            run._r.append(t)


def _add_table(container: DocxDocument | _Cell, table: Table) -> None:
    added = container.add_table(len(table.rows), max(len(row) for row in table.rows))
    for row, cells in zip(added.rows, table.rows, strict=True):
        # a short row leaves its last cells empty
        for cell, content in zip(row.cells, cells, strict=False):
            _fill_cell(cell, content)


def _fill_cell(cell: _Cell, content: object) -> None:
    items = content if isinstance(content, list) else [content]
    first = True
    for item in items:
        if isinstance(item, Table):
            _add_table(cell, item)
            continue
        paragraph = cell.paragraphs[0] if first else cell.add_paragraph()
        first = False
        _fill_paragraph(paragraph, _para(item))  # type: ignore[arg-type]


_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_OFFICE_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_WORD_CT = "application/vnd.openxmlformats-officedocument.wordprocessingml"


def make_raw_docx(path: Path, body_xml: str, styles_xml: str | None = None) -> Path:
    """A minimal .docx written by hand, for structures python-docx cannot make (links,
    content controls, tracked changes, text boxes, outline levels). ``body_xml`` is the
    inside of w:body, ``styles_xml`` the inside of w:styles; prefix ``w:``."""
    declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{_PACKAGE}/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/word/document.xml" ContentType="{_WORD_CT}'
            '.document.main+xml"/>'
            f'<Override PartName="/word/styles.xml" ContentType="{_WORD_CT}.styles+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/officeDocument" '
            'Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": f'<w:document xmlns:w="{_W}"><w:body>{body_xml}</w:body></w:document>',
    }
    if styles_xml is not None:
        parts["word/_rels/document.xml.rels"] = (
            f'<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/styles" Target="styles.xml"/>'
            "</Relationships>"
        )
        parts["word/styles.xml"] = f'<w:styles xmlns:w="{_W}">{styles_xml}</w:styles>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, declaration + xml)
    return path


def encrypt_docx(src: Path, dst: Path, password: str) -> Path:
    """A password-protected copy, as Word writes it (an OLE container, ECMA-376 agile)."""
    with src.open("rb") as plain, dst.open("wb") as out:
        OOXMLFile(plain).encrypt(password, out)
    return dst


def lesson_plan(
    *,
    reflection: str = "Học sinh hiểu bài, cần luyện đọc thêm cho nhóm chậm.",
    activity_rows: int = 20,
) -> list[Item]:
    """The paragraphs and table of a typical three-page KHBD (CV 2345, Phụ lục 3)."""
    activities = Table(
        (("Hoạt động của giáo viên", "Hoạt động của học sinh"),)
        + tuple(
            (
                f"{i}. GV tổ chức cho học sinh quan sát tranh, thảo luận nhóm đôi và trả lời "
                "câu hỏi: Bức tranh vẽ cảnh gì? Các bạn nhỏ đang làm gì?",
                "HS quan sát, thảo luận nhóm đôi; đại diện nhóm trình bày trước lớp, các "
                "nhóm khác nhận xét, bổ sung.",
            )
            for i in range(1, activity_rows + 1)
        )
    )
    body = "Học sinh đọc đúng, rõ ràng các từ ngữ, câu, đoạn trong bài; biết ngắt hơi đúng chỗ."
    return [
        ("KẾ HOẠCH BÀI DẠY", "Title", None, True),
        "Môn học: Tiếng Việt – Lớp 3",
        "Tên bài học: Bài 5: Ngày hội rừng xanh – Số tiết: 2",
        "Thời gian thực hiện: Tuần 3, ngày 18/9/2024",
        ("I. Yêu cầu cần đạt", "Heading 1", None, True),
        *[body] * 6,
        ("II. Đồ dùng dạy học", "Heading 1", None, True),
        "Giáo viên: tranh minh hoạ bài đọc, phiếu học tập. Học sinh: sách giáo khoa, vở bài tập.",
        ("III. Các hoạt động dạy học chủ yếu", "Heading 1", None, True),
        activities,
        ("IV. Điều chỉnh sau bài dạy", "Heading 1", None, True),
        reflection,
    ]


# --- OpenDocument ---------------------------------------------------------------------------


@dataclass
class _OdtFonts:
    document: OpenDocument
    styles: dict[tuple[str | None, bool, str], Style] = field(default_factory=dict)
    faces: set[str] = field(default_factory=set)

    def style(self, font: str | None, bold: bool, family: str = "text") -> Style | None:
        if font is None and not bold:
            return None
        key = (font, bold, family)
        if key not in self.styles:
            if font is not None and font not in self.faces:
                self.faces.add(font)
                self.document.fontfacedecls.addElement(FontFace(name=font, fontfamily=font))
            props = {"fontname": font} if font else {}
            if bold:
                props["fontweight"] = "bold"
            style = Style(name=f"T{len(self.styles) + 1}", family=family)
            style.addElement(TextProperties(**props))
            self.document.automaticstyles.addElement(style)
            self.styles[key] = style
        return self.styles[key]


def make_odt(path: Path, paragraphs: Sequence[Item]) -> Path:
    """An .odt: a paragraph is text, a Run/Para, ``(text, heading_level)`` for a heading
    (text:h), or a Table (of text or runs)."""
    document = OpenDocumentText()
    fonts = _OdtFonts(document)
    for item in paragraphs:
        document.text.addElement(_odt_item(item, fonts))
    document.save(str(path))
    return path


def _odt_item(item: Item, fonts: _OdtFonts) -> OdfTable | H | P:
    if isinstance(item, Table):
        table = OdfTable()
        table.addElement(TableColumn(numbercolumnsrepeated=max(len(r) for r in item.rows)))
        for cells in item.rows:
            row = TableRow()
            for content in cells:
                cell = TableCell()
                cell.addElement(_odt_item(content, fonts))  # type: ignore[arg-type]
                row.addElement(cell)
            table.addElement(row)
        return table
    if isinstance(item, tuple) and len(item) == 2:
        text, level = item
        return H(outlinelevel=level, text=text)
    element = P()
    for run in _para(item).runs:
        style = fonts.style(run.font, run.bold)
        element.addElement(Span(stylename=style, text=run.text) if style else Span(text=run.text))
    return element


# --- PDF ------------------------------------------------------------------------------------


def make_pdf(path: Path, lines: Sequence[str], *, password: str | None = None) -> Path:
    """A PDF whose text layer holds the lines (Vietnamese through DejaVu Sans); with a user
    ``password`` (Latin-1 only: PDF's RC4 passwords), an owner password protects it too."""
    pdf = FPDF()
    pdf.add_page()
    pdf.add_font("DejaVu", fname=str(DEJAVU))
    pdf.set_font("DejaVu", size=12)
    for line in lines:
        if line:
            pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln()
    if password is not None:
        pdf.set_encryption(owner_password="owner-" + password, user_password=password)
    pdf.output(str(path))
    return path


def make_scanned_pdf(path: Path) -> Path:
    """A PDF that is only a picture of a page, like a scan: no text layer."""
    rng = random.Random(7)
    picture = Image.new("L", (200, 280), 255)
    picture.putdata([255 if rng.random() > 0.05 else 0 for _ in range(200 * 280)])
    pdf = FPDF()
    pdf.add_page()
    pdf.image(picture, x=10, y=10, w=190)
    pdf.output(str(path))
    return path


# --- Excel ----------------------------------------------------------------------------------


def make_xlsx(path: Path, rows: Sequence[Sequence[object]], *, title: str = "Sheet1") -> Path:
    """A workbook with one sheet; a cell is a value (text, number, None) or a Run (font)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            if isinstance(value, Run):
                cell.value = value.text
                cell.font = Font(name=value.font, bold=value.bold)
            else:
                cell.value = value
    workbook.save(path)
    return path


# --- OpenDocument spreadsheet ---------------------------------------------------------------


def make_ods(path: Path, *sheets: Sequence[Sequence[object]]) -> Path:
    """An .ods with one sheet per rows argument; a cell is a value (text, number, None), a
    Run (font, bold: the cell's style), a Para (spans of their own fonts) or a list of these
    (one paragraph each: a cell with line breaks)."""
    document = OpenDocumentSpreadsheet()
    fonts = _OdtFonts(document)
    for number, rows in enumerate(sheets, start=1):
        sheet = OdfTable(name=f"Trang {number}")
        for cells in rows:
            row = TableRow()
            for value in cells:
                row.addElement(_ods_cell(value, fonts))
            sheet.addElement(row)
        document.spreadsheet.addElement(sheet)
    document.save(str(path))
    return path


def _ods_cell(value: object, fonts: _OdtFonts) -> TableCell:
    if value is None:
        return TableCell()
    if isinstance(value, int | float):
        cell = TableCell(valuetype="float", value=value)
        cell.addElement(P(text=str(value)))
        return cell
    style = fonts.style(value.font, value.bold, "table-cell") if isinstance(value, Run) else None
    cell = (
        TableCell(valuetype="string", stylename=style) if style else TableCell(valuetype="string")
    )
    for item in value if isinstance(value, list) else [value]:
        paragraph = P()
        for run in _para(item).runs:
            span_style = None if isinstance(value, Run) else fonts.style(run.font, run.bold)
            span = Span(stylename=span_style, text=run.text) if span_style else Span(text=run.text)
            paragraph.addElement(span)
        cell.addElement(paragraph)
    return cell


# --- PowerPoint -------------------------------------------------------------------------------

_PRESENTATION = "http://schemas.openxmlformats.org/presentationml/2006/main"
_DRAWING = "http://schemas.openxmlformats.org/drawingml/2006/main"
_DRAWING_TABLE = "http://schemas.openxmlformats.org/drawingml/2006/table"
_PPT_CT = "application/vnd.openxmlformats-officedocument.presentationml"


@dataclass(frozen=True)
class Slide:
    """A slide: a title placeholder, a body text box of paragraphs, a group holding one more
    text box, a table; ``center_title`` makes the title a title slide's (ctrTitle)."""

    title: Item | None = None
    body: tuple[Item, ...] = ()
    grouped: tuple[Item, ...] = ()
    table: Table | None = None
    center_title: bool = False


def _a_run(run: Run) -> str:
    props = ' b="1"' if run.bold else ""
    font = f'<a:latin typeface="{escape(run.font, {chr(34): "&quot;"})}"/>' if run.font else ""
    return f'<a:r><a:rPr lang="vi-VN"{props}>{font}</a:rPr><a:t>{escape(run.text)}</a:t></a:r>'


def _a_paragraphs(items: Sequence[Item]) -> str:
    paragraphs = ("".join(_a_run(run) for run in _para(item).runs) for item in items)
    return (
        "<p:txBody><a:bodyPr/><a:lstStyle/>"
        + "".join(f"<a:p>{p}</a:p>" for p in paragraphs)
        + "</p:txBody>"
    )


def _text_shape(number: int, items: Sequence[Item], placeholder: str = "") -> str:
    return (
        f'<p:sp><p:nvSpPr><p:cNvPr id="{number}" name="Shape {number}"/><p:cNvSpPr/>'
        f"<p:nvPr>{placeholder}</p:nvPr></p:nvSpPr><p:spPr/>{_a_paragraphs(items)}</p:sp>"
    )


def _slide_xml(slide: Slide) -> str:
    shapes = []
    if slide.title is not None:
        kind = "ctrTitle" if slide.center_title else "title"
        shapes.append(_text_shape(2, [slide.title], f'<p:ph type="{kind}"/>'))
    if slide.body:
        shapes.append(_text_shape(3, slide.body, '<p:ph idx="1"/>'))
    if slide.grouped:
        shapes.append(
            '<p:grpSp><p:nvGrpSpPr><p:cNvPr id="4" name="Group"/><p:cNvGrpSpPr/><p:nvPr/>'
            f"</p:nvGrpSpPr><p:grpSpPr/>{_text_shape(5, slide.grouped)}</p:grpSp>"
        )
    if slide.table is not None:
        rows = "".join(
            '<a:tr h="370840">'
            + "".join(
                "<a:tc><a:txBody><a:bodyPr/><a:lstStyle/><a:p>"
                + "".join(_a_run(run) for run in _para(cell).runs)  # type: ignore[arg-type]
                + "</a:p></a:txBody><a:tcPr/></a:tc>"
                for cell in cells
            )
            + "</a:tr>"
            for cells in slide.table.rows
        )
        columns = max(len(r) for r in slide.table.rows)
        shapes.append(
            '<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="6" name="Table"/>'
            "<p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr>"
            '<p:xfrm><a:off x="0" y="0"/><a:ext cx="8000000" cy="1000000"/></p:xfrm>'
            f'<a:graphic><a:graphicData uri="{_DRAWING_TABLE}"><a:tbl><a:tblPr/><a:tblGrid>'
            + '<a:gridCol w="2000000"/>' * columns
            + f"</a:tblGrid>{rows}</a:tbl></a:graphicData></a:graphic></p:graphicFrame>"
        )
    return (
        f'<p:sld xmlns:a="{_DRAWING}" xmlns:p="{_PRESENTATION}" xmlns:r="{_OFFICE_RELS}">'
        '<p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/>'
        "</p:nvGrpSpPr><p:grpSpPr/>" + "".join(shapes) + "</p:spTree></p:cSld></p:sld>"
    )


def make_pptx(
    path: Path, slides: Sequence[Slide], *, extra: dict[str, bytes] | None = None
) -> Path:
    """A .pptx written by hand (no library writes one here), with a slide master and layout
    so that PowerPoint and LibreOffice open it. The slide parts are numbered backwards and
    their relationship ids shuffled: only the presentation's list says their order.
    ``extra`` parts are added as they are (media, bombs)."""
    declaration = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    count = len(slides)
    names = [f"slide{count - i}.xml" for i in range(count)]
    ids = [f"rId{10 + (i * 7) % (count + 3)}" for i in range(count)]
    relationships = "".join(
        f'<Relationship Id="{rid}" Type="{_OFFICE_RELS}/slide" Target="slides/{name}"/>'
        for rid, name in sorted(zip(ids, names, strict=True), key=lambda pair: pair[1])
    )
    listed = "".join(f'<p:sldId id="{256 + i}" r:id="{rid}"/>' for i, rid in enumerate(ids))
    master_tree = (
        '<p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/>'
        "</p:nvGrpSpPr><p:grpSpPr/></p:spTree></p:cSld>"
    )
    namespaces = f'xmlns:a="{_DRAWING}" xmlns:p="{_PRESENTATION}" xmlns:r="{_OFFICE_RELS}"'
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{_PACKAGE}/content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/ppt/presentation.xml" ContentType="{_PPT_CT}'
            '.presentation.main+xml"/>'
            f'<Override PartName="/ppt/slideMasters/slideMaster1.xml" ContentType="{_PPT_CT}'
            '.slideMaster+xml"/>'
            f'<Override PartName="/ppt/slideLayouts/slideLayout1.xml" ContentType="{_PPT_CT}'
            '.slideLayout+xml"/>'
            + "".join(
                f'<Override PartName="/ppt/slides/{name}" ContentType="{_PPT_CT}.slide+xml"/>'
                for name in names
            )
            + "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/officeDocument" '
            'Target="ppt/presentation.xml"/></Relationships>'
        ),
        "ppt/presentation.xml": (
            f"<p:presentation {namespaces}>"
            '<p:sldMasterIdLst><p:sldMasterId id="2147483648" r:id="rId1"/></p:sldMasterIdLst>'
            f'<p:sldIdLst>{listed}</p:sldIdLst><p:sldSz cx="9144000" cy="6858000"/>'
            '<p:notesSz cx="6858000" cy="9144000"/></p:presentation>'
        ),
        "ppt/_rels/presentation.xml.rels": (
            f'<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/slideMaster" '
            f'Target="slideMasters/slideMaster1.xml"/>{relationships}</Relationships>'
        ),
        "ppt/slideMasters/slideMaster1.xml": (
            f"<p:sldMaster {namespaces}>{master_tree}"
            '<p:clrMap bg1="lt1" tx1="dk1" bg2="lt2" tx2="dk2" accent1="accent1" '
            'accent2="accent2" accent3="accent3" accent4="accent4" accent5="accent5" '
            'accent6="accent6" hlink="hlink" folHlink="folHlink"/>'
            '<p:sldLayoutIdLst><p:sldLayoutId id="2147483649" r:id="rId1"/></p:sldLayoutIdLst>'
            "</p:sldMaster>"
        ),
        "ppt/slideMasters/_rels/slideMaster1.xml.rels": (
            f'<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/slideLayout" '
            'Target="../slideLayouts/slideLayout1.xml"/></Relationships>'
        ),
        "ppt/slideLayouts/slideLayout1.xml": (
            f"<p:sldLayout {namespaces}>{master_tree}<p:clrMapOvr><a:masterClrMapping/>"
            "</p:clrMapOvr></p:sldLayout>"
        ),
        "ppt/slideLayouts/_rels/slideLayout1.xml.rels": (
            f'<Relationships xmlns="{_PACKAGE}/relationships">'
            f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/slideMaster" '
            'Target="../slideMasters/slideMaster1.xml"/></Relationships>'
        ),
    }
    layout = (
        f'<Relationships xmlns="{_PACKAGE}/relationships">'
        f'<Relationship Id="rId1" Type="{_OFFICE_RELS}/slideLayout" '
        'Target="../slideLayouts/slideLayout1.xml"/></Relationships>'
    )
    for name, slide in zip(names, slides, strict=True):
        parts[f"ppt/slides/{name}"] = _slide_xml(slide)
        parts[f"ppt/slides/_rels/{name}.rels"] = layout
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, declaration + xml)
        for name, data in (extra or {}).items():
            package.writestr(name, data)
    return path


# --- Booby-trapped documents ------------------------------------------------------------------


def bloated_docx(path: Path, unpacked: int, paragraph: str = "Rút kinh nghiệm. " * 8) -> Path:
    """A valid .docx whose document.xml is ``unpacked`` bytes of one paragraph repeated: it
    compresses about 1000 times (a 190 MB part makes a file of a few hundred KB). Written a
    megabyte at a time through zipfile's streaming writer, never whole in memory."""
    one = f"<w:p><w:r><w:t>{paragraph}</w:t></w:r></w:p>".encode()
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>'.encode()
    tail = b"</w:body></w:document>"
    chunk = one * max(1, (1024 * 1024) // len(one))
    make_raw_docx(path, "<w:p/>")
    with zipfile.ZipFile(path) as original:
        parts = {i.filename: original.read(i) for i in original.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        for name, data in parts.items():
            if name != "word/document.xml":
                package.writestr(name, data)
        with package.open("word/document.xml", "w", force_zip64=True) as entry:
            entry.write(head)
            written = len(head) + len(tail)
            while written + len(chunk) <= unpacked:
                entry.write(chunk)
                written += len(chunk)
            entry.write(one * ((unpacked - written) // len(one)))
            entry.write(tail)
    return path


def shared_stream_pdf(path: Path, pages: int, lines: int = 20_000) -> Path:
    """A small PDF whose ``pages`` pages all draw one content stream of ``lines`` text lines
    (compressed): every page's text extraction parses the whole stream again."""
    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td (Rut kinh nghiem) Tj ET\n" * lines, 9)
    kids = " ".join(f"{5 + i} 0 R" for i in range(pages))
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
        *[page] * pages,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


def red_png() -> bytes:
    """A 2 × 2 red PNG."""
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        )

    header = (2).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def link_picture(docx: Path, target: str) -> None:
    """Add a picture to ``docx`` that is a link to ``target``, not a part of the file."""
    with zipfile.ZipFile(docx) as package:
        parts = {info.filename: package.read(info) for info in package.infolist()}
    rels = "word/_rels/document.xml.rels"
    parts[rels] = parts[rels].replace(
        b"</Relationships>",
        b'<Relationship Id="rIdOutside" TargetMode="External" Target="%s" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/image"/></Relationships>'
        % target.encode(),
    )
    drawing = (
        '<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/'
        'drawingml/2006/wordprocessingDrawing"><wp:extent cx="1905000" cy="952500"/>'
        '<wp:docPr id="99" name="outside"/><a:graphic xmlns:a="http://schemas.openxmlformats'
        '.org/drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/'
        'drawingml/2006/picture"><pic:pic xmlns:pic="http://schemas.openxmlformats.org/'
        'drawingml/2006/picture"><pic:nvPicPr><pic:cNvPr id="99" name="outside"/>'
        '<pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip r:link="rIdOutside" xmlns:r="'
        'http://schemas.openxmlformats.org/officeDocument/2006/relationships"/><a:stretch>'
        '<a:fillRect/></a:stretch></pic:blipFill><pic:spPr><a:xfrm><a:off x="0" y="0"/>'
        '<a:ext cx="1905000" cy="952500"/></a:xfrm><a:prstGeom prst="rect"/></pic:spPr>'
        "</pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>"
    )
    body = parts["word/document.xml"]
    at = body.rindex(b"<w:sectPr")
    parts["word/document.xml"] = body[:at] + drawing.encode() + body[at:]
    with zipfile.ZipFile(docx, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)


# --- reading back ---------------------------------------------------------------------------


def texts(document: ReadDocument) -> list[str]:
    """The text of each block of a document the readers gave."""
    return [block.text for block in document.blocks]


def unreadable(path: Path) -> UnreadableReason:
    """Why the readers refuse ``path`` (the test fails when they read it)."""
    with pytest.raises(Unreadable) as raised:
        read_document(path)
    return raised.value.reason
