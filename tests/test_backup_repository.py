"""The backup repository on disk (agent/backup/repository.py, locks.py).

Real repositories in tmp_path with cheap scrypt parameters; a committed repository in
tests/backup_vectors/ read both by hoso and by the independent reference reader; a real
full disk (a 2 MiB tmpfs, when running as root).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import random
import shutil
import socket
import stat
import subprocess
import threading
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from backup_vectors import reference
from fastcdc import fastcdc

from agent.backup import crypto, locks
from agent.backup.files import local_error, write_atomic
from agent.backup.maintenance import check
from agent.backup.repository import PACK_TARGET, Repository
from agent.envelope import KdfParams
from agent.errors import (
    BackupDamaged,
    LocalError,
    RepositoryInUse,
    RepositoryNewer,
    UsageError,
    WrongPassphrase,
)

PASS = "Cô Lan lớp 3A"
CHEAP = KdfParams(n=2**10)
VECTORS = Path(__file__).parent / "backup_vectors"
MIB = 1024 * 1024


def noise(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return Repository.init(tmp_path / "repo", PASS, label="Cô Lan", kdf=CHEAP)


def reopen(repo: Repository, passphrase: str = PASS) -> Repository:
    return Repository.open(repo.path, passphrase)


def content_files(repo: Repository) -> list[Path]:
    return [
        p
        for folder in ("data", "index", "snapshots")
        for p in (repo.path / folder).rglob("*")
        if p.is_file()
    ]


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


# --- the committed repository ----------------------------------------------------------------


@pytest.fixture
def vector_repo(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    target = tmp_path / "vector"
    shutil.copytree(VECTORS / "repository", target)
    return target, json.loads((VECTORS / "repository.json").read_text(encoding="utf-8"))


def test_a_committed_repository_still_opens_and_reads(
    vector_repo: tuple[Path, dict[str, Any]],
) -> None:
    path, expected = vector_repo
    repo = Repository.open(path, expected["passphrase"])
    assert repo.id == expected["repository"]
    assert repo.snapshots() == [(expected["snapshot"], expected["snapshot_json"])]
    for blob_id, text in expected["blobs"].items():
        assert repo.load_blob(blob_id).decode("utf-8") == text
    scan = repo.load_blob(expected["scan"]["id"])
    assert hashlib.sha256(scan).hexdigest() == expected["scan"]["sha256"]


def test_a_committed_format_2_repository_opens_and_both_readers_agree(tmp_path: Path) -> None:
    path = tmp_path / "vector-v2"
    shutil.copytree(VECTORS / "repository-v2", path)
    expected = json.loads((VECTORS / "repository-v2.json").read_text(encoding="utf-8"))
    repo = Repository.open(path, expected["passphrase"])
    assert repo.version == 2
    assert repo.snapshots() == [(expected["snapshot"], expected["snapshot_json"])]
    manifest = repo.read_manifest()
    assert manifest is not None and manifest.json() == expected["manifest"]
    for blob_id, text in expected["blobs"].items():
        assert repo.load_blob(blob_id).decode("utf-8") == text
    read = reference.read_repository(path, expected["passphrase"])
    assert read["manifest"] == expected["manifest"]
    assert read["snapshots"] == {expected["snapshot"]: expected["snapshot_json"]}
    with repo.lock():
        assert check(repo, read_data=True) == []


def test_the_reference_reader_reads_what_hoso_writes(repo: Repository, tmp_path: Path) -> None:
    lesson = ("Tuần 12 – Rút kinh nghiệm\n" * 5000).encode()
    with repo.lock():
        ids = [repo.add_blob("data", lesson)[0], repo.add_blob("data", noise(300_000))[0]]
        tree = json.dumps({"entries": ids}).encode()
        tree_id = repo.add_blob("tree", tree)[0]
        snapshot_id = repo.save_snapshot({"version": 2, "tree": tree_id, "time": "2026-11-29"})
    read = reference.read_repository(repo.path, PASS)
    assert read["config"]["chunker"] == {"min": 262144, "avg": 1048576, "max": 4194304}
    numbered = {"version": 2, "tree": tree_id, "time": "2026-11-29", "seq": 1}  # the first made
    assert read["snapshots"] == {snapshot_id: numbered}
    assert read["manifest"]["snapshots"] == {snapshot_id: 1}
    assert read["manifest"]["keys"] == {slot["id"]: "Cô Lan" for slot in repo.key_slots()}
    assert read["blobs"] == {ids[0]: lesson, ids[1]: noise(300_000), tree_id: tree}


# --- init and open ---------------------------------------------------------------------------


def test_init_refuses_a_folder_that_holds_files(tmp_path: Path) -> None:
    (tmp_path / "HoSo").mkdir()
    (tmp_path / "HoSo" / "Bài 1.docx").write_bytes(b"x")
    with pytest.raises(UsageError, match="not an empty folder"):
        Repository.init(tmp_path / "HoSo", PASS, kdf=CHEAP)
    assert sorted(os.listdir(tmp_path / "HoSo")) == ["Bài 1.docx"]


def test_init_creates_missing_folders_and_open_finds_the_same_repository(tmp_path: Path) -> None:
    repo = Repository.init(tmp_path / "usb" / "hoso-backup", PASS, kdf=CHEAP)
    again = Repository.open(tmp_path / "usb" / "hoso-backup", PASS)
    assert (again.id, again.keys, again.chunker) == (repo.id, repo.keys, repo.chunker)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in repo.path.rglob("*") if p.is_file())


def test_open_without_a_repository_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="hoso backup init"):
        Repository.open(tmp_path / "nothing", PASS)


def test_a_wrong_passphrase_is_a_wrong_passphrase(repo: Repository) -> None:
    with pytest.raises(WrongPassphrase, match="Wrong passphrase") as caught:
        reopen(repo, "Cô Lan lớp 3B")
    assert caught.value.exit_code == 2 and "3B" not in str(caught.value)


def test_a_damaged_only_slot_is_damage(repo: Repository) -> None:
    (slot_file,) = (repo.path / "keys").iterdir()
    slot = json.loads(slot_file.read_text(encoding="utf-8"))
    slot["wrapped"] = slot["wrapped"][:-3] + ("A" if slot["wrapped"][-3] != "A" else "B") + "=="
    slot_file.write_text(json.dumps(slot), encoding="utf-8")
    for passphrase in (PASS, "anything else"):
        with pytest.raises(BackupDamaged, match=f"keys/{slot_file.name}") as caught:
            reopen(repo, passphrase)
        assert caught.value.exit_code == 1


@pytest.mark.parametrize("damage", ["truncated", "not json", "empty"])
def test_unreadable_slot_files_are_damage(repo: Repository, damage: str) -> None:
    (slot_file,) = (repo.path / "keys").iterdir()
    text = slot_file.read_bytes()
    damaged = {"truncated": text[: len(text) // 2], "not json": b"[1]", "empty": b""}
    slot_file.write_bytes(damaged[damage])
    with pytest.raises(BackupDamaged, match=f"keys/{slot_file.name}"):
        reopen(repo)


def test_one_damaged_slot_leaves_the_others_usable(repo: Repository) -> None:
    recovery = crypto.recovery_passphrase()
    recovery_slot = repo.add_key(recovery, "recovery", CHEAP)
    first_slot = next(s["id"] for s in repo.key_slots() if s["id"] != recovery_slot)
    flip(repo.path / "keys" / first_slot, 40)
    assert reopen(repo, recovery).keys == repo.keys
    # The damaged slot's own passphrase: reported as damage, naming the slot, not "wrong".
    with pytest.raises(BackupDamaged, match=f"keys/{first_slot}"):
        reopen(repo, PASS)
    assert [s["damaged"] for s in repo.key_slots() if s["id"] == first_slot] == [True]


def test_no_key_slots_at_all_is_damage(repo: Repository) -> None:
    for slot_file in (repo.path / "keys").iterdir():
        slot_file.unlink()
    with pytest.raises(BackupDamaged, match="no key slots"):
        reopen(repo)


@pytest.mark.parametrize("offset", [0, 4, 5, 8, 30, -1])
def test_a_damaged_config_is_damage(repo: Repository, offset: int) -> None:
    config = repo.path / "config"
    if offset == 4:
        data = bytearray(config.read_bytes())
        data[4] = 0  # version 0: damage (a version above ours would be "newer")
        config.write_bytes(bytes(data))
    else:
        flip(config, offset)
    with pytest.raises(BackupDamaged, match="config"):
        reopen(repo)


def test_a_truncated_config_is_damage(repo: Repository) -> None:
    config = repo.path / "config"
    config.write_bytes(config.read_bytes()[:12])
    with pytest.raises(BackupDamaged, match="config"):
        reopen(repo)


def test_a_repository_of_a_newer_format_is_refused(repo: Repository) -> None:
    config = repo.path / "config"
    original = config.read_bytes()
    config.write_bytes(original[:4] + b"\x02" + original[5:])
    with pytest.raises(RepositoryNewer, match="newer version of hoso"):
        reopen(repo)
    newer = {"version": 3, "id": repo.id, "chunker": {"min": 64, "avg": 256, "max": 1024}}
    sealed = crypto.seal_config(repo.keys, bytes.fromhex(repo.id), json.dumps(newer).encode())
    config.write_bytes(sealed)
    with pytest.raises(RepositoryNewer, match="newer version of hoso"):
        reopen(repo)


def test_a_newer_index_file_is_refused(repo: Repository) -> None:
    repo.add_blob("data", b"lesson")
    repo.flush()
    (index_id,) = repo.index_files()
    data = bytearray((repo.path / "index" / index_id).read_bytes())
    data[4] = 2
    write_atomic(repo.path / "index", bytes(data))
    with pytest.raises(RepositoryNewer):
        repo.read_index(hashlib.sha256(data).hexdigest())


# --- key slots -------------------------------------------------------------------------------


def test_keys_can_be_added_listed_and_removed(repo: Repository) -> None:
    recovery = crypto.recovery_passphrase()
    recovery_id = repo.add_key(recovery, "recovery", CHEAP)
    slots = repo.key_slots()
    assert sorted(s["label"] for s in slots) == ["Cô Lan", "recovery"]
    assert all(set(s) == {"id", "label", "created", "kdf", "damaged"} for s in slots)
    assert all(set(s["kdf"]) == {"name", "n", "r", "p"} for s in slots)
    # The recovery key as a person types it from paper opens the repository too.
    assert reopen(repo, recovery.lower().replace("-", " ")).keys == repo.keys
    first = next(s["id"] for s in slots if s["id"] != recovery_id)
    repo.remove_key(first)
    with pytest.raises(WrongPassphrase):
        reopen(repo)
    with pytest.raises(UsageError, match="last one"):
        repo.remove_key(recovery_id)
    with pytest.raises(UsageError, match="no key"):
        repo.remove_key("00" * 16)
    assert reopen(repo, recovery).keys == repo.keys


# --- blobs, packs, the index -----------------------------------------------------------------


def test_a_blob_stored_twice_adds_nothing_the_second_time(repo: Repository) -> None:
    blob_id, added = repo.add_blob("data", noise(5000))
    assert added > 5000
    assert repo.add_blob("data", noise(5000)) == (blob_id, 0)  # before the flush
    assert repo.load_blob(blob_id) == noise(5000)  # readable before the flush too
    repo.flush()
    assert repo.add_blob("data", noise(5000)) == (blob_id, 0)
    assert reopen(repo).add_blob("data", noise(5000)) == (blob_id, 0)
    assert reopen(repo).load_blob(blob_id) == noise(5000)


def test_flush_writes_packs_then_one_index_all_named_by_their_hash(repo: Repository) -> None:
    ids = [repo.add_blob("data", noise(MIB, seed))[0] for seed in range(40)]
    assert repo.index_files() == []  # full packs are written meanwhile, named only at flush
    repo.flush()
    packs = repo.packs()
    assert len(packs) == 3
    assert len(repo.index_files()) == 1
    for path in content_files(repo):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    for pack in packs:
        assert repo.pack_path(pack).stat().st_size <= PACK_TARGET + 64 * 1024
    index = reopen(repo).index()
    assert sorted(index) == sorted(ids)
    headers = {entry for pack in packs for entry in repo.read_pack_header(pack)}
    assert headers == {entry for entries in index.values() for entry in entries}
    repo.flush()  # nothing pending: no new file
    assert len(repo.index_files()) == 1


def test_chunks_are_the_cuts_of_fastcdc_over_the_whole_file(
    repo: Repository, tmp_path: Path
) -> None:
    # Larger than the read window, so that chunks straddle the window's end.
    data = noise(40 * MIB, seed=7)
    big = tmp_path / "Bài giảng.mp4"
    big.write_bytes(data)
    minimum, average, maximum = repo.chunker
    expected = [c.length for c in fastcdc(data, minimum, average, maximum)]
    got = list(repo.chunks(big))
    assert [len(c) for c in got] == expected
    assert b"".join(got) == data


@pytest.mark.parametrize("size", [0, 1, 262144, 262145, 300_000])
def test_small_files_are_one_chunk(repo: Repository, tmp_path: Path, size: int) -> None:
    data = noise(size)
    (tmp_path / "f").write_bytes(data)
    chunks = list(repo.chunks(tmp_path / "f"))
    assert b"".join(chunks) == data
    assert len(chunks) == (0 if size == 0 else 1)


def _store_file(repo: Repository, path: Path) -> tuple[list[str], int]:
    ids, added = [], 0
    for chunk in repo.chunks(path):
        blob_id, count = repo.add_blob("data", chunk)
        ids.append(blob_id)
        added += count
    return ids, added


def test_identical_large_files_share_their_chunks(repo: Repository, tmp_path: Path) -> None:
    data = noise(12 * MIB, seed=3)
    (tmp_path / "a.pdf").write_bytes(data)
    (tmp_path / "b.pdf").write_bytes(data)
    first, added = _store_file(repo, tmp_path / "a.pdf")
    assert len(first) > 3 and added >= len(data)
    assert _store_file(repo, tmp_path / "b.pdf") == (first, 0)


def test_an_insertion_in_a_large_file_shares_most_chunks(repo: Repository, tmp_path: Path) -> None:
    data = noise(16 * MIB, seed=5)
    middle = len(data) // 2
    (tmp_path / "v1.pptx").write_bytes(data)
    (tmp_path / "v2.pptx").write_bytes(data[:middle] + noise(100, seed=9) + data[middle:])
    first, _ = _store_file(repo, tmp_path / "v1.pptx")
    second, added = _store_file(repo, tmp_path / "v2.pptx")
    shared = set(first) & set(second)
    assert len(shared) >= len(second) - 2
    assert added < 2 * repo.chunker[2] and added < len(data) // 4


def test_a_damaged_blob_is_named_with_its_pack(repo: Repository) -> None:
    blob_id, _ = repo.add_blob("data", noise(20_000))
    repo.flush()
    (entry,) = repo.index()[blob_id]
    flip(repo.pack_path(entry.pack), entry.offset + 100)
    with pytest.raises(BackupDamaged, match=entry.pack) as caught:
        reopen(repo).load_blob(blob_id)
    assert blob_id in str(caught.value)


@pytest.mark.parametrize("damage", ["header", "length", "truncated", "tiny", "empty"])
def test_a_damaged_pack_header_is_named(repo: Repository, damage: str) -> None:
    repo.add_blob("data", noise(20_000))
    repo.flush()
    (pack,) = repo.packs()
    path = repo.pack_path(pack)
    data = path.read_bytes()
    if damage == "header":
        flip(path, len(data) - 20)
    elif damage == "length":
        flip(path, len(data) - 2)
    else:
        path.write_bytes({"truncated": data[:-100], "tiny": data[:3], "empty": b""}[damage])
    with pytest.raises(BackupDamaged, match=f"data/{pack[:2]}/{pack}"):
        repo.read_pack_header(pack)


def test_a_missing_pack_is_damage_and_its_blobs_are_stored_again(repo: Repository) -> None:
    blob_id, _ = repo.add_blob("data", noise(20_000))
    repo.flush()
    (pack,) = repo.packs()
    repo.pack_path(pack).unlink()
    fresh = reopen(repo)
    with pytest.raises(BackupDamaged, match="missing"):
        fresh.load_blob(blob_id)
    assert not fresh.has_blob(blob_id)
    assert fresh.add_blob("data", noise(20_000))[1] > 0  # the next backup heals it
    fresh.flush()
    assert reopen(repo).load_blob(blob_id) == noise(20_000)


def test_any_good_copy_of_a_blob_is_read(repo: Repository) -> None:
    blob_id, _ = repo.add_blob("data", noise(20_000))
    repo.flush()
    (original,) = repo.index()[blob_id]
    copies = repo.repack([blob_id])
    repo.write_index(copies, [])
    flip(repo.pack_path(original.pack), original.offset + 50)
    assert reopen(repo).load_blob(blob_id) == noise(20_000)
    assert len(reopen(repo).index()[blob_id]) == 2


def test_a_superseded_index_is_ignored(repo: Repository) -> None:
    kept, _ = repo.add_blob("data", b"kept")
    dropped, _ = repo.add_blob("data", b"dropped")
    repo.flush()
    (old,) = repo.index_files()
    (pack,) = repo.packs()
    kept_entries = [e for e in repo.read_pack_header(pack) if e.id == kept]
    new = repo.write_index({pack: kept_entries}, [old])
    assert sorted(repo.index_files()) == sorted([old, new])  # both on disk, as after a crash
    fresh = reopen(repo)
    assert set(fresh.index()) == {kept}
    assert not fresh.has_blob(dropped)
    repo.delete_index(old)
    assert repo.index_files() == [new]


def test_a_damaged_index_file_is_skipped_and_named(repo: Repository) -> None:
    blob_id, _ = repo.add_blob("data", b"Bai 1")
    repo.flush()
    (index_id,) = repo.index_files()
    flip(repo.path / "index" / index_id, 30)
    with pytest.raises(BackupDamaged, match=f"index/{index_id}"):
        repo.read_index(index_id)
    fresh = reopen(repo)
    assert not fresh.has_blob(blob_id)  # the next backup stores it again


def test_temp_files_are_never_part_of_the_repository(repo: Repository) -> None:
    repo.add_blob("data", b"x")
    repo.flush()
    (pack,) = repo.packs()
    (repo.pack_path(pack).parent / ".tmp-0011").write_bytes(b"half a pack")
    (repo.path / "index" / ".tmp-2233").write_bytes(b"half an index")
    (repo.path / "snapshots" / ".tmp-4455").write_bytes(b"")
    # What other systems leave on a USB drive is no part of the repository either.
    (repo.path / "index" / "desktop.ini").write_bytes(b"[.ShellClassInfo]")
    (repo.path / "snapshots" / ".DS_Store").write_bytes(b"\0")
    (repo.path / "data" / "System Volume Information").mkdir()
    (repo.path / "data" / "System Volume Information" / ("ab" * 32)).write_bytes(b"")
    assert repo.packs() == [pack] and len(repo.index_files()) == 1 and repo.snapshot_ids() == []
    assert repo.remove_temp_files() == 3
    assert not [p for p in repo.path.rglob(".tmp-*")]


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.ENOSPC, "drive is full"),
        (errno.EIO, "unplugged or be failing"),
        (errno.EROFS, "read-only"),
        (errno.EACCES, "Permission denied"),
    ],
)
def test_write_errors_become_clear_local_errors(tmp_path: Path, code: int, says: str) -> None:
    error = local_error(tmp_path / "index", OSError(code, os.strerror(code)))
    assert isinstance(error, LocalError) and says in str(error)
    assert str(tmp_path / "index") in str(error)


# --- snapshots -------------------------------------------------------------------------------


def _snapshot(time: str) -> dict[str, Any]:
    return {"version": 1, "time": time, "host": "GV-LAN", "tags": [], "tree": "00"}


def test_snapshots_are_listed_in_the_order_made_and_skip_damaged_ones(repo: Repository) -> None:
    # Dates from PCs whose clocks disagree: the order made in the repository wins.
    with repo.lock():
        late = repo.save_snapshot(_snapshot("2026-11-29T09:30:00+07:00"))
        early = repo.save_snapshot(_snapshot("2026-11-28T23:00:00+00:00"))  # 29th, 06:00 +07
        naive = repo.save_snapshot(_snapshot("2020-01-01T00:00:00"))  # local time
        middle = repo.save_snapshot(_snapshot("2026-11-29T08:00:00+07:00"))
    assert [i for i, _ in repo.snapshots()] == [late, early, naive, middle]
    assert [s["seq"] for _, s in repo.snapshots()] == [1, 2, 3, 4]
    flip(repo.path / "snapshots" / middle, 40)
    repo.remove_snapshot(naive)
    assert [i for i, _ in reopen(repo).snapshots()] == [late, early]
    with pytest.raises(BackupDamaged, match=f"snapshots/{middle}"):
        repo.read_snapshot(middle)
    repo.remove_snapshot(early)
    assert repo.snapshot_ids() == sorted([middle, late])
    with pytest.raises(UsageError):
        repo.remove_snapshot(early)


def test_save_snapshot_makes_everything_durable_first(repo: Repository) -> None:
    blob_id, _ = repo.add_blob("tree", b'{"entries": []}')
    repo.save_snapshot(_snapshot("2026-11-29T09:30:00+07:00") | {"tree": blob_id})
    fresh = reopen(repo)
    (snapshot,) = fresh.snapshots()
    assert fresh.load_blob(snapshot[1]["tree"]) == b'{"entries": []}'


# --- the lock --------------------------------------------------------------------------------


def plant_lock(repo: Repository, content: dict[str, Any] | bytes) -> str:
    """A lock file as another hoso would write it."""
    plain = content if isinstance(content, bytes) else json.dumps(content).encode()
    sealed = crypto.seal(repo.keys, bytes.fromhex(repo.id), crypto.KIND_LOCK, "locks", plain)
    return write_atomic(repo.path / "locks", sealed)


def _lock_json(**changes: Any) -> dict[str, Any]:
    me = locks.Holder.current()
    return me.lock_json(datetime.now().astimezone()) | changes


@pytest.fixture
def lock_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # hoso loggers may not propagate to the root (agent/log.py): listen on ours directly.
    logger = logging.getLogger("hoso.backup.locks")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_the_lock_is_exclusive_within_a_process(repo: Repository) -> None:
    with repo.lock():
        assert len(os.listdir(repo.path / "locks")) == 1
        with pytest.raises(RepositoryInUse, match=f"process {os.getpid()}"), reopen(repo).lock():
            pass
        assert len(os.listdir(repo.path / "locks")) == 1  # the loser removed its own
    assert os.listdir(repo.path / "locks") == []


def test_a_backup_ended_early_finishes_its_pack_write_before_the_lock_goes(
    repo: Repository,
) -> None:
    # The agent stopping mid-backup: a pack is being written when the backup is abandoned.
    with pytest.raises(KeyboardInterrupt), repo.lock():
        for seed in range(3):  # 3 × 7 MB: the first pack (16 MB target) goes to the writer
            repo.add_blob("data", noise(7_000_000, seed))
        assert any(t.name.startswith("hoso-pack") for t in threading.enumerate())
        raise KeyboardInterrupt
    assert not any(t.name.startswith("hoso-pack") for t in threading.enumerate())
    assert os.listdir(repo.path / "locks") == []
    packs = [p for p in (repo.path / "data").rglob("*") if p.is_file()]
    assert len(packs) == 1 and not packs[0].name.startswith(".")  # whole, under its name


def test_a_lock_held_by_another_process_means_in_use(repo: Repository) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys; from pathlib import Path\n"
                "from agent.backup.repository import Repository\n"
                "repo = Repository.open(Path(sys.argv[1]), sys.argv[2])\n"
                "with repo.lock():\n"
                "    print('locked', flush=True); sys.stdin.readline()\n"
            ),
            str(repo.path),
            PASS,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        busy = f"process {holder.pid} on {socket.gethostname()}"
        with pytest.raises(RepositoryInUse, match=busy), repo.lock():
            pass
    finally:
        holder.communicate("\n", timeout=60)
    with repo.lock():  # released when it finished
        pass


def test_a_stale_lock_of_a_dead_process_is_cleared_with_a_log_line(
    repo: Repository, lock_log: pytest.LogCaptureFixture
) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(finished.stdout)
    stale = plant_lock(repo, _lock_json(pid=dead))
    with repo.lock():
        assert stale not in os.listdir(repo.path / "locks")
    assert any(
        f"locks/{stale}" in r.getMessage() and str(dead) in r.getMessage() for r in lock_log.records
    )


@pytest.mark.parametrize(
    ("changes", "stale"),
    [
        ({"host": "GV-HOA"}, False),  # another computer, recent: it may well be running
        ({"host": "GV-HOA", "time": "2026-01-01T00:00:00+07:00"}, True),  # days old
        ({"boot": "another boot"}, True),  # this computer has restarted since
        ({"time": "not a time", "host": "GV-HOA"}, False),
    ],
    ids=["other host", "old", "rebooted", "no time"],
)
def test_which_locks_are_stale(repo: Repository, changes: dict[str, Any], stale: bool) -> None:
    planted = plant_lock(repo, _lock_json(pid=1) | changes)
    if stale:
        with repo.lock():
            assert os.listdir(repo.path / "locks") != [planted]
        assert os.listdir(repo.path / "locks") == []
    else:
        with pytest.raises(RepositoryInUse), repo.lock():
            pass
        assert os.listdir(repo.path / "locks") == [planted]


def test_a_live_lock_is_not_stale_before_24_hours() -> None:
    me = locks.Holder.current()
    now = datetime.now().astimezone()
    recent = me.lock_json(now - timedelta(hours=23)) | {"pid": os.getppid()}
    assert not locks.is_stale(recent, me, now)
    assert locks.is_stale(me.lock_json(now - timedelta(hours=25)) | {"host": "x"}, me, now)


def test_an_unreadable_lock_file_is_held_until_it_is_old(repo: Repository) -> None:
    unreadable = repo.path / "locks" / ("ab" * 32)
    unreadable.write_bytes(b"HOSO\x01l garbage")
    with pytest.raises(RepositoryInUse, match="cannot be read"), repo.lock():
        pass
    old = (datetime.now() - timedelta(days=2)).timestamp()
    os.utime(unreadable, (old, old))
    with repo.lock():
        assert not unreadable.exists()


# --- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system (tmpfs), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a 2 MiB tmpfs, which needs root")
    mount = tmp_path / "usb"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_during_flush_is_a_clear_error_and_the_repository_stays_sound(
    small_disk: Path,
) -> None:
    repo = Repository.init(small_disk / "repo", PASS, kdf=CHEAP)
    with repo.lock():
        kept, _ = repo.add_blob("data", noise(200_000))
        snapshot_id = repo.save_snapshot(_snapshot("2026-11-29T09:30:00+07:00") | {"tree": kept})
        lost = [repo.add_blob("data", noise(MIB, seed))[0] for seed in range(10, 13)]
        with pytest.raises(LocalError, match="drive is full"):
            repo.flush()
        with pytest.raises(LocalError, match="drive is full"):  # no snapshot can follow
            repo.add_blob("data", b"more")
    assert not list(small_disk.rglob(".tmp-*"))
    fresh = reopen(repo)
    assert [i for i, _ in fresh.snapshots()] == [snapshot_id]
    assert fresh.load_blob(kept) == noise(200_000)
    assert not any(fresh.has_blob(blob_id) for blob_id in lost)
    with fresh.lock():  # and the next, smaller backup works
        fresh.add_blob("data", noise(100_000, seed=20))
        fresh.save_snapshot(_snapshot("2026-11-30T09:30:00+07:00"))
    assert len(reopen(repo).snapshots()) == 2


def test_a_full_disk_while_writing_the_index_references_nothing(small_disk: Path) -> None:
    repo = Repository.init(small_disk / "repo", PASS, kdf=CHEAP)
    blob_id, _ = repo.add_blob("data", noise(5000))
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        with pytest.raises(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    # Room for the pack (two pages) but not for the index after it.
    os.truncate(filler, filler.stat().st_size - 2 * 4096)
    with pytest.raises(LocalError, match="drive is full"):
        repo.flush()
    assert len(repo.packs()) == 1 and repo.index_files() == []
    assert not reopen(repo).has_blob(blob_id)  # durable, but named by no index
    filler.unlink()
    repo.flush()  # the same backup can finish once there is room
    assert reopen(repo).load_blob(blob_id) == noise(5000)


def test_a_read_only_drive_is_a_clear_error(small_disk: Path) -> None:
    repo = Repository.init(small_disk / "repo", PASS, kdf=CHEAP)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(LocalError, match="read-only"), repo.lock():
        pass
    with pytest.raises(LocalError, match="read-only"):
        repo.save_snapshot(_snapshot("2026-11-29T09:30:00+07:00"))
    assert reopen(repo).snapshots() == []  # and it still opens
