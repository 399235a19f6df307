"""Lesson-plan (KHBD) checks: each case with the findings it must give, and no others.

Most cases build a :class:`Document` directly, the way the readers would give it; the last
ones write real .docx files and go through ``read_document``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import pytest
from docs_factory import Para, lesson_plan, make_docx, make_odt, make_pdf, tcvn3, vni

from agent.records import Finding
from agent.documents.model import Block, Document, Legacy
from agent.documents.readers import read_document
from plugins.validation.lessonplan import check_lesson_plan, lesson_date

YEAR_START = date(2026, 9, 7)  # the Monday of week 1
LESSON_DAY = date(2026, 10, 12)  # Monday of week 6
BEFORE = date(2026, 10, 1)
AFTER = date(2026, 10, 20)
PATH = "KHBD/Toán/Bài 12.docx"

HEADER = (
    "Môn học/hoạt động giáo dục: Toán; lớp: 3",
    "Tên bài học: Bài 12: Phép cộng có nhớ trong phạm vi 100; số tiết: 1",
    "Tuần: 6",
    "Thời gian thực hiện: ngày 12 tháng 10 năm 2026",
)
BLANK_HEADER = (
    "Môn học/hoạt động giáo dục: ……………; lớp: ……………",
    "Tên bài học: ……………; số tiết: ……………",
    "Tuần: ……………",
    "Thời gian thực hiện: ngày …… tháng …… năm ……",
)
OBJECTIVES = "I. YÊU CẦU CẦN ĐẠT"
MATERIALS = "II. ĐỒ DÙNG DẠY HỌC"
ACTIVITIES = "III. CÁC HOẠT ĐỘNG DẠY HỌC CHỦ YẾU"
REFLECTION = "IV. ĐIỀU CHỈNH SAU BÀI DẠY (RÚT KINH NGHIỆM)"
WRITTEN = ("Học sinh làm tốt bài 1; bài 3 cần thêm thời gian, tiết sau cho làm nhóm đôi.",)
DOTTED = ("…………………………………………", "…………………………………………")


def heading(text: str) -> Block:
    return Block(text, heading_level=2)


def para(text: str) -> Block:
    return Block(text)


def cell(text: str, *, bold: bool = False) -> Block:
    return Block(text, bold=bold, in_table=True)


def activities_table() -> list[Block]:
    """The two-column table of section III, with activity names and an exercise "Bài 1"."""
    return [
        cell("Hoạt động của giáo viên", bold=True),
        cell("Hoạt động của học sinh", bold=True),
        cell("1. Khởi động", bold=True),
        cell("GV cho HS chơi trò chơi “Ai nhanh hơn”."),
        cell("HS chơi."),
        cell("2. Khám phá", bold=True),
        cell("Bài 1: Tính", bold=True),
        cell("Bài 2: Đặt tính rồi tính"),
        cell("3. Luyện tập, thực hành", bold=True),
        cell("4. Vận dụng, trải nghiệm", bold=True),
    ]


def lesson(
    *,
    title: str | None = "KẾ HOẠCH BÀI DẠY",
    header: Sequence[str] = HEADER,
    objectives: str | None = OBJECTIVES,
    materials: str | None = MATERIALS,
    activities: str | None = ACTIVITIES,
    reflection: str | None = REFLECTION,
    reflection_body: Sequence[str] = WRITTEN,
    make_heading: Callable[[str], Block] = heading,
) -> list[Block]:
    blocks = [Block(title, heading_level=1)] if title else []
    blocks += [para(line) for line in header]
    if objectives:
        blocks += [make_heading(objectives), para("- Thực hiện được phép cộng có nhớ.")]
    if materials:
        blocks += [make_heading(materials), para("- GV: bảng phụ, phiếu bài tập.")]
    if activities:
        blocks += [make_heading(activities), *activities_table()]
    if reflection:
        blocks += [make_heading(reflection), *(para(line) for line in reflection_body)]
    return blocks


def document(*blocks: Block) -> Document:
    return Document("docx", tuple(blocks))


def rules(doc: Document, path: str = PATH, *, today: date = AFTER) -> list[str]:
    found = check_lesson_plan(doc, path, today=today, year_start=YEAR_START)
    assert all(f.path == path for f in found)
    return sorted(f.rule for f in found)


def findings(doc: Document, path: str = PATH, *, today: date = AFTER) -> list[Finding]:
    return check_lesson_plan(doc, path, today=today, year_start=YEAR_START)


# --- whole plans ----------------------------------------------------------------------------


def test_a_filled_plan_has_no_findings() -> None:
    assert rules(document(*lesson())) == []


def test_a_blank_plan_before_the_lesson_only_lacks_its_header() -> None:
    doc = document(*lesson(header=BLANK_HEADER, reflection_body=DOTTED))
    [finding] = findings(doc, "KHBD/Tuần 6/Toán.docx", today=date(2026, 10, 16))
    assert finding.rule == "khbd.header-incomplete"
    assert finding.severity == "warning"
    # The week is named by the folder; the other three are not.
    assert finding.message.endswith("subject, grade (1–5), lesson.")
    assert "Tuần" not in finding.fix and "Lớp: …" in finding.fix


def test_a_blank_plan_after_its_week_also_has_an_empty_reflection() -> None:
    doc = document(*lesson(header=BLANK_HEADER, reflection_body=DOTTED))
    found = findings(doc, "KHBD/Tuần 6/Toán.docx", today=date(2026, 10, 17))
    assert sorted(f.rule for f in found) == ["khbd.header-incomplete", "khbd.reflection-empty"]
    empty = next(f for f in found if f.rule == "khbd.reflection-empty")
    assert empty.severity == "error"
    assert "16/10/2026" in empty.message and REFLECTION in empty.message


def test_a_blank_plan_without_any_date_never_has_an_empty_reflection() -> None:
    doc = document(*lesson(header=BLANK_HEADER, reflection_body=DOTTED))
    found = check_lesson_plan(doc, PATH, today=date(2027, 5, 1), year_start=None)
    assert [f.rule for f in found] == ["khbd.header-incomplete"]
    assert "week (1–35)" in found[0].message


def test_a_document_that_is_not_a_lesson_plan() -> None:
    doc = document(
        para("SỔ CHỦ NHIỆM"),
        para("Lớp 3A – Năm học 2026 – 2027"),
        Block("Danh sách học sinh", bold=True),
        cell("1"),
        cell("Nguyễn Văn An"),
    )
    found = findings(doc)
    assert [f.rule for f in found] == ["khbd.not-a-lesson-plan"]
    assert found[0].severity == "warning"


def test_an_empty_document_is_not_a_lesson_plan() -> None:
    assert rules(document()) == ["khbd.not-a-lesson-plan"]


# --- headings -------------------------------------------------------------------------------

REFLECTION_VARIANTS = [
    "Rút kinh nghiệm",
    "Rút kinh nghiệm sau tiết dạy",
    "Đánh giá và rút kinh nghiệm sau tiết dạy",
    "Điều chỉnh sau bài dạy",
    "Điều chỉnh sau bài dạy (nếu có)",
    "Điều chỉnh – bổ sung",
    "Nhận xét, rút kinh nghiệm",
    "Điều chỉnh sau tiết dạy",
    "IV. ĐIỀU CHỈNH SAU BÀI DẠY (RÚT KINH NGHIỆM)",
    "IV. Rút kinh nghiệm:",
    "4. Điều chỉnh sau bài dạy (nếu có):",
]


@pytest.mark.parametrize("variant", REFLECTION_VARIANTS)
def test_every_reflection_heading_variant_is_recognised(variant: str) -> None:
    assert rules(document(*lesson(reflection=variant))) == []
    empty = findings(document(*lesson(reflection=variant, reflection_body=DOTTED)))
    assert [f.rule for f in empty] == ["khbd.reflection-empty"]
    assert variant.strip() in empty[0].message


@pytest.mark.parametrize(
    ("objectives", "materials", "activities"),
    [
        ("I. Mục tiêu", "II. Chuẩn bị", "III. Tiến trình dạy học"),
        ("1. Yêu cầu cần đạt", "2. Thiết bị dạy học và học liệu", "3. Hoạt động dạy học"),
        ("I. MỤC TIÊU BÀI HỌC", "II. ĐỒ DÙNG DẠY HỌC", "III. CÁC HOẠT ĐỘNG DẠY VÀ HỌC"),
    ],
)
def test_section_variants_are_recognised(objectives: str, materials: str, activities: str) -> None:
    doc = lesson(objectives=objectives, materials=materials, activities=activities)
    assert rules(document(*doc)) == []


NUMBERINGS = [
    pytest.param(lambda n, roman, text: f"{roman}. {text}", id="roman-dot"),
    pytest.param(lambda n, roman, text: f"{roman}.{text.upper()}", id="roman-no-space"),
    pytest.param(lambda n, roman, text: f"{n}. {text}", id="arabic-dot"),
    pytest.param(lambda n, roman, text: f"{n}) {text}", id="arabic-paren"),
    pytest.param(lambda n, roman, text: f"{roman} - {text}", id="roman-dash"),
    pytest.param(lambda n, roman, text: f"Phần {n}: {text}", id="phan"),
    pytest.param(lambda n, roman, text: f"PHẦN {roman}. {text.upper()}", id="phan-caps"),
    pytest.param(lambda n, roman, text: f"{'ABCD'[n - 1]}. {text}", id="letter"),
    pytest.param(lambda n, roman, text: f"  {roman}.   {text}  :", id="spacing"),
]
NAMES = ["Yêu cầu cần đạt", "Đồ dùng dạy học", "Các hoạt động dạy học chủ yếu", "Rút kinh nghiệm"]


@pytest.mark.parametrize("number", NUMBERINGS)
def test_numbering_styles_are_recognised_on_plain_paragraphs(number) -> None:
    # Numbered but neither styled nor bold: the numbering alone makes them headings.
    titles = [number(n, ["I", "II", "III", "IV"][n - 1], t) for n, t in enumerate(NAMES, start=1)]
    doc = lesson(
        objectives=titles[0],
        materials=titles[1],
        activities=titles[2],
        reflection=titles[3],
        make_heading=para,
    )
    assert rules(document(*doc)) == []
    blank = lesson(
        objectives=titles[0],
        materials=titles[1],
        activities=titles[2],
        reflection=titles[3],
        make_heading=para,
        reflection_body=DOTTED,
    )
    assert rules(document(*blank)) == ["khbd.reflection-empty"]


@pytest.mark.parametrize(
    ("make_heading", "case"),
    [
        pytest.param(lambda t: Block(t), str.upper, id="all-caps"),
        pytest.param(lambda t: Block(t, bold=True), str, id="bold-only"),
        pytest.param(lambda t: Block(t, heading_level=2), str, id="heading-style"),
    ],
)
def test_unnumbered_headings_are_recognised_by_their_look(make_heading, case) -> None:
    doc = lesson(
        objectives=case(NAMES[0]),
        materials=case(NAMES[1]),
        activities=case(NAMES[2]),
        reflection=case(NAMES[3]),
        make_heading=make_heading,
    )
    assert rules(document(*doc)) == []


def test_an_unnumbered_plain_sentence_is_not_a_heading() -> None:
    # "Rút kinh nghiệm" in running text (neither styled, bold, capitals nor numbered).
    doc = lesson(reflection=None)
    doc.append(para("Rút kinh nghiệm cho tiết sau"))
    assert rules(document(*doc)) == ["khbd.reflection-missing"]


def test_headings_inside_a_table_are_not_sections() -> None:
    doc = lesson(reflection=None)
    doc += [cell("IV. RÚT KINH NGHIỆM", bold=True), cell("HS làm tốt.")]
    assert rules(document(*doc)) == ["khbd.reflection-missing"]


def test_nfd_text_is_read_like_nfc() -> None:
    nfd = [
        Block(unicodedata.normalize("NFD", b.text), b.heading_level, b.bold, b.in_table)
        for b in lesson()
    ]
    assert any(b.text != unicodedata.normalize("NFC", b.text) for b in nfd)
    assert rules(document(*nfd)) == []
    nfd_blank = [
        Block(unicodedata.normalize("NFD", b.text), b.heading_level, b.bold, b.in_table)
        for b in lesson(header=BLANK_HEADER, reflection_body=DOTTED)
    ]
    assert rules(document(*nfd_blank)) == ["khbd.header-incomplete"]


def test_nfd_numbering_is_recognised_and_headings_are_quoted_in_nfc() -> None:
    nfd = unicodedata.normalize("NFD", "Phần 4: Rút kinh nghiệm")
    doc = lesson(reflection=None, reflection_body=())
    doc += [para(nfd), para("……………")]  # neither bold nor styled: "Phần 4:" makes the heading
    [finding] = findings(document(*doc))
    assert finding.rule == "khbd.reflection-empty"
    assert "“Phần 4: Rút kinh nghiệm”" in finding.message


# --- the reflection section -----------------------------------------------------------------


def test_a_missing_reflection_is_an_error_with_the_heading_to_add() -> None:
    [finding] = findings(document(*lesson(reflection=None)))
    assert finding.rule == "khbd.reflection-missing"
    assert finding.severity == "error"
    assert "IV. Điều chỉnh sau bài dạy (Rút kinh nghiệm)" in finding.fix


def test_a_reflection_before_another_section_is_not_last() -> None:
    doc = lesson(activities=None)
    doc += [heading(ACTIVITIES), *activities_table()]
    [finding] = findings(document(*doc))
    assert finding.rule == "khbd.reflection-not-last"
    assert finding.severity == "error"
    assert REFLECTION in finding.message and ACTIVITIES in finding.message


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(("",), id="nothing"),
        pytest.param(("..........................", "__________________"), id="dots-underscores"),
        pytest.param(("……………………", "- - - - - - - -", "———"), id="ellipsis-dashes"),
        pytest.param(("(nếu có)", "…………"), id="placeholder"),
        pytest.param(("- Ưu điểm: …………………", "- Hạn chế: …………………"), id="labels-only"),
        pytest.param(("……", "Người soạn", "Nguyễn Thị Lan"), id="signature-below"),
        pytest.param(("……", "Duyệt của tổ chuyên môn", "Đồng ý, Tổ trưởng"), id="approval-below"),
    ],
)
def test_a_reflection_without_real_content_is_empty(body: Sequence[str]) -> None:
    doc = document(*lesson(reflection_body=body))
    assert rules(doc, today=AFTER) == ["khbd.reflection-empty"]
    assert rules(doc, today=LESSON_DAY) == []  # on the day itself it is not due yet
    assert rules(doc, today=BEFORE) == []


@pytest.mark.parametrize(
    ("reflection", "body"),
    [
        pytest.param("IV. Rút kinh nghiệm: HS hiểu bài.", DOTTED, id="after-the-colon"),
        pytest.param(REFLECTION, ("- Ưu điểm: HS hăng hái.",), id="label-and-answer"),
        pytest.param(REFLECTION, ("Tiết sau: ôn lại bảng cộng 9.",), id="short-line"),
    ],
)
def test_real_content_counts_wherever_it_is_written(reflection: str, body) -> None:
    assert rules(document(*lesson(reflection=reflection, reflection_body=body))) == []


def test_a_reflection_in_a_table_below_its_heading_counts() -> None:
    doc = lesson(reflection_body=())
    doc.append(cell("HS làm bài tốt, cần rèn thêm kĩ năng đặt tính."))
    assert rules(document(*doc)) == []


def test_two_headings_for_one_reflection_are_one_section() -> None:
    doc = lesson(reflection_body=())
    doc += [Block("Rút kinh nghiệm:", bold=True), para("HS nắm được bài.")]
    assert rules(document(*doc)) == []


# --- one lesson per file --------------------------------------------------------------------


def test_two_lessons_with_titles_are_reported_with_their_names() -> None:
    second = [
        "Môn học/hoạt động giáo dục: Toán; lớp: 3",
        "Tên bài học: Bài 13: Luyện tập; số tiết: 1",
        "Tuần: 6",
        "Thời gian thực hiện: ngày 13 tháng 10 năm 2026",
    ]
    doc = document(*lesson(), *lesson(header=second))
    [finding] = findings(doc)
    assert finding.rule == "khbd.several-lessons"
    assert finding.severity == "error"
    assert "2 lessons" in finding.message
    assert "Bài 12: Phép cộng" in finding.message and "Bài 13: Luyện tập" in finding.message


def test_a_weekly_file_without_titles_is_split_at_each_lesson() -> None:
    first = lesson(title=None, header=["Thứ hai ngày 12 tháng 10 năm 2026", "Bài 12: Phép cộng"])
    second = lesson(
        title=None,
        header=["Thứ ba ngày 13 tháng 10 năm 2026", "Bài 13: Luyện tập"],
        reflection_body=DOTTED,
    )
    found = check_lesson_plan(
        document(*first, *second),
        "KHBD/Tuần 6/Toán tuần 6.docx",
        today=AFTER,
        year_start=YEAR_START,
    )
    assert sorted(f.rule for f in found) == [
        "khbd.header-incomplete",
        "khbd.header-incomplete",
        "khbd.reflection-empty",
        "khbd.several-lessons",
    ]
    empty = next(f for f in found if f.rule == "khbd.reflection-empty")
    # The second lesson's reflection is the empty one, and its message says which lesson.
    assert empty.message.startswith("Lesson 2 of this file (“Bài 13: Luyện tập”)")
    assert "13/10/2026" in empty.message


def test_a_weekly_file_with_subject_lines_keeps_them_out_of_the_reflections() -> None:
    # "TOÁN" above the second lesson is its header, not text of the first one's reflection.
    first = lesson(title=None, header=["TUẦN 6", "TIẾNG VIỆT", "BÀI 9: ĐỒNG HỒ BÁO THỨC"])
    first[-1] = para("……………")
    second = lesson(title=None, header=["TOÁN", "Bài 15: Luyện tập"])
    found = findings(document(*first, *second))
    assert sorted(f.rule for f in found) == [
        "khbd.header-incomplete",
        "khbd.header-incomplete",
        "khbd.reflection-empty",
        "khbd.several-lessons",
    ]
    empty = next(f for f in found if f.rule == "khbd.reflection-empty")
    assert empty.message.startswith("Lesson 1 of this file (“BÀI 9: ĐỒNG HỒ BÁO THỨC”)")


def test_lessons_without_names_are_numbered() -> None:
    doc = document(*lesson(title=None, header=()), *lesson(title=None, header=()))
    found = findings(doc)
    several = next(f for f in found if f.rule == "khbd.several-lessons")
    assert "“lesson 1 of this file”, “lesson 2 of this file”" in several.message
    assert sorted(f.message.split(":")[0] for f in found if f is not several) == [
        "Lesson 1 of this file",
        "Lesson 2 of this file",
    ]


def test_two_lesson_numbers_in_one_header() -> None:
    header = [*HEADER, "Bài 13: Luyện tập"]
    [finding] = findings(document(*lesson(header=header)))
    assert finding.rule == "khbd.several-lessons"
    assert "Bài 13: Luyện tập" in finding.message


def test_two_reflection_sections_mean_two_lessons() -> None:
    doc = lesson()
    doc += [heading("Rút kinh nghiệm tiết 2"), para("HS làm tốt bài 4.")]
    [finding] = findings(document(*doc))
    assert finding.rule == "khbd.several-lessons"
    assert "2 reflection sections" in finding.message


def test_exercises_named_bai_inside_the_lesson_are_not_lessons() -> None:
    doc = lesson(activities=None, reflection=None)
    doc += [
        heading(ACTIVITIES),
        *activities_table(),
        Block("Bài 3: Giải toán", bold=True),  # an exercise outside the table, in section III
        Block("a) Mục tiêu: HS giải được bài toán có lời văn.", bold=True),
        Block("b) Chuẩn bị: phiếu bài tập.", bold=True),
        heading(REFLECTION),
        para("Bài 3: nhiều em còn nhầm phép tính."),  # a reflection that starts with "Bài"
    ]
    assert rules(document(*doc)) == []


# --- the header -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        pytest.param(HEADER, "", id="complete"),
        pytest.param(
            ("Môn: Tiếng Việt  Lớp 2A", "Bài 5: Em là búp măng non", "TUẦN 3"), "", id="unlabelled"
        ),
        pytest.param(("Toán – Lớp: 4/1 – Tiết 23 – Tuần thứ 5",), "", id="one-line"),
        pytest.param(
            ("Môn học: Mỹ thuật", "Lớp: Ba", "Tên bài học: Vẽ tranh", "Tuần 05"),
            "",
            id="words-and-zeros",
        ),
        pytest.param(
            ("Lớp: ......", "Tên bài học: Phép cộng", "Tuần: 3"),
            "subject, grade (1–5)",
            id="dots-are-not-a-grade",
        ),
        pytest.param(
            ("Môn học: Toán", "Lớp 7", "Tên bài học: Phép cộng", "Tuần 36"),
            "grade (1–5), week (1–35)",
            id="out-of-range",
        ),
        pytest.param(
            ("Môn học: Toán; lớp: 3", "Số tiết: 1", "Tuần 5"),
            "lesson",
            id="periods-are-not-a-lesson",
        ),
        pytest.param(
            ("Môn học: HĐTN", "Lớp: 1", "Tên bài học: Chủ đề 2", "Tuần: 9"),
            "",
            id="abbreviated-subject",
        ),
    ],
)
def test_header_names_subject_grade_lesson_and_week(header, missing: str) -> None:
    found = findings(document(*lesson(header=header)))
    if not missing:
        assert found == []
        return
    [finding] = found
    assert finding.rule == "khbd.header-incomplete"
    assert finding.message.endswith(f"does not name the {missing}.")


def test_the_week_folder_names_the_week() -> None:
    header = [line for line in HEADER if not line.startswith("Tuần")]
    assert rules(document(*lesson(header=header)), "KHBD/Tuần 06/Bài 12.docx") == []
    assert rules(document(*lesson(header=header)), "KHBD/Bài 12.docx") == ["khbd.header-incomplete"]


def test_a_header_inside_a_table_counts() -> None:
    doc = [cell("TRƯỜNG TIỂU HỌC AN LẠC"), cell("KẾ HOẠCH BÀI DẠY")]
    doc += [cell(line) for line in HEADER]
    doc += lesson(title=None, header=())
    assert rules(document(*doc)) == []


def test_missing_sections_are_named() -> None:
    [finding] = findings(document(*lesson(materials=None, objectives=None)))
    assert finding.rule == "khbd.sections-missing"
    assert finding.severity == "warning"
    assert "I. Yêu cầu cần đạt" in finding.message and "II. Đồ dùng dạy học" in finding.message
    assert "III." not in finding.message


# --- the lesson date ------------------------------------------------------------------------


def dated(*header: str) -> Document:
    return document(*lesson(header=(*HEADER[:3], *header)))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Thời gian thực hiện: 12/10/2026", date(2026, 10, 12)),
        ("Thời gian thực hiện: 2-3-2027", date(2027, 3, 2)),
        ("Thời gian thực hiện: 12.10.2026", date(2026, 10, 12)),
        ("Thời gian thực hiện: 12/10/26", date(2026, 10, 12)),
        ("Thời gian thực hiện: ngày 12 tháng 10 năm 2026", date(2026, 10, 12)),
        ("THỜI GIAN THỰC HIỆN: NGÀY 5 THÁNG 1 NĂM 2027", date(2027, 1, 5)),
        ("Ngày dạy: 14/10/2026", date(2026, 10, 14)),
        ("Thứ tư ngày 14 tháng 10 năm 2026", date(2026, 10, 14)),
        ("Thời gian thực hiện: từ 12/10 đến 16/10/2026", date(2026, 10, 16)),
        ("Thời gian thực hiện: từ ngày 12 đến ngày 16 tháng 10 năm 2026", date(2026, 10, 16)),
        ("Thời gian thực hiện: 28/12/2026 - 2/1/2027", date(2027, 1, 2)),
        ("Thời gian thực hiện: từ 28/12 đến 2/1/2027", date(2027, 1, 2)),
        ("Ngày soạn: 5/10/2026 – Ngày dạy: 13/10/2026", date(2026, 10, 13)),
        ("Thời gian thực hiện: 14/10", date(2026, 10, 14)),  # the year from the school year
        ("Thời gian thực hiện: 14/2", date(2027, 2, 14)),
        ("Thời gian thực hiện: 31/02/2027", date(2026, 10, 16)),  # no such day: the week's
    ],
)
def test_lesson_dates_are_read_in_every_format(line: str, expected: date) -> None:
    assert lesson_date(dated("Tuần 6", line), PATH, YEAR_START) == expected


def test_without_a_date_the_friday_of_the_week_is_the_lesson_date() -> None:
    assert lesson_date(dated("Tuần: 6"), PATH, YEAR_START) == date(2026, 10, 16)
    no_week = document(*lesson(header=HEADER[:2]))
    assert lesson_date(no_week, "KHBD/Tuần 1/Bài 1.docx", YEAR_START) == date(2026, 9, 11)
    assert lesson_date(no_week, "KHBD/Tuần 1/Bài 1.docx", None) is None


def test_the_preparation_date_counts_only_when_nothing_else_does() -> None:
    prepared = document(*lesson(header=(*HEADER[:2], "Ngày soạn: 5/10/2026")))
    assert lesson_date(prepared, PATH, YEAR_START) == date(2026, 10, 5)
    with_week = document(*lesson(header=(*HEADER[:2], "Ngày soạn: 5/10/2026", "Tuần 6")))
    assert lesson_date(with_week, PATH, YEAR_START) == date(2026, 10, 16)


def test_no_date_at_all() -> None:
    doc = document(*lesson(header=HEADER[:2]))
    assert lesson_date(doc, PATH, YEAR_START) is None
    blank = document(*lesson(header=HEADER[:2], reflection_body=DOTTED))
    assert rules(blank, today=date(2030, 1, 1)) == ["khbd.header-incomplete"]


def test_dates_in_the_lesson_body_are_not_the_lesson_date() -> None:
    doc = lesson(header=HEADER[:3])
    doc.append(para("Thời gian thực hiện: 1/9/2026"))  # inside the reflection, not the header
    assert lesson_date(document(*doc), PATH, YEAR_START) == date(2026, 10, 16)


# --- real files, through read_document --------------------------------------------------------

TAUGHT = date(
    2024, 9, 18
)  # docs_factory.lesson_plan(): "Thời gian thực hiện: Tuần 3, ngày 18/9/2024"
FILE_PATH = "KHBD/Tuần 3/Tiếng Việt - Bài 5.docx"


def file_findings(path: Path, *, today: date = date(2024, 9, 19)) -> list[Finding]:
    document = read_document(path)
    return check_lesson_plan(document, FILE_PATH, today=today, year_start=date(2024, 9, 2))


def file_rules(path: Path, *, today: date = date(2024, 9, 19)) -> list[str]:
    return sorted(f.rule for f in file_findings(path, today=today))


def reflection_heading_replaced(heading: Para, reflection: str = WRITTEN[0]) -> list:
    items = lesson_plan(reflection=reflection)
    position = next(
        i for i, item in enumerate(items) if isinstance(item, tuple) and item[0].startswith("IV.")
    )
    items[position] = heading
    return items


def test_a_real_lesson_plan_docx_has_no_findings(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "plan.docx", lesson_plan())
    assert lesson_date(read_document(path), FILE_PATH, None) == TAUGHT
    assert file_rules(path) == []


def test_a_real_docx_with_a_dotted_reflection_is_empty_after_the_lesson(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "plan.docx", lesson_plan(reflection="……………………………"))
    assert file_rules(path, today=TAUGHT) == []
    assert file_rules(path) == ["khbd.reflection-empty"]


@pytest.mark.parametrize(
    ("reflection", "expected"),
    [
        pytest.param("Ý kiến tổ trưởng: cần bổ sung phần vận dụng.", [], id="manager-note"),
        pytest.param("Nhận xét: học sinh làm tốt.", [], id="labelled-note"),
        pytest.param("Ý kiến tổ trưởng: ……………………", ["khbd.reflection-empty"], id="note-to-fill"),
        pytest.param("Nhận xét: ______________", ["khbd.reflection-empty"], id="label-to-fill"),
    ],
)
def test_a_real_docx_reflection_is_blank_only_with_labels_and_dots(
    tmp_path: Path, reflection: str, expected: list[str]
) -> None:
    # A reviewer's note written in the section is something written in it, like any other.
    path = make_docx(tmp_path / "plan.docx", lesson_plan(reflection=reflection))
    assert file_rules(path) == expected


def test_a_real_docx_with_two_lessons(tmp_path: Path) -> None:
    second = [
        item.replace("Bài 5: Ngày hội rừng xanh", "Bài 6: Cuộc chạy đua trong rừng")
        if isinstance(item, str)
        else item
        for item in lesson_plan()
    ]
    path = make_docx(tmp_path / "tuần 3.docx", [*lesson_plan(), *second])
    [finding] = file_findings(path)
    assert finding.rule == "khbd.several-lessons"
    assert "“Bài 5: Ngày hội rừng xanh”, “Bài 6: Cuộc chạy đua trong rừng”" in finding.message


def test_a_real_docx_without_reflection(tmp_path: Path) -> None:
    items = lesson_plan()[:-2]  # the "IV." heading and its text
    path = make_docx(tmp_path / "plan.docx", items)
    assert file_rules(path) == ["khbd.reflection-missing"]


@pytest.mark.parametrize(
    "heading",
    [
        pytest.param(
            Para((tcvn3("IV. ĐIỀU CHỈNH SAU BÀI DẠY", ".VnTimeH", bold=True),)),
            id="tcvn3-capitals-font",
        ),
        pytest.param(Para((tcvn3("4. Rút kinh nghiệm", bold=True),)), id="tcvn3-vntime"),
        pytest.param(
            Para((tcvn3("Rút kinh nghiệm sau tiết dạy", bold=True, shy=True),)),
            id="tcvn3-soft-hyphen",
        ),
        pytest.param(Para((vni("IV. Điều chỉnh sau bài dạy:", bold=True),)), id="vni"),
    ],
)
def test_a_legacy_font_reflection_heading_is_read_as_vietnamese(
    tmp_path: Path, heading: Para
) -> None:
    path = make_docx(tmp_path / "plan.docx", reflection_heading_replaced(heading))
    document = read_document(path)
    assert document.legacy_encodings in ({Legacy.TCVN3}, {Legacy.VNI})
    assert file_rules(path) == []
    blank = make_docx(tmp_path / "blank.docx", reflection_heading_replaced(heading, "………"))
    assert file_rules(blank) == ["khbd.reflection-empty"]


def test_a_real_odt_lesson_plan(tmp_path: Path) -> None:
    items = [
        ("KẾ HOẠCH BÀI DẠY", 1),
        "Môn học: Toán; lớp: 2",
        "Tên bài học: Bài 9: Luyện tập chung; số tiết: 1",
        "Thời gian thực hiện: ngày 18 tháng 9 năm 2024",
        ("1. Yêu cầu cần đạt", 2),
        "Thực hiện được phép cộng trong phạm vi 20.",
        ("2. Đồ dùng dạy học", 2),
        "Bảng phụ.",
        ("3. Các hoạt động dạy học chủ yếu", 2),
        ("4. Điều chỉnh sau bài dạy (nếu có)", 2),
        "(nếu có)",
    ]
    path = make_odt(tmp_path / "plan.odt", items)
    assert file_rules(path, today=TAUGHT) == []
    assert file_rules(path) == ["khbd.reflection-empty"]


def test_a_real_pdf_lesson_plan(tmp_path: Path) -> None:
    # A PDF's text layer has no styles and no tables: numbering and capitals carry the headings.
    lines = [
        "KẾ HOẠCH BÀI DẠY",
        "Môn học: Đạo đức – Lớp 1",
        "Bài 3: Em giữ vệ sinh cá nhân – Tuần 3",
        "Thời gian thực hiện: 18/9/2024",
        "I. YÊU CẦU CẦN ĐẠT",
        "Nêu được các việc làm giữ vệ sinh cá nhân.",
        "II. ĐỒ DÙNG DẠY HỌC",
        "Tranh, bài hát “Em giữ vệ sinh”.",
        "III. CÁC HOẠT ĐỘNG DẠY HỌC CHỦ YẾU",
        "1. Khởi động",
        "Bài 1: Quan sát tranh và trả lời.",
        "IV. RÚT KINH NGHIỆM",
        "HS thực hành rửa tay đúng các bước.",
    ]
    path = make_pdf(tmp_path / "plan.pdf", lines)
    assert file_rules(path) == []
    missing = make_pdf(tmp_path / "missing.pdf", lines[:-2])
    assert file_rules(missing) == ["khbd.reflection-missing"]
