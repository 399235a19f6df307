"""Restored files know they are restored (issue 17, 1): the restore marker ``.hoso-restored``.

`hoso backup restore` leaves the marker at the target's root; the first sync lets the share's
different version of a file still as restored take its name (the backup's goes to the local
trash) instead of making a conflict copy. A file edited after the restore is kept as a conflict
copy as before. The marker is hoso's own: never synced either way, never backed up, never
read from the share, dropped entry by entry once the journal knows a path.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from agents import Agent, conflict_copies, remote_put, remote_tree
from conftest import Share

from agent import config, restored
from agent.backup import service
from agent.config import Secret
from agent.journal import Journal
from agent.model import RestoredFile

PASSPHRASE = "mật khẩu sao lưu"
ENV = {"HOSO_BACKUP_PASSPHRASE": PASSPHRASE}
WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)

COMMENTED = "Tuần 13/Toán - Bài 25.docx"  # the manager commented on the share after the backup
EDITED = "Tuần 13/Tiếng Việt - Bài 50.docx"  # changed on the share, and here after restoring
SAME = "Tuần 12/Toán - Bài 23.docx"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _backed_up(tmp_path: Path, share: Share) -> Path:
    """The old PC synced three files and backed them up; returns the drive."""
    old = Agent(tmp_path / "old", share, name="gv-lan")
    old.write(COMMENTED, b"bai 25")
    old.write(EDITED, b"bai 50")
    old.write(SAME, b"bai 23")
    assert not old.sync().failed
    drive = tmp_path / "USB" / "hoso-backup"
    assert old.cli("backup", "init", "--repository", str(drive), env=ENV).returncode == 0
    assert old.cli("backup", "create", env=ENV).returncode == 0
    return drive


def _restore(agent: Agent, drive: Path, *paths: str) -> None:
    done = agent.cli(
        "backup", "restore", "latest", *paths, "--repository", str(drive),
        "--target", str(agent.root), env=ENV,
    )
    assert done.returncode == 0, done.stderr


def _trash(agent: Agent) -> list[tuple[str, str]]:
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        return sorted((item.path, item.reason) for item in journal.trash_items())


@WSGIDAV_ONLY
def test_a_file_edited_after_the_restore_still_gets_a_conflict_copy(
    tmp_path: Path, share: Share
) -> None:
    drive = _backed_up(tmp_path, share)
    remote_put(share, COMMENTED, b"bai 25 + y kien to truong")
    remote_put(share, EDITED, b"bai 50, sua tren o chung")
    new = Agent(tmp_path / "new", share, name="gv-lan-moi")
    _restore(new, drive)
    new.write(EDITED, b"bai 50, sua sau khi khoi phuc")  # the teacher's work: never given way
    report = new.sync()
    assert not report.failed and report.uploaded and not report.deleted_local
    local, shared = new.tree(), remote_tree(share)
    [copy] = conflict_copies(local)
    assert copy.startswith(EDITED.removesuffix(".docx"))
    assert local[copy] == shared[copy] == b"bai 50, sua sau khi khoi phuc"
    assert local[EDITED] == b"bai 50, sua tren o chung"
    assert local[COMMENTED] == shared[COMMENTED] == b"bai 25 + y kien to truong"
    assert report.conflicts == [{"path": EDITED, "copy": copy}]
    # The share's version of the commented file took its name; the backup's is in the trash,
    # as is the edited file's older local version only through its conflict copy (not trashed).
    assert _trash(new) == [(COMMENTED, "older_from_backup")]
    assert shared == local
    assert not (new.root / restored.RESTORED_NAME).exists()  # all synced: the hint is gone


@WSGIDAV_ONLY
def test_restore_writes_a_private_marker_merged_and_never_backed_up(
    tmp_path: Path, share: Share
) -> None:
    drive = _backed_up(tmp_path, share)
    new = Agent(tmp_path / "new", share, name="gv-lan-moi")
    _restore(new, drive, "Tuần 12")
    marker = new.root / restored.RESTORED_NAME
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    body = json.loads(marker.read_text(encoding="utf-8"))
    # Synced when backed up (on_share); chosen by name: wanted back, never "deleted since".
    assert body["files"] == {SAME: {"sha256": sha(b"bai 23"), "on_share": True, "wanted": True}}
    assert len(body["snapshot"]) == 64
    _restore(new, drive, COMMENTED)  # a second restore adds to it
    assert restored.read(new.root) == {
        SAME: RestoredFile(sha(b"bai 23"), on_share=True, wanted=True),
        COMMENTED: RestoredFile(sha(b"bai 25"), on_share=True, wanted=True),
    }
    # Not a record: no backup keeps it, and it is no change waiting to be synced.
    assert new.cli("backup", "connect", str(drive), env=ENV).returncode == 0
    made = new.cli("backup", "create", env=ENV)
    listed = new.cli("backup", "ls", "latest", env=ENV)
    assert made.returncode == 0 and listed.returncode == 0, made.stderr + listed.stderr
    assert restored.RESTORED_NAME not in listed.stdout and SAME in listed.stdout
    report = new.sync(dry_run=True)
    assert restored.RESTORED_NAME not in json.dumps(report.to_json(), ensure_ascii=False)
    checked = new.cli("check", "--json")  # and it is no record to validate
    assert checked.returncode in (0, 1) and restored.RESTORED_NAME not in checked.stdout
    assert json.loads(checked.stdout)["findings"] is not None


@WSGIDAV_ONLY
def test_a_restore_marker_on_the_share_is_never_downloaded_nor_trusted(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, name="gv-lan")
    agent.write(COMMENTED, b"ban cua co Lan")
    remote_put(share, COMMENTED, b"ban tren o chung")
    # A marker someone put on the share, naming the local file's bytes and paths outside.
    hostile = {"files": {
        COMMENTED: {"sha256": sha(b"ban cua co Lan"), "on_share": True},
        "../../.bashrc": {"sha256": sha(b"x"), "on_share": True},
    }}
    planted = json.dumps(hostile).encode()
    remote_put(share, restored.RESTORED_NAME, planted)
    remote_put(share, f"Tuần 13/{restored.RESTORED_NAME}", planted)
    report = agent.sync()
    assert not report.failed
    assert not list(agent.root.rglob(restored.RESTORED_NAME))  # never came down
    local = agent.tree()
    [copy] = conflict_copies(local)  # not trusted: the local file is kept as a conflict copy
    assert local[copy] == b"ban cua co Lan" and local[COMMENTED] == b"ban tren o chung"
    assert _trash(agent) == []
    assert remote_tree(share)[restored.RESTORED_NAME] == planted  # left alone there too


@WSGIDAV_ONLY
def test_a_local_marker_is_never_uploaded_and_is_pruned_once_synced(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, name="gv-lan", sync_overrides={"settle_seconds": 3600.0})
    agent.write(SAME, b"bai 23")
    old = 1_700_000_000
    os.utime(agent.root / SAME, (old, old))  # settled long ago; COMMENTED is still being written
    agent.write(COMMENTED, b"bai 25")
    gone = "Tuần 11/Đã xoá.docx"
    hints = {p: RestoredFile(sha(d)) for p, d in ((SAME, b"bai 23"), (COMMENTED, b"bai 25"),
                                                 (gone, b"x"))}
    restored.add(agent.root, hints, snapshot="s", time="t")
    report = agent.sync()
    assert report.uploaded == [SAME] and [s["path"] for s in report.skipped] == [COMMENTED]
    assert restored.RESTORED_NAME not in remote_tree(share)
    assert restored.read(agent.root) == {COMMENTED: hints[COMMENTED]}  # only what is not synced
    os.utime(agent.root / COMMENTED, (old, old))
    assert agent.sync().uploaded == [COMMENTED]
    assert not (agent.root / restored.RESTORED_NAME).exists()
    assert restored.RESTORED_NAME not in remote_tree(share)


def test_a_damaged_marker_or_unsafe_entries_are_ignored(tmp_path: Path) -> None:
    marker = tmp_path / restored.RESTORED_NAME
    good = {"sha256": sha(b"x"), "on_share": True}
    marker.write_text(json.dumps({"files": {
        "a/b.docx": good, "../x": good, "/etc/passwd": good, "a//b": good,
        "c.docx": {"sha256": "abc"}, "f.docx": sha(b"x"), "g.docx": {"sha256": sha(b"x"), "on_share": 1},
        "Tuần 1/d.docx": good, "Tua\u0300n 1/e.docx": good,
    }}), encoding="utf-8")
    assert restored.read(tmp_path) == {
        "a/b.docx": RestoredFile(sha(b"x"), on_share=True),
        "g.docx": RestoredFile(sha(b"x"), on_share=None),  # only a real boolean says anything
        "Tuần 1/d.docx": RestoredFile(sha(b"x"), on_share=True),
    }
    for damaged in (b"{", b"[]", b'{"files": 3}', b"\xff\xfe"):
        marker.write_bytes(damaged)
        assert restored.read(tmp_path) == {}
    marker.unlink()
    marker.symlink_to(tmp_path / "elsewhere.json")  # a planted link is not followed
    (tmp_path / "elsewhere.json").write_text(json.dumps({"files": {"a": good}}))
    assert restored.read(tmp_path) == {}


@WSGIDAV_ONLY
def test_a_snapshot_that_did_not_see_the_file_on_the_share_sends_it_back(
    tmp_path: Path, share: Share
) -> None:
    """A backup made before the file was synced (or by an older hoso) does not say the share
    had it: missing from the share, it is sent back, as any new file, never trashed."""
    old = Agent(tmp_path / "old", share, name="gv-lan")
    old.write(SAME, b"bai 23")
    drive = tmp_path / "USB" / "hoso-backup"
    assert old.cli("backup", "init", "--repository", str(drive), env=ENV).returncode == 0
    assert old.cli("backup", "create", env=ENV).returncode == 0  # before any sync
    assert old.sync().uploaded == [SAME]
    share_file = share.path / SAME
    share_file.unlink()  # deleted on the share later
    new = Agent(tmp_path / "new", share, name="gv-lan-moi")
    _restore(new, drive)
    assert restored.read(new.root) == {SAME: RestoredFile(sha(b"bai 23"), on_share=None)}
    report = new.sync()
    assert report.uploaded == [SAME] and not report.deleted_local
    assert remote_tree(share)[SAME] == b"bai 23" and _trash(new) == []


@WSGIDAV_ONLY
@pytest.mark.parametrize("how", ["by name", "whole, into the synced folder"])
def test_a_file_asked_back_into_the_synced_folder_goes_back_to_the_share(
    tmp_path: Path, share: Share, how: str
) -> None:
    agent = Agent(tmp_path, share, name="gv-lan")
    agent.write(SAME, b"bai 23")
    agent.write(COMMENTED, b"bai 25")
    assert not agent.sync().failed
    drive = tmp_path / "USB" / "hoso-backup"
    assert agent.cli("backup", "init", "--repository", str(drive), env=ENV).returncode == 0
    assert agent.cli("backup", "create", env=ENV).returncode == 0
    agent.delete(COMMENTED)
    assert agent.sync().deleted_remote == [COMMENTED]  # deleted, on both sides
    _restore(agent, drive, *([COMMENTED] if how == "by name" else []))
    assert restored.read(agent.root)[COMMENTED].wanted  # asked back: no "deleted since"
    report = agent.sync()
    assert report.uploaded == [COMMENTED] and not report.deleted_local
    assert remote_tree(share)[COMMENTED] == agent.read(COMMENTED) == b"bai 25"


@WSGIDAV_ONLY
def test_a_share_lacking_the_restored_files_stops_the_pass_and_trashes_nothing(
    tmp_path: Path, share: Share
) -> None:
    """A wrong share folder, or an emptied share, is no instruction to empty the restored
    folder: the mass-delete guard counts what the backup saw on the share."""
    drive = _backed_up(tmp_path, share)
    for path in (SAME, COMMENTED, EDITED):
        (share.path / path).unlink()
    new = Agent(tmp_path / "new", share, name="gv-lan-moi")
    _restore(new, drive)
    stopped = new.cli("sync")
    assert stopped.returncode == 4, stopped.stderr
    assert "The share lacks 3 of the 3 restored files the backup saw on it" in stopped.stderr
    assert "Check the share address" in stopped.stderr and "synced files" not in stopped.stderr
    assert set(new.tree()) == {SAME, COMMENTED, EDITED} and _trash(new) == []
    assert remote_tree(share) == {}


@WSGIDAV_ONLY
@pytest.mark.parametrize(
    ("snapshot_by", "on_share_copy"),
    [("this hoso", b"bai 50 + y kien to truong"), ("an older hoso", b"bai 50")],
)
def test_an_edit_the_dead_pc_never_sent_is_kept_as_a_conflict_copy(
    tmp_path: Path, share: Share, snapshot_by: str, on_share_copy: bytes
) -> None:
    """The backup holds an edit the share never got (the PC was offline, then died): the
    snapshot says so (on_share false), so it is no older copy: both versions are kept. A
    snapshot of an older hoso does not say (on_share unknown): the share's copy may be the
    older one, so both are kept too, never the restored edit replaced and left to the trash."""
    old = Agent(tmp_path / "old", share, name="gv-lan")
    old.write(EDITED, b"bai 50")
    assert not old.sync().failed
    old.write(EDITED, b"bai 50, sua luc mat mang")  # never synced
    drive = tmp_path / "USB" / "hoso-backup"
    assert old.cli("backup", "init", "--repository", str(drive), env=ENV).returncode == 0
    if snapshot_by == "this hoso":
        assert old.cli("backup", "create", env=ENV).returncode == 0
        remote_put(share, EDITED, on_share_copy)
    else:  # a snapshot as hoso made before the marker: no on_share in it
        cfg = config.load(old.config_path)
        service.snapshot_folder(cfg, service.open_repository(cfg, Secret(PASSPHRASE)), cfg.root)
    new = Agent(tmp_path / "new", share, name="gv-lan-moi")
    _restore(new, drive)
    said = restored.read(new.root)[EDITED].on_share
    assert said is (False if snapshot_by == "this hoso" else None)
    report = new.sync()
    local = new.tree()
    [copy] = conflict_copies(local)
    assert local[copy] == b"bai 50, sua luc mat mang" and local[EDITED] == on_share_copy
    assert report.conflicts == [{"path": EDITED, "copy": copy}] and _trash(new) == []
    assert remote_tree(share) == local
