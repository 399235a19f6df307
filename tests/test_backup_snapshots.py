"""Snapshots and restore: round trips, incremental backups, skipped files, finding snapshots,
listing, comparing, and restoring into folders that already hold files.

Every test backs up real folders into a real repository (cheap scrypt parameters) and
restores into real folders.
"""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import tempfile
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from backup_factory import state, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import wait_until

from agent.backup.repository import Repository
from agent.backup.restore import restore
from agent.backup.snapshots import CreateResult, create, diff, find_by_ref, find_snapshot, ls
from agent.envelope import KdfParams
from agent.errors import UsageError
from agent.safepath import UnsafePath

PASSPHRASE = "mật khẩu của cô Lan"
CHEAP = KdfParams(n=2**10)
HOST = "GV-LAN"
CHUNK_MIN = 256 * 1024  # the default chunker's minimum: larger files are cut into chunks
BASE_NS = 1_764_380_000_123_456_789


def new_repo(path: Path) -> Repository:
    return Repository.init(path, PASSPHRASE, kdf=CHEAP)


def backup(repo: Repository, root: Path, **options: object) -> CreateResult:
    with repo.lock():
        return create(repo, root, host=HOST, **options)  # type: ignore[arg-type]


# --- round trip (property) ---------------------------------------------------------------

NAMES = (
    "Bài 1.docx",
    "Kế hoạch bài dạy.docx",
    "Rút kinh nghiệm.txt",
    "Tuần 12",
    "Toán lớp 3",
    "Đạo đức",
    "Sổ chủ nhiệm.xlsx",
    "ảnh lớp.png",
)
SIZES = st.one_of(
    st.just(0),
    st.integers(1, 5000),
    st.sampled_from([CHUNK_MIN - 1, CHUNK_MIN, CHUNK_MIN + 1]),
    st.integers(CHUNK_MIN + 1, 3 * 1024 * 1024),
)
PATHS = st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map("/".join)
MODES = st.sampled_from([0o644, 0o600, 0o755, 0o444])
# (operation, path or index into the current files, size, seed, mode)
EDIT = st.tuples(
    st.sampled_from(["write", "delete", "patch", "append", "chmod", "touch", "chmod-dir"]),
    PATHS,
    st.integers(0, 50),
    SIZES,
    st.integers(0, 3),  # few seeds: identical contents are frequent (deduplication)
    MODES,
)


class Folder:
    """The folder being backed up, edited through operations that keep every mtime unique."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = BASE_NS

    def tick(self) -> int:
        self.clock += 1_000_000_007  # a second and a few ns: nanoseconds must survive
        return self.clock

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())

    def apply(self, op: str, rel: str, index: int, size: int, seed: int, mode: int) -> None:
        files = self.files()
        target = files[index % len(files)] if files else None
        if op == "write" or target is None:
            self.write(rel, random.Random(seed).randbytes(size), mode)
        elif op == "delete":
            target.unlink()
        elif op in ("patch", "append"):
            data = bytearray(target.read_bytes())
            if op == "patch" and data:
                where = random.Random(seed).randrange(len(data))
                data[where : where + 16] = b"s\xe1\xbb\xada b\xc3\xa0i"  # "sửa bài" in UTF-8
            else:
                data += random.Random(seed).randbytes(size % 70_000)
            target.chmod(0o644)
            write(target, bytes(data), mtime_ns=self.tick(), mode=mode)
        elif op == "chmod":
            target.chmod(mode)
        elif op == "touch":
            os.utime(target, ns=(self.tick(), self.tick()))
        elif op == "chmod-dir" and target.parent != self.root:
            target.parent.chmod(0o700 if mode & 0o100 else 0o755)

    def write(self, rel: str, data: bytes, mode: int) -> None:
        path = self.root / rel
        # A name already used as a folder (or as a file on the way) is left as it is.
        if path.is_dir() or any(p.is_file() for p in path.parents if p != self.root):
            return
        if path.exists():
            path.chmod(0o644)
        write(path, data, mtime_ns=self.tick(), mode=mode)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    initial=st.lists(st.tuples(PATHS, SIZES, st.integers(0, 3), MODES), min_size=1, max_size=8),
    rounds=st.lists(st.lists(EDIT, min_size=1, max_size=6), min_size=1, max_size=3),
)
def test_every_snapshot_restores_byte_identical(
    initial: list[tuple[str, int, int, int]], rounds: list[list[tuple]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        folder = Folder(base / "HoSo")
        folder.root.mkdir()
        for rel, size, seed, mode in initial:
            folder.write(rel, random.Random(seed).randbytes(size), mode)
        repo = new_repo(base / "repo")
        expected = {backup(repo, folder.root).snapshot: state(folder.root)}
        for edits in rounds:
            for edit in edits:
                folder.apply(*edit)
            expected[backup(repo, folder.root).snapshot] = state(folder.root)
        for number, (snapshot_id, before) in enumerate(expected.items()):
            target = base / f"restored-{number}"
            restore(repo, snapshot_id, [], target)
            assert state(target) == before


# --- incremental backups and deduplication ------------------------------------------------


def test_an_unchanged_folder_adds_nothing_and_reuses_its_trees(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "Tuần 12" / "Bài 1.docx", random.Random(1).randbytes(600_000))
    write(root / "Sổ chủ nhiệm.xlsx", b"lop 3A")
    repo = new_repo(tmp_path / "repo")
    first = backup(repo, root)
    second = backup(repo, root)
    assert first.bytes_added > 600_000
    assert (second.bytes_added, second.files, second.bytes) == (0, 2, 600_006)
    assert repo.read_snapshot(first.snapshot)["tree"] == repo.read_snapshot(second.snapshot)["tree"]


def test_a_file_matching_size_mtime_and_inode_is_not_read_again(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    plan = root / "Kế hoạch bài dạy.docx"
    write(plan, b"phien ban 1", mtime_ns=BASE_NS)
    repo = new_repo(tmp_path / "repo")
    backup(repo, root)
    # Same size, same mtime, same inode: by contract the content is taken as unchanged.
    with plan.open("r+b") as handle:
        handle.write(b"PHIEN BAN 2")
    os.utime(plan, ns=(BASE_NS, BASE_NS))
    second = backup(repo, root)
    restore(repo, second.snapshot, [], tmp_path / "out")
    assert second.bytes_added == 0
    assert (tmp_path / "out" / plan.name).read_bytes() == b"phien ban 1"


def test_a_file_replaced_by_another_with_the_same_size_and_mtime_is_read_again(
    tmp_path: Path,
) -> None:
    root = tmp_path / "HoSo"
    plan = root / "Bài 1.docx"
    write(plan, b"ban cu!", mtime_ns=BASE_NS)
    repo = new_repo(tmp_path / "repo")
    backup(repo, root)
    # What an editor saving through a temp file and a rename does: a new inode, while size
    # and mtime (copied from the original, as `cp -p` does) stay the same.
    write(root / "Bài 1.docx.tmp", b"ban MOI", mtime_ns=BASE_NS)
    os.replace(root / "Bài 1.docx.tmp", plan)
    second = backup(repo, root)
    restore(repo, second.snapshot, [], tmp_path / "out")
    assert (tmp_path / "out" / plan.name).read_bytes() == b"ban MOI"


def test_identical_contents_are_stored_once(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    data = random.Random(7).randbytes(1_500_000)
    for week in ("Tuần 1", "Tuần 2", "Tuần 3"):
        write(root / week / "Bài 1.docx", data)
    repo = new_repo(tmp_path / "repo")
    result = backup(repo, root)
    assert result.bytes == 3 * len(data)
    assert len(data) < result.bytes_added < len(data) + 100_000


def test_an_insertion_in_a_large_file_stores_only_the_chunks_around_it(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    data = random.Random(3).randbytes(12 * 1024 * 1024)
    write(root / "Sổ điểm.xlsx", data, mtime_ns=BASE_NS)
    repo = new_repo(tmp_path / "repo")
    backup(repo, root)
    write(root / "Sổ điểm.xlsx", data[:5_000_000] + b"them dong" + data[5_000_000:])
    second = backup(repo, root)
    assert 0 < second.bytes_added < len(data) // 2


def test_a_file_changed_once_while_read_is_read_again(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    plan = root / "Bài 2.docx"
    write(plan, b"truoc", mtime_ns=BASE_NS)
    repo = new_repo(tmp_path / "repo")

    def edit_once(path: str) -> None:  # after the listing, before the read: a stale stat
        if path == plan.name and plan.read_bytes() == b"truoc":
            write(plan, b"sau khi sua", mtime_ns=BASE_NS + 1)

    result = backup(repo, root, on_progress=edit_once)
    restore(repo, result.snapshot, [], tmp_path / "out")
    assert result.skipped == []
    assert (tmp_path / "out" / plan.name).read_bytes() == b"sau khi sua"


def test_a_file_that_keeps_changing_is_skipped_and_the_rest_backed_up(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    busy = root / "Đang ghi.xlsx"
    write(busy, random.Random(5).randbytes(4 * 1024 * 1024))
    write(root / "Bài 1.docx", b"on dinh")
    repo = new_repo(tmp_path / "repo")
    # Another process keeps writing (a thread of this one could be kept off the GIL by the
    # backup's own reading on a busy machine, and then never change the file meanwhile).
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nwith open(sys.argv[1], 'ab', buffering=0) as f:\n"
            "    while True: f.write(b'x')",
            str(busy),
        ]
    )
    try:
        size = busy.stat().st_size
        wait_until(lambda: busy.stat().st_size > size, 30, "the writer's first bytes")
        result = backup(repo, root)
    finally:
        writer.kill()
        writer.wait()
    assert result.skipped == [(busy.name, "changed while reading")]
    assert [entry["path"] for entry in ls(repo, result.snapshot)] == ["Bài 1.docx"]


# --- what is backed up and what is skipped -----------------------------------------------


def test_special_files_symlinks_own_temp_files_and_ignored_paths(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / ".hoso-root", b"")
    write(root / ".~hoso-3f2a.part", b"a download in progress")
    write(root / "Tuần 1" / "Bài 1.docx", b"bai 1")
    write(root / "Nháp" / "ghi chu.txt", b"ignored folder")
    write(root / "Tuần 1" / "~$Bài 1.docx", b"office lock")
    (root / "Tuần 1" / "lối tắt").symlink_to("Bài 1.docx")
    os.mkfifo(root / "ống")
    repo = new_repo(tmp_path / "repo")
    asked: list[tuple[str, bool]] = []

    def ignore(path: str, is_dir: bool) -> bool:
        asked.append((path, is_dir))
        return path == "Nháp" or path.rpartition("/")[2].startswith("~$")

    result = backup(repo, root, ignore=ignore)
    listed = [entry["path"] for entry in ls(repo, result.snapshot)]
    assert listed == [".hoso-root", "Tuần 1", "Tuần 1/Bài 1.docx"]
    assert sorted(result.skipped) == [("Tuần 1/lối tắt", "symlink"), ("ống", "not a regular file")]
    assert ("Nháp", True) in asked and ("Nháp/ghi chu.txt", False) not in asked


def test_names_are_stored_in_nfc(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    nfd = unicodedata.normalize("NFD", "Kế hoạch bài dạy.docx")
    write(root / nfd, b"khbd")
    repo = new_repo(tmp_path / "repo")
    result = backup(repo, root)
    assert [e["path"] for e in ls(repo, result.snapshot)] == ["Kế hoạch bài dạy.docx"]


def test_a_file_removed_during_the_backup_is_skipped_and_the_rest_backed_up(
    tmp_path: Path,
) -> None:
    root = tmp_path / "HoSo"
    write(root / "a.docx", b"a")
    write(root / "b.docx", b"b")
    write(root / "c.docx", b"c")
    repo = new_repo(tmp_path / "repo")

    def remove_b(path: str) -> None:  # listed, then deleted just before it is read
        if path == "b.docx":
            (root / "b.docx").unlink()

    result = backup(repo, root, on_progress=remove_b)
    assert result.skipped == [("b.docx", "removed while being backed up")]
    assert [e["path"] for e in ls(repo, result.snapshot)] == ["a.docx", "c.docx"]
    assert result.files == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_an_unreadable_file_is_skipped_with_the_reason(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "a.docx", b"a")
    write(root / "bi mat.docx", b"secret", mode=0o000)
    repo = new_repo(tmp_path / "repo")
    result = backup(repo, root)
    assert result.skipped == [("bi mat.docx", "permission denied")]
    assert [e["path"] for e in ls(repo, result.snapshot)] == ["a.docx"]


def test_a_missing_records_folder_is_refused(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    with pytest.raises(UsageError, match="nothing was backed up"):
        backup(repo, tmp_path / "không có")
    assert repo.snapshot_ids() == []


# --- finding snapshots ------------------------------------------------------------------

ICT = timezone(timedelta(hours=7))


def test_find_by_latest_full_id_and_prefix(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "a.docx", b"a")
    repo = new_repo(tmp_path / "repo")
    old = backup(repo, root, now=datetime(2026, 11, 23, 17, 0, tzinfo=ICT)).snapshot
    new = backup(repo, root, now=datetime(2026, 11, 24, 17, 0, tzinfo=ICT)).snapshot
    assert find_snapshot(repo, "latest")[0] == new
    assert find_snapshot(repo, None)[0] == new
    assert find_snapshot(repo, old)[0] == old
    assert find_snapshot(repo, old[:8].upper())[0] == old


def test_find_at_gives_the_newest_snapshot_not_after_the_instant(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "a.docx", b"a")
    repo = new_repo(tmp_path / "repo")
    times = [datetime(2026, 11, day, 16, 30, tzinfo=ICT) for day in (16, 17, 19)]
    ids = [backup(repo, root, now=when).snapshot for when in times]
    end_of_tuesday = datetime(2026, 11, 17, 23, 59, 59, tzinfo=ICT)
    assert find_snapshot(repo, None, at=end_of_tuesday)[0] == ids[1]
    assert find_snapshot(repo, None, at=times[2])[0] == ids[2]
    with pytest.raises(UsageError, match="at or before"):
        find_snapshot(repo, None, at=times[0] - timedelta(seconds=1))
    with pytest.raises(UsageError, match="at or before"):
        find_snapshot(repo, ids[2], at=end_of_tuesday)


def test_a_snapshot_is_named_by_id_latest_or_a_day_as_people_write_it(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "a.docx", b"a")
    repo = new_repo(tmp_path / "repo")
    times = [datetime(2026, 11, day, 16, 30, tzinfo=ICT) for day in (16, 17, 19)]
    ids = [backup(repo, root, now=when).snapshot for when in times]
    # A day is its end, in local time (16:30 in Hanoi is that day in every time zone).
    assert find_by_ref(repo, "2026-11-17")[0] == ids[1]
    assert find_by_ref(repo, "17/11/2026")[0] == ids[1]
    assert find_by_ref(repo, "2026-11-18")[0] == ids[1]
    assert find_by_ref(repo, "2026-11-17T16:00+07:00")[0] == ids[0]  # an instant: to the minute
    assert find_by_ref(repo, "latest")[0] == ids[2]
    assert find_by_ref(repo, ids[0][:8])[0] == ids[0]
    with pytest.raises(UsageError, match="at or before"):
        find_by_ref(repo, "15/11/2026")
    with pytest.raises(UsageError, match="is not a snapshot: give"):
        find_by_ref(repo, "32/11/2026")  # not a day, and not an id either


def test_bad_snapshot_references_are_refused(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    with pytest.raises(UsageError, match="no snapshot yet"):
        find_snapshot(repo, "latest")
    snapshot = {"version": 1, "host": HOST, "root": "/r", "tree": "00", "tags": []}
    ids: dict[str, str] = {}
    number = 0
    while True:  # random ids: a shared 4-digit prefix comes after about 300 snapshots
        number += 1
        when = datetime(2026, 1, 1, tzinfo=ICT) + timedelta(minutes=number)
        snapshot_id = repo.save_snapshot({**snapshot, "time": when.isoformat()})
        if snapshot_id[:4] in ids:
            break
        ids[snapshot_id[:4]] = snapshot_id
    with pytest.raises(UsageError, match="2 snapshot ids start with"):
        find_snapshot(repo, snapshot_id[:4])
    assert find_snapshot(repo, snapshot_id[:12])[0] == snapshot_id
    free = next(f"{n:04x}" for n in range(1 << 16) if f"{n:04x}" not in ids)
    with pytest.raises(UsageError, match="No snapshot id starts with"):
        find_snapshot(repo, free)
    for bad in ("abc", "lastest", "Tuần 12"):
        with pytest.raises(UsageError, match="is not a snapshot: give"):
            find_snapshot(repo, bad)


# --- listing and comparing ------------------------------------------------------------


@pytest.fixture
def two_snapshots(tmp_path: Path) -> tuple[Repository, str, str]:
    root = tmp_path / "HoSo"
    write(root / "Tuần 12" / "Bài 1.docx", b"bai 1")
    write(root / "Tuần 12" / "Bài 2.docx", b"bai 2")
    write(root / "Tuần 13" / "Bài 3.docx", b"bai 3")
    write(root / "Sổ chủ nhiệm.xlsx", b"so")
    repo = new_repo(tmp_path / "repo")
    first = backup(repo, root).snapshot
    write(root / "Tuần 12" / "Bài 1.docx", b"bai 1, da sua")
    (root / "Tuần 12" / "Bài 2.docx").unlink()
    for name in ("Bài 3.docx",):
        (root / "Tuần 13" / name).unlink()
    (root / "Tuần 13").rmdir()
    write(root / "Tuần 14" / "Bài 4.docx", b"bai 4")
    second = backup(repo, root).snapshot
    return repo, first, second


def test_ls_lists_a_folder_a_file_and_everything(two_snapshots: tuple) -> None:
    repo, first, _second = two_snapshots
    everything = [entry["path"] for entry in ls(repo, first)]
    assert everything == [
        "Sổ chủ nhiệm.xlsx",
        "Tuần 12",
        "Tuần 12/Bài 1.docx",
        "Tuần 12/Bài 2.docx",
        "Tuần 13",
        "Tuần 13/Bài 3.docx",
    ]
    week = ls(repo, first, "Tuần 12/")
    assert [e["path"] for e in week] == ["Tuần 12/Bài 1.docx", "Tuần 12/Bài 2.docx"]
    (one,) = ls(repo, first, unicodedata.normalize("NFD", "Tuần 12/Bài 2.docx"))
    assert (one["type"], one["size"]) == ("file", 5)
    assert one["sha256"] == hashlib.sha256(b"bai 2").hexdigest()
    assert "content" not in one and "inode" not in one
    with pytest.raises(UsageError, match="no file or folder"):
        ls(repo, first, "Tuần 99")


def test_diff_names_added_removed_and_changed_paths(two_snapshots: tuple) -> None:
    repo, first, second = two_snapshots
    assert diff(repo, first, second) == {
        "added": ["Tuần 14/", "Tuần 14/Bài 4.docx"],
        "removed": ["Tuần 12/Bài 2.docx", "Tuần 13/", "Tuần 13/Bài 3.docx"],
        "changed": ["Tuần 12/Bài 1.docx"],
    }
    assert diff(repo, second, second) == {"added": [], "removed": [], "changed": []}


# --- restoring into folders that hold files ---------------------------------------------


def test_restoring_over_existing_different_files_is_refused_and_writes_nothing(
    tmp_path: Path,
) -> None:
    root = tmp_path / "HoSo"
    write(root / "Tuần 12" / "Bài 1.docx", b"trong ban sao luu")
    write(root / "Tuần 12" / "Bài 2.docx", b"bai 2")
    repo = new_repo(tmp_path / "repo")
    snapshot = backup(repo, root).snapshot
    target = tmp_path / "target"
    write(target / "Tuần 12" / "Bài 1.docx", b"ban moi hon, chua sao luu")
    before = state(target)
    with pytest.raises(UsageError, match="1 existing files"):
        restore(repo, snapshot, [], target)
    assert state(target) == before


def test_overwrite_shows_every_file_it_replaces_before_replacing_any(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "a.docx", b"a cu")
    write(root / "b.docx", b"b cu")
    write(root / "c.docx", b"c")
    repo = new_repo(tmp_path / "repo")
    snapshot = backup(repo, root).snapshot
    write(root / "a.docx", b"a moi")
    write(root / "b.docx", b"b moi")
    seen: list[tuple[Path, bytes]] = []

    def save_copies(files: list[Path]) -> None:
        seen.extend((file, file.read_bytes()) for file in files)

    result = restore(repo, snapshot, [], root, overwrite=True, before_overwrite=save_copies)
    assert seen == [(root / "a.docx", b"a moi"), (root / "b.docx", b"b moi")]
    assert (root / "a.docx").read_bytes() == b"a cu"
    assert (root / "b.docx").read_bytes() == b"b cu"
    assert (result.files, result.skipped) == (2, [("c.docx", "already as in the backup")])
    assert not [p for p in root.iterdir() if p.name.startswith(".~hoso-")]


def test_files_already_as_in_the_backup_do_not_block_a_restore(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "Tuần 12" / "Bài 1.docx", b"bai 1")
    write(root / "Tuần 12" / "Bài 2.docx", b"bai 2")
    repo = new_repo(tmp_path / "repo")
    snapshot = backup(repo, root).snapshot
    (root / "Tuần 12" / "Bài 2.docx").unlink()  # the teacher deleted one file by mistake
    result = restore(repo, snapshot, [], root)
    assert (root / "Tuần 12" / "Bài 2.docx").read_bytes() == b"bai 2"
    assert result.files == 1


def test_restoring_chosen_paths_only(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "Tuần 12" / "Bài 1.docx", b"bai 1")
    write(root / "Tuần 13" / "Bài 3.docx", b"bai 3")
    write(root / "Tuần 13" / "Bài 4.docx", b"bai 4")
    write(root / "Sổ chủ nhiệm.xlsx", b"so")
    repo = new_repo(tmp_path / "repo")
    snapshot = backup(repo, root).snapshot
    target = tmp_path / "out"
    result = restore(repo, snapshot, ["Tuần 12/Bài 1.docx", "Tuần 13"], target)
    restored = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    assert restored == [
        "Tuần 12",
        "Tuần 12/Bài 1.docx",
        "Tuần 13",
        "Tuần 13/Bài 3.docx",
        "Tuần 13/Bài 4.docx",
    ]
    assert result.files == 3
    with pytest.raises(UsageError, match="no file or folder"):
        restore(repo, snapshot, ["Tuần 99"], tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_a_read_only_folder_is_restored_with_its_files(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "Lưu trữ" / "2025.docx", b"nam ngoai", mode=0o444)
    (root / "Lưu trữ").chmod(0o555)
    repo = new_repo(tmp_path / "repo")
    snapshot = backup(repo, root).snapshot
    restore(repo, snapshot, [], tmp_path / "out")
    assert state(tmp_path / "out") == state(root)


def test_a_folder_where_the_backup_has_a_file_stops_the_restore(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / "Bài 1.docx", b"bai 1")
    repo = new_repo(tmp_path / "repo")
    snapshot = backup(repo, root).snapshot
    (tmp_path / "out" / "Bài 1.docx").mkdir(parents=True)
    with pytest.raises(UsageError, match="is a folder where the backup has a file"):
        restore(repo, snapshot, [], tmp_path / "out", overwrite=True)


@pytest.mark.parametrize(
    "paths", [["Tuần 12/Toán/authorized_keys"], ["Tuần 12/Toán"], []], ids=["file", "folder", "all"]
)
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_restore_never_writes_through_a_link_planted_in_the_target(
    tmp_path: Path, paths: list[str], overwrite: bool
) -> None:
    root = tmp_path / "HoSo"
    write(root / "Tuần 12" / "Toán" / "authorized_keys", b"ssh-ed25519 AAAA attacker")
    repo = new_repo(tmp_path / "repo")
    snapshot = backup(repo, root).snapshot
    ssh = tmp_path / "ssh"
    write(ssh / "Toán" / "known_hosts", b"mine")
    for path in sorted((root / "Tuần 12").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "Tuần 12").rmdir()
    (root / "Tuần 12").symlink_to(ssh)  # planted: the folder the backup has is now a link

    with pytest.raises(UnsafePath, match="Tuần 12 in the records folder is a symbolic link"):
        restore(repo, snapshot, paths, root, overwrite=overwrite)

    # Nothing went through the link, the link itself is still there, nothing else was made.
    assert sorted(p.relative_to(ssh).as_posix() for p in ssh.rglob("*")) == [
        "Toán", "Toán/known_hosts"
    ]
    assert (ssh / "Toán" / "known_hosts").read_bytes() == b"mine"
    assert (root / "Tuần 12").is_symlink()
    assert sorted(p.name for p in root.iterdir()) == ["Tuần 12"]
