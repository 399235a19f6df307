"""Hostile review of the pages that change the teacher's files (conflicts, restore): names
spelled in NFD by a Mac, very long names, and what the share gets afterwards."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from agents import Agent, nfd, raw_names, remote_delete, remote_tree
from conftest import Share
from servers import wait_until
from test_control import _passed_since
from test_web_restore import PASSPHRASE, _repository
from webui import Client, served

from agent import conflicts, control, trash
from agent.backup import putback, service
from agent.backup.repository import Repository
from agent.errors import HosoError, LocalError
from agent.i18n import language
from agent.journal import Journal
from agent.web.pages import restore_backups as backups

MAC_PLAN = "Tuần 5/Bài 3.docx"  # written by a Mac: both names in NFD on disk


def test_a_record_spelled_in_nfd_comes_back_in_its_place_not_beside_it(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    agent.write(nfd(MAC_PLAN), b"as in the backup")
    agent.sync()
    repo = _repository(agent, tmp_path)
    service.backup(agent.config, repo)
    agent.write(nfd(MAC_PLAN), b"changed since")
    agent.sync()
    repo = Repository.open(agent.config.backup.repository_path(), PASSPHRASE)
    [snapshot] = [snapshot_id for snapshot_id, _s in repo.snapshots()]
    # The page sees the Mac's file as there now, changed since the backup.
    [moment] = backups.moments(repo)
    _rel, entry = backups.entry_at(agent.config, repo, moment, MAC_PLAN)
    assert backups.now_on_disk(agent.config, MAC_PLAN, entry)["exists"]
    _rel, folder = backups.entry_at(agent.config, repo, moment, "Tuần 5")
    assert [r["here"] for r in backups.listing(agent.config, repo, "Tuần 5", folder)] == [True]
    with language("vi"), Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        staged = putback.stage(agent.config, repo, snapshot, MAC_PLAN, now=0)
        done = putback.put_back(
            agent.config, journal, staged.token, MAC_PLAN, how="in_place", label="2026-12-01"
        )
        [kept] = [i for i in journal.trash_items() if i.reason == "replaced_by_backup"]
    assert done.replaced == MAC_PLAN
    assert Path(kept.stored_as).read_bytes() == b"changed since"
    # One folder, one file: no NFC twin made beside the Mac's spelling.
    assert raw_names(agent.root) == [".hoso-root", nfd("Bài 3.docx")]
    assert [n for n in os.listdir(agent.root) if n.startswith("T")] == [nfd("Tuần 5")]
    assert agent.tree() == {MAC_PLAN: b"as in the backup"}


def test_a_trash_item_comes_back_into_its_folder_spelled_in_nfd(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    agent.write(nfd(MAC_PLAN), b"lesson 3")
    moved = agent.write(nfd("Tuần 5/Bài 4.docx"), b"lesson 4")
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        digest = hashlib.sha256(b"lesson 4").hexdigest()
        trash.trash_moved_file(agent.config, journal, moved, sha256=digest)
        [item] = journal.trash_items()
        assert control.carry_out(
            agent.config, "trash.restore", {"item": item.id}, emit=lambda e: None
        ) == {"path": "Tuần 5/Bài 4.docx"}
    # Taken out of the trash, not left there unlisted (never expired, never shown again).
    assert not [p for p in agent.local_trash().rglob("*") if not p.is_dir()]
    # Back in the Mac's folder, not in a second "Tuần 5" spelled in NFC beside it.
    assert [n for n in os.listdir(agent.root) if n.startswith("T")] == [nfd("Tuần 5")]
    assert agent.tree() == {MAC_PLAN: b"lesson 3", "Tuần 5/Bài 4.docx": b"lesson 4"}


LONG = "Tuần 5/" + "Giáo án môn Tiếng Việt lớp 3, " * 6 + "bài 1.docx"  # 245 bytes a name


def test_very_long_names_come_back_beside_within_the_name_limit(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    """The "(backup of …)" and "(restored N)" tails shorten the name, never pass 255 bytes."""
    name = LONG.rpartition("/")[2]
    assert 240 < len(name.encode()) <= 255
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    moved = agent.write(LONG, b"as in the backup")
    repo = _repository(agent, tmp_path)
    service.backup(agent.config, repo)
    repo = Repository.open(agent.config.backup.repository_path(), PASSPHRASE)
    [snapshot] = [snapshot_id for snapshot_id, _s in repo.snapshots()]
    with language("vi"), Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        staged = putback.stage(agent.config, repo, snapshot, LONG, now=0)
        beside = putback.put_back(
            agent.config, journal, staged.token, LONG, how="beside", label="2026-12-01"
        ).path
        digest = hashlib.sha256(b"as in the backup").hexdigest()
        trash.trash_moved_file(agent.config, journal, moved, sha256=digest)
        [item] = journal.trash_items()
        agent.write(LONG, b"written since")
        restored = trash.restore(agent.config, journal, item.id)
    for path in (beside, restored):
        assert len(path.rpartition("/")[2].encode()) <= 255
        assert path.startswith("Tuần 5/Giáo án môn Tiếng Việt lớp 3, ")
    assert beside.endswith(" (bản sao lưu 2026-12-01).docx")
    assert restored.endswith(" (khôi phục 1).docx")
    assert agent.tree() == {
        LONG: b"written since",
        beside: b"as in the backup",
        restored: b"as in the backup",
    }


@pytest.fixture
def records_on_another_disk(tmp_path: Path) -> Iterator[Path]:
    """A records folder on another file system than the state folder (tmpfs): restores and
    the trash then copy instead of renaming."""
    folder = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="hoso-records-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def disk_full_past(size: int) -> Iterator[None]:
    """Writes past ``size`` bytes of a file fail (EFBIG) as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_folder_put_back_in_place_on_a_full_disk_leaves_the_current_one(
    tmp_path: Path, wsgidav_share: Share, records_on_another_disk: Path
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi", root=records_on_another_disk)
    big = os.urandom(3 << 20)
    agent.write("Tuần 5/Bài 3.docx", b"lesson 3 as backed up")
    agent.write("Tuần 5/Bài 4.docx", big)
    repo = _repository(agent, tmp_path)
    service.backup(agent.config, repo)
    agent.write("Tuần 5/Bài 4.docx", b"lesson 4, shortened since")
    agent.write("Tuần 5/Bài 5.docx", b"made since the backup")
    now = agent.tree()
    repo = Repository.open(agent.config.backup.repository_path(), PASSPHRASE)
    [snapshot] = [snapshot_id for snapshot_id, _s in repo.snapshots()]
    with language("vi"), Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        staged = putback.stage(agent.config, repo, snapshot, "Tuần 5", now=0)
        with disk_full_past(1 << 20), pytest.raises(LocalError):
            putback.put_back(
                agent.config, journal, staged.token, "Tuần 5", how="in_place", label="2026-12-01"
            )
        # The records folder is as before: no half folder in place of the teacher's.
        assert agent.tree() == now
        # Tried again with room on the disk, it comes back whole; what it replaced is kept.
        done = putback.put_back(
            agent.config, journal, staged.token, "Tuần 5", how="in_place", label="2026-12-01"
        )
        [kept] = [i for i in journal.trash_items() if i.reason == "replaced_by_backup"]
    assert done.replaced == "Tuần 5"
    assert agent.tree() == {"Tuần 5/Bài 3.docx": b"lesson 3 as backed up", "Tuần 5/Bài 4.docx": big}
    assert sorted(p.name for p in Path(kept.stored_as).iterdir()) == [
        "Bài 3.docx", "Bài 4.docx", "Bài 5.docx"
    ]


def test_a_folder_from_the_trash_on_a_full_disk_comes_back_whole_or_not_at_all(
    tmp_path: Path, wsgidav_share: Share, records_on_another_disk: Path
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi", root=records_on_another_disk)
    big = os.urandom(3 << 20)
    agent.write("Tuần 5/Bài 3.docx", b"lesson 3")
    agent.write("Tuần 5/Bài 4.docx", big)
    agent.write("Tuần 6/Bài 1.docx", b"another week")
    agent.sync()
    remote_delete(wsgidav_share, "Tuần 5")
    agent.sync(allow_mass_delete=True)  # deleted on the share: into the local trash
    assert agent.tree() == {"Tuần 6/Bài 1.docx": b"another week"}
    [item] = [i for i in Journal.open(agent.state_dir / "journal.sqlite3").trash_items()]
    args = {"item": item.id}
    with disk_full_past(1 << 20), pytest.raises(LocalError, match="Tuần 5"):
        control.carry_out(agent.config, "trash.restore", args, emit=lambda e: None)
    assert not (agent.root / "Tuần 5").exists()  # no half folder
    done = control.carry_out(agent.config, "trash.restore", args, emit=lambda e: None)
    assert done == {"path": "Tuần 5"}
    assert agent.tree() == {
        "Tuần 5/Bài 3.docx": b"lesson 3",
        "Tuần 5/Bài 4.docx": big,
        "Tuần 6/Bài 1.docx": b"another week",
    }


def test_a_copy_whose_records_name_is_a_folder_gets_a_name_of_its_own(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    """A folder holds the record's name: the copy is not "the only version left" (its name
    cannot be given), it can get a clear name of its own; the folder is never touched."""
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    agent.write("Tuần 1/Bài 1.docx/ghi chú.txt", b"a folder with the record's name")
    copy = "Tuần 1/Bài 1 (bản xung đột, máy may-b, 2026-01-01 10h00).docx"
    agent.write(copy, b"the copy")
    [found] = conflicts.find(agent.config)
    with served(agent.config_path, agent.state_dir) as page:
        client = Client(page.port)
        client.log_in(agent.state_dir)
        html = client.request("GET", "/conflicts/")[2]
        assert "Một thư mục đang mang tên hồ sơ" in html and 'value="both"' in html
        assert "bản duy nhất còn lại" not in html
        form = {
            "csrf": client.csrf(),
            "copy": copy,
            "choice": "both",
            "copy_stamp": found.copy.stamp,
            "original_stamp": "",
        }
        body = "&".join(f"{k}={quote(v, safe='')}" for k, v in form.items())
        status, headers, _ = client.request("POST", "/conflicts/", body=body)
        assert status == 303
        assert "flash done" in client.request("GET", headers["location"])[2]
    assert agent.tree() == {
        "Tuần 1/Bài 1.docx/ghi chú.txt": b"a folder with the record's name",
        "Tuần 1/Bài 1 (bản của máy may-b).docx": b"the copy",
    }


def test_an_agent_killed_while_it_puts_a_folder_back_leaves_the_teachers_folder(
    tmp_path: Path, wsgidav_share: Share, records_on_another_disk: Path
) -> None:
    """A real `hoso run` is killed (SIGKILL) half-way through copying a folder from a backup
    into the place of the current one: after it, the teacher's folder is still there as it
    was, and the next pass leaves it (and the share) as they were."""
    agent = Agent(
        tmp_path,
        wsgidav_share,
        language="vi",
        root=records_on_another_disk,
        sync_overrides={"poll_interval": 3600},
    )
    agent.write("Tuần 5/Bài 3.docx", b"lesson 3 as backed up")
    agent.write("Tuần 6/Bài 1.docx", b"another week")
    repo = _repository(agent, tmp_path)
    service.backup(agent.config, repo)
    agent.write("Tuần 5/Bài 3.docx", b"lesson 3 today")
    agent.write("Tuần 5/Bài 5.docx", b"made since the backup")
    agent.sync()
    now = agent.tree()
    repo = Repository.open(agent.config.backup.repository_path(), PASSPHRASE)
    [snapshot] = [snapshot_id for snapshot_id, _s in repo.snapshots()]
    staged = putback.stage(agent.config, repo, snapshot, "Tuần 5", now=0)
    # A pipe among the staged files: the agent's copy stops at it until it is killed.
    os.mkfifo(agent.state_dir / putback.STAGING / staged.token / "Tuần 5" / "zz.docx")
    started = time.time()
    proc = agent.popen("run")
    try:
        wait_until(lambda: _passed_since(agent, started), 30, "the agent's first pass")
        args = {"staged": staged.token, "path": "Tuần 5", "how": "in_place", "day": "2026-12-01"}
        asked = threading.Thread(target=_ask_quietly, args=(agent, args), daemon=True)
        asked.start()
        wait_until(
            lambda: any(n.startswith(".~hoso-") for n in os.listdir(agent.root)),
            30,
            "the copy to start",
        )
    finally:
        proc.kill()
        proc.communicate()
    asked.join(10)
    assert agent.tree() == now
    agent.sync()
    assert agent.tree() == now
    assert remote_tree(wsgidav_share) == now


def _ask_quietly(agent: Agent, args: dict[str, str]) -> None:
    with contextlib.suppress(HosoError):
        control.carry_out(agent.config, "backup.restore", args, emit=lambda e: None)
