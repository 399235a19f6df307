"""File-name checks and school weeks: literals in, findings and numbers out."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from agent.records import RecordType, Severity
from plugins.validation.filechecks import check_path, find_twins, twin_findings
from agent.weeks import default_year_start, school_week, week_dates, week_of_path

KHBD = RecordType(
    code="KHBD",
    name_vi="Kế hoạch bài dạy",
    name_en="Lesson plan",
    formats=(".docx", ".odt", ".pdf"),
)
EXPORT = RecordType(
    code="NENTANG",
    name_vi="Dữ liệu nền tảng",
    name_en="Platform export",
    formats=(".pdf", ".xls"),
    preserve=True,
)


def rules(path: str, *, size: int = 1000, record_type: RecordType | None = None) -> set[str]:
    return {f.rule for f in check_path(path, size=size, record_type=record_type)}


def test_a_good_name_has_no_findings() -> None:
    assert check_path("Tuần 5/Toán/Bài 12 - Phép cộng.docx", size=1000, record_type=KHBD) == []


@pytest.mark.parametrize(
    "path",
    [
        "Tuần 5/Bài 1: Phép cộng.docx",
        "Tuần 5/Bài 1?.docx",
        'Tuần 5/"Bài 1".docx',
        "Tuần 5/Bài 1 <nháp>.docx",
        "Tuần 5/Toán | Tiếng Việt.docx",
        "Tuần 5/Bài 1*.docx",
        "Tuần 5\\Bài 1.docx",
        "Tuần 5/Bài\t1.docx",
        "Tuần: 5/Bài 1.docx",  # in a folder name too
    ],
)
def test_characters_windows_refuses_are_reported(path: str) -> None:
    findings = check_path(path, size=10, record_type=None)
    [finding] = [f for f in findings if f.rule == "file.forbidden-character"]
    assert finding.severity is Severity.WARNING
    assert finding.path == path
    assert finding.fix


def test_a_control_character_is_named_by_its_code() -> None:
    [finding] = check_path("Bài\x011.docx", size=10, record_type=None)
    assert "U+0001" in finding.message


@pytest.mark.parametrize(
    ("path", "warns"),
    [
        ("Tuần 5./Bài 1.docx", True),
        ("Tuần 5 /Bài 1.docx", True),
        (" Tuần 5/Bài 1.docx", True),
        ("Tuần 5/Bài 1.docx ", True),
        ("Tuần 5/Bài 1.", True),
        ("Tuần 5/Bài 1. Ôn tập.docx", False),
        ("Tuần 5/Bài 1 .docx", False),  # a space before the extension is legal
    ],
)
def test_trailing_dots_and_spaces(path: str, warns: bool) -> None:
    assert ("file.trailing-dot-space" in rules(path)) is warns


@pytest.mark.parametrize(
    ("path", "warns"),
    [
        ("con.docx", True),
        ("CON", True),
        ("Tuần 5/Aux.tar.gz", True),
        ("NUL .txt", True),
        ("prn/Bài 1.docx", True),
        ("COM1.xlsx", True),
        ("com0.docx", True),
        ("LPT9.pdf", True),
        ("COM¹.docx", True),
        ("lpt³", True),
        ("COM10.docx", False),
        ("console.docx", False),
        ("Bài con.docx", False),
        ("Tuần 5/LPT.docx", False),
        ("Nguyễn.docx", False),
    ],
)
def test_windows_device_names(path: str, warns: bool) -> None:
    assert ("file.reserved-name" in rules(path)) is warns


@pytest.mark.parametrize(
    ("path", "warns"),
    [
        (".htaccess", True),
        ("Tuần 5/.HTACCESS", True),
        ("Tuần 5/Bài 1.docx.part", True),
        ("Tuần 5/Bài 1.docx.PART", True),
        ("Tuần 5/Bài 1.filepart", True),
        ("Tuần 5.part/Bài 1.docx", True),
        ("Tuần 5/Bài 1 part.docx", False),
        ("Tuần 5/Bài 1.partial", False),
        ("Tuần 5/htaccess.docx", False),
    ],
)
def test_names_nextcloud_refuses(path: str, warns: bool) -> None:
    assert ("file.nextcloud-forbidden" in rules(path)) is warns


def test_path_length_boundary() -> None:
    folder = "Tuần 5/"
    at_limit = folder + "a" * (250 - len(folder) - len(".docx")) + ".docx"
    assert len(at_limit) == 250
    assert "file.path-too-long" not in rules(at_limit)
    over = "b" + at_limit
    [finding] = [
        f for f in check_path(over, size=1, record_type=None) if f.rule == "file.path-too-long"
    ]
    assert "251" in finding.message
    assert finding.severity is Severity.WARNING


def test_path_length_counts_characters_not_bytes() -> None:
    path = "Tuần/" + "ệ" * 240 + ".docx"  # 250 characters, far more UTF-8 bytes
    assert len(path) == 250
    assert "file.path-too-long" not in rules(path)


def test_empty_file() -> None:
    assert "file.empty" in rules("Bài 1.docx", size=0)
    assert "file.empty" not in rules("Bài 1.docx", size=1)


@pytest.mark.parametrize("suffix", [".docm", ".XLSM", ".pptm", ".dotm", ".xltm"])
def test_macro_enabled_formats(suffix: str) -> None:
    [finding] = [f for f in check_path(f"Bài 1{suffix}", size=9, record_type=None)]
    assert finding.rule == "file.macro-enabled"
    assert suffix.lower() in finding.message


@pytest.mark.parametrize("suffix", [".docx", ".xlsx", ".pptx", ".pdf"])
def test_macro_free_formats_pass(suffix: str) -> None:
    assert "file.macro-enabled" not in rules(f"Bài 1{suffix}")


def test_format_not_allowed_for_the_record_type() -> None:
    [finding] = check_path("Tuần 5/Bài 1.txt", size=9, record_type=KHBD)
    assert finding.rule == "file.format-not-allowed"
    assert ".txt" in finding.message and ".docx" in finding.message
    assert "file.format-not-allowed" not in rules("Tuần 5/Bài 1.ODT", record_type=KHBD)
    assert "file.format-not-allowed" not in rules("Tuần 5/Bài 1.txt", record_type=None)


@pytest.mark.parametrize("name", ["Bài 1", "Bài 1.", "Bài 1. ", "Bài 1.  ", "Bài 1.…"])
def test_a_name_without_a_file_type_says_so_in_words(name: str) -> None:
    found = check_path(f"Tuần 5/{name}", size=9, record_type=KHBD)
    [finding] = [f for f in found if f.rule == "file.format-not-allowed"]
    # Not ".  is not a format allowed": the name, and what it lacks, in plain words.
    assert finding.message == (
        f"“{name}” does not end with a file type (such as .docx), so it does not open as a "
        "Kế hoạch bài dạy."
    )
    assert finding.fix.endswith("save it again as one of: .docx .odt .pdf.")


@pytest.mark.parametrize("suffix", [".doc", ".xls", ".PPT"])
@pytest.mark.parametrize("record_type", [KHBD, None])
def test_legacy_binary_formats_replace_format_not_allowed(
    suffix: str, record_type: RecordType | None
) -> None:
    findings = check_path(f"Bài 1{suffix}", size=9, record_type=record_type)
    assert [f.rule for f in findings] == ["file.legacy-format"]
    assert "cannot be checked" in findings[0].message
    assert ".docx" in findings[0].fix


def test_a_preserved_export_in_a_legacy_format_is_left_alone() -> None:
    # Re-saving a signed platform export would break its signature.
    assert rules("Học bạ 5A.xls", record_type=EXPORT) == set()


def test_every_rule_at_once_gives_one_finding_per_rule() -> None:
    path = "CON./" + "x" * 250 + "?.docm"
    found = [f.rule for f in check_path(path, size=0, record_type=KHBD)]
    assert sorted(found) == sorted(
        {
            "file.forbidden-character",
            "file.trailing-dot-space",
            "file.reserved-name",
            "file.path-too-long",
            "file.empty",
            "file.macro-enabled",
            "file.format-not-allowed",
        }
    )


# --- NFC/NFD twins ---------------------------------------------------------------------------

NFC_NAME = unicodedata.normalize("NFC", "Tuần 5/Kế hoạch bài dạy.docx")
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)


def test_nfd_twin_is_found_with_the_nfc_spelling_first() -> None:
    assert NFC_NAME != NFD_NAME
    assert find_twins([NFD_NAME, "Tuần 5/Khác.docx", NFC_NAME]) == [(NFC_NAME, NFD_NAME)]


def test_no_twins_among_distinct_or_repeated_names() -> None:
    assert find_twins([NFC_NAME, NFC_NAME, "Tuần 5/Bài 2.docx"]) == []
    assert find_twins([NFD_NAME]) == []


def test_three_spellings_make_three_pairs() -> None:
    mixed = NFC_NAME.replace("ầ", unicodedata.normalize("NFD", "ầ"))
    pairs = find_twins([NFD_NAME, mixed, NFC_NAME])
    assert pairs[:2] == [(NFC_NAME, NFD_NAME), (NFC_NAME, mixed)]
    assert len(pairs) == 3


def test_twin_finding_is_an_error_on_the_nfc_path_and_never_says_delete_blindly() -> None:
    [finding] = twin_findings([(NFC_NAME, NFD_NAME)])
    assert finding.rule == "file.normalization-twin"
    assert finding.severity is Severity.ERROR
    assert finding.path == NFC_NAME
    assert "NFD" in finding.message and "NFC" in finding.message
    assert finding.fix.startswith("Open both and compare them.")
    assert "NFD" in finding.fix


def test_twin_finding_path_is_nfc_even_when_no_spelling_is() -> None:
    mixed = NFC_NAME.replace("ầ", unicodedata.normalize("NFD", "ầ"))
    [finding] = twin_findings(find_twins([NFD_NAME, mixed]))
    assert finding.path == NFC_NAME


# --- school weeks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "week"),
    [
        ("Tuần 5/Bài 1.docx", 5),
        ("Tuan 05/Bài 1.docx", 5),
        ("Tuan_5/Bài 1.docx", 5),
        ("TUẦN 12/Bài 1.docx", 12),
        ("tuần12/Bài 1.docx", 12),
        (unicodedata.normalize("NFD", "Tuần 7") + "/Bài 1.docx", 7),
        ("T5/Bài 1.docx", 5),
        ("Khối 3/T09/Toán/Bài 1.docx", 9),
        ("Tuần 3 (16-20.9)/Bài 1.docx", 3),
        ("Tuần thứ 4/Bài 1.docx", 4),
        ("Toán/Tuần 8 - Bài 30.docx", 8),  # from the file name when no folder says
        ("Tuần 35/Bài 1.docx", 35),
        ("Tuần 2/Tuần 6 - Bài 3.docx", 2),  # the folder wins over the file name
        ("Tuần 1/Tuần 2/Bài 3.docx", 2),  # the nearest folder wins
    ],
)
def test_week_of_path(path: str, week: int) -> None:
    assert week_of_path(path) == week


@pytest.mark.parametrize(
    "path",
    [
        "Bài 1.docx",
        "Toán T5/Bài 1.docx",  # T5 only as a whole folder name
        "Toán/T5.docx",  # …and never as a file name
        "Tuần 36/Bài 1.docx",
        "Tuần 0/Bài 1.docx",
        "Tuần 123/Bài 1.docx",
        "Nguyễn Anh Tuấn/Bài 1.docx",
        "Tuần/Bài 1.docx",
    ],
)
def test_no_week(path: str) -> None:
    assert week_of_path(path) is None


@pytest.mark.parametrize(
    ("today", "start"),
    [
        (date(2024, 10, 15), date(2024, 9, 2)),  # 5 Sep 2024 is a Thursday
        (date(2025, 3, 1), date(2024, 9, 2)),  # spring belongs to the year started in 2024
        (date(2025, 8, 31), date(2024, 9, 2)),
        (date(2025, 9, 1), date(2025, 9, 1)),  # 5 Sep 2025 is a Friday: its Monday is 1 Sep
        (date(2026, 1, 1), date(2025, 9, 1)),
        (date(2027, 9, 20), date(2027, 8, 30)),  # 5 Sep 2027 is a Sunday: start in August
    ],
)
def test_default_year_start(today: date, start: date) -> None:
    assert default_year_start(today) == start
    assert start.weekday() == 0


def test_school_week_counts_from_the_start_and_is_clamped() -> None:
    start = date(2024, 9, 2)
    assert school_week(date(2024, 9, 2), start) == 1
    assert school_week(date(2024, 9, 8), start) == 1
    assert school_week(date(2024, 9, 9), start) == 2
    assert school_week(date(2024, 12, 31), start) == 18
    assert school_week(date(2024, 8, 1), start) == 1
    assert school_week(date(2025, 6, 1), start) == 35


def test_week_dates() -> None:
    start = date(2024, 9, 2)
    assert week_dates(1, start) == (date(2024, 9, 2), date(2024, 9, 8))
    assert week_dates(18, start) == (date(2024, 12, 30), date(2025, 1, 5))
    monday, sunday = week_dates(35, start)
    assert school_week(monday, start) == school_week(sunday, start) == 35
    with pytest.raises(ValueError):
        week_dates(36, start)
    with pytest.raises(ValueError):
        week_dates(0, start)
