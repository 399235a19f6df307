"""Real documents for the validation tests: .docx, .odt, .pdf, .xlsx, written by the libraries
teachers' files come from (python-docx, odfpy, fpdf2, openpyxl) into a test's tmp_path.

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

import docx
import openpyxl
from docx.document import Document as DocxDocument
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.table import _Cell
from docx.text.paragraph import Paragraph
from docx.text.run import Run as DocxRun
from fpdf import FPDF
from msoffcrypto.format.ooxml import OOXMLFile
from odf.opendocument import OpenDocumentText
from odf.style import FontFace, Style, TextProperties
from odf.table import Table as OdfTable
from odf.table import TableCell, TableColumn, TableRow
from odf.text import H, P, Span
from openpyxl.styles import Font
from PIL import Image

from agent.documents.model import Legacy
from agent.documents.legacy import encode, is_capitals_font

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
    document: OpenDocumentText
    styles: dict[tuple[str | None, bool], Style] = field(default_factory=dict)

    def style(self, font: str | None, bold: bool) -> Style | None:
        if font is None and not bold:
            return None
        key = (font, bold)
        if key not in self.styles:
            if font is not None:
                self.document.fontfacedecls.addElement(FontFace(name=font, fontfamily=font))
            props = {"fontname": font} if font else {}
            if bold:
                props["fontweight"] = "bold"
            style = Style(name=f"T{len(self.styles) + 1}", family="text")
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
