"""Retention (forget_plan), prune, check, and tampering with every kind of repository file.

The tamper tests flip a byte in, truncate or delete each kind of file of a real repository
and require two things: check names the damaged file (and, where data is lost, the
snapshots and paths it affects), and no restore ever returns bytes that differ from what
was backed up: it fails instead.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from backup_factory import state, write

from agent.backup.crypto import recovery_passphrase
from agent.backup.maintenance import Damage, PruneResult, check, forget_plan, prune
from agent.backup.repository import Repository
from agent.backup.restore import restore
from agent.backup.snapshots import create, find_snapshot
from agent.envelope import KdfParams
from agent.errors import BackupDamaged, UsageError, WrongPassphrase

PASSPHRASE = "mật khẩu của cô Lan"
CHEAP = KdfParams(n=2**10)

# --- forget_plan (pure) ------------------------------------------------------------------


def snap(when: str, host: str = "GV-LAN", root: str = "/home/lan/HoSo") -> dict:
    return {"time": when, "host": host, "root": root}


def plan(times: dict[str, str], **keep: int) -> list[str]:
    kept, forgotten = forget_plan([(i, snap(t)) for i, t in times.items()], **keep)
    assert sorted(kept + forgotten) == sorted(times)
    return kept


WEEKDAYS = {  # 2026-11-16 is a Monday
    "mon-09": "2026-11-16T09:00:00+07:00",
    "mon-17": "2026-11-16T17:00:00+07:00",
    "tue-10": "2026-11-17T10:00:00+07:00",
    "thu-08": "2026-11-19T08:00:00+07:00",
    "thu-20": "2026-11-19T20:00:00+07:00",
    "sun-12": "2026-11-22T12:00:00+07:00",
    "mon2-07": "2026-11-23T07:00:00+07:00",
}


def test_keep_last_keeps_the_newest() -> None:
    assert plan(WEEKDAYS, keep_last=2) == ["sun-12", "mon2-07"]
    same_instant = {"a": WEEKDAYS["mon-09"], "b": WEEKDAYS["mon-09"], "c": WEEKDAYS["mon-17"]}
    assert plan(same_instant, keep_last=3) == ["a", "b", "c"]


def test_keep_daily_keeps_the_newest_of_each_of_the_last_days_with_snapshots() -> None:
    assert plan(WEEKDAYS, keep_daily=3) == ["thu-20", "sun-12", "mon2-07"]
    assert plan(WEEKDAYS, keep_daily=5) == ["mon-17", "tue-10", "thu-20", "sun-12", "mon2-07"]


def test_keep_weekly_uses_iso_weeks_monday_to_sunday() -> None:
    assert plan(WEEKDAYS, keep_weekly=2) == ["sun-12", "mon2-07"]
    assert plan(WEEKDAYS, keep_weekly=1) == ["mon2-07"]


def test_keep_monthly() -> None:
    times = {
        "sep": "2026-09-30T18:00:00+07:00",
        "oct-a": "2026-10-01T08:00:00+07:00",
        "oct-b": "2026-10-31T08:00:00+07:00",
        "nov": "2026-11-02T08:00:00+07:00",
    }
    assert plan(times, keep_monthly=2) == ["oct-b", "nov"]
    assert plan(times, keep_monthly=12) == ["sep", "oct-b", "nov"]


def test_a_snapshot_kept_by_any_rule_stays() -> None:
    assert plan(WEEKDAYS, keep_last=1, keep_weekly=2) == ["sun-12", "mon2-07"]
    assert plan(WEEKDAYS, keep_last=1, keep_daily=1, keep_monthly=1) == ["mon2-07"]
    assert plan(WEEKDAYS, keep_last=3, keep_daily=2) == ["thu-20", "sun-12", "mon2-07"]


def test_days_are_counted_in_the_snapshots_own_time_zone() -> None:
    # The same UTC day (29 Nov 15:00 and 18:00 UTC), two days for the teacher in Vietnam.
    times = {"evening": "2026-11-29T22:00:00+07:00", "night": "2026-11-30T01:00:00+07:00"}
    assert plan(times, keep_daily=2) == ["evening", "night"]


def test_each_computer_and_folder_keeps_its_own_snapshots() -> None:
    snapshots = [
        ("pc-1", snap("2026-11-20T09:00:00+07:00", host="GV-LAN")),
        ("laptop", snap("2026-11-21T09:00:00+07:00", host="LAPTOP")),
        ("pc-2", snap("2026-11-22T09:00:00+07:00", host="GV-LAN")),
        ("pc-other", snap("2026-11-19T09:00:00+07:00", root="/home/lan/Khac")),
    ]
    assert forget_plan(snapshots, keep_last=1) == (["laptop", "pc-2", "pc-other"], ["pc-1"])


def test_a_policy_of_zeros_forgets_nothing() -> None:
    assert plan(WEEKDAYS) == list(WEEKDAYS)


# --- a sample repository --------------------------------------------------------------


BIG = "Tuần 12/Bài lớn.docx"
NEW = "Tuần 14/Bài 4.docx"


@dataclass
class Sample:
    """Two snapshots. The first has BIG (several chunks), a small lesson plan and a notebook;
    the second adds NEW. Each backup writes its own pack and index, so the second pack and
    index hold only what the second snapshot added."""

    path: Path
    recovery: str
    first: str
    second: str
    states: dict[str, dict[str, tuple[str, str, int, int]]]

    def open(self, passphrase: str = PASSPHRASE) -> Repository:
        return Repository.open(self.path, passphrase)

    def packs(self) -> tuple[str, str]:
        """(the first backup's pack, the second's): the second holds its own root tree."""
        repo = self.open()
        (second,) = {e.pack for e in repo.index()[repo.read_snapshot(self.second)["tree"]]}
        (first,) = set(repo.packs()) - {second}
        return first, second

    def second_index(self) -> str:
        repo = self.open()
        (found,) = [i for i in repo.index_files() if self.packs()[1] in repo.read_index(i)[0]]
        return found


@pytest.fixture
def sample(tmp_path: Path) -> Sample:
    root = tmp_path / "HoSo"
    write(root / BIG, random.Random(1).randbytes(1_500_000))
    write(root / "Tuần 12/Bài 1.docx", "Rút kinh nghiệm".encode())
    write(root / "Sổ chủ nhiệm.xlsx", b"lop 3A")
    repo = Repository.init(tmp_path / "repo", PASSPHRASE, kdf=CHEAP, label="passphrase")
    recovery = recovery_passphrase()
    repo.add_key(recovery, "recovery", CHEAP)
    states = {}
    with repo.lock():
        first = create(repo, root, host="GV-LAN").snapshot
        states[first] = state(root)
        write(root / NEW, b"bai 4, tuan 14")
        second = create(repo, root, host="GV-LAN").snapshot
        states[second] = state(root)
    assert len(repo.packs()) == 2 and len(repo.index_files()) == 2
    return Sample(tmp_path / "repo", recovery, first, second, states)


def restores_truthfully(repo: Repository, sample: Sample, where: Path) -> dict[str, bool]:
    """Restore every snapshot; each either restores exactly or fails loudly, and a failed
    restore leaves only correct files (and no temp files) behind. → {snapshot: restored}."""
    outcome = {}
    for number, (snapshot_id, expected) in enumerate(sample.states.items()):
        target = where / f"restore-{number}"
        try:
            restore(repo, snapshot_id, [], target)
        except (BackupDamaged, UsageError):
            outcome[snapshot_id] = False
            for path, found in state(target).items() if target.exists() else []:
                assert found == expected[path] or found[0] == "dir", path
                assert ".~hoso-" not in path
        else:
            outcome[snapshot_id] = True
            assert state(target) == expected
    return outcome


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x20
    path.write_bytes(bytes(data))


def truncate(path: Path, size: int | None = None) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if size is None else size])


def tamper(path: Path, action: str) -> None:
    if action == "flip":
        flip(path, path.stat().st_size - 20)  # inside the ciphertext or the last JSON field
    elif action == "truncate":
        truncate(path)
    else:
        path.unlink()


ACTIONS = ["flip", "truncate", "delete"]


def test_a_sound_repository_checks_clean(sample: Sample, tmp_path: Path) -> None:
    repo = sample.open()
    with repo.lock():
        assert check(repo, read_data=False) == []
        assert check(repo, read_data=True) == []
    outcome = restores_truthfully(repo, sample, tmp_path)
    assert outcome == {sample.first: True, sample.second: True}


# --- tampering: config and key slots ---------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_a_damaged_config_is_reported_as_damage(sample: Sample, action: str) -> None:
    tamper(sample.path / "config", action)
    # A deleted config too: the key slots and data are there, so it is a damaged repository
    # (never "no repository, run hoso backup init").
    with pytest.raises(BackupDamaged, match="config") as caught:
        sample.open()
    assert caught.value.exit_code == 1
    if action == "delete":
        assert "is missing" in str(caught.value) and "do not run `hoso backup init`" in str(
            caught.value
        )
        with pytest.raises(BackupDamaged, match="is missing"):
            Repository.init(sample.path, PASSPHRASE, kdf=CHEAP)
        assert not (sample.path / "config").exists()


@pytest.mark.parametrize("action", ACTIONS)
def test_a_damaged_key_slot_is_named(sample: Sample, action: str, tmp_path: Path) -> None:
    slots = {slot["label"]: slot["id"] for slot in sample.open().key_slots()}
    tamper(sample.path / "keys" / slots["passphrase"], action)
    if action == "delete":  # only the manifest, which needs a key, can tell it was lost
        with pytest.raises(WrongPassphrase):
            sample.open()
    else:
        with pytest.raises(BackupDamaged, match=f"keys/{slots['passphrase']}"):
            sample.open()
    repo = sample.open(sample.recovery)
    with repo.lock():
        damages = check(repo, read_data=True)
    assert [(d.file, d.snapshots, d.paths) for d in damages] == [
        (f"keys/{slots['passphrase']}", (), ())
    ]
    if action == "delete":
        assert damages[0].problem == (
            'the key slot "passphrase" is missing: its passphrase no longer opens the repository'
        )
    assert all(restores_truthfully(repo, sample, tmp_path).values())


# --- tampering: index files and snapshots ----------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_a_damaged_index_is_named_with_what_it_loses(
    sample: Sample, action: str, tmp_path: Path
) -> None:
    index_id = sample.second_index()
    tamper(sample.path / "index" / index_id, action)
    repo = sample.open()
    with repo.lock():
        damages = check(repo, read_data=False)
    lost = Damage(
        "index", "data used by snapshots is listed in no index file", (sample.second,), ("/",)
    )
    if action == "delete":
        assert damages == [lost]
    else:
        assert [d.file for d in damages] == ["index", f"index/{index_id}"]
        assert damages[0] == lost
    outcome = restores_truthfully(repo, sample, tmp_path)
    assert outcome == {sample.first: True, sample.second: False}


@pytest.mark.parametrize("action", ACTIONS)
def test_a_damaged_snapshot_is_named(sample: Sample, action: str, tmp_path: Path) -> None:
    tamper(sample.path / "snapshots" / sample.first, action)
    repo = sample.open()
    with repo.lock():
        damages = check(repo, read_data=True)
    assert [d.file for d in damages] == [f"snapshots/{sample.first}"]
    if action == "delete":  # the manifest lists it: lost, not forgotten
        assert "missing (snapshot number 1; the repository lists it)" in damages[0].problem
        with pytest.raises(UsageError, match="No snapshot id starts with"):
            find_snapshot(repo, sample.first)
    else:
        with pytest.raises(BackupDamaged, match=f"snapshots/{sample.first}"):
            find_snapshot(repo, sample.first)
    assert restores_truthfully(repo, sample, tmp_path) == {
        sample.first: False,
        sample.second: True,
    }


# --- tampering: packs ------------------------------------------------------------------


def big_file_blob(repo: Repository) -> tuple[str, int, int]:
    """(pack, offset, length) of the largest data blob: a chunk of BIG in the first pack."""
    entry = max((e for es in repo.index().values() for e in es), key=lambda e: e.length)
    return entry.pack, entry.offset, entry.length


def test_a_flipped_byte_in_file_data_is_found_by_read_data(sample: Sample, tmp_path: Path) -> None:
    repo = sample.open()
    pack, offset, length = big_file_blob(repo)
    flip(repo.pack_path(pack), offset + length // 2)
    repo = sample.open()
    with repo.lock():
        assert check(repo, read_data=False) == []  # structure is sound; data is not read
        damages = check(repo, read_data=True)
    both = tuple(sorted((sample.first, sample.second)))
    assert damages == [
        Damage(
            f"data/{pack[:2]}/{pack}",
            "data in it cannot be decrypted or does not match its id",
            both,
            (BIG,),
        ),
        Damage(f"data/{pack[:2]}/{pack}", "its content does not match its name", (), ()),
    ]
    with pytest.raises(BackupDamaged, match=BIG):
        restore(repo, sample.first, [], tmp_path / "out")
    assert not (tmp_path / "out" / BIG).exists()
    assert restores_truthfully(repo, sample, tmp_path) == {
        sample.first: False,
        sample.second: False,
    }
    # What the damage does not touch still comes back.
    restore(repo, sample.second, ["Tuần 14", "Sổ chủ nhiệm.xlsx"], tmp_path / "part")
    assert (tmp_path / "part" / NEW).read_bytes() == b"bai 4, tuan 14"


def test_a_flipped_byte_in_a_folder_listing_is_found_by_the_structure_check(
    sample: Sample, tmp_path: Path
) -> None:
    repo = sample.open()
    pack = sample.packs()[1]
    root_tree = repo.read_snapshot(sample.second)["tree"]
    (entry,) = repo.index()[root_tree]
    flip(repo.pack_path(entry.pack), entry.offset + entry.length - 3)
    repo = sample.open()
    with repo.lock():
        damages = check(repo, read_data=False)
    assert damages == [
        Damage(
            f"data/{pack[:2]}/{pack}",
            "data in it cannot be decrypted or does not match its id",
            (sample.second,),
            ("/",),
        ),
    ]
    assert restores_truthfully(repo, sample, tmp_path) == {
        sample.first: True,
        sample.second: False,
    }


def test_a_damaged_pack_header_is_named_and_restores_stay_exact(
    sample: Sample, tmp_path: Path
) -> None:
    repo = sample.open()
    pack = sample.packs()[0]
    path = repo.pack_path(pack)
    size = path.stat().st_size
    (header_length,) = struct.unpack("<I", path.read_bytes()[-4:])
    flip(path, size - 4 - header_length // 2)
    with repo.lock():
        structure = check(repo, read_data=False)
        full = check(repo, read_data=True)
    assert [(d.file, d.snapshots, d.paths) for d in structure] == [
        (f"data/{pack[:2]}/{pack}", (), ())
    ]
    assert "authentication" in structure[0].problem
    assert len(full) == 2 and {d.file for d in full} == {f"data/{pack[:2]}/{pack}"}
    # The index still locates every blob, and every blob is intact.
    assert all(restores_truthfully(repo, sample, tmp_path).values())


def test_a_truncated_pack_names_the_folders_it_loses(sample: Sample, tmp_path: Path) -> None:
    repo = sample.open()
    pack, offset, _length = big_file_blob(repo)
    truncate(repo.pack_path(pack), offset + 10)
    repo = sample.open()
    with repo.lock():
        damages = check(repo, read_data=False)
    # Folder listings follow the file data in a pack: the first snapshot's listings are cut
    # off, so it is lost whole, and the second loses the folder it shared.
    assert damages == [
        Damage(
            f"data/{pack[:2]}/{pack}",
            "the pack file is truncated",
            tuple(sorted((sample.first, sample.second))),
            ("/", "Tuần 12/"),
        )
    ]
    assert restores_truthfully(repo, sample, tmp_path) == {
        sample.first: False,
        sample.second: False,
    }


def test_a_missing_pack_names_the_snapshots_and_paths_it_loses(
    sample: Sample, tmp_path: Path
) -> None:
    repo = sample.open()
    pack = sample.packs()[1]
    repo.pack_path(pack).unlink()
    repo = sample.open()
    with repo.lock():
        damages = check(repo, read_data=True)
    # The second snapshot's own folder listing was in that pack: all of it is unreadable.
    assert damages == [
        Damage(f"data/{pack[:2]}/{pack}", "the pack file is missing", (sample.second,), ("/",))
    ]
    assert restores_truthfully(repo, sample, tmp_path) == {
        sample.first: True,
        sample.second: False,
    }


def test_a_missing_first_pack_names_paths_in_both_snapshots(sample: Sample) -> None:
    repo = sample.open()
    pack = sample.packs()[0]
    repo.pack_path(pack).unlink()
    repo = sample.open()
    with repo.lock():
        (damage,) = check(repo, read_data=False)
    assert damage.snapshots == tuple(sorted((sample.first, sample.second)))
    # The first snapshot is lost whole; the second keeps NEW but loses what it shared.
    assert set(damage.paths) == {"/", "Sổ chủ nhiệm.xlsx", "Tuần 12/"}


# --- prune -------------------------------------------------------------------------------


def repository_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_prune_frees_what_forgotten_snapshots_used(sample: Sample, tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    (root / BIG).unlink()
    repo = sample.open()
    with repo.lock():
        third = create(repo, root, host="GV-LAN").snapshot
        before = repository_size(sample.path)
        repo.remove_snapshot(sample.first)
        repo.remove_snapshot(sample.second)
        result = prune(repo)
        assert check(repo, read_data=True) == []
    assert result.packs_removed >= 1 and result.blobs_repacked >= 1
    assert result.bytes_freed > 1_400_000
    assert before - repository_size(sample.path) > 1_400_000
    assert len(repo.index_files()) == 1
    restore(repo, third, [], tmp_path / "out")
    assert state(tmp_path / "out") == state(root)
    with repo.lock():
        assert prune(repo) == PruneResult(0, 0, 0)


def test_prune_leaves_packs_that_are_almost_all_used(sample: Sample, tmp_path: Path) -> None:
    repo = sample.open()
    with repo.lock():
        repo.remove_snapshot(sample.first)  # only its folder listings become unused
        result = prune(repo)
        assert check(repo, read_data=True) == []
    assert result == PruneResult(0, 0, 0)
    assert sorted(repo.packs()) == sorted(sample.packs())
    assert len(repo.index_files()) == 1  # the two index files are merged
    assert restores_truthfully(repo, sample, tmp_path)[sample.second]


def test_prune_removes_leftovers_of_an_interrupted_backup(sample: Sample) -> None:
    repo = sample.open()
    # A pack no index names, as a backup killed before writing its index leaves, and a temp.
    blob = next(iter(repo.index()))
    (leftover,) = repo.repack([blob])
    (sample.path / "index" / ".tmp-0123456789abcdef").write_bytes(b"half written")
    with repo.lock():
        assert check(repo, read_data=True) == []  # leftovers are not damage
        result = prune(repo)
    assert not repo.pack_path(leftover).exists()
    assert not (sample.path / "index" / ".tmp-0123456789abcdef").exists()
    assert result.packs_removed == 1 and result.bytes_freed > 0


def test_prune_deletes_nothing_when_data_in_use_is_in_no_index(sample: Sample) -> None:
    repo = sample.open()
    (sample.path / "index" / sample.second_index()).unlink()
    repo = sample.open()
    before = sorted(p for p in sample.path.rglob("*") if p.is_file())
    with repo.lock(), pytest.raises(BackupDamaged, match="Prune stopped without deleting"):
        prune(repo)
    assert sorted(p for p in sample.path.rglob("*") if p.is_file() and "locks" not in p.parts) == [
        p for p in before if "locks" not in p.parts
    ]


def test_prune_deletes_nothing_when_a_snapshot_cannot_be_read(sample: Sample) -> None:
    flip(sample.path / "snapshots" / sample.second, 30)
    repo = sample.open()
    packs = repo.packs()
    with repo.lock(), pytest.raises(BackupDamaged, match=f"snapshots/{sample.second}"):
        repo.remove_snapshot(sample.first)
        prune(repo)
    assert repo.packs() == packs
