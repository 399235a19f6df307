"""The blank lesson plan (KHBD, Kế hoạch bài dạy) on the structure of CV 2345/BGDĐT-GDTH
Phụ lục 3, as a .docx a teacher fills in.

Unicode text in Times New Roman 14 pt on A4 (margins 2 cm, left 3 cm), the way school
documents are printed and bound. The title and the sections use the Heading 1 / Heading 2
styles, restyled to that font, so the structure stays machine-readable for the checks of
lessonplan.py. The file is written atomically and never over an existing one.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import cast

from docx import Document as new_document
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt, RGBColor
from docx.styles.style import ParagraphStyle
from docx.text.paragraph import Paragraph

from agent.api import (
    a4_page,
    save_new,
    use_font,
    vietnamese_defaults,
)

FONT_SIZE = Pt(14)
DOTS = "…" * 15  # a blank to fill in on a header line
DOTTED_LINE = "…" * 30  # one line across the 16 cm text width at 14 pt
TITLE = "KẾ HOẠCH BÀI DẠY"
HEADER_LINES = (
    f"Môn học/hoạt động giáo dục: {DOTS}",
    f"Lớp: {DOTS}",
    f"Tên bài học: {DOTS}",
    f"Số tiết: {DOTS}",
    f"Tuần: {DOTS}",
    "Thời gian thực hiện: ngày …… tháng …… năm ……",
)
OBJECTIVES = "I. YÊU CẦU CẦN ĐẠT"
MATERIALS = "II. ĐỒ DÙNG DẠY HỌC"
ACTIVITIES = "III. CÁC HOẠT ĐỘNG DẠY HỌC CHỦ YẾU"
REFLECTION = "IV. ĐIỀU CHỈNH SAU BÀI DẠY (RÚT KINH NGHIỆM)"
TABLE_COLUMNS = ("Hoạt động của giáo viên", "Hoạt động của học sinh")
ACTIVITY_STEPS = (
    "1. Mở đầu/Khởi động",
    "2. Hình thành kiến thức mới/Khám phá",
    "3. Luyện tập, thực hành",
    "4. Vận dụng, trải nghiệm",
)


def write_template(out: Path) -> None:
    """Write the blank lesson plan to ``out``; FileExistsError if something is there."""
    if out.exists():  # before the work of building it; save_new still never replaces
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(out))
    save_new(_build(), out)


def _build() -> Document:
    document = new_document()
    a4_page(document)
    _restyle(document)
    title = document.add_paragraph(TITLE, style="Heading 1")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for line in HEADER_LINES:
        document.add_paragraph(line)
    for heading in (OBJECTIVES, MATERIALS):
        document.add_paragraph(heading, style="Heading 2")
        _dotted_lines(document, 2)
    document.add_paragraph(ACTIVITIES, style="Heading 2")
    _activities_table(document)
    document.add_paragraph(REFLECTION, style="Heading 2")
    _dotted_lines(document, 3)
    return document


def _restyle(document: Document) -> None:
    vietnamese_defaults(document, FONT_SIZE)
    use_font(cast(ParagraphStyle, document.styles["Normal"]), FONT_SIZE, bold=False)
    for name in ("Heading 1", "Heading 2"):
        style = cast(ParagraphStyle, document.styles[name])
        use_font(style, FONT_SIZE, bold=True)
        style.font.italic = False
        style.font.color.rgb = RGBColor(0, 0, 0)


def _dotted_lines(document: Document, count: int) -> None:
    for _line in range(count):
        document.add_paragraph(DOTTED_LINE)


def _activities_table(document: Document) -> None:
    table = document.add_table(rows=1, cols=2)
    table.style = document.styles["Table Grid"]
    for cell, text in zip(table.rows[0].cells, TABLE_COLUMNS, strict=True):
        _bold_cell_text(cell.paragraphs[0], text, centred=True)
    for step in ACTIVITY_STEPS:
        row = table.add_row()
        merged = row.cells[0].merge(row.cells[1])
        _bold_cell_text(merged.paragraphs[0], step, centred=False)
        table.add_row()  # the two cells the teacher writes in
    for row in table.rows:
        for cell in row.cells:
            cell.width = Cm(8)


def _bold_cell_text(paragraph: Paragraph, text: str, *, centred: bool) -> None:
    run = paragraph.add_run(text)
    run.bold = True
    if centred:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
