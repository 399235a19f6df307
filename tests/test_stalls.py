"""Nothing waits silently: what a pass holds back is told where the teacher looks.

Issue 17, items 3 and 4, as a school meets them: a week folder typed on a PC meets the same
week made on a Mac (its name in NFD, put on the share through plain WebDAV), and a document
stays open in Word while a colleague saves a newer version on the share. Each is run with the
real command line against a real share and then looked for in `hoso status` (Vietnamese and
English), `hoso check --again`, the log, and the desktop notification (a real `notify-send`
of the test's own), once each, not on every pass.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from agents import Agent, nfd, remote_delete, remote_put, remote_tree, stop_agent
from conftest import Share
from servers import wait_until
from test_validation_e2e import fake_notify_send

from agent.errors import ExitCode
from agent.journal import Journal

SHARES = pytest.mark.parametrize(
    "dav_server", ["wsgidav", pytest.param("apache", marks=pytest.mark.interop)], indirect=True
)
WEEK = "Tuần 14"  # as Windows types it (NFC)


def desktop(tmp_path: Path, language: str) -> tuple[dict[str, str], Path]:
    """The environment of a teacher's desktop session (with a real `notify-send` that
    writes what it shows into a file), and that file."""
    shown = tmp_path / "bin" / "shown"
    if not shown.parent.exists():
        fake_notify_send(shown.parent)
    env = {
        "PATH": f"{shown.parent}:{os.environ['PATH']}",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
        "LANGUAGE": language,
    }
    return env, shown


def shown_text(shown: Path) -> str:
    return shown.read_text() if shown.exists() else ""


def log_text(agent: Agent) -> str:
    return (agent.state_dir / "logs" / "hoso.log").read_text()


@SHARES
def test_a_week_folder_in_two_spellings_is_told_everywhere_once(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, language="auto")
    env, shown = desktop(tmp_path, "vi")
    for n in range(1, 4):
        agent.write(f"{WEEK}/Bài {n}.txt", f"bài {n}".encode())
    assert agent.cli("sync", env=env).returncode == 0
    # The same week made on a Mac: its name arrives on the share decomposed.
    remote_put(share, f"{nfd(WEEK)}/Bài từ máy Mac.txt", b"from the Mac")
    for n in range(4, 7):  # the teacher goes on working in the week
        agent.write(f"{WEEK}/Bài {n}.txt", f"bài {n}".encode())

    for _pass in range(2):  # the second pass finds the same: nothing new to tell
        done = agent.cli("sync", env=env)
        assert done.returncode == 0, done.stderr
    assert not {f"{WEEK}/Bài {n}.txt" for n in range(4, 7)} & set(remote_tree(share))

    vi = agent.cli("status", env=env).stdout
    assert "mọi tệp đã được đồng bộ" not in vi
    assert "Thay đổi đang chờ đồng bộ: 3" in vi
    assert f"  {WEEK} (6 tệp)" in vi  # the folder once, with its files, not 6 lines
    assert f"{WEEK}/Bài 4.txt" not in vi
    assert "hai dạng Unicode" in vi and "hoso check" in vi  # the reason and the fix

    en = agent.cli("status", env={**env, "LANGUAGE": "en"}).stdout
    assert "everything synced" not in en
    assert "Changes waiting: 3" in en and "3 of them held back (see below)." in en
    assert "Not synced — two files or folders have the same name written in two Unicode" in en
    assert f"  {WEEK} (6 files): on the share\n" in en
    assert "move what you need from one into the other and delete the emptied one" in en
    held = json.loads(agent.cli("status", "--json").stdout)["held"]
    twin = {"path": WEEK, "reason": "normalization_twin", "detail": "", "where": "share"}
    assert held == [{**twin, "files": 6}]

    check = agent.cli("check", "--again", "--json", env=env)
    assert check.returncode == ExitCode.PARTIAL, check.stderr
    twins = [f for f in json.loads(check.stdout)["findings"] if f["path"] == WEEK]
    assert [(f["rule"], f["severity"]) for f in twins] == [("file.normalization-twin", "error")]
    text = agent.cli("check", "--again", env={**env, "LANGUAGE": "en"}).stdout
    assert f"{WEEK}\n  ✗ error: “{WEEK}” exists twice on the share, written in two" in text

    # One log line for two passes, in the teacher's language like the rest of the log.
    assert log_text(agent).count("Đang bị giữ lại, chưa đồng bộ") == 1
    assert f"{WEEK} (có hai tệp hoặc thư mục trùng tên" in log_text(agent)
    assert shown_text(shown).count(f"Chưa đồng bộ: {WEEK}") == 1  # one popup

    # The Mac's copy is moved into the teacher's week: the week syncs again, and says so.
    remote_delete(share, f"{nfd(WEEK)}/Bài từ máy Mac.txt")
    remote_delete(share, nfd(WEEK))
    assert agent.cli("sync", env=env).returncode == 0
    assert {f"{WEEK}/Bài {n}.txt" for n in range(1, 7)} <= set(remote_tree(share))
    after = agent.cli("status", env={**env, "LANGUAGE": "en"}).stdout
    assert "everything synced" in after and "Not synced" not in after
    assert "Không còn gì bị giữ lại" in log_text(agent)
    assert shown_text(shown).count(f"Chưa đồng bộ: {WEEK}") == 1


@SHARES
def test_a_document_open_in_word_is_said_to_wait_until_closed(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, language="auto")
    env, shown = desktop(tmp_path, "en")
    plan = "Tuần 3/Kế hoạch bài dạy.docx"
    agent.write(plan, b"my version")
    assert agent.cli("sync", env=env).returncode == 0
    remote_put(share, plan, b"the colleague's newer version")
    agent.write("Tuần 3/~$ hoạch bài dạy.docx", b"Word's owner file")  # Word has it open

    for _pass in range(2):
        done = agent.cli("sync", env=env)
        assert done.returncode == 0, done.stderr
    assert agent.read(plan) == b"my version"  # never written over while open

    en = agent.cli("status", env=env).stdout
    assert "everything synced" not in en
    assert (
        "Not synced — open in Word or LibreOffice: the share has a newer version, which is "
        "synced once the file is closed (1):" in en
    )
    assert f"  {plan}\n  → Close the file in Word or LibreOffice" in en
    vi = agent.cli("status", env={**env, "LANGUAGE": "vi"}).stdout
    assert "mọi tệp đã được đồng bộ" not in vi
    assert "đang mở trong Word hoặc LibreOffice" in vi and "sẽ đồng bộ khi đóng tệp" in vi
    assert log_text(agent).count("Held back, not synced until someone acts") == 1
    assert shown_text(shown).count(f"Not synced: {plan}") == 1

    (agent.root / "Tuần 3" / "~$ hoạch bài dạy.docx").unlink()  # Word closed
    assert agent.cli("sync", env=env).returncode == 0
    assert agent.read(plan) == b"the colleague's newer version"
    after = agent.cli("status", env=env).stdout
    assert "everything synced" in after and "Not synced" not in after


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_the_running_agent_tells_a_twin_week_once_over_many_passes(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, language="en", sync_overrides={"poll_interval": 0.5})
    env, shown = desktop(tmp_path, "en")
    agent.write(f"{WEEK}/Bài 1.txt", b"bai 1")
    assert agent.cli("sync", env=env).returncode == 0
    remote_put(share, f"{nfd(WEEK)}/Bài từ máy Mac.txt", b"from the Mac")

    def pass_started() -> float:
        with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
            last = journal.last_pass()
            return last.started if last else 0.0

    proc = agent.popen("run", env=env)
    try:
        wait_until(lambda: f"Not synced: {WEEK}" in shown_text(shown), 30, "the popup")
        seen: set[float] = set()

        def passes_seen() -> int:
            seen.add(pass_started())
            return len(seen)

        wait_until(lambda: passes_seen() >= 4, 60, "three more passes over the same twin")
    finally:
        stop_agent(proc, timeout=30)
    assert shown_text(shown).count(f"Not synced: {WEEK}") == 1
    assert log_text(agent).count("Held back, not synced until someone acts") == 1


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_what_cannot_be_read_here_is_shown_with_why(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    agent.write("Tuần 1/Bài 1.txt", b"bai 1")
    os.mkfifo(agent.root / "Tuần 1" / "ống")  # a special file: no record, never read
    done = agent.cli("sync")
    assert done.returncode == 0, done.stderr
    assert "Tuần 1/ống" not in remote_tree(share)

    text = agent.cli("status").stdout
    assert "everything synced" not in text
    assert "Not synced — hoso cannot read it in the records folder" in text
    assert "  Tuần 1/ống: not a regular file or folder\n" in text
    assert "→ Give your user account the right to read it" in text


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_sync_never_says_in_sync_beside_what_it_cannot_read(tmp_path: Path, share: Share) -> None:
    """Held back as `unreadable` in `hoso status`, so in the pass's report too: the text
    names it instead of "Everything is in sync.", and the JSON lists it under `skipped`."""
    agent = Agent(tmp_path, share)
    agent.write("Ghi chú/a.txt", b"note")
    agent.write("Tuần 5/Bài 1.txt", b"bai 1")
    os.mkfifo(agent.root / "Tuần 5" / "ống")  # a special file: never read (as a 000 folder)
    first = agent.cli("sync")
    assert "uploaded: Ghi chú/a.txt" in first.stdout, first.stdout + first.stderr

    again = agent.cli("sync")
    as_json = agent.cli("sync", "--json")

    assert again.returncode == 0, again.stderr
    assert "Everything is in sync." not in again.stdout, again.stdout
    assert "not synced: hoso cannot read it here (see `hoso status`): Tuần 5/ống" in again.stdout
    assert {"path": "Tuần 5/ống", "reason": "unreadable"} in json.loads(as_json.stdout)["skipped"]
    assert "Tuần 5/ống" not in remote_tree(share)
    assert remote_tree(share)["Tuần 5/Bài 1.txt"] == b"bai 1"
