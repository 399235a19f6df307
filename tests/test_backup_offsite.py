"""The backup copy on the share is verified by content (issue 11, item 9).

Real WebDAV servers. Ransomware, or a broken sync of the share, leaves files of the same name
and size holding other bytes: `hoso backup check --remote` reads the share's copy back, names
every file that does not hash to its name (or to what was sent, for the config, key slots
and manifest), exits 1, and sends it again from the local repository; the next check passes.
A file the local repository lost is never removed from the share, whose copy can repair it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from agents import Agent, remote_put, to_toml
from conftest import Share
from servers import Answer
from test_faults import FaultProxy, proxy  # noqa: F401 - `proxy` is a fixture

from agent import config as configmod
from agent.backup.offsite import SENT_FILE
from agent.errors import ExitCode

PASS = "mật khẩu sao lưu của cô Lan"
ENV = {"HOSO_BACKUP_PASSPHRASE": PASS}
COPY = ".hoso-backup"


def agent_with_copy(tmp_path: Path, share: Share) -> tuple[Agent, Path]:
    agent = Agent(tmp_path, share)
    usb = tmp_path / "USB"
    agent.raw["backup"] = {"repository": str(usb), "remote_copy": True}
    configmod.write_private(agent.config_path, to_toml(agent.raw))
    agent.write("Tuần 12/Toán - Bài 23.docx", os.urandom(300_000))
    agent.write("Sổ chủ nhiệm/Lớp 4A.xlsx", b"so chu nhiem " * 1000)
    assert agent.cli("backup", "init", env=ENV).returncode == 0
    done = agent.cli("backup", "create", env=ENV)
    assert done.returncode == 0, done.stderr
    return agent, usb


def repository_files(path: Path) -> dict[str, bytes]:
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in path.rglob("*")
        if p.is_file() and p.relative_to(path).parts[0] != "locks"
    }


def test_the_share_holds_exactly_the_repository_and_its_hashes_are_remembered(
    tmp_path: Path, share: Share
) -> None:
    agent, usb = agent_with_copy(tmp_path, share)
    local = repository_files(usb)
    assert repository_files(share.path / COPY) == local
    sent = json.loads((agent.state_dir / SENT_FILE).read_text())
    (recorded,) = sent.values()
    assert recorded == {rel: hashlib.sha256(data).hexdigest() for rel, data in local.items()}
    checked = agent.cli("backup", "check", "--remote", env=ENV)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"sound ({len(local)} files read back)" in checked.stdout


def test_same_size_garbage_on_the_share_is_named_and_sent_again(
    tmp_path: Path, share: Share
) -> None:
    agent, usb = agent_with_copy(tmp_path, share)
    pack = next(p for p in repository_files(usb) if p.startswith("data/"))
    slot = next(p for p in repository_files(usb) if p.startswith("keys/"))
    for rel in (pack, slot):
        size = (usb / rel).stat().st_size
        remote_put(share, f"{COPY}/{rel}", os.urandom(size))
    # Same names, same sizes: a mirror that went by name and size would see nothing.
    assert agent.cli("backup", "create", env=ENV).returncode == 0
    assert (share.path / COPY / pack).read_bytes() != (usb / pack).read_bytes()

    checked = agent.cli("backup", "check", "--remote", env=ENV)
    assert checked.returncode == ExitCode.PARTIAL, checked.stdout + checked.stderr
    for rel in (pack, slot):
        assert f"on the share: {rel}: the copy on the share is not what was sent" in checked.stdout
        assert f"sent again from this computer: {rel}" in checked.stdout
    assert repository_files(share.path / COPY) == repository_files(usb)

    again = agent.cli("backup", "check", "--remote", env=ENV)
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_file_lost_here_stays_on_the_share_and_repairs_the_repository(
    tmp_path: Path, share: Share
) -> None:
    agent, usb = agent_with_copy(tmp_path, share)
    config = (usb / "config").read_bytes()
    first = next((usb / "snapshots").iterdir()).name
    (usb / "snapshots" / first).unlink()
    # The next backup mirrors: the share keeps the snapshot the manifest still lists.
    agent.write("Tuần 13/Toán - Bài 24.docx", b"bai 24")
    assert agent.cli("backup", "create", env=ENV).returncode == 0
    assert (share.path / COPY / "snapshots" / first).is_file()
    assert agent.cli("backup", "check", env=ENV).returncode == ExitCode.PARTIAL
    # The way back the damage message names: copy the file from the share's copy.
    shutil.copy2(share.path / COPY / "snapshots" / first, usb / "snapshots" / first)
    (usb / "config").unlink()
    assert "config" in agent.cli("backup", "list", env=ENV).stderr
    shutil.copy2(share.path / COPY / "config", usb / "config")
    assert (usb / "config").read_bytes() == config
    checked = agent.cli("backup", "check", "--read-data", env=ENV)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_a_copy_the_share_sends_longer_than_it_lists_is_damage_not_a_crash(
    tmp_path: Path,
    share: Share,
    proxy: FaultProxy,  # noqa: F811
) -> None:
    """A hostile share answers the read-back of one pack with more bytes than it lists: the
    download stops at the listed size, and that copy is named and sent again."""
    agent, usb = agent_with_copy(tmp_path, dataclasses.replace(share, url=proxy.url))
    pack = next(p for p in repository_files(usb) if p.startswith("data/"))
    size = (usb / pack).stat().st_size
    proxy.script("GET", rf"/{COPY}/{pack}$", Answer(200, {"ETag": '"x"'}, os.urandom(size + 10)))

    checked = agent.cli("backup", "check", "--remote", env=ENV)

    assert checked.returncode == ExitCode.PARTIAL, checked.stdout + checked.stderr
    assert f"on the share: {pack}: the copy on the share is not what was sent" in checked.stdout
    assert f"sent again from this computer: {pack}" in checked.stdout
    assert repository_files(share.path / COPY) == repository_files(usb)
