"""The handover through the school folder (issue 16, item 3): two computers with records
folders of their own and one school folder (a plain folder standing for the synced copy),
every step through a real `hoso`; the log an earlier version kept in a records folder moved,
not lost; hostile files in the school folder's `Bàn giao tài khoản/`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import test_handover as stage
from test_handover import ACCOUNT, RECEIVER, WITNESS, Keeper, history
from test_handover_trust import run_at_terminal

from agent import config as configmod
from agent.api import on_school_share
from agent.config import Secret
from agent.journal import Journal
from agent.model import JournalEntry, Kind
from plugins.handover import ledger
from plugins.handover.bundle import MAX_BYTES, Account, Party, file_name, new_id, seal_bundle
from plugins.handover.keys import HandoverKeys, PublicKey
from plugins.handover.ledger import FOLDER
from plugins.handover.service import SEEN_FILE

plugin_path = stage.plugin_path  # the stage's fixtures

GIVER = "Nguyễn Văn An, Giáo viên"


def keeper(tmp_path: Path, plugin_path: str, name: str, school: Path | None, **kw: str) -> Keeper:
    records = tmp_path / name / "HoSo"
    records.mkdir(parents=True)
    return Keeper(tmp_path / name, records, plugin_path, school_folder=school, **kw)


@pytest.fixture
def school(tmp_path: Path) -> Path:
    folder = tmp_path / "Trường chung"
    folder.mkdir()
    return folder


def bundles(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.hoso-handover"))


def prepare(giver: Keeper, key: PublicKey, *extra: str) -> Path:
    printed = giver.ok(
        "handover", "prepare", "--to", key.text(), "--receiver", RECEIVER, "--witness", WITNESS,
        *extra,
    )  # fmt: skip
    [bundle] = [Path(line.split(": ", 1)[1]) for line in printed.splitlines() if "bundle:" in line]
    return bundle


def accept_waiting(receiver: Keeper, giver: Keeper) -> str:
    """The receiver accepts the bundle waiting in the school folder (no BUNDLE argument)."""
    fingerprint = giver.keygen().fingerprint()
    return receiver.ok("handover", "accept", "--fingerprint", fingerprint)


# --- the whole handover, nothing copied by hand ----------------------------------------------


def test_a_handover_completes_through_the_school_folder(
    tmp_path: Path, plugin_path: str, school: Path
) -> None:
    giver = keeper(tmp_path, plugin_path, "giver", school, keeper=GIVER)
    receiver = keeper(tmp_path, plugin_path, "receiver", school)
    giver.store_account()
    bundle = prepare(giver, receiver.keygen())
    # Bundle, minutes and log are in the school folder; nothing in the current folder.
    assert bundle.parent == school / FOLDER and bundle.is_file()
    assert len(list((school / FOLDER).glob("bien-ban-ban-giao-*.docx"))) == 1
    assert len(list((school / FOLDER).glob("nhat-ky-ban-giao-*.jsonl"))) == 1
    assert bundles(giver.home) == []

    accepted = accept_waiting(receiver, giver)
    assert f"Bundle found in the school folder: {bundle}" in accepted
    assert receiver.vault_entry("school-mailbox")["fields"]["address"] == ACCOUNT["address"]  # type: ignore[index]
    # The giver's computer sees the acceptance, and keeps its copy until the password change.
    assert giver.run_job() == []
    assert history(giver)["entries"][0]["accepted_at"]  # type: ignore[index]
    assert "school-mailbox" in giver.vault_names()

    [note] = json.loads(receiver.ok("status", "--json"))["plugin_notes"]  # read there too
    assert "confirm --password-changed" in note["text"]

    receiver.ok("handover", "confirm", "--password-changed")
    assert json.loads(receiver.ok("status", "--json"))["plugin_notes"] == []
    [removed] = giver.run_job()
    bundle_id = bundle.name[len("ban-giao-") : -len(".hoso-handover")]
    assert removed.key == f"handover:removed:{bundle_id}"
    assert "school-mailbox" not in giver.vault_names()
    assert "school-mailbox" in receiver.vault_names()

    for computer in (giver, receiver):
        log = history(computer)
        assert log["verified"] is True and log["problems"] == []
        [entry] = log["entries"]  # type: ignore[misc]
        assert entry["giver"] == GIVER and entry["receiver"] == RECEIVER
        assert entry["witness"] == WITNESS
        assert entry["accepted_at"] and entry["password_changed_at"]
    # Two log files, one per key, in the school folder; none in either records folder.
    assert len(list((school / FOLDER).glob("nhat-ky-ban-giao-*.jsonl"))) == 2
    assert not (giver.root / FOLDER).exists() and not (receiver.root / FOLDER).exists()
    stage.assert_password_nowhere([giver, receiver], school, giver.home, receiver.home)
    # Accepted once: nothing waits any more.
    done = receiver.hoso("handover", "accept", "--fingerprint", giver.keygen().fingerprint())
    assert done.returncode == 2 and "No handover bundle" in done.stderr


def test_prepare_with_out_still_writes_where_asked(
    tmp_path: Path, plugin_path: str, school: Path
) -> None:
    giver = keeper(tmp_path, plugin_path, "giver", school, keeper=GIVER)
    giver.store_account()
    out = tmp_path / "usb"
    bundle = prepare(giver, HandoverKeys.generate().public(), "--out", str(out))
    assert bundle.parent == out and bundles(school / FOLDER) == []
    # The log still goes to the school folder.
    assert len(list((school / FOLDER).glob("nhat-ky-ban-giao-*.jsonl"))) == 1


def test_without_a_school_folder_prepare_writes_into_the_current_folder_as_before(
    tmp_path: Path, plugin_path: str
) -> None:
    giver = keeper(tmp_path, plugin_path, "giver", None, keeper=GIVER)
    giver.store_account()
    bundle = prepare(giver, HandoverKeys.generate().public())
    assert bundle.parent == Path(".") and (giver.home / bundle).is_file()  # `hoso` ran there
    assert len(list((giver.root / FOLDER).glob("nhat-ky-ban-giao-*.jsonl"))) == 1


@pytest.mark.parametrize("order", ["giver_first", "receiver_first"])
def test_either_order_of_arrival_ends_verified(
    tmp_path: Path, plugin_path: str, order: str
) -> None:
    """Each computer with its own copy of the school folder; the files travel by hand, in
    the order the sync might bring them."""
    copies = {name: tmp_path / f"school-{name}" for name in ("giver", "receiver", "principal")}
    for folder in copies.values():
        (folder / FOLDER).mkdir(parents=True)
    giver = keeper(tmp_path, plugin_path, "giver", copies["giver"], keeper=GIVER)
    receiver = keeper(tmp_path, plugin_path, "receiver", copies["receiver"])
    principal = keeper(tmp_path, plugin_path, "principal", copies["principal"])
    principal.pin("Nguyễn Văn An", giver.keygen().fingerprint())

    def carry(name: str, source: str, to: str) -> None:
        shutil.copy2(copies[source] / FOLDER / name, copies[to] / FOLDER / name)

    giver.store_account()
    bundle = prepare(giver, receiver.keygen())
    [giver_log] = [p.name for p in (copies["giver"] / FOLDER).glob("*.jsonl")]
    carry(bundle.name, "giver", "receiver")  # the bundle alone reaches the receiver first
    accept_waiting(receiver, giver)
    receiver.ok("handover", "confirm", "--password-changed")
    [receiver_log] = [p.name for p in (copies["receiver"] / FOLDER).glob("*.jsonl")]
    # The receiver's own view before the giver's entry arrives: provisional, but confirmed.
    [early] = history(receiver)["entries"]  # type: ignore[misc]
    assert early["password_changed_at"] and early["witness"] is None

    carry(receiver_log, "receiver", "giver")
    [removed] = giver.run_job()
    assert removed.key.startswith("handover:removed:")
    assert "school-mailbox" not in giver.vault_names()

    arrivals = [(giver_log, "giver"), (receiver_log, "receiver")]
    for name, source in arrivals if order == "giver_first" else arrivals[::-1]:
        carry(name, source, "principal")
        history(principal)  # read after each arrival, as the agent would
    carry(giver_log, "giver", "receiver")

    for computer in (giver, receiver, principal):
        log = history(computer)
        assert log["verified"] is True, log["problems"]
        [entry] = log["entries"]  # type: ignore[misc]
        assert (entry["giver"], entry["receiver"], entry["witness"]) == (GIVER, RECEIVER, WITNESS)
        assert entry["accepted_at"] and entry["password_changed_at"]


def test_without_a_bundle_argument_and_no_school_folder_the_bundle_is_asked_for(
    tmp_path: Path, plugin_path: str
) -> None:
    receiver = keeper(tmp_path, plugin_path, "receiver", None)
    receiver.keygen()
    done = receiver.hoso("handover", "accept", "--fingerprint", "AAAA-BBBB-CCCC-DDDD")
    assert done.returncode == 2 and "Name the bundle" in done.stderr
    assert "school-mailbox" not in receiver.vault_names()


def test_a_school_folder_not_synced_yet_is_said_and_not_made(
    tmp_path: Path, plugin_path: str
) -> None:
    missing = tmp_path / "not yet"
    giver = keeper(tmp_path, plugin_path, "giver", missing, keeper=GIVER)
    giver.store_account()
    done = giver.hoso("handover", "prepare", "--to", HandoverKeys.generate().public().text(),
                      "--receiver", RECEIVER)  # fmt: skip
    assert done.returncode == 2 and "first sync" in done.stderr
    assert not missing.exists() and bundles(giver.home) == []


# --- hostile files in the school folder ---------------------------------------------------------


def sealed_for(key: PublicKey, giver_keys: HandoverKeys | None = None) -> tuple[str, bytes]:
    """A genuine bundle for ``key``, from an unknown giver (``giver_keys`` or fresh ones)."""
    bundle_id = new_id()
    data = seal_bundle(
        bundle_id=bundle_id,
        created="2026-12-01T08:00:00+07:00",
        account=Account(*ACCOUNT.values(), password=Secret("x")),
        notes={},
        giver=Party("Kẻ Lạ", "Giáo viên"),
        giver_keys=giver_keys or HandoverKeys.generate(),
        receiver=key,
    )
    return bundle_id, data


def test_hostile_files_in_the_folder_are_never_read_as_bundles(
    tmp_path: Path, plugin_path: str, school: Path
) -> None:
    receiver = keeper(tmp_path, plugin_path, "receiver", school)
    mine = receiver.keygen()
    folder = school / FOLDER
    folder.mkdir()
    # A genuine bundle for this key, reached only through a symlink: not followed.
    outside = tmp_path / "outside"
    outside.mkdir()
    bundle_id, data = sealed_for(mine)
    (outside / file_name(bundle_id)).write_bytes(data)
    (folder / file_name(bundle_id)).symlink_to(outside / file_name(bundle_id))
    # A huge file, a pipe, a bundle for another key, and a file that is no bundle.
    (folder / file_name("e" * 32)).write_bytes(b"{" + b" " * MAX_BYTES + b"}")
    os.mkfifo(folder / file_name("f" * 32))
    other_id, other = sealed_for(HandoverKeys.generate().public())
    (folder / file_name(other_id)).write_bytes(other)
    (folder / file_name("0" * 32)).write_bytes(b"not a bundle")

    done = receiver.hoso("handover", "accept", "--fingerprint", "AAAA-BBBB-CCCC-DDDD")
    assert done.returncode == 2 and "No handover bundle for this computer" in done.stderr
    assert other_id not in done.stderr + done.stdout  # skipped without a word
    assert "school-mailbox" not in receiver.vault_names()

    # A log file that is a link to something endless, and a pipe: reported, never read.
    (folder / "nhat-ky-ban-giao-zzzz.jsonl").symlink_to("/dev/zero")
    os.mkfifo(folder / "nhat-ky-ban-giao-pipe.jsonl")
    log = history(receiver)
    assert log["verified"] is False
    problems = "\n".join(log["problems"])  # type: ignore[arg-type]
    assert "nhat-ky-ban-giao-zzzz.jsonl: left out of the log" in problems
    assert "nhat-ky-ban-giao-pipe.jsonl: left out of the log" in problems


def test_several_bundles_for_this_key_are_listed_and_none_is_taken(
    tmp_path: Path, plugin_path: str, school: Path
) -> None:
    receiver = keeper(tmp_path, plugin_path, "receiver", school)
    mine = receiver.keygen()
    (school / FOLDER).mkdir()
    paths = []
    for _n in range(2):
        bundle_id, data = sealed_for(mine)
        paths.append(school / FOLDER / file_name(bundle_id))
        paths[-1].write_bytes(data)
    done = receiver.hoso("handover", "accept", "--fingerprint", "AAAA-BBBB-CCCC-DDDD")
    assert done.returncode == 2 and "Several handover bundles" in done.stderr
    assert all(str(p) in done.stderr for p in paths) and "Kẻ Lạ" in done.stderr
    assert "school-mailbox" not in receiver.vault_names()
    assert not (school / FOLDER / ledger.log_path(Path("/"), mine).name).exists()


def test_at_a_terminal_the_receiver_picks_one_of_several_bundles(
    tmp_path: Path, plugin_path: str, school: Path
) -> None:
    receiver = keeper(tmp_path, plugin_path, "receiver", school)
    mine = receiver.keygen()
    (school / FOLDER).mkdir()
    givers = [HandoverKeys.generate() for _n in range(2)]
    ids = []
    for giver_keys in givers:
        bundle_id, data = sealed_for(mine, giver_keys)
        (school / FOLDER / file_name(bundle_id)).write_bytes(data)
        ids.append(bundle_id)
    fingerprint = givers[1].public().fingerprint()
    args = ("handover", "accept", "--fingerprint", fingerprint)
    code, said = run_at_terminal(receiver, *args, typed="ban-giao-nothing", prompt=b"file name")
    assert code == 2 and "none of the bundles listed" in said
    assert "school-mailbox" not in receiver.vault_names()
    code, said = run_at_terminal(receiver, *args, typed=file_name(ids[1]), prompt=b"file name")
    assert code == 0, said
    assert all(file_name(i) in said for i in ids) and "fingerprint matches" in said
    assert receiver.vault_entry("school-mailbox")["fields"]["received_bundle"] == ids[1]  # type: ignore[index]
    # The one accepted no longer waits: the other is the one found now.
    done = receiver.hoso("handover", "accept", "--fingerprint", fingerprint)
    assert done.returncode == 4 and file_name(ids[0]) in done.stdout


# --- the log of earlier versions moves, never lost ------------------------------------------------


def chain(folder: Path, keys: HandoverKeys, count: int, start: int = 0) -> None:
    """``count`` signed entries of ``keys`` in its log file under ``folder``."""
    for n in range(start, start + count):
        ledger.append(folder, keys, ledger.PREPARED, time=f"2026-10-0{n + 1}T08:00:00+07:00",
                      bundle=f"{n:032x}", data={
                          "giver": {"name": "An", "position": "GV"},
                          "receiver": {"name": f"Người {n}", "position": "GV"},
                          "witness": None,
                          "receiver_fingerprint": HandoverKeys.generate().public().fingerprint(),
                      })  # fmt: skip


def trash_items(computer: Keeper) -> list[dict[str, object]]:
    items: list[dict[str, object]] = json.loads(computer.ok("trash", "list", "--json"))
    return items


@pytest.fixture
def old(tmp_path: Path, plugin_path: str, school: Path) -> tuple[Keeper, HandoverKeys, str]:
    """A computer whose log an earlier version kept in its records folder: three entries of
    a pinned keeper key, seen by this computer before it had a school folder."""
    computer = keeper(tmp_path, plugin_path, "lan", None)
    keys = HandoverKeys.generate()
    computer.pin("An", keys.public().fingerprint())
    chain(computer.root, keys, 3)
    assert history(computer)["verified"] is True  # remembered: three entries
    computer.school_folder = school
    computer.write_config()
    return computer, keys, ledger.log_path(Path("/"), keys.public()).name


def synced_to_share(state_dir: Path, school: Path, relpath: str) -> None:
    """What the school folder's sync records once the share took the file ``relpath`` of
    the school folder as it is now (agent/propagate.py, in the school lane's own journal)."""
    data = (school / relpath).read_bytes()
    st = (school / relpath).stat()
    entry = JournalEntry(
        relpath,
        Kind.FILE,
        local_size=st.st_size,
        local_mtime_ns=st.st_mtime_ns,
        local_inode=st.st_ino,
        sha256=hashlib.sha256(data).hexdigest(),
        remote_etag='"1"',
        remote_size=len(data),
    )
    with Journal.open(state_dir / "school" / "journal.sqlite3") as journal:
        journal.put(entry)


@pytest.mark.parametrize("there", ["absent", "identical", "shorter", "longer"])
def test_an_old_log_moves_to_the_school_folder(
    old: tuple[Keeper, HandoverKeys, str], school: Path, there: str
) -> None:
    computer, keys, name = old
    records_copy = computer.root / FOLDER / name
    original = records_copy.read_bytes()
    if there != "absent":
        (school / FOLDER).mkdir()
        lines = original.splitlines(keepends=True)
        kept = {"identical": lines, "shorter": lines[:2], "longer": lines}[there]
        (school / FOLDER / name).write_bytes(b"".join(kept))
        if there == "longer":  # the school's copy went on after the records' copy stopped
            chain(school, keys, 1, start=3)
    expected = (school / FOLDER / name).read_bytes() if there == "longer" else original

    # Copied, but not on the share yet: both copies stay, both read as the log.
    done = computer.hoso("handover", "history", "--json")
    assert json.loads(done.stdout)["verified"] is True and "moved" not in done.stderr
    assert (school / FOLDER / name).read_bytes() == expected
    assert records_copy.read_bytes() == original and trash_items(computer) == []
    config = configmod.load(computer.config_path)
    digest = hashlib.sha256(expected).hexdigest()
    assert not on_school_share(config, f"{FOLDER}/{name}", digest)

    synced_to_share(computer.state_dir, school, f"{FOLDER}/{name}")  # the school folder's sync put it on the share
    assert on_school_share(config, f"{FOLDER}/{name}", digest)
    assert not on_school_share(config, f"{FOLDER}/{name}", hashlib.sha256(b"other").hexdigest())
    done = computer.hoso("handover", "history", "--json")
    log = json.loads(done.stdout)
    assert done.returncode == 0 and log["verified"] is True, log["problems"]
    assert f"{name} moved from the records folder to the school folder" in done.stderr
    assert (school / FOLDER / name).read_bytes() == expected
    assert not records_copy.exists()
    assert len(log["entries"]) == (4 if there == "longer" else 3)
    # The records folder's copy is in hoso's trash, and comes back on request.
    [item] = trash_items(computer)
    assert item["path"] == f"{FOLDER}/{name}" and item["reason"] == "moved_to_school_folder"
    stored = list((computer.state_dir / "trash").rglob(name))
    assert [p.read_bytes() for p in stored] == [original]
    # This computer's memory follows the file: nothing reported as removed, now or later.
    seen = json.loads((computer.state_dir / SEEN_FILE).read_text())["files"]
    assert seen[name]["lines"] == len(log["entries"])
    assert history(computer)["verified"] is True


def test_copies_that_diverged_are_both_kept_and_reported(
    old: tuple[Keeper, HandoverKeys, str], school: Path
) -> None:
    computer, keys, name = old
    records_copy = computer.root / FOLDER / name
    original = records_copy.read_bytes()
    (school / FOLDER).mkdir()
    (school / FOLDER / name).write_bytes(original.splitlines(keepends=True)[0])
    chain(school, keys, 1, start=5)  # a second line that is not the records copy's
    school_copy = (school / FOLDER / name).read_bytes()

    for _run in range(2):  # the job and the commands run it again and again: still kept
        done = computer.hoso("handover", "history", "--json")
        log = json.loads(done.stdout)
        assert done.returncode == 1 and log["verified"] is False
        assert any("neither continues the other" in p and str(records_copy) in p
                   for p in log["problems"])  # fmt: skip
        assert records_copy.read_bytes() == original
        assert (school / FOLDER / name).read_bytes() == school_copy
    assert trash_items(computer) == []


def test_a_crash_between_copy_and_trash_is_resolved_by_the_next_run(
    old: tuple[Keeper, HandoverKeys, str], school: Path
) -> None:
    computer, _keys, name = old
    records_copy = computer.root / FOLDER / name
    original = records_copy.read_bytes()
    computer.hoso("handover", "history", "--json")  # the copy is made
    synced_to_share(computer.state_dir, school, f"{FOLDER}/{name}")
    # Something in the trash's place: the move into the trash fails.
    blocker = computer.state_dir / "trash"
    blocker.write_bytes(b"")
    done = computer.hoso("handover", "history", "--json")
    assert "could not be moved" in done.stderr and json.loads(done.stdout)["verified"] is True
    assert (school / FOLDER / name).read_bytes() == original == records_copy.read_bytes()

    blocker.unlink()
    computer.run_job()  # the plugin's job does it too
    assert not records_copy.exists()
    assert (school / FOLDER / name).read_bytes() == original
    [item] = trash_items(computer)
    assert item["path"] == f"{FOLDER}/{name}"
    assert history(computer)["verified"] is True


def test_a_records_folder_log_not_moved_yet_is_still_read(tmp_path: Path) -> None:
    """Before the move (say `hoso status`, which moves nothing): per file name the school
    folder's copy, unless the records folder's continues it; a file only in the records
    folder is read too."""
    school, records = tmp_path / "school", tmp_path / "records"
    only_records, longer_in_records, only_school = (HandoverKeys.generate() for _n in range(3))
    chain(records, only_records, 2)
    chain(records, longer_in_records, 3)
    chain(school, only_school, 1)
    name = ledger.log_path(Path("/"), longer_in_records.public()).name
    (school / FOLDER / name).write_bytes(b"".join((records / FOLDER / name).read_bytes()
                                                  .splitlines(keepends=True)[:1]))  # fmt: skip
    log = ledger.verify(school, earlier=records)
    assert log.verified and log.problems == []
    assert len(log.entries) == 2 + 3 + 1
    assert log.files[name][0] == 3
    # Without the records folder, only the school folder's entries.
    assert len(ledger.verify(school).entries) == 1 + 1


def test_a_handover_folder_that_is_a_link_is_never_followed(
    tmp_path: Path, plugin_path: str, school: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (school / FOLDER).symlink_to(elsewhere)
    giver = keeper(tmp_path, plugin_path, "giver", school, keeper=GIVER)
    giver.store_account()
    chain(giver.root, HandoverKeys.generate(), 1)  # an old log that would move there
    to = HandoverKeys.generate().public().text()
    for args in (("history", "--json"), ("prepare", "--to", to, "--receiver", RECEIVER)):
        done = giver.hoso("handover", *args)
        assert done.returncode == 2 and "is a link" in done.stderr
    assert list(elsewhere.iterdir()) == []
    assert len(list((giver.root / FOLDER).iterdir())) == 1  # the old log stays where it was
    assert giver.run_job() == [] and list(elsewhere.iterdir()) == []
