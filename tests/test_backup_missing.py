"""Deleted repository files are damage, named (issue 11, item 11).

A real repository made with the command line; one file deleted the way a person or a
program would (a snapshot, the recovery key's slot, the config, the manifest with a
snapshot); then `hoso backup check` must exit 1 naming what is missing, every other
command must say the repository is damaged (never "no repository, run init"), and nothing
else in the repository may change.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from agents import Agent
from conftest import Share

from agent.errors import ExitCode

PASS = "mật khẩu sao lưu của cô Lan"
ENV = {"HOSO_BACKUP_PASSPHRASE": PASS}


def files_of(path: Path) -> dict[str, str]:
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.relative_to(path).parts[0] != "locks"
    }


def made(tmp_path: Path) -> tuple[Agent, Path, list[str]]:
    """An agent with a repository holding two snapshots (oldest first)."""
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)
    usb = tmp_path / "USB"
    assert agent.cli("backup", "init", "--repository", str(usb), env=ENV).returncode == 0
    snapshots = []
    for text in (b"bai 23", b"bai 23, sua lai"):
        agent.write("Tuần 12/Toán - Bài 23.docx", text)
        done = agent.cli("backup", "create", "--json", env=ENV)
        assert done.returncode == 0, done.stderr
        snapshots.append(json.loads(done.stdout)["snapshot"])
    assert agent.cli("backup", "check", env=ENV).returncode == 0
    return agent, usb, snapshots


def test_a_deleted_snapshot_is_named_by_check(tmp_path: Path) -> None:
    agent, usb, (first, _second) = made(tmp_path)
    (usb / "snapshots" / first).unlink()
    before = files_of(usb)
    checked = agent.cli("backup", "check", "--read-data", env=ENV)
    assert checked.returncode == ExitCode.PARTIAL
    assert f"snapshots/{first}: the snapshot file is missing" in checked.stdout
    assert "is sound" not in checked.stdout
    assert files_of(usb) == before


def test_a_deleted_recovery_key_slot_is_named_by_check(tmp_path: Path) -> None:
    agent, usb, _snapshots = made(tmp_path)
    slots = json.loads(agent.cli("backup", "key", "list", "--json", env=ENV).stdout)
    recovery = next(slot["id"] for slot in slots if slot["label"] == "recovery")
    (usb / "keys" / recovery).unlink()
    before = files_of(usb)
    checked = agent.cli("backup", "check", env=ENV)
    assert checked.returncode == ExitCode.PARTIAL
    assert f"keys/{recovery}: the recovery key's slot is missing" in checked.stdout
    assert "key add --recovery" in checked.stdout
    assert files_of(usb) == before


def test_a_deleted_manifest_and_snapshot_are_caught_by_what_this_computer_wrote(
    tmp_path: Path,
) -> None:
    agent, usb, (first, _second) = made(tmp_path)
    (usb / "snapshots" / first).unlink()
    (usb / "manifest").unlink()
    before = files_of(usb)
    checked = agent.cli("backup", "check", env=ENV)
    assert checked.returncode == ExitCode.PARTIAL
    assert "manifest: the file is missing" in checked.stdout
    assert f"snapshots/{first}: the snapshot file is missing" in checked.stdout
    assert "this computer made it" in checked.stdout
    assert files_of(usb) == before


def test_forgetting_is_not_damage(tmp_path: Path) -> None:
    agent, usb, (first, second) = made(tmp_path)
    forgot = agent.cli("backup", "forget", "--keep-last", "1", "--prune", env=ENV)
    assert forgot.returncode == 0, forgot.stderr
    assert sorted(p.name for p in (usb / "snapshots").iterdir()) == [second]
    checked = agent.cli("backup", "check", env=ENV)
    assert checked.returncode == 0, checked.stdout
    assert first not in checked.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("backup", "check"),
        ("backup", "list"),
        ("backup", "create"),
        ("backup", "restore", "latest", "--target", "{tmp}/back"),
        ("backup", "init", "--repository", "{usb}"),
    ],
    ids=lambda command: command[1],
)
def test_a_deleted_config_is_a_damaged_repository_for_every_command(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    agent, usb, _snapshots = made(tmp_path)
    (usb / "config").unlink()
    before = files_of(usb)
    args = [arg.format(tmp=tmp_path, usb=usb) for arg in command]
    done = agent.cli(*args, env=ENV)
    assert done.returncode == ExitCode.PARTIAL, done.stderr
    said = done.stdout + done.stderr
    assert "is damaged: its file `config` is missing" in said
    assert ".hoso-backup/config" in said and "do not run `hoso backup init`" in said
    assert "There is no backup repository" not in said
    assert files_of(usb) == before
    assert not (tmp_path / "back").exists()


def test_status_says_the_repository_is_damaged(tmp_path: Path) -> None:
    agent, usb, _snapshots = made(tmp_path)
    (usb / "config").unlink()
    status = agent.cli("status")
    assert "is damaged: its file `config` is missing" in status.stderr
    backup = json.loads(agent.cli("status", "--json").stdout)["backup"]
    assert "config" in backup["damaged"]


def test_what_cannot_be_copied_back_can_be_accepted_as_gone(tmp_path: Path) -> None:
    agent, usb, (second, first) = made(tmp_path)  # the newest is lost, with the manifest
    (usb / "snapshots" / first).unlink()
    (usb / "manifest").unlink()
    before = files_of(usb)
    accepted = agent.cli("backup", "check", "--accept-missing", env=ENV)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert f"snapshots/{first}: the snapshot file is missing" in accepted.stdout
    assert "is sound" in accepted.stdout
    after = files_of(usb)
    assert set(after) == set(before) | {"manifest"}  # only the manifest was written
    assert all(after[rel] == digest for rel, digest in before.items())
    assert agent.cli("backup", "check", env=ENV).returncode == 0
    listed = json.loads(agent.cli("backup", "list", "--json", env=ENV).stdout)
    assert [row["id"] for row in listed] == [second]
    # Numbers go on from the highest given (this computer remembers it): the lost
    # snapshot's number 2 is not reused.
    agent.write("Tuần 13/Toán - Bài 24.docx", b"bai 24")
    assert agent.cli("backup", "create", env=ENV).returncode == 0
    rows = json.loads(agent.cli("backup", "list", "--json", env=ENV).stdout)
    assert [row["seq"] for row in rows] == [1, 3]
