"""agent.trash puts things into either trash: the local one and the share's (real WebDAV)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Share

from agent import api
from agent import config as configmod
from agent.config import Secret
from agent.errors import HosoError
from agent.journal import Journal
from agent.model import Kind, LocalEntry, RemoteEntry, Side, TrashReason
from agent.remote import Remote
from agent.safepath import SafeRoot, UnsafePath
from agent.trash import TRASH_SEPARATOR, LocalTrash, ShareTrash

STAMP = "2026-11-29T093000"


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "state" / "journal.sqlite3") as opened:
        yield opened


def share_trash(remote: Remote, journal: Journal, *, server_keeps_versions: bool) -> ShareTrash:
    return ShareTrash(
        remote=remote,
        journal=journal,
        folder=".hoso-trash",
        stamp=STAMP,
        host="GV-LAN",
        server_keeps_versions=server_keeps_versions,
    )


def test_local_trash_keeps_a_linked_copy_and_moves_in_what_is_deleted(
    tmp_path: Path, journal: Journal
) -> None:
    root = tmp_path / "records"
    (root / "Tuần 5" / "Toán").mkdir(parents=True)
    (root / "Tuần 5" / "Toán" / "Bài 3.docx").write_bytes(b"old version")
    (root / "Tuần 5" / "Toán" / "Bài 4.docx").write_bytes(b"deleted on the share")
    trash = LocalTrash(tmp_path / "state" / "trash", journal, STAMP)
    with SafeRoot(root).folder("Tuần 5/Toán") as folder:
        trash.keep_copy("Tuần 5/Toán/Bài 3.docx", folder, "Bài 3.docx", reason="replaced")
        entry = LocalEntry("Tuần 5/Toán/Bài 4.docx", Kind.FILE, 20, 0, 0, sha256="ab" * 32)
        trash.move_in("Tuần 5/Toán/Bài 4.docx", folder, "Bài 4.docx", entry, reason="deleted")
        with pytest.raises(UnsafePath):  # a slot never leaves the trash
            trash.keep_copy("../../escape", folder, "Bài 3.docx", reason="replaced")
    kept, moved = sorted(journal.trash_items(), key=lambda item: item.path)
    assert (kept.side, kept.kind, kept.size, kept.reason) == (Side.LOCAL, Kind.FILE, 11, "replaced")
    assert Path(kept.stored_as).read_bytes() == b"old version"
    # A hard link: the copy cost nothing, and the live file is still in place.
    assert os.path.samefile(kept.stored_as, root / "Tuần 5" / "Toán" / "Bài 3.docx")
    assert (moved.sha256, moved.reason) == ("ab" * 32, "deleted")
    assert Path(moved.stored_as).read_bytes() == b"deleted on the share"
    assert not (root / "Tuần 5" / "Toán" / "Bài 4.docx").exists()
    for item in (kept, moved):
        slot = Path(item.stored_as).relative_to(tmp_path / "state" / "trash")
        assert slot.parts[0].startswith(STAMP)
        assert slot.parts[1:] == tuple(item.path.split("/"))
    assert (tmp_path / "state" / "trash").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_share_trash_keeps_flat_names_in_one_folder_a_pass(
    share: Share, journal: Journal, tmp_path: Path
) -> None:
    remote = Remote(share.url, share.remote_dir, share.user, Secret(share.password))
    try:
        for name, data in (("Bài 3.docx", b"v1"), ("Bài 4.docx", b"gone")):
            share.server.request("MKCOL", f"{share.remote_dir}/Tuần 5/")
            share.server.request("MKCOL", f"{share.remote_dir}/Tuần 5/Toán/")
            assert share.server.request("PUT", f"{share.remote_dir}/Tuần 5/Toán/{name}", data)[
                0
            ] in (
                201,
                204,
            )
        listed = {e.path: e for e in remote.list_folder("Tuần 5/Toán")}
        trash = share_trash(remote, journal, server_keeps_versions=False)
        path = "Tuần 5/Toán/Bài 3.docx"
        for _ in range(2):  # the same file replaced twice in one pass
            trash.keep_copy(path, path, listed[path], reason=TrashReason.REPLACED_BY_LOCAL)
        gone = "Tuần 5/Toán/Bài 4.docx"
        trash.move_in(gone, gone, listed[gone], None, reason=TrashReason.DELETED_LOCALLY)
    finally:
        remote.close()
    (pass_folder,) = (share.path / ".hoso-trash").iterdir()
    assert pass_folder.name.startswith(f"{STAMP}-GV-LAN-")
    flat = TRASH_SEPARATOR.join(["Tuần 5", "Toán", "Bài 3.docx"])
    assert sorted(p.name for p in pass_folder.iterdir()) == sorted(
        [flat, f"2 {flat}", TRASH_SEPARATOR.join(["Tuần 5", "Toán", "Bài 4.docx"])]
    )
    assert (pass_folder / f"2 {flat}").read_bytes() == b"v1"
    assert (share.path / "Tuần 5" / "Toán" / "Bài 3.docx").read_bytes() == b"v1"  # a copy
    assert not (share.path / "Tuần 5" / "Toán" / "Bài 4.docx").exists()  # moved
    items = journal.trash_items()
    assert {(i.side, i.path) for i in items} == {(Side.REMOTE, path), (Side.REMOTE, gone)}
    assert len(items) == 3
    assert all(i.stored_as.startswith(f".hoso-trash/{pass_folder.name}/") for i in items)


def test_on_nextcloud_the_servers_own_trash_keeps_it(journal: Journal) -> None:
    # No request is made for a copy: Nextcloud keeps versions itself (a Remote to nowhere).
    remote = Remote("http://127.0.0.1:9", "records", "u", Secret("p"))
    trash = share_trash(remote, journal, server_keeps_versions=True)
    entry = RemoteEntry("a.docx", Kind.FILE, etag="e", size=3)
    trash.keep_copy("a.docx", "a.docx", entry, reason=TrashReason.REPLACED_BY_LOCAL)
    remote.close()
    assert journal.trash_items() == []


def test_a_file_moved_elsewhere_goes_to_the_trash_only_as_it_was_copied(tmp_path: Path) -> None:
    """agent.api.trash_moved_file: the destructive step after a plugin's checked copy."""
    root = tmp_path / "records"
    (root / "Bàn giao").mkdir(parents=True)
    cfg = configmod.from_dict(
        {"root": str(root), "state_dir": str(tmp_path / "state"),
         "remote": {"url": "http://127.0.0.1:9/"}},
        tmp_path / "agent.toml",
    )  # fmt: skip
    log = root / "Bàn giao" / "nhat-ky.jsonl"
    log.write_bytes(b"entry 1\n")
    copied = hashlib.sha256(b"entry 1\n").hexdigest()
    # Changed after the copy, a symlink, a file outside the records folder: left as they are.
    with pytest.raises(HosoError, match="changed after it was copied"):
        api.trash_moved_file(cfg, log, sha256=hashlib.sha256(b"other").hexdigest())
    (root / "link.jsonl").symlink_to(log)
    with pytest.raises(HosoError):
        api.trash_moved_file(cfg, root / "link.jsonl", sha256=copied)
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(b"entry 1\n")
    with pytest.raises(HosoError, match="not in the records folder"):
        api.trash_moved_file(cfg, outside, sha256=copied)
    assert log.read_bytes() == outside.read_bytes() == b"entry 1\n"
    assert (root / "link.jsonl").is_symlink()

    assert api.trash_moved_file(cfg, log, sha256=copied) == "Bàn giao/nhat-ky.jsonl"
    assert not log.exists()
    with Journal.open(tmp_path / "state" / "journal.sqlite3") as journal:
        [item] = journal.trash_items()
    assert (item.path, item.reason, item.sha256) == (
        "Bàn giao/nhat-ky.jsonl",
        TrashReason.MOVED_TO_SCHOOL_FOLDER,
        copied,
    )
    assert Path(item.stored_as).read_bytes() == b"entry 1\n"
    with pytest.raises(HosoError, match="is gone"):
        api.trash_moved_file(cfg, log, sha256=copied)
