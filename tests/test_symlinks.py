"""Symlinks are not records: a link in the records folder (to a folder or a file, dangling or
not) is never followed, never written through and never makes its name look deleted, on a
real share. Stands ``~/.ssh`` for a folder of the tmp dir."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from agents import Agent, remote_delete, remote_put, remote_tree
from conftest import Share

from agent.daemon import Daemon
from agent.model import ActionKind
from agent.sync import Syncer

SHARE_TRASH = ".hoso-trash"
WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
OWN_KEY = b"school-nas ssh-ed25519 AAAA the teacher's known host\n"
ATTACKER_KEY = b"ssh-ed25519 AAAA the attacker's key\n"


@pytest.fixture
def agent(tmp_path: Path, share: Share) -> Agent:
    agent = Agent(tmp_path, share)
    agent.write("Tuần 1/Bài 1.docx", b"bai 1")
    assert agent.sync().uploaded == ["Tuần 1/Bài 1.docx"]
    return agent


@pytest.fixture
def ssh(tmp_path: Path) -> Path:
    folder = tmp_path / "dot-ssh"
    folder.mkdir()
    (folder / "known_hosts").write_bytes(OWN_KEY)  # no authorized_keys yet: a new file
    return folder


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def share_trash(share: Share) -> list[str]:
    trash = share.path / SHARE_TRASH
    return sorted(p.name for p in trash.rglob("*") if p.is_file()) if trash.exists() else []


def symlink_skips(report: object) -> list[str]:
    return sorted(s["path"] for s in report.skipped if s["reason"] == "symlink")  # type: ignore[attr-defined]


def test_a_link_to_ssh_is_never_written_through(agent: Agent, share: Share, ssh: Path) -> None:
    (agent.root / "link").symlink_to(ssh, target_is_directory=True)
    remote_put(share, "link/authorized_keys", ATTACKER_KEY)

    result = agent.run()

    assert contents(ssh) == {"known_hosts": OWN_KEY}
    assert remote_tree(share)["link/authorized_keys"] == ATTACKER_KEY  # still on the share
    assert share_trash(share) == []  # and not trashed there
    assert "link/known_hosts" not in remote_tree(share)  # nor anything read through the link
    assert symlink_skips(result.report) == ["link"]
    assert not result.report.changed_anything and not result.report.failed
    assert not result.retry_soon  # nothing a pass right away could change
    # A second pass does nothing, and says the same.
    again = agent.run()
    assert not again.report.changed_anything and not again.report.failed
    assert symlink_skips(again.report) == ["link"] and not again.retry_soon
    assert contents(ssh) == {"known_hosts": OWN_KEY}
    assert (agent.root / "link").is_symlink()


def test_the_command_line_reports_the_link(agent: Agent, share: Share, ssh: Path) -> None:
    (agent.root / "link").symlink_to(ssh, target_is_directory=True)
    remote_put(share, "link/authorized_keys", ATTACKER_KEY)

    done = agent.cli("sync", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {"path": "link", "reason": "symlink"} in report["skipped"]
    assert report["downloaded"] == [] and report["deleted_remote"] == []

    status = agent.cli("status", "--json")
    assert json.loads(status.stdout)["symlinks"] == ["link"]
    assert json.loads(status.stdout)["pending"] == []
    text = agent.cli("status")
    assert "a symbolic link: hoso never follows or syncs links" in text.stdout
    assert "  link\n" in text.stdout
    assert contents(ssh) == {"known_hosts": OWN_KEY}
    assert remote_tree(share)["link/authorized_keys"] == ATTACKER_KEY


def test_a_synced_folder_replaced_by_a_link_is_not_deleted_on_the_share(
    agent: Agent, share: Share, ssh: Path
) -> None:
    agent.write("link/authorized_keys", b"a record that happens to have this name\n")
    assert agent.sync().uploaded == ["link/authorized_keys"]
    agent.delete("link")
    (agent.root / "link").symlink_to(ssh, target_is_directory=True)

    report = agent.sync()

    assert not report.deleted_remote and not report.downloaded and not report.failed
    assert symlink_skips(report) == ["link"]
    assert (
        remote_tree(share)["link/authorized_keys"] == b"a record that happens to have this name\n"
    )
    assert share_trash(share) == []
    assert contents(ssh) == {"known_hosts": OWN_KEY}


@pytest.mark.parametrize("kind", ["file", "dangling"])
def test_links_to_files_and_dangling_links_are_left_alone(
    agent: Agent, share: Share, ssh: Path, tmp_path: Path, kind: str
) -> None:
    target = ssh / "known_hosts" if kind == "file" else tmp_path / "autostart"
    (agent.root / "Tuần 1" / "notes.txt").symlink_to(target)
    remote_put(share, "Tuần 1/notes.txt", ATTACKER_KEY)
    remote_put(share, "Tuần 1/notes.txt.d/evil.desktop", b"[Desktop Entry]")

    report = agent.sync()

    assert symlink_skips(report) == ["Tuần 1/notes.txt"]
    assert report.downloaded == ["Tuần 1/notes.txt.d/evil.desktop"]  # an ordinary new file
    assert not report.failed and not report.deleted_remote
    assert (agent.root / "Tuần 1" / "notes.txt").is_symlink()
    assert contents(ssh) == {"known_hosts": OWN_KEY}
    assert not (tmp_path / "autostart").exists()
    assert remote_tree(share)["Tuần 1/notes.txt"] == ATTACKER_KEY


def test_a_folder_swapped_for_a_link_mid_pass_is_not_written_through(
    agent: Agent, share: Share, ssh: Path, tmp_path: Path
) -> None:
    remote_put(share, "Tuần 1/authorized_keys", ATTACKER_KEY)
    with agent.syncer() as syncer:
        prepared = syncer.prepare()
        assert [a.path for a in prepared.plan.of_kind(ActionKind.DOWNLOAD)] == [
            "Tuần 1/authorized_keys"
        ]
        # Between the scan and the download, the folder becomes a link to ~/.ssh.
        os.rename(agent.root / "Tuần 1", tmp_path / "moved away")
        (agent.root / "Tuần 1").symlink_to(ssh, target_is_directory=True)
        report = syncer.execute(prepared).report

    assert contents(ssh) == {"known_hosts": OWN_KEY}
    assert [f["path"] for f in report.failed] == ["Tuần 1/authorized_keys"]
    assert "symbolic link" in report.failed[0]["error"]
    assert remote_tree(share)["Tuần 1/authorized_keys"] == ATTACKER_KEY
    assert contents(tmp_path / "moved away") == {"Bài 1.docx": b"bai 1"}


def test_a_deletion_swapped_onto_a_link_mid_pass_removes_nothing_behind_it(
    agent: Agent, share: Share, ssh: Path, tmp_path: Path
) -> None:
    agent.write("Tuần 2/known_hosts", b"a record\n")
    agent.sync()
    remote_delete(share, "Tuần 2/known_hosts")
    with agent.syncer() as syncer:
        prepared = syncer.prepare()
        assert [a.path for a in prepared.plan.deletions] == ["Tuần 2/known_hosts"]
        os.rename(agent.root / "Tuần 2", tmp_path / "moved away")
        (agent.root / "Tuần 2").symlink_to(ssh, target_is_directory=True)
        report = syncer.execute(prepared).report

    assert contents(ssh) == {"known_hosts": OWN_KEY}  # not moved into the trash
    assert not report.deleted_local
    assert [f["path"] for f in report.failed] == ["Tuần 2/known_hosts"]
    assert contents(tmp_path / "moved away") == {"known_hosts": b"a record\n"}


def test_a_folder_deleted_on_the_share_that_holds_a_link_is_kept(
    agent: Agent, share: Share, ssh: Path
) -> None:
    agent.write("Tuần 3/Bài 3.docx", b"bai 3")
    agent.sync()
    (agent.root / "Tuần 3" / "keys").symlink_to(ssh, target_is_directory=True)
    remote_delete(share, "Tuần 3")

    result = agent.run()

    # Removing the folder would take the link with it: one clear failure, no early retry.
    assert [f["path"] for f in result.report.failed] == ["Tuần 3"]
    assert "symbolic link" in result.report.failed[0]["error"]
    assert not result.retry_soon
    assert (agent.root / "Tuần 3" / "Bài 3.docx").read_bytes() == b"bai 3"
    assert (agent.root / "Tuần 3" / "keys").is_symlink()
    assert contents(ssh) == {"known_hosts": OWN_KEY}


@WSGIDAV_ONLY
def test_the_daemon_does_not_loop_on_a_link(agent: Agent, share: Share, ssh: Path) -> None:
    (agent.root / "link").symlink_to(ssh, target_is_directory=True)
    remote_put(share, "link/authorized_keys", ATTACKER_KEY)
    daemon = Daemon(agent.config, threading.Event())
    syncer = Syncer(agent.config)
    try:
        poll = agent.config.sync.poll_interval
        for local_changed in (True, False):
            ended = daemon._run_pass(syncer, local_changed=local_changed)
            assert daemon.schedule.delay_after(ended) >= poll
    finally:
        syncer.close()
    assert daemon.state.passes == 2 and daemon.state.last_error is None
    assert contents(ssh) == {"known_hosts": OWN_KEY}
    assert remote_tree(share)["link/authorized_keys"] == ATTACKER_KEY


def test_a_restore_into_a_folder_now_a_link_is_refused(
    agent: Agent, share: Share, ssh: Path, tmp_path: Path
) -> None:
    agent.write("Tuần 4/authorized_keys", b"a record\n")
    agent.write("Tuần 4/Bài 4.docx", b"bai 4")
    agent.sync()
    remote_delete(share, "Tuần 4/authorized_keys")
    assert agent.sync().deleted_local == ["Tuần 4/authorized_keys"]
    os.rename(agent.root / "Tuần 4", tmp_path / "moved away")
    (agent.root / "Tuần 4").symlink_to(ssh, target_is_directory=True)
    item = json.loads(agent.cli("trash", "list", "--json").stdout)[0]

    done = agent.cli("trash", "restore", str(item["id"]))

    assert done.returncode == 1 and "symbolic link" in done.stderr
    assert contents(ssh) == {"known_hosts": OWN_KEY}
    assert [i["id"] for i in json.loads(agent.cli("trash", "list", "--json").stdout)] == [
        item["id"]
    ]
    # Once the link is gone, the same item comes back where it was.
    (agent.root / "Tuần 4").unlink()
    done = agent.cli("trash", "restore", str(item["id"]))
    assert done.returncode == 0, done.stderr
    assert agent.read("Tuần 4/authorized_keys") == b"a record\n"
