"""The blank lesson-plan template: its layout, its atomic writing, and what the checks say of
it, blank and filled in by a teacher (edited with python-docx, read back by read_document)."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt

from agent.documents.readers import read_document
from plugins.validation.lessonplan import check_lesson_plan, lesson_date
from plugins.validation.template import write_template

YEAR_START = date(2026, 9, 7)
SECTIONS = [
    "I. YÊU CẦU CẦN ĐẠT",
    "II. ĐỒ DÙNG DẠY HỌC",
    "III. CÁC HOẠT ĐỘNG DẠY HỌC CHỦ YẾU",
    "IV. ĐIỀU CHỈNH SAU BÀI DẠY (RÚT KINH NGHIỆM)",
]
FILLED_HEADER = {
    "Môn học/hoạt động giáo dục:": "Môn học/hoạt động giáo dục: Tiếng Việt",
    "Lớp:": "Lớp: 2A",
    "Tên bài học:": "Tên bài học: Bài 8: Cây xấu hổ",
    "Số tiết:": "Số tiết: 2",
    "Tuần:": "Tuần: 4",
    "Thời gian thực hiện:": "Thời gian thực hiện: ngày 29 tháng 9 năm 2026",
}


@pytest.fixture
def template(tmp_path: Path) -> Path:
    out = tmp_path / "KHBD - mẫu.docx"
    write_template(out)
    return out


def test_the_page_is_a4_with_a_binding_margin(template: Path) -> None:
    section = docx.Document(str(template)).sections[0]
    # Stored in twentieths of a point: compare in whole millimetres.
    size = (round(section.page_width.mm), round(section.page_height.mm))
    assert size == (210, 297)
    margins = [section.top_margin, section.bottom_margin, section.right_margin]
    assert [round(m.mm) for m in margins] == [20, 20, 20]
    assert round(section.left_margin.mm) == 30


def test_text_is_times_new_roman_14_in_every_style_used(template: Path) -> None:
    document = docx.Document(str(template))
    for name in ("Normal", "Heading 1", "Heading 2"):
        font = document.styles[name].font
        assert (font.name, font.size) == ("Times New Roman", Pt(14)), name
        fonts = document.styles[name].element.rPr.rFonts
        # No theme font (Calibri) left that Word would prefer to the named one.
        assert not any("Theme" in key or "theme" in key for key in fonts.attrib), name
    assert document.styles["Heading 2"].font.bold is True


def test_structure_title_header_sections_in_order(template: Path) -> None:
    document = docx.Document(str(template))
    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    title = paragraphs[0]
    assert title.text == "KẾ HOẠCH BÀI DẠY"
    assert title.style.name == "Heading 1"
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    labels = [p.text.split(":")[0] for p in paragraphs[1:7]]
    assert labels == [
        "Môn học/hoạt động giáo dục",
        "Lớp",
        "Tên bài học",
        "Số tiết",
        "Tuần",
        "Thời gian thực hiện",
    ]
    headings = [p.text for p in paragraphs if p.style.name == "Heading 2"]
    assert headings == SECTIONS
    # The reflection section is last, followed only by its dotted lines.
    after = paragraphs[[p.text for p in paragraphs].index(SECTIONS[3]) + 1 :]
    assert len(after) == 3 and all(set(p.text) == {"…"} for p in after)


def test_the_activities_table_has_two_columns_and_the_four_steps(template: Path) -> None:
    [table] = docx.Document(str(template)).tables
    assert [c.text for c in table.rows[0].cells] == [
        "Hoạt động của giáo viên",
        "Hoạt động của học sinh",
    ]
    steps = [row.cells[0].text for row in table.rows[1:] if row.cells[0].text]
    assert steps == [
        "1. Mở đầu/Khởi động",
        "2. Hình thành kiến thức mới/Khám phá",
        "3. Luyện tập, thực hành",
        "4. Vận dụng, trải nghiệm",
    ]
    # Each step row spans both columns; below it, two empty cells to write in.
    assert all(len(row._tr.tc_lst) == 1 for row in table.rows[1::2])
    assert all(not row.cells[0].text and not row.cells[1].text for row in table.rows[2::2])


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "KHBD - mẫu.docx"
    out.write_bytes(b"the teacher's own plan")
    with pytest.raises(FileExistsError):
        write_template(out)
    assert out.read_bytes() == b"the teacher's own plan"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["KHBD - mẫu.docx"]


def test_writing_leaves_only_the_file(template: Path) -> None:
    assert sorted(p.name for p in template.parent.iterdir()) == [template.name]


def test_the_file_gets_the_usual_permissions(template: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    assert template.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_missing_folder_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_template(tmp_path / "no such folder" / "KHBD.docx")
    assert list(tmp_path.iterdir()) == []


# --- through the checks ---------------------------------------------------------------------


def fill(path: Path, *, header: dict[str, str], reflection: str | None) -> None:
    """What a teacher does: type over the dots of the header lines and, after the lesson,
    write in the reflection section."""
    document = docx.Document(str(path))
    paragraphs = document.paragraphs
    for paragraph in paragraphs:
        for label, line in header.items():
            if paragraph.text.startswith(label):
                paragraph.text = line
    if reflection is not None:
        heading = next(i for i, p in enumerate(paragraphs) if p.text == SECTIONS[3])
        paragraphs[heading + 1].text = reflection
    document.save(str(path))


def rules(path: Path, relative: str, today: date) -> list[str]:
    found = check_lesson_plan(read_document(path), relative, today=today, year_start=YEAR_START)
    return sorted(f.rule for f in found)


def test_the_blank_template_only_lacks_its_header_and_is_said_to_be_blank(
    template: Path,
) -> None:
    found = check_lesson_plan(
        read_document(template), "KHBD/mẫu.docx", today=date(2027, 5, 1), year_start=YEAR_START
    )
    assert [f.rule for f in found] == ["khbd.header-incomplete", "khbd.blank"]
    assert found[0].message.endswith("subject, grade (1–5), lesson, week (1–35).")
    # Information only (exit 0, no notification); the managers' report does not count it.
    assert found[1].severity == "info" and "does not count as handed in" in found[1].message


def test_the_blank_template_in_a_week_folder_is_due_after_that_week(template: Path) -> None:
    relative = "KHBD/Tuần 4/mẫu.docx"
    assert rules(template, relative, date(2026, 10, 2)) == ["khbd.blank", "khbd.header-incomplete"]
    assert rules(template, relative, date(2026, 10, 3)) == [
        "khbd.blank",
        "khbd.header-incomplete",
        "khbd.reflection-empty",
    ]


@pytest.mark.parametrize(
    ("label", "line"),
    [
        pytest.param("Tên bài học", "Tên bài học: Bài 8: Mẹ vắng nhà", id="header"),
        pytest.param(SECTIONS[0], "Đọc trơn bài; hiểu nội dung.", id="a-section"),
    ],
)
def test_one_line_written_makes_the_template_no_longer_blank(
    template: Path, label: str, line: str
) -> None:
    document = docx.Document(str(template))
    paragraphs = document.paragraphs
    at = next(i for i, p in enumerate(paragraphs) if p.text.startswith(label))
    target = paragraphs[at] if label != SECTIONS[0] else paragraphs[at + 1]
    target.text = line
    document.save(str(template))
    assert "khbd.blank" not in rules(template, "KHBD/mẫu.docx", date(2026, 9, 1))


def test_a_filled_template_has_no_findings(template: Path) -> None:
    fill(template, header=FILLED_HEADER, reflection="HS đọc trơn; 3 em cần luyện đọc thêm.")
    assert lesson_date(read_document(template), "KHBD/x.docx", YEAR_START) == date(2026, 9, 29)
    assert rules(template, "KHBD/Tuần 4/Bài 8.docx", date(2026, 10, 5)) == []


def test_a_filled_header_with_an_empty_reflection_is_due_after_the_lesson(template: Path) -> None:
    fill(template, header=FILLED_HEADER, reflection=None)
    assert rules(template, "KHBD/Bài 8.docx", date(2026, 9, 29)) == []
    assert rules(template, "KHBD/Bài 8.docx", date(2026, 9, 30)) == ["khbd.reflection-empty"]
