"""Restore reading each pack once: shared blobs, pieces out of order, damage, kills, a full disk.

A restore reads the blobs it needs pack by pack (agent/backup/blobfetch.py) and puts the files
together from blobs that arrive in pack order (agent/backup/assemble.py). These tests back up
real folders into real repositories (cheap scrypt parameters) and check, on disk, that every
file comes back exactly, that damage keeps out only the files it touches, and that no file is
ever half-written under its real name (killed, or the disk full).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from backup_factory import state, write
from test_backup_repository import small_disk

from agent import restored as restored_marker
from agent.backup import assemble
from agent.backup.repository import BlobEntry, Repository
from agent.backup.restore import restore
from agent.backup.snapshots import create, find_entry
from agent.envelope import KdfParams
from agent.errors import BackupDamaged, ExitCode, LocalError

__all__ = ["small_disk"]  # the fixture, shared with the repository's full-disk tests

PASSPHRASE = "mật khẩu của cô Lan"
CHEAP = KdfParams(n=2**10)
PROJECT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def backup(repo: Repository, root: Path) -> str:
    with repo.lock():
        return create(repo, root, host="GV-LAN").snapshot


def noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def content(repo: Repository, snapshot_id: str, path: str) -> list[BlobEntry]:
    """Where each blob of a file is stored, in file order."""
    entry = find_entry(repo, repo.read_snapshot(snapshot_id)["tree"], path)
    assert entry is not None
    return [repo.copies(blob)[0] for blob in entry["content"]]


def content_packs(repo: Repository, snapshot_id: str, path: str) -> list[str]:
    return [blob.pack for blob in content(repo, snapshot_id, path)]


def no_temps(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.startswith(".~hoso-")]


def test_a_blob_many_files_share_is_restored_into_each_of_them(tmp_path: Path) -> None:
    """40 copies of a lesson plan (one blob) and 5 of a 3 MiB scan (several blobs), plus a file
    that holds the same chunk twice: every copy comes back whole, from blobs stored once."""
    root, plan, scan = tmp_path / "HoSo", noise(150_000, 1), noise(3 * MIB, 2)
    for week in range(40):
        write(root / f"Tuần {week + 1}" / "Kế hoạch bài dạy.docx", plan, mtime_ns=week * 10**9)
    for n in range(5):
        write(root / "Ảnh chụp" / f"Sổ điểm {n}.pdf", scan, mode=0o640)
    write(root / "Hai lần.pdf", scan + scan)
    repo = Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP)
    snapshot_id = backup(repo, root)
    data = [c for copies in repo.index().values() for c in copies if c.type == "data"]
    scan_blobs = len(content_packs(repo, snapshot_id, "Ảnh chụp/Sổ điểm 0.pdf"))
    # The plan once, the scan's chunks once, and Hai lần.pdf's own chunk where they join.
    assert scan_blobs >= 2 and len(data) <= 1 + scan_blobs + 2

    result = restore(repo, snapshot_id, [], tmp_path / "out")

    assert state(tmp_path / "out") == state(root)
    assert result.files == 46 and result.bytes == 40 * len(plan) + 7 * len(scan)
    assert no_temps(tmp_path / "out")


@pytest.mark.parametrize("open_files", [1, 64], ids=["reopened", "kept-open"])
def test_a_file_whose_pieces_are_in_several_packs_out_of_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_files: int
) -> None:
    """Giáo án.pdf is the newer scan followed by the older one: its first pieces are in the
    second backup's pack, its last ones in the first's, which an earlier file needs first, so
    its pieces arrive tail first and its SHA-256 is completed from what was written ahead.
    With one temp open at a time, every file is reopened between its pieces."""
    monkeypatch.setattr(assemble, "_OPEN", open_files)
    root, older, newer = tmp_path / "HoSo", noise(5 * MIB, 3), noise(5 * MIB, 4)
    repo = Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP)
    write(root / "A - bản cũ.pdf", older)
    backup(repo, root)
    write(root / "B - bản mới.pdf", newer)
    backup(repo, root)
    write(root / "Giáo án.pdf", newer + older)
    snapshot_id = backup(repo, root)
    packs = content_packs(repo, snapshot_id, "Giáo án.pdf")
    first_backup_pack = content_packs(repo, snapshot_id, "A - bản cũ.pdf")[0]
    assert packs[0] != first_backup_pack and packs[-1] == first_backup_pack  # out of order

    restore(repo, snapshot_id, [], tmp_path / "out")

    assert (tmp_path / "out" / "Giáo án.pdf").read_bytes() == newer + older
    assert state(tmp_path / "out") == state(root)
    assert no_temps(tmp_path / "out")


def damaged_sample(tmp_path: Path) -> tuple[Repository, Path, str, dict[str, bytes]]:
    """Two backups, each in its own pack: the second's pack holds only Tuần 2's files."""
    root = tmp_path / "HoSo"
    first = {f"Tuần 1/Bài {n}.docx": noise(40_000, n) for n in range(5)}
    for path, data in first.items():
        write(root / path, data)
    repo = Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP)
    backup(repo, root)
    second = {f"Tuần 2/Bài {n}.docx": noise(40_000, 10 + n) for n in range(3)}
    for path, data in second.items():
        write(root / path, data)
    snapshot_id = backup(repo, root)
    return repo, root, snapshot_id, {**first, **second}


def test_a_damaged_pack_keeps_out_only_the_files_it_holds(tmp_path: Path) -> None:
    repo, _root, snapshot_id, files = damaged_sample(tmp_path)
    (entry,) = content(repo, snapshot_id, "Tuần 2/Bài 1.docx")
    pack = entry.pack
    data = bytearray(repo.pack_path(pack).read_bytes())
    data[entry.offset + entry.length // 2] ^= 0x20  # one file's blob altered
    repo.pack_path(pack).write_bytes(bytes(data))
    out = tmp_path / "out"

    with pytest.raises(BackupDamaged) as raised:
        restore(repo, snapshot_id, [], out, mark=True)

    assert raised.value.exit_code == ExitCode.PARTIAL
    message = str(raised.value)
    assert "1 file cannot be restored" in message and "Tuần 2/Bài 1.docx" in message
    assert f"data/{pack[:2]}/{pack}" in message
    restored = {p: d for p, d in files.items() if p != "Tuần 2/Bài 1.docx"}
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.docx")} == restored
    assert no_temps(out)
    # The marker names what is in place, for the first sync, and not the file kept out.
    assert set(restored_marker.read(out)) == set(restored)


def test_a_damaged_copy_gives_way_to_a_sound_one_in_another_pack(tmp_path: Path) -> None:
    """A blob stored twice (a prune's copy beside the original): the copy the restore reads
    first fails its check, the other one is used, and every file comes back."""
    repo, _root, snapshot_id, files = damaged_sample(tmp_path)
    (entry,) = content(repo, snapshot_id, "Tuần 2/Bài 2.docx")
    with repo.lock():
        repo.write_index(repo.repack([entry.id]), [])
    first = repo.copies(entry.id)[0]
    assert len(repo.copies(entry.id)) == 2
    data = bytearray(repo.pack_path(first.pack).read_bytes())
    data[first.offset + first.length // 2] ^= 0x20
    repo.pack_path(first.pack).write_bytes(bytes(data))

    restore(repo, snapshot_id, [], tmp_path / "out")

    out = tmp_path / "out"
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.docx")} == files
    assert no_temps(out)


def test_a_missing_pack_is_named_with_every_file_it_keeps_out(tmp_path: Path) -> None:
    """The hoso command: exit 1, the files of the lost pack named, the others restored."""
    repo, root, _first, files = damaged_sample(tmp_path)
    for n in range(4):  # 20 MiB: the first pack of this backup holds file data only
        files[f"Tuần 3/Bản chụp {n}.pdf"] = noise(5 * MIB, 20 + n)
        write(root / f"Tuần 3/Bản chụp {n}.pdf", files[f"Tuần 3/Bản chụp {n}.pdf"])
    snapshot_id = backup(repo, root)
    pack = content_packs(repo, snapshot_id, "Tuần 3/Bản chụp 0.pdf")[0]
    assert all(e.type == "data" for e in repo.read_pack_header(pack))
    lost = sorted(p for p in files if pack in content_packs(repo, snapshot_id, p))
    assert lost and all(path.startswith("Tuần 3/") for path in lost)
    repo.pack_path(pack).unlink()
    out = tmp_path / "out"

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "backup",
            "restore",
            snapshot_id[:8],
            "--repository",
            str(tmp_path / "repo"),
            "--target",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HOSO_BACKUP_PASSPHRASE": PASSPHRASE,
            "HOSO_CONFIG": str(tmp_path / "no-config.toml"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
        },
        cwd=PROJECT,
    )

    assert done.returncode == ExitCode.PARTIAL, done.stderr
    assert f"{len(lost)} file" in done.stderr and "cannot be restored" in done.stderr
    assert all(path in done.stderr for path in lost)
    assert "the file is missing" in done.stderr
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.*")}
    got.pop(".hoso-restored")
    assert got == {p: d for p, d in files.items() if p not in lost}
    assert no_temps(out)


CHILD = """
import os, sys
from pathlib import Path
from agent.backup.repository import BlobEntry, Repository
from agent.backup.restore import restore
repo = Repository.open(Path(sys.argv[1]), os.environ["HOSO_TEST_PASSPHRASE"])
print("open", flush=True)
restore(repo, sys.argv[2], [], Path(sys.argv[3]))
print("done", flush=True)
"""


def test_a_restore_killed_at_any_instant_leaves_no_partial_file_under_a_real_name(
    tmp_path: Path,
) -> None:
    """SIGKILL at random instants: whatever carries a real name is whole and exact, the rest
    are only `.~hoso-*.restore` temps; a restore run again then brings back everything."""
    root = tmp_path / "HoSo"
    for n in range(24):
        write(root / f"Tuần {n % 4}" / f"Bài {n}.pdf", noise(MIB + n * 50_000, n))
    for n in range(60):
        write(root / "Sổ chủ nhiệm" / f"Ghi chép {n}.docx", noise(30_000, 100 + n))
    repo = Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP)
    snapshot_id = backup(repo, root)
    expected = state(root)
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    env = {**os.environ, "HOSO_TEST_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(PROJECT)}
    kills = 0
    for round_number in range(6):
        target = tmp_path / f"out-{round_number}"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(repo.path), snapshot_id, str(target)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.readline() == "open\n", child.stderr.read()
        try:
            child.wait(timeout=rng.uniform(0.0, 0.6))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
        child.stdout.close()
        errors = child.stderr.read()
        child.stderr.close()
        assert child.returncode in (0, -signal.SIGKILL), errors
        kills += child.returncode == -signal.SIGKILL
        found = state(target) if target.exists() else {}
        for path, seen in found.items():
            name = path.rpartition("/")[2]
            if name.startswith(".~hoso-"):
                assert name.endswith(".restore"), (path, seed)
            elif seen[0] == "file":
                assert seen[1] == expected[path][1], (path, seed)  # whole and exact
        restore(repo, snapshot_id, [], target)  # again: the rest comes back
        assert {p: s for p, s in state(target).items() if ".~hoso-" not in p} == expected
        shutil.rmtree(target)
    assert kills >= 1, f"no kill landed (seed {seed})"


def test_a_full_disk_stops_the_restore_with_nothing_half_written(
    tmp_path: Path, small_disk: Path
) -> None:
    """3 MiB of records into a 2 MiB file system: the disk-full message, the files verified
    before it complete under their names, no temp left, nothing half-written."""
    root = tmp_path / "HoSo"
    for n in range(12):
        write(root / f"Bài {n:02}.pdf", noise(256_000, n))
    repo = Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP)
    snapshot_id = backup(repo, root)
    target = small_disk / "HoSo"

    with pytest.raises(LocalError, match="The disk is full"):
        restore(repo, snapshot_id, [], target)

    expected = state(root)
    found = state(target)
    assert found, "the disk held some files before it was full"
    assert all(seen == expected[path] for path, seen in found.items())
    assert len(found) < len(expected)
    assert no_temps(target)


class SavedDuring(Repository):
    """A repository whose first pack read happens while the teacher saves a file the
    restore is about to write (the records folder is live): real files, real timing."""

    saved: Path | None = None

    def read_blobs(self, entries: list[BlobEntry]) -> list:
        if self.saved is not None and not self.saved.exists():
            write(self.saved, b"the teacher's edit of tonight")
        return super().read_blobs(entries)


def test_a_file_saved_in_the_target_during_the_restore_is_never_replaced(
    tmp_path: Path,
) -> None:
    """Without --overwrite no existing file is replaced: one that appears under a restored
    name after the survey (saved by the teacher, brought by the sync) keeps its content, and
    the error names it; the other files are restored, no temp is left."""
    root = tmp_path / "HoSo"
    write(root / "Tuần 1" / "Bài 1.docx", noise(40_000, 1))
    write(root / "Tuần 1" / "Bài 2.docx", noise(40_000, 2))
    Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP)
    repo = SavedDuring.open(tmp_path / "repo", PASSPHRASE)
    snapshot_id = backup(repo, root)
    target = tmp_path / "out"
    repo.saved = target / "Tuần 1" / "Bài 1.docx"

    with pytest.raises(LocalError, match="Bài 1.docx") as raised:
        restore(repo, snapshot_id, [], target, mark=True)

    assert raised.value.exit_code == ExitCode.PARTIAL
    assert repo.saved.read_bytes() == b"the teacher's edit of tonight"
    assert (target / "Tuần 1" / "Bài 2.docx").read_bytes() == noise(40_000, 2)
    assert no_temps(target)
    assert set(restored_marker.read(target)) == {"Tuần 1/Bài 2.docx"}


class LinkPlantedDuring(Repository):
    """A repository whose first pack read happens as someone swaps a folder of the target
    for a link out of it (the records folder is live, a synced share can plant links)."""

    swap: tuple[Path, Path] | None = None  # (folder, where the link points)

    def read_blobs(self, entries: list[BlobEntry]) -> list:
        if self.swap is not None and not self.swap[0].is_symlink():
            folder, outside = self.swap
            folder.rename(folder.with_name(folder.name + " (moved)"))
            folder.symlink_to(outside, target_is_directory=True)
        return super().read_blobs(entries)


def test_a_link_planted_during_the_restore_stops_it_and_leaves_no_temp_elsewhere(
    tmp_path: Path,
) -> None:
    """The link stops the restore naming it; nothing is written through it, and the other
    folders' verified temps are removed, not left hidden for ever."""
    root = tmp_path / "HoSo"
    write(root / "A" / "Bài 1.docx", noise(40_000, 1))
    write(root / "B" / "Bài 2.docx", noise(40_000, 2))
    Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP)
    repo = LinkPlantedDuring.open(tmp_path / "repo", PASSPHRASE)
    snapshot_id = backup(repo, root)
    target, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    repo.swap = (target / "A", outside)

    with pytest.raises(LocalError, match="A"):
        restore(repo, snapshot_id, [], target)

    assert list(outside.iterdir()) == []
    assert list((target / "B").iterdir()) in ([], [target / "B" / "Bài 2.docx"])
