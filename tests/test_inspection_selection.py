"""Which records an inspection takes: by folder, by lesson date, by last save; checked."""

from __future__ import annotations

import os
import unicodedata
from datetime import date, datetime
from pathlib import Path

import pytest
from inspection_factory import YEAR_START, blob, lesson, make_config, raw_config

from agent import config as configmod
from agent.errors import ConfigError, ExitCode, UsageError
from agent.validation import open_validator
from plugins.inspection.model import SelectedBy
from plugins.inspection.selection import Period, period_of, select
from plugins.inspection.service import envelope_of, left_out_problem, make_plan, refuse_if_blocked
from plugins.inspection.settings import InspectionSettings

TODAY = date(2026, 11, 29)
KHBD = "Kế hoạch bài dạy"


@pytest.fixture()
def records(tmp_path: Path) -> Path:
    root = tmp_path / "HoSo"
    lesson(root / KHBD / "Tuần 10" / "Toán" / "Bài 56.docx")
    lesson(root / KHBD / "Tuần 12" / "Tiếng Việt" / "Bài 20.docx", reflection="……………")
    lesson(root / KHBD / "Tuần 14" / "Toán" / "Bài 60.docx")
    lesson(root / KHBD / "Khác" / "Bài dạy thêm.docx", taught="ngày 11/11/2026")
    blob(root / KHBD / "Khác" / "Phiếu bài tập.pdf", 2000, mtime=datetime(2026, 11, 12, 9))
    blob(root / KHBD / "Tuần 11" / "chạy thử.exe", 100)
    lesson(root / KHBD / "Tuần 11" / "Bài 9.docx")  # and two copies of it beside it
    lesson(root / KHBD / "Tuần 11" / "Bài 9 (bản xung đột, máy lan-pc, 2026-11-20 08h10).docx")
    lesson(root / KHBD / "Tuần 11" / "Bài 9 (khôi phục 1).docx")
    lesson(root / "2024-2025" / KHBD / "Tuần 10" / "Toán" / "Bài 1.docx")
    blob(root / "Minh chứng nộp hồ sơ" / "Tuần 10–13" / "cũ.docx", 100)
    blob(root / "Sổ chủ nhiệm" / "Tháng 11" / "Tổng kết.xlsx", 300, mtime=datetime(2026, 10, 2))
    return root


def _select(root: Path, tmp_path: Path, period: Period):  # type: ignore[no-untyped-def]
    config = make_config(root, tmp_path / "state")
    with open_validator(config) as validator:
        return select(
            config, validator, period, evidence_folder="Minh chứng nộp hồ sơ", today=TODAY
        )


def test_weeks_select_by_folder_then_lesson_date_then_last_save(
    records: Path, tmp_path: Path
) -> None:
    selection = _select(records, tmp_path, Period((10, 13), None, ("KHBD",)))
    how = {f.path: f.selected_by for f in selection.files}
    assert how == {
        f"{KHBD}/Tuần 10/Toán/Bài 56.docx": SelectedBy.FOLDER,
        f"{KHBD}/Khác/Bài dạy thêm.docx": SelectedBy.LESSON_DATE,
        f"{KHBD}/Khác/Phiếu bài tập.pdf": SelectedBy.MODIFIED_TIME,
        f"{KHBD}/Tuần 11/Bài 9.docx": SelectedBy.FOLDER,
        f"{KHBD}/Tuần 12/Tiếng Việt/Bài 20.docx": SelectedBy.FOLDER,
    }
    assert [s.path for s in selection.skipped] == [
        f"{KHBD}/Tuần 11/Bài 9 (bản xung đột, máy lan-pc, 2026-11-20 08h10).docx",
        f"{KHBD}/Tuần 11/Bài 9 (khôi phục 1).docx",  # a second version of one record too
        f"{KHBD}/Tuần 11/chạy thử.exe",
    ]
    assert selection.label == "Tuần 10–13"
    first = next(f for f in selection.files if f.path.endswith("Bài 56.docx"))
    assert first.size == (records / first.path).stat().st_size
    assert len(first.sha256) == 64


@pytest.mark.parametrize(
    "kept",
    ["Bài 9 (khôi phục 1).docx", "Bài 9 (bản xung đột, máy lan-pc, 2026-11-20 08h10).docx"],
)
def test_a_copy_kept_as_the_only_version_is_the_record_and_is_sent(
    tmp_path: Path, kept: str
) -> None:
    """The teacher followed the advice (keep the right version, delete the other): the copy
    left alone is the record, not a second version of one."""
    root = tmp_path / "HoSo"
    lesson(root / KHBD / "Tuần 11" / kept)
    selection = _select(root, tmp_path, Period((11, 11), None, ("KHBD",)))
    assert [f.path for f in selection.files] == [f"{KHBD}/Tuần 11/{kept}"]
    assert selection.skipped == ()


def test_a_month_takes_month_folders_and_the_weeks_whose_wednesday_falls_in_it(
    records: Path, tmp_path: Path
) -> None:
    selection = _select(records, tmp_path, Period(None, "2026-11", ("KHBD", "SCN")))
    paths = {f.path for f in selection.files}
    assert "Sổ chủ nhiệm/Tháng 11/Tổng kết.xlsx" in paths  # by its folder, not its date
    assert f"{KHBD}/Tuần 10/Toán/Bài 56.docx" in paths
    assert f"{KHBD}/Tuần 12/Tiếng Việt/Bài 20.docx" in paths
    assert f"{KHBD}/Tuần 14/Toán/Bài 60.docx" not in paths  # 7–13 December
    assert not any(p.startswith("2024-2025") for p in paths)
    assert selection.label == "Tháng 11/2026"


def test_findings_come_from_the_validation_plugins(records: Path, tmp_path: Path) -> None:
    selection = _select(records, tmp_path, Period((12, 12), None, ("KHBD",)))
    (only,) = selection.files
    assert only.errors, "an empty reflection after the lesson is an error"
    assert all(f.path == only.path for f in only.findings)


def test_errors_block_sending_only_when_the_school_says_so(records: Path, tmp_path: Path) -> None:
    period = Period((12, 12), None, ("KHBD",))
    relaxed = make_plan(make_config(records, tmp_path / "s1"), period, today=TODAY)
    assert relaxed.selection.errors and not relaxed.blocked
    refuse_if_blocked(relaxed)
    strict_config = make_config(records, tmp_path / "s2", inspection={"block_on_errors": True})
    strict = make_plan(strict_config, period, today=TODAY)
    assert strict.blocked
    with pytest.raises(UsageError, match="block_on_errors"):
        refuse_if_blocked(strict)


def test_bad_selections_are_refused_with_one_message(records: Path, tmp_path: Path) -> None:
    config = make_config(records, tmp_path / "state")
    settings = InspectionSettings()
    with pytest.raises(UsageError, match="--weeks"):
        period_of(None, None, (), settings)
    with pytest.raises(UsageError, match="--weeks"):
        period_of("10", "2026-11", (), settings)
    with pytest.raises(UsageError, match="10-13"):
        period_of("13-10", None, (), settings)
    with pytest.raises(UsageError, match="2026-11"):
        period_of(None, "2026-13", (), settings)
    with pytest.raises(UsageError, match="XYZ"):
        make_plan(config, Period((10, 13), None, ("XYZ",)), today=TODAY)
    with pytest.raises(UsageError, match="No records"):
        make_plan(config, Period((30, 31), None, ("KHBD",)), today=TODAY)


def test_both_recipients_come_from_the_roles(tmp_path: Path) -> None:
    config = make_config(tmp_path, tmp_path / "state")
    envelope = envelope_of(config, ("Kế hoạch bài dạy",))
    assert [r.email for r in envelope.recipients] == [
        "c1binhchanh@truong.test",
        "cuong.lv@truong.test",
    ]
    assert envelope.sender.email == "lan.nt@truong.test"
    raw = raw_config(tmp_path, tmp_path / "state")
    raw["school"]["reviewers"] = []
    lonely = configmod.from_dict(raw, tmp_path / "agent.toml")
    with pytest.raises(ConfigError, match="reviewers"):
        envelope_of(lonely, ())
    del raw["school"]["mailbox"]
    with pytest.raises(ConfigError, match="mailbox"):
        envelope_of(configmod.from_dict(raw, tmp_path / "agent.toml"), ())


def _nfd(*names: str) -> str:
    """A relative path as a Mac writes it: every name decomposed (NFD)."""
    return os.path.join(*(unicodedata.normalize("NFD", n) for n in names))


def test_a_folder_in_both_unicode_spellings_is_read_as_one(tmp_path: Path) -> None:
    """A records folder copied from a Mac beside the teacher's own: "2026-2027/Kế hoạch bài
    dạy" exists composed (NFC) and decomposed (NFD). Every record below both is taken once,
    by its NFC path, from the real file; two real files of one NFC path are not sent."""
    root = tmp_path / "HoSo"
    year = root / "2026-2027"
    own = year / KHBD
    mac = year / _nfd(KHBD)
    lesson(own / "Tuần 10" / "Toán" / "Bài 56.docx")
    lesson(year / _nfd(KHBD, "Tuần 10", "Toán", "Bài 57.docx"))  # "Tuần 10" twice, too
    lesson(year / _nfd(KHBD, "Tuần 11", "Tiếng Việt", "Bài 20.docx"), reflection="……………")
    lesson(own / "Tuần 12" / "Bài 30.docx")
    lesson(year / _nfd(KHBD, "Tuần 12", "Bài 30.docx"), reflection="Một bản khác.")
    lesson(mac / _nfd("Tuần 14", "Bài 60.docx"))  # another week: neither sent nor reported
    (mac / _nfd("Tuần 11", "Tiếng Việt", "Bài 21.docx")).symlink_to(tmp_path / "elsewhere.docx")
    # Links where no record of the period can be (another week, another type): not reported.
    (mac / _nfd("Tuần 14", "Bài 61.docx")).symlink_to(tmp_path / "elsewhere.docx")
    (root / "Sổ chủ nhiệm").mkdir()
    (root / "Sổ chủ nhiệm" / "Tuần 10").symlink_to(tmp_path, target_is_directory=True)
    assert len(os.listdir(year)) == 2, "the file system keeps both spellings apart"

    selection = _select(root, tmp_path, Period((10, 13), None, ("KHBD",)))

    paths = [f.path for f in selection.files]
    assert paths == [
        f"2026-2027/{KHBD}/Tuần 10/Toán/Bài 56.docx",
        f"2026-2027/{KHBD}/Tuần 10/Toán/Bài 57.docx",
        f"2026-2027/{KHBD}/Tuần 11/Tiếng Việt/Bài 20.docx",
    ]
    assert all(unicodedata.is_normalized("NFC", p) for p in paths)
    for file in selection.files:  # read from the real file, whichever spelling holds it
        assert file.file.is_file() and file.size == file.file.stat().st_size
        assert file.selected_by is SelectedBy.FOLDER
    from_mac = selection.files[2]
    assert from_mac.file == year / _nfd(KHBD, "Tuần 11", "Tiếng Việt", "Bài 20.docx")
    assert from_mac.errors, "checked where it is: an empty reflection after the lesson"

    link, twin = selection.skipped
    assert twin.path == f"2026-2027/{KHBD}/Tuần 12/Bài 30.docx"
    assert "(NFC," in twin.reason and "(NFD," in twin.reason and "keep one" in twin.reason
    assert link.path == f"2026-2027/{KHBD}/Tuần 11/Tiếng Việt/Bài 21.docx"
    assert "symbolic link" in link.reason
    assert not (tmp_path / "elsewhere.docx").exists()  # the link was never written through
    assert sorted(os.listdir(year)) == sorted([KHBD, unicodedata.normalize("NFD", KHBD)])


def test_a_plan_that_leaves_files_out_says_so(records: Path, tmp_path: Path) -> None:
    config = make_config(records, tmp_path / "state")
    partial = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
    problem = left_out_problem(partial)
    assert problem is not None and problem.exit_code == ExitCode.PARTIAL
    assert "3 file(s) of Tuần 10–13" in str(problem) and "--allow-left-out" in str(problem)
    # Records of a type not asked for are not "left out": the teacher chose the types.
    whole = make_plan(config, Period((12, 12), None, ("KHBD",)), today=TODAY)
    assert left_out_problem(whole) is None


def test_a_lesson_date_is_read_in_the_sandbox_and_a_hostile_document_falls_back_to_its_save_time(
    tmp_path: Path,
) -> None:
    from docs_factory import shared_stream_pdf

    from agent.documents.sandbox import shared
    from plugins.validation.settings import settings_of

    root = tmp_path / "HoSo"
    lesson(root / KHBD / "Khác" / "Bài dạy thêm.docx", taught="ngày 11/11/2026")
    pdf = shared_stream_pdf(root / KHBD / "Khác" / "Bài khó.pdf", 300)
    saved = datetime(2026, 11, 12, 9).timestamp()
    os.utime(pdf, (saved, saved))
    plugins = {"validation": {"year_start": YEAR_START, "document_seconds": 1}}
    plugins["desktop"] = {"enabled": False}
    config = make_config(root, tmp_path / "state", plugins=plugins)
    sandbox = shared(settings_of(config).limits())
    before = sandbox.reads
    with open_validator(config) as validator:
        selection = select(
            config, validator, Period((10, 13), None, ("KHBD",)), evidence_folder="x", today=TODAY
        )
    how = {f.path: f.selected_by for f in selection.files}
    assert how == {
        f"{KHBD}/Khác/Bài dạy thêm.docx": SelectedBy.LESSON_DATE,
        f"{KHBD}/Khác/Bài khó.pdf": SelectedBy.MODIFIED_TIME,
    }
    assert sandbox.reads - before >= 2  # both dates were looked for by a worker, not by us
