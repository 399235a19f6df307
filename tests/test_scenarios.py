"""End-to-end scenarios: a whole agent (config, journal, trash) syncing with a real share.

Every scenario runs against wsgidav, Apache mod_dav and rclone (the ``share`` fixture). Each
checks both trees after the pass and, wherever something is replaced or removed, that every
version that existed before the pass is still somewhere: live, as a conflict copy, or in a
trash. Share-side edits right after a sync always change the size, because wsgidav's ETag has
whole-second mtime resolution (SERVERS.md) and a same-size edit within that second would be
invisible to any client; a real edit almost always changes the size.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from agents import (
    SHARE_TRASH,
    Agent,
    assert_nothing_lost,
    conflict_copies,
    logged_methods,
    nfc,
    nfd,
    raw_names,
    remote_delete,
    remote_dirs,
    remote_mkdir,
    remote_move,
    remote_put,
    remote_tree,
    temp_files,
    trash_contents,
    versions,
)
from conftest import Share
from servers import wait_until

from agent import serverinfo
from agent.errors import ExitCode, SafetyStop
from agent.journal import Journal

BASE = b"base version\n"
LOCAL_EDIT = b"edited on the teacher's PC, longer\n"
REMOTE_EDIT = b"edited on the share by the manager, longer still\n"
# Unchanged companions keep a single deletion far below the mass-delete threshold.
COMPANIONS = {f"Tuần 1/Toán/Bài {n}.docx": f"bài {n}\n".encode() for n in range(1, 6)}


@pytest.fixture
def agent(tmp_path: Path, share: Share) -> Agent:
    return Agent(tmp_path, share)


def synced(agent: Agent, files: dict[str, bytes]) -> None:
    """Bring the agent and its share to a common state holding ``files``."""
    for rel, data in files.items():
        agent.write(rel, data)
    report = agent.sync()
    assert sorted(report.uploaded) == sorted(files)
    assert remote_tree(agent.share) == agent.tree() == files


def assert_in_sync(agent: Agent, expected: dict[str, bytes] | None = None) -> None:
    local, remote = agent.tree(), remote_tree(agent.share)
    assert local == remote
    if expected is not None:
        assert local == expected


def assert_quiet(agent: Agent) -> None:
    """A pass right after a complete one has nothing left to do."""
    report = agent.sync()
    assert not report.changed_anything, report
    assert not report.failed


# --- first syncs -----------------------------------------------------------------------------


def test_first_sync_uploads_a_populated_folder(agent: Agent, share: Share) -> None:
    files = {
        "Tuần 1/Toán/Bài 1 - Phép cộng.docx": b"KHBD toan 1",
        "Tuần 1/Tiếng Việt/Bài 2.docx": b"KHBD tieng viet 2",
        "Sổ chủ nhiệm.xlsx": b"so chu nhiem",
        "empty.txt": b"",
    }
    for rel, data in files.items():
        agent.write(rel, data)
    report = agent.sync()
    assert sorted(report.uploaded) == sorted(files)
    assert not report.downloaded and not report.deleted_local and not report.deleted_remote
    assert_in_sync(agent, files)
    assert {"Tuần 1", "Tuần 1/Toán", "Tuần 1/Tiếng Việt"} <= remote_dirs(share)
    assert_quiet(agent)


def test_first_sync_downloads_a_populated_share(agent: Agent, share: Share) -> None:
    files = {
        "Tuần 2/Đạo đức/Bài 6.docx": b"dao duc",
        "Kế hoạch năm học.docx": b"ke hoach",
        "Tuần 2/Nhận xét.txt": b"nhan xet cua to truong",
    }
    for rel, data in files.items():
        remote_put(share, rel, data)
    report = agent.sync()
    assert sorted(report.downloaded) == sorted(files)
    assert not report.uploaded and not report.deleted_local and not report.deleted_remote
    assert_in_sync(agent, files)
    assert_quiet(agent)


def test_first_pass_between_populated_sides_only_merges(agent: Agent, share: Share) -> None:
    local_files = {"only-here.txt": b"local only", "same.txt": b"same bytes", "diff.txt": b"mine"}
    remote_files = {"only-there.txt": b"remote only", "same.txt": b"same bytes", "diff.txt": b"theirs!"}
    for rel, data in local_files.items():
        agent.write(rel, data)
    for rel, data in remote_files.items():
        remote_put(share, rel, data)
    before = versions(share, agent)

    report = agent.sync()

    assert not report.deleted_local and not report.deleted_remote
    assert [c["path"] for c in report.conflicts] == ["diff.txt"]
    assert_in_sync(agent)
    tree = agent.tree()
    copies = conflict_copies(tree)
    assert copies == [report.conflicts[0]["copy"]]
    assert tree[copies[0]] == b"mine" and tree["diff.txt"] == b"theirs!"
    assert tree["same.txt"] == b"same bytes"
    assert tree["only-here.txt"] == b"local only" and tree["only-there.txt"] == b"remote only"
    assert_nothing_lost(before, share, agent)
    assert_quiet(agent)


# --- every reachable reconcile cell ------------------------------------------------------------

DOC = "Tuần 1/Kế hoạch bài dạy.docx"


def _local_op(agent: Agent, op: str) -> None:
    if op == "modified":
        agent.write(DOC, LOCAL_EDIT)
    elif op == "deleted":
        agent.delete(DOC)


def _remote_op(share: Share, op: str) -> None:
    if op == "modified":
        remote_put(share, DOC, REMOTE_EDIT)
    elif op == "deleted":
        remote_delete(share, DOC)


# (local, share) → what DOC must hold on both sides afterwards (None: gone), and whether the
# other side's version must survive as a conflict copy.
CELLS = {
    ("unchanged", "unchanged"): (BASE, None),
    ("modified", "unchanged"): (LOCAL_EDIT, None),
    ("deleted", "unchanged"): (None, None),
    ("unchanged", "modified"): (REMOTE_EDIT, None),
    ("modified", "modified"): (REMOTE_EDIT, LOCAL_EDIT),
    ("deleted", "modified"): (REMOTE_EDIT, None),  # an edit beats a delete
    ("unchanged", "deleted"): (None, None),
    ("modified", "deleted"): (LOCAL_EDIT, None),  # an edit beats a delete
    ("deleted", "deleted"): (None, None),
}


@pytest.mark.parametrize(("local_op", "remote_op"), list(CELLS), ids=[f"{a}-{b}" for a, b in CELLS])
def test_reconcile_cell(agent: Agent, share: Share, local_op: str, remote_op: str) -> None:
    synced(agent, {**COMPANIONS, DOC: BASE})
    _local_op(agent, local_op)
    _remote_op(share, remote_op)
    before = versions(share, agent)

    report = agent.sync()

    assert not report.failed
    expected_doc, copy_content = CELLS[(local_op, remote_op)]
    expected = dict(COMPANIONS)
    if expected_doc is not None:
        expected[DOC] = expected_doc
    tree = agent.tree()
    copies = conflict_copies(tree)
    if copy_content is None:
        assert copies == [] and report.conflicts == []
    else:
        assert len(copies) == 1 and tree[copies[0]] == copy_content
        expected[copies[0]] = copy_content
    assert_in_sync(agent, expected)
    if (local_op, remote_op) == ("deleted", "unchanged"):
        assert report.deleted_remote == [DOC]
    if (local_op, remote_op) == ("unchanged", "deleted"):
        assert report.deleted_local == [DOC]
    assert_nothing_lost(before, share, agent)
    assert_quiet(agent)


@pytest.mark.parametrize(
    ("local_data", "remote_data"),
    [
        (b"same new bytes", b"same new bytes"),
        (b"new here", b"new there, longer"),
        (b"new only here", None),
        (None, b"new only there"),
    ],
    ids=["new-new-same", "new-new-different", "new-local-only", "new-share-only"],
)
def test_new_paths(
    agent: Agent, share: Share, local_data: bytes | None, remote_data: bytes | None
) -> None:
    synced(agent, COMPANIONS)
    name = "Tuần 2/Mới.docx"
    if local_data is not None:
        agent.write(name, local_data)
    if remote_data is not None:
        remote_put(share, name, remote_data)
    before = versions(share, agent)

    report = agent.sync()

    assert not report.failed and not report.deleted_local and not report.deleted_remote
    tree = agent.tree()
    copies = conflict_copies(tree)
    if local_data is not None and remote_data is not None and local_data != remote_data:
        assert [c["path"] for c in report.conflicts] == [name]
        assert copies == [report.conflicts[0]["copy"]]
        assert {tree[name], tree[copies[0]]} == {local_data, remote_data}
    else:
        assert copies == [] and report.conflicts == []
        assert tree[name] == (local_data or remote_data)
    assert_in_sync(agent)
    assert_nothing_lost(before, share, agent)
    assert_quiet(agent)


# --- folders ---------------------------------------------------------------------------------


def test_new_empty_folders_both_ways(agent: Agent, share: Share) -> None:
    synced(agent, COMPANIONS)
    (agent.root / "Tuần 2" / "Toán").mkdir(parents=True)
    remote_mkdir(share, "Tuần 3/Tiếng Việt")
    agent.sync()
    assert {"Tuần 2", "Tuần 2/Toán"} <= remote_dirs(share)
    assert {"Tuần 3", "Tuần 3/Tiếng Việt"} <= agent.dirs()
    assert_in_sync(agent)


def test_folder_deleted_locally_is_trashed_on_the_share_in_one_request(
    agent: Agent, share: Share
) -> None:
    week = {f"Tuần 9/Bài {n}.docx": f"tuan 9 bai {n}".encode() for n in range(3)}
    synced(agent, {**COMPANIONS, **week})
    agent.delete("Tuần 9")
    since = share.server.request_count()

    report = agent.sync()

    assert report.deleted_remote == ["Tuần 9"]
    assert "Tuần 9" not in remote_dirs(share)
    assert_in_sync(agent, COMPANIONS)
    methods = logged_methods(share, since)
    assert methods.count("MOVE") + methods.count("DELETE") == 1, methods
    assert sorted(trash_contents(agent, share)) == sorted(week.values())


def test_folder_deleted_on_share_keeps_a_local_edit_inside(agent: Agent, share: Share) -> None:
    synced(agent, {**COMPANIONS, "Tuần 4/a.docx": b"a v1", "Tuần 4/b.docx": b"b v1"})
    agent.write("Tuần 4/a.docx", b"a v2, edited locally")
    remote_delete(share, "Tuần 4")
    before = versions(share, agent)

    for _ in range(2):
        agent.sync()

    assert remote_tree(share)["Tuần 4/a.docx"] == b"a v2, edited locally"
    assert agent.read("Tuần 4/a.docx") == b"a v2, edited locally"
    assert "Tuần 4/b.docx" not in agent.tree()  # deleted on the share, unchanged here
    assert_in_sync(agent)
    assert_nothing_lost(before, share, agent)


def test_file_that_became_a_folder(agent: Agent, share: Share) -> None:
    synced(agent, {**COMPANIONS, "Ghi chú": b"was a file"})
    agent.delete("Ghi chú")
    agent.write("Ghi chú/tuần 1.txt", b"now a folder")
    before = versions(share, agent)

    for _ in range(2):
        agent.sync()

    assert (share.path / "Ghi chú").is_dir()
    assert remote_tree(share)["Ghi chú/tuần 1.txt"] == b"now a folder"
    assert_in_sync(agent)
    assert_nothing_lost(before, share, agent)


# --- renames ---------------------------------------------------------------------------------


def test_local_file_rename_is_a_move(agent: Agent, share: Share) -> None:
    synced(agent, {**COMPANIONS, "Tuần 1/Nháp.docx": b"draft content " * 50})
    agent.rename("Tuần 1/Nháp.docx", "Tuần 1/Kế hoạch tuần 1.docx")
    since = share.server.request_count()

    report = agent.sync()

    assert report.moved == [("Tuần 1/Nháp.docx", "Tuần 1/Kế hoạch tuần 1.docx")]
    assert not report.uploaded and not report.deleted_remote
    methods = logged_methods(share, since)
    assert "MOVE" in methods and "PUT" not in methods, methods
    assert_in_sync(agent)
    assert remote_tree(share)["Tuần 1/Kế hoạch tuần 1.docx"] == b"draft content " * 50


def test_local_folder_rename_is_one_move(agent: Agent, share: Share) -> None:
    synced(agent, COMPANIONS)
    agent.rename("Tuần 1", "Tuần 01")
    since = share.server.request_count()

    report = agent.sync()

    assert report.moved == [("Tuần 1", "Tuần 01")]
    assert not report.uploaded and not report.deleted_remote
    methods = logged_methods(share, since)
    assert methods.count("MOVE") == 1 and "PUT" not in methods, methods
    assert_in_sync(agent, {p.replace("Tuần 1/", "Tuần 01/"): d for p, d in COMPANIONS.items()})


def test_local_rename_and_edit(agent: Agent, share: Share) -> None:
    synced(agent, {**COMPANIONS, "draft.txt": b"first words"})
    agent.rename("draft.txt", "final.txt")
    agent.write("final.txt", b"first words, then many more")
    before = versions(share, agent)

    for _ in range(2):
        report = agent.sync()
        assert not report.failed

    assert_in_sync(agent, {**COMPANIONS, "final.txt": b"first words, then many more"})
    assert_nothing_lost(before, share, agent)


def test_share_rename_arrives_locally(agent: Agent, share: Share) -> None:
    # Without server file ids (Nextcloud's oc:fileid) a share-side rename cannot be told from
    # a delete plus a create; it must still end with the file under its new name everywhere.
    synced(agent, {**COMPANIONS, "Tuần 1/Nháp.docx": b"draft content " * 50})
    remote_move(share, "Tuần 1/Nháp.docx", "Tuần 2/Bản chính.docx")
    before = versions(share, agent)

    report = agent.sync()

    assert not report.failed and not report.conflicts
    assert_in_sync(agent, {**COMPANIONS, "Tuần 2/Bản chính.docx": b"draft content " * 50})
    assert_nothing_lost(before, share, agent)
    assert_quiet(agent)


# --- two agents on one share -----------------------------------------------------------------


def test_two_agents_exchange_edits(tmp_path: Path, share: Share) -> None:
    a, b = Agent(tmp_path, share, name="may-a"), Agent(tmp_path, share, name="may-b")
    a.write("Tuần 1/Toán.docx", b"from A")
    a.sync()
    assert b.sync().downloaded == ["Tuần 1/Toán.docx"]
    b.write("Tuần 1/Toán.docx", b"from A, corrected by B")
    b.write("Tuần 1/Văn.docx", b"new from B")
    b.sync()
    report = a.sync()
    assert sorted(report.downloaded) == ["Tuần 1/Toán.docx", "Tuần 1/Văn.docx"]
    assert a.tree() == b.tree() == remote_tree(share)
    assert a.read("Tuần 1/Toán.docx") == b"from A, corrected by B"


def test_two_agents_simultaneous_edit_gives_one_conflict_copy(tmp_path: Path, share: Share) -> None:
    a, b = Agent(tmp_path, share, name="may-a"), Agent(tmp_path, share, name="may-b")
    a.write("Sổ điểm.xlsx", b"v1")
    a.sync()
    b.sync()
    a.write("Sổ điểm.xlsx", b"v2 by A")
    b.write("Sổ điểm.xlsx", b"v2 by B, longer")
    before = versions(share, a, b)

    a.sync()
    b.sync()
    a.sync()

    assert a.tree() == b.tree() == remote_tree(share)
    copies = conflict_copies(a.tree())
    assert len(copies) == 1
    assert {a.read("Sổ điểm.xlsx"), a.read(copies[0])} == {b"v2 by A", b"v2 by B, longer"}
    assert_nothing_lost(before, share, a, b)


# --- Unicode normalisation -------------------------------------------------------------------


def test_nfd_local_name_and_nfc_share_name_are_one_file(agent: Agent, share: Share) -> None:
    name = "Tuần 1/Bài đọc ưu tiên.docx"
    (agent.root / nfd("Tuần 1")).mkdir()
    (agent.root / nfd(name)).write_bytes(b"same content")
    remote_put(share, name, b"same content")

    report = agent.sync()

    assert not report.conflicts and not report.uploaded and not report.downloaded
    assert raw_names(share.path / "Tuần 1") == [nfc("Bài đọc ưu tiên.docx")]
    assert raw_names(agent.root / nfd("Tuần 1")) == [nfd("Bài đọc ưu tiên.docx")]
    # Later edits of the NFD-named file update the NFC-named one on the share.
    (agent.root / nfd(name)).write_bytes(b"same content, edited")
    assert agent.sync().uploaded == [name]
    assert raw_names(share.path / "Tuần 1") == [nfc("Bài đọc ưu tiên.docx")]
    assert remote_tree(share) == agent.tree() == {name: b"same content, edited"}
    assert_quiet(agent)


def test_local_normalisation_twins_are_reported_and_left_alone(agent: Agent, share: Share) -> None:
    synced(agent, COMPANIONS)
    (agent.root / nfc("Bài tập.docx")).write_bytes(b"NFC spelling")
    (agent.root / nfd("Bài tập.docx")).write_bytes(b"NFD spelling")

    for _ in range(2):
        report = agent.sync()
        assert {"path": nfc("Bài tập.docx"), "reason": "normalization_twin"} in [
            {"path": nfc(s["path"]), "reason": s["reason"]} for s in report.skipped
        ], report.skipped
        assert not report.uploaded and not report.deleted_local and not report.deleted_remote

    assert remote_tree(share) == COMPANIONS
    assert (agent.root / nfc("Bài tập.docx")).read_bytes() == b"NFC spelling"
    assert (agent.root / nfd("Bài tập.docx")).read_bytes() == b"NFD spelling"


def test_share_normalisation_twins_are_reported_and_left_alone(agent: Agent, share: Share) -> None:
    synced(agent, COMPANIONS)
    remote_put(share, nfc("Bài tập.docx"), b"NFC spelling")
    remote_put(share, nfd("Bài tập.docx"), b"NFD spelling")

    for _ in range(2):
        report = agent.sync()
        assert {"path": nfc("Bài tập.docx"), "reason": "normalization_twin"} in [
            {"path": nfc(s["path"]), "reason": s["reason"]} for s in report.skipped
        ], report.skipped
        assert not report.downloaded and not report.deleted_local and not report.deleted_remote

    assert agent.tree() == COMPANIONS
    assert sorted(raw_names(share.path)) == sorted(
        [*(n.rpartition("/")[2] for n in COMPANIONS), nfc("Bài tập.docx"), nfd("Bài tập.docx")]
    )


# --- office lock and temp files ----------------------------------------------------------------

LOCK_FILES = ["~$i 1.docx", ".~lock.Bài 1.docx#", "~WRL0001.tmp"]


def test_office_lock_and_temp_files_never_reach_the_share(agent: Agent, share: Share) -> None:
    agent.write("Bài 1.docx", b"lesson")
    for name in LOCK_FILES:
        agent.write(name, b"owner file")
        agent.write(f"Tuần 1/{name}", b"owner file")
    agent.sync()
    assert remote_tree(share) == {"Bài 1.docx": b"lesson"}


@pytest.mark.parametrize("lock_name", ["~$Bài 1.docx", ".~lock.Bài 1.docx#"])
def test_share_update_waits_while_the_document_is_open(
    agent: Agent, share: Share, lock_name: str
) -> None:
    synced(agent, {**COMPANIONS, "Bài 1.docx": b"lesson v1"})
    agent.write(lock_name, b"owner file")
    remote_put(share, "Bài 1.docx", b"lesson v2 from the manager")

    report = agent.sync()

    assert "Bài 1.docx" not in report.downloaded
    assert {"path": "Bài 1.docx", "reason": "open_in_editor"} in report.skipped
    assert agent.read("Bài 1.docx") == b"lesson v1"
    assert remote_tree(share)["Bài 1.docx"] == b"lesson v2 from the manager"

    agent.delete(lock_name)
    assert agent.sync().downloaded == ["Bài 1.docx"]
    assert agent.read("Bài 1.docx") == b"lesson v2 from the manager"
    assert_in_sync(agent)


# --- safety guards ---------------------------------------------------------------------------


def test_mass_delete_guard_stops_then_allows(agent: Agent, share: Share) -> None:
    synced(agent, COMPANIONS)
    for rel in COMPANIONS:
        agent.delete(rel)

    with pytest.raises(SafetyStop):
        agent.sync()
    assert remote_tree(share) == COMPANIONS

    stopped = agent.cli("sync")
    assert stopped.returncode == ExitCode.SAFETY_STOP, stopped.stderr
    assert "--allow-mass-delete" in stopped.stderr
    assert remote_tree(share) == COMPANIONS

    allowed = agent.cli("sync", "--allow-mass-delete", "--json")
    assert allowed.returncode == 0, allowed.stderr
    assert sorted(json.loads(allowed.stdout)["deleted_remote"]) == sorted(COMPANIONS)
    assert remote_tree(share) == {}
    assert sorted(trash_contents(agent, share)) == sorted(COMPANIONS.values())


@pytest.mark.parametrize("how", ["emptied", "missing"])
def test_replaced_records_folder_is_a_safety_stop(agent: Agent, share: Share, how: str) -> None:
    synced(agent, COMPANIONS)
    shutil.rmtree(agent.root)
    if how == "emptied":
        agent.write("Mới.docx", b"a fresh folder with one file")

    with pytest.raises(SafetyStop):
        agent.sync()
    result = agent.cli("sync")
    assert result.returncode == ExitCode.SAFETY_STOP, result.stderr

    assert remote_tree(share) == COMPANIONS
    assert not (share.path / SHARE_TRASH).exists()


# --- trash -----------------------------------------------------------------------------------


def _trash_list(agent: Agent) -> list[dict]:
    result = agent.cli("trash", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_file_deleted_on_share_comes_back_from_the_local_trash(agent: Agent, share: Share) -> None:
    synced(agent, {**COMPANIONS, "Tuần 1/Quan trọng.docx": b"do not lose me"})
    remote_delete(share, "Tuần 1/Quan trọng.docx")
    assert agent.sync().deleted_local == ["Tuần 1/Quan trọng.docx"]
    assert "Tuần 1/Quan trọng.docx" not in agent.tree()

    items = [i for i in _trash_list(agent) if i["path"] == "Tuần 1/Quan trọng.docx"]
    assert len(items) == 1 and items[0]["side"] == "local"
    restored = agent.cli("trash", "restore", str(items[0]["id"]))
    assert restored.returncode == 0, restored.stderr
    assert agent.read("Tuần 1/Quan trọng.docx") == b"do not lose me"

    assert agent.sync().uploaded == ["Tuần 1/Quan trọng.docx"]
    assert remote_tree(share)["Tuần 1/Quan trọng.docx"] == b"do not lose me"
    assert_in_sync(agent)


def test_file_deleted_locally_comes_back_from_the_share_trash(agent: Agent, share: Share) -> None:
    synced(agent, {**COMPANIONS, "Tuần 1/Quan trọng.docx": b"do not lose me"})
    agent.delete("Tuần 1/Quan trọng.docx")
    assert agent.sync().deleted_remote == ["Tuần 1/Quan trọng.docx"]
    assert "Tuần 1/Quan trọng.docx" not in remote_tree(share)

    items = [i for i in _trash_list(agent) if i["path"] == "Tuần 1/Quan trọng.docx"]
    assert len(items) == 1 and items[0]["side"] == "remote"
    restored = agent.cli("trash", "restore", str(items[0]["id"]))
    assert restored.returncode == 0, restored.stderr
    assert remote_tree(share)["Tuần 1/Quan trọng.docx"] == b"do not lose me"

    assert agent.sync().downloaded == ["Tuần 1/Quan trọng.docx"]
    assert agent.read("Tuần 1/Quan trọng.docx") == b"do not lose me"
    assert_in_sync(agent)


# --- a file rewritten while it is uploaded ---------------------------------------------------


def test_file_rewritten_during_its_upload(agent: Agent, share: Share) -> None:
    old = b"o" * (12 * 1024 * 1024)
    new = b"n" * (13 * 1024 * 1024)  # a real save changes the size
    agent.write("Video bài giảng.mp4", old)
    outcome: dict[str, object] = {}

    def first_pass() -> None:
        try:
            outcome["report"] = agent.sync()
        except Exception as exc:  # the assertion below shows it
            outcome["error"] = exc

    worker = threading.Thread(target=first_pass)
    worker.start()
    # Evidence that the upload started: bytes arriving in the share folder (a temp file, or
    # the real name on servers that write in place).
    wait_until(lambda: any(share.path.iterdir()), 30, "the upload to start")
    agent.write("Video bài giảng.mp4", new)
    worker.join(60)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome
    # Whatever the first pass managed, the share never shows a mix of the two versions.
    assert remote_tree(share).get("Video bài giảng.mp4") in (None, old, new)

    for _ in range(3):
        report = agent.sync()
        if not report.changed_anything:
            break
    assert remote_tree(share) == agent.tree() == {"Video bài giảng.mp4": new}
    assert temp_files(agent.root) == []
    assert conflict_copies(agent.tree()) == []


# --- the daemon's cheap poll -----------------------------------------------------------------


def test_poll_without_local_hint_stops_at_the_share_when_nothing_moved(
    agent: Agent, share: Share
) -> None:
    """The daemon polls with local_changed=False when its watcher saw nothing: an unchanged
    share ends the pass before the records folder is scanned; a changed one is synced."""
    synced(agent, COMPANIONS)
    with agent.syncer() as syncer:
        assert not syncer.run_pass().report.changed_anything  # a clean pass to start from
        # A local file the watcher was not told about proves that no scan happened.
        agent.write("Tuần 1/Toán/Chưa báo.docx", b"unannounced")
        quiet = syncer.run_pass(local_changed=False)
        assert quiet.outcome == "ok" and not quiet.report.changed_anything
        assert "Tuần 1/Toán/Chưa báo.docx" not in remote_tree(share)

        remote_put(share, "Tuần 1/Nhận xét.txt", b"comments from the manager")
        moved = syncer.run_pass(local_changed=False)
        assert moved.report.downloaded == ["Tuần 1/Nhận xét.txt"]
        # Once something moved, the pass is a full one and the local file goes too.
        assert moved.report.uploaded == ["Tuần 1/Toán/Chưa báo.docx"]
    assert_in_sync(agent)


# --- names a server never lists ------------------------------------------------------------------


def test_a_dot_file_is_never_lost_where_the_share_hides_dot_names(
    agent: Agent, share: Share
) -> None:
    """nginx leaves names starting with "." out of every listing: such a file is left alone on
    both sides there (with one warning per sync, one log line while it stays so), and synced
    like any other file where it is listed."""
    synced(agent, COMPANIONS)
    agent.write(".ghi chú riêng.txt", b"my own notes")

    first, second = (json.loads(agent.cli("sync", "--json").stdout) for _pass in range(2))

    assert agent.read(".ghi chú riêng.txt") == b"my own notes"
    assert not first["deleted_local"] and not second["deleted_local"]
    assert not first["failed"] and not second["failed"]
    assert not any(agent.local_trash().rglob("*")), "nothing may go to the local trash"
    status = agent.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    server = json.loads(status.stdout)["server"]
    if server["lists_dot_names"]:
        assert remote_tree(share)[".ghi chú riêng.txt"] == b"my own notes"
        assert not second["uploaded"] and not second["downloaded"]
    else:
        assert ".ghi chú riêng.txt" not in remote_tree(share)  # left alone there too
        assert len([w for w in second["warnings"] if ".ghi chú riêng.txt" in w]) == 1
        log = (agent.state_dir / "logs" / "hoso.log").read_text()
        assert log.count(".ghi chú riêng.txt") == 1  # not once per pass
        assert json.loads(status.stdout)["unlisted"] == [".ghi chú riêng.txt"]
        assert ".ghi chú riêng.txt" not in json.loads(status.stdout)["pending"]
        text = agent.cli("status").stdout
        assert "lists dot-names no" in text and "  .ghi chú riêng.txt\n" in text
        assert "the share never lists names starting with “.”" in text
    assert {p: d for p, d in remote_tree(share).items() if p in COMPANIONS} == COMPANIONS


def test_a_remembered_probe_that_a_listing_contradicts_is_probed_again(
    agent: Agent, share: Share
) -> None:
    """The behaviour is probed once and remembered; a listing showing what the memory says the
    server never does (an ETag, a dot-name) makes the next pass probe again."""
    synced(agent, COMPANIONS)
    observed = json.loads(agent.cli("status", "--json").stdout)["server"]
    assert observed["url"].endswith(f"/{share.remote_dir}/")
    wrong = {**observed, "etags_in_listings": False, "lists_dot_names": False}
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        journal.meta_set(serverinfo.BEHAVIOUR_META, json.dumps(wrong))

    agent.sync()  # sees the contradiction (where the server does list ETags) and forgets
    agent.sync()  # probes again

    now = json.loads(agent.cli("status", "--json").stdout)["server"]
    assert {**now, "probed_at": None} == {**observed, "probed_at": None}
    assert remote_tree(share) == COMPANIONS  # the probe's folder is gone
