"""The local scanner on real files: names, ignores, symlinks, settle, lock files, twins,
unreadable entries, hashing and the root marker."""

from __future__ import annotations

import hashlib
import os
import time
import unicodedata
from pathlib import Path

import pytest

from agent.errors import ConfigError, LocalError, SafetyStop
from agent.local import (
    MARKER_NAME,
    TEMP_PREFIX,
    IgnoreRules,
    ScanResult,
    absolute,
    hash_entries,
    hash_file,
    read_marker,
    scan,
    write_marker,
)
from agent.model import JournalEntry, Kind, LocalEntry, nfc

SECOND = 1_000_000_000


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def write(root: Path, rel: str, data: bytes = b"noi dung") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def scan_now(
    root: Path, *patterns: str, journal: dict[str, JournalEntry] | None = None
) -> ScanResult:
    return scan(
        root, journal or {}, IgnoreRules(patterns), now_ns=time.time_ns(), settle_seconds=0.0
    )


def journal_of(entries: dict[str, LocalEntry]) -> dict[str, JournalEntry]:
    return {
        p: JournalEntry(p, e.kind, e.size, e.mtime_ns, e.inode, e.sha256)
        for p, e in entries.items()
    }


# --- names and stats ------------------------------------------------------------------------


def test_scan_realistic_tree_keys_are_nfc_and_fs_path_keeps_disk_spelling(tmp_path: Path) -> None:
    week2 = nfd("Tuần 2")  # a folder created on macOS / by some unzip tools: NFD on disk
    write(tmp_path, "Tuần 1/Kế hoạch bài dạy.docx", b"KHBD")
    write(tmp_path, f"{week2}/{nfd('Sổ điểm.xlsx')}", b"so diem")
    write(tmp_path, f"{week2}/Rút kinh nghiệm/Biên bản.docx", b"bien ban")
    write(tmp_path, "Danh sách lớp.xlsx", b"")

    result = scan_now(tmp_path)

    assert set(result.entries) == {
        "Tuần 1",
        "Tuần 1/Kế hoạch bài dạy.docx",
        "Tuần 2",
        "Tuần 2/Sổ điểm.xlsx",
        "Tuần 2/Rút kinh nghiệm",
        "Tuần 2/Rút kinh nghiệm/Biên bản.docx",
        "Danh sách lớp.xlsx",
    }
    assert all(key == nfc(key) for key in result.entries)
    score = result.entries["Tuần 2/Sổ điểm.xlsx"]
    assert score.fs_path == f"{week2}/{nfd('Sổ điểm.xlsx')}"
    assert absolute(tmp_path, score).read_bytes() == b"so diem"
    assert result.entries["Tuần 2/Rút kinh nghiệm/Biên bản.docx"].fs_path == (
        f"{week2}/Rút kinh nghiệm/Biên bản.docx"
    )
    assert result.twins == () and result.symlinks == () and result.unreadable == ()


def test_scan_records_stat_without_hashing(tmp_path: Path) -> None:
    path = write(tmp_path, "Tuần 1/Kế hoạch bài dạy.docx", b"KHBD")
    st = path.stat()

    result = scan_now(tmp_path)

    plan = result.entries["Tuần 1/Kế hoạch bài dạy.docx"]
    assert (plan.kind, plan.size, plan.mtime_ns, plan.inode) == (
        Kind.FILE,
        4,
        st.st_mtime_ns,
        st.st_ino,
    )
    assert plan.sha256 is None and plan.settled and not plan.open_in_editor
    folder = result.entries["Tuần 1"]
    assert folder.kind is Kind.DIR and folder.settled and folder.size == 0


def test_missing_root_is_a_safety_stop_not_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(SafetyStop, match="cannot be read"):
        scan_now(tmp_path / "USB chưa cắm")


# --- ignores --------------------------------------------------------------------------------


def test_builtin_ignores_hide_office_litter_and_our_own_files(tmp_path: Path) -> None:
    litter = [
        "~$ hoạch.docx",
        ".~lock.Sổ điểm.ods#",
        "~WRL0001.tmp",
        "Tuần 1/save.tmp",
        "Thumbs.db",
        "Tuần 1/desktop.ini",
        ".DS_Store",
        f"{TEMP_PREFIX}a1b2.part",
        f"Tuần 1/{TEMP_PREFIX}c3d4.part",
        MARKER_NAME,
        ".hoso-trash/Kế hoạch.docx",
    ]
    for rel in litter:
        write(tmp_path, rel)
    write(tmp_path, "Tuần 1/Kế hoạch.docx")

    result = scan_now(tmp_path)

    assert set(result.entries) == {"Tuần 1", "Tuần 1/Kế hoạch.docx"}


def test_user_patterns_with_negation_folders_and_anchors(tmp_path: Path) -> None:
    for rel in [
        "a.bak",
        "Tuần 1/b.bak",
        "Tuần 1/giu-lai.bak",
        "Nháp/x.docx",
        "Tuần 1/Nháp/y.docx",
        "chi-o-goc.txt",
        "Tuần 1/chi-o-goc.txt",
        "quan-trong.tmp",
    ]:
        write(tmp_path, rel)
    # proof that ignored folders are not walked: a symlink inside would otherwise be listed
    (tmp_path / "Nháp" / "lien-ket").symlink_to(tmp_path / "a.bak")

    patterns = ["*.bak", "!giu-lai.bak", nfd("Nháp/"), "/chi-o-goc.txt", "!quan-trong.tmp"]
    result = scan_now(tmp_path, *patterns)

    assert set(result.entries) == {
        "Tuần 1",
        "Tuần 1/giu-lai.bak",
        "Tuần 1/chi-o-goc.txt",
        "quan-trong.tmp",
    }
    assert result.symlinks == ()


def test_user_patterns_cannot_unignore_the_agents_own_files() -> None:
    rules = IgnoreRules(["!.hoso-root", f"!{TEMP_PREFIX}*", "!.hoso-trash/"])
    assert rules.is_ignored(MARKER_NAME, False)
    assert rules.is_ignored(f"{TEMP_PREFIX}x.part", False)
    assert rules.is_ignored(".hoso-trash", True)
    assert IgnoreRules(extra=["Thùng rác/"]).is_ignored(nfd("Thùng rác"), True)


def test_invalid_user_pattern_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid gitignore"):
        IgnoreRules(["*.bak", "!"])


# --- symlinks -------------------------------------------------------------------------------


def test_symlinks_are_listed_and_never_followed(tmp_path: Path) -> None:
    root = tmp_path / "hoso"
    outside = tmp_path / "ngoai"
    write(outside, "bi-mat.docx")
    write(root, "Tuần 1/Bài.docx")
    (root / "ra-ngoai").symlink_to(outside, target_is_directory=True)
    (root / "Tuần 1/ban-sao.docx").symlink_to(root / "Tuần 1/Bài.docx")
    (root / "vong-a").symlink_to(root / "vong-b")
    (root / "vong-b").symlink_to(root / "vong-a")
    (root / "Tuần 1/len-tren").symlink_to(root, target_is_directory=True)
    (root / "hong").symlink_to(tmp_path / "khong-co")

    result = scan_now(root)

    assert set(result.entries) == {"Tuần 1", "Tuần 1/Bài.docx"}
    assert sorted(result.symlinks) == sorted(
        ["ra-ngoai", "Tuần 1/ban-sao.docx", "vong-a", "vong-b", "Tuần 1/len-tren", "hong"]
    )


# --- settle ---------------------------------------------------------------------------------


def test_settle_window_around_now(tmp_path: Path) -> None:
    now = 1_700_000_000 * SECOND
    ages = {
        "vua-luu": -SECOND // 2,
        "cu": -10 * SECOND,
        "tuong-lai-gan": SECOND,
        "tuong-lai-xa": 10 * SECOND,
    }
    for name, offset in ages.items():
        os.utime(write(tmp_path, name), ns=(now + offset, now + offset))
    os.mkdir(tmp_path / "thu-muc")
    os.utime(tmp_path / "thu-muc", ns=(now, now))

    result = scan(tmp_path, {}, IgnoreRules(), now_ns=now, settle_seconds=2.0)
    relaxed = scan(tmp_path, {}, IgnoreRules(), now_ns=now, settle_seconds=0.0)

    settled = {p: e.settled for p, e in result.entries.items()}
    assert settled == {
        "vua-luu": False,
        "cu": True,
        "tuong-lai-gan": False,
        "tuong-lai-xa": True,
        "thu-muc": True,
    }
    assert all(e.settled for e in relaxed.entries.values())


# --- office lock files ----------------------------------------------------------------------


def test_open_in_editor_from_word_and_libreoffice_lock_files(tmp_path: Path) -> None:
    for rel in [
        "Tuần 1/Kế hoạch bài dạy.docx",
        "Tuần 1/~$ hoạch bài dạy.docx",
        "Tuần 1/Đề.docx",
        "Tuần 1/~$Đề.docx",
        "Tuần 1/Sổ điểm.ods",
        "Tuần 1/.~lock.Sổ điểm.ods#",
        "Tuần 1/Đóng rồi.docx",
        "Tuần 2/Đề.docx",
    ]:
        write(tmp_path, rel)

    entries = scan_now(tmp_path).entries

    in_editor = {p for p, e in entries.items() if e.open_in_editor}
    assert in_editor == {"Tuần 1/Kế hoạch bài dạy.docx", "Tuần 1/Đề.docx", "Tuần 1/Sổ điểm.ods"}
    assert not any("~$" in p or ".~lock." in p for p in entries)


def test_lock_file_spelled_nfd_still_counts(tmp_path: Path) -> None:
    write(tmp_path, "Sổ điểm.ods")
    write(tmp_path, nfd(".~lock.Sổ điểm.ods#"))

    assert scan_now(tmp_path).entries["Sổ điểm.ods"].open_in_editor


# --- normalisation twins --------------------------------------------------------------------


def test_nfc_and_nfd_twins_are_both_left_out(tmp_path: Path) -> None:
    write(tmp_path, "Tuần 3/Bài 1.docx", b"nfc")
    write(tmp_path, "Tuần 3/" + nfd("Bài 1.docx"), b"nfd")
    write(tmp_path, "Tuần 3/Bài 2.docx")
    write(tmp_path, "Tuần 4/a.docx")
    write(tmp_path, nfd("Tuần 4") + "/b.docx")

    result = scan_now(tmp_path)

    assert set(result.entries) == {"Tuần 3", "Tuần 3/Bài 2.docx"}
    assert sorted(result.twins) == sorted(
        [
            tuple(sorted(["Tuần 3/Bài 1.docx", "Tuần 3/" + nfd("Bài 1.docx")])),
            tuple(sorted(["Tuần 4", nfd("Tuần 4")])),
        ]
    )


# --- unreadable and special entries ---------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_unreadable_folder_is_reported_and_scan_goes_on(tmp_path: Path) -> None:
    write(tmp_path, "Khoá/bi-mat.docx")
    write(tmp_path, "Mở/ok.docx")
    (tmp_path / "Khoá").chmod(0)
    try:
        result = scan_now(tmp_path)
    finally:
        (tmp_path / "Khoá").chmod(0o755)

    assert [p for p, _reason in result.unreadable] == ["Khoá"]
    assert "Mở/ok.docx" in result.entries and "Khoá/bi-mat.docx" not in result.entries


def test_special_files_are_reported_not_synced(tmp_path: Path) -> None:
    write(tmp_path, "Bài.docx")
    os.mkfifo(tmp_path / "ong-dan")

    result = scan_now(tmp_path)

    assert set(result.entries) == {"Bài.docx"}
    assert [p for p, _reason in result.unreadable] == ["ong-dan"]


# --- journal hashes and hashing ---------------------------------------------------------------


def test_stat_only_rescan_reuses_journal_hash(tmp_path: Path) -> None:
    write(tmp_path, "Tuần 1/giu-nguyen.docx", b"a" * 100)
    write(tmp_path, "Tuần 1/sua-noi-dung.docx", b"b" * 100)
    write(tmp_path, "Tuần 1/thay-the.docx", b"c" * 100)
    first = scan_now(tmp_path)
    journal = journal_of(hash_entries(tmp_path, first.entries.values()))
    journal["Tuần 1"] = JournalEntry("Tuần 1", Kind.DIR)

    edited = tmp_path / "Tuần 1/sua-noi-dung.docx"
    edited.write_bytes(b"B" * 101)
    # an "atomic save": same size and mtime, new inode
    replaced = tmp_path / "Tuần 1/thay-the.docx"
    old = replaced.stat()
    write(tmp_path, "Tuần 1/.moi", b"C" * 100).replace(replaced)
    os.utime(replaced, ns=(old.st_atime_ns, old.st_mtime_ns))

    second = scan_now(tmp_path, journal=journal).entries

    assert second["Tuần 1/giu-nguyen.docx"].sha256 == hashlib.sha256(b"a" * 100).hexdigest()
    assert second["Tuần 1/sua-noi-dung.docx"].sha256 is None
    assert second["Tuần 1/thay-the.docx"].sha256 is None


def test_hash_entries_hashes_files_and_skips_folders(tmp_path: Path) -> None:
    contents = {f"Tuần {i}/Bài {i}.docx": os.urandom(1000 * i + 1) for i in range(1, 9)}
    contents["lon.bin"] = os.urandom(3 * 1024 * 1024 + 7)  # several 1 MiB chunks
    for rel, data in contents.items():
        write(tmp_path, rel, data)
    entries = scan_now(tmp_path).entries

    hashed = hash_entries(tmp_path, entries.values(), workers=3)

    assert {p: e.sha256 for p, e in hashed.items()} == {
        p: hashlib.sha256(d).hexdigest() for p, d in contents.items()
    }
    assert all(e.settled for e in hashed.values())
    assert hash_file(tmp_path / "lon.bin") == hashlib.sha256(contents["lon.bin"]).hexdigest()


def test_hash_entries_flags_changed_and_omits_vanished_files(tmp_path: Path) -> None:
    for name in ["dang-sua.docx", "bi-xoa.docx", "thanh-lien-ket.docx", "on-dinh.docx"]:
        write(tmp_path, name, b"x" * 10)
    entries = scan_now(tmp_path).entries
    (tmp_path / "dang-sua.docx").write_bytes(b"y" * 20)
    (tmp_path / "bi-xoa.docx").unlink()
    (tmp_path / "thanh-lien-ket.docx").unlink()
    (tmp_path / "thanh-lien-ket.docx").symlink_to(tmp_path / "on-dinh.docx")

    hashed = hash_entries(tmp_path, entries.values())

    assert set(hashed) == {"dang-sua.docx", "on-dinh.docx"}
    changed = hashed["dang-sua.docx"]
    assert (changed.settled, changed.sha256, changed.size) == (False, None, 20)
    assert changed.mtime_ns == (tmp_path / "dang-sua.docx").stat().st_mtime_ns
    assert hashed["on-dinh.docx"].sha256 == hashlib.sha256(b"x" * 10).hexdigest()


def test_hash_file_of_missing_file_is_a_local_error(tmp_path: Path) -> None:
    with pytest.raises(LocalError, match="khong-co.docx"):
        hash_file(tmp_path / "khong-co.docx")


# --- root marker ----------------------------------------------------------------------------


def test_marker_roundtrip_is_atomic_and_ignored(tmp_path: Path) -> None:
    assert read_marker(tmp_path) is None
    write_marker(tmp_path, "truong-th-a/co-lan")
    write_marker(tmp_path, "truong-th-a/co-mai")

    assert read_marker(tmp_path) == "truong-th-a/co-mai"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER_NAME]
    assert scan_now(tmp_path).entries == {}


# --- speed ----------------------------------------------------------------------------------


def test_warm_scan_of_ten_thousand_files_is_fast(tmp_path: Path) -> None:
    for week in range(40):
        folder = tmp_path / f"Tuần {week}"
        folder.mkdir()
        for i in range(250):
            (folder / f"Bài {i}.docx").write_bytes(b"")
    rules = IgnoreRules(["*.bak", "Nháp/"])
    first = scan(tmp_path, {}, rules, now_ns=time.time_ns(), settle_seconds=2.0)
    journal = journal_of(first.entries)

    # CPU time, best of five: other test processes share this machine's two cores.
    timings = []
    for _ in range(5):
        started = time.process_time()
        result = scan(tmp_path, journal, rules, now_ns=time.time_ns(), settle_seconds=2.0)
        timings.append(time.process_time() - started)

    assert len(result.entries) == 10_040
    assert min(timings) < 0.2, timings
