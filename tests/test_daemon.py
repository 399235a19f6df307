"""The daemon's scheduling decisions after each kind of pass, against a real share."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from agents import Agent, remote_tree
from conftest import Share
from docs_factory import lesson_plan, make_docx
from servers import wait_until

from agent.daemon import AUTH_RETRY, Daemon, DaemonState
from agent.errors import AuthError
from agent.journal import Journal
from agent.sync import Syncer

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)


@WSGIDAV_ONLY
def test_refused_login_is_retried_rarely_and_changes_nothing(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, password="not the password")
    agent.write("Bài 1.docx", b"lesson")
    seen: list[DaemonState] = []
    daemon = Daemon(agent.config, threading.Event(), on_pass=seen.append)
    syncer = Syncer(agent.config)
    try:
        delay = daemon._run_pass(syncer, local_changed=True)
    finally:
        syncer.close()
    assert delay >= AUTH_RETRY  # not every poll: the server's brute-force guard would trip
    assert isinstance(seen[-1].last_error, AuthError)
    assert remote_tree(share) == {}


@WSGIDAV_ONLY
def test_a_clean_pass_waits_for_the_next_poll(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides={"poll_interval": 30.0})
    agent.write("Bài 1.docx", b"lesson")
    daemon = Daemon(agent.config, threading.Event())
    syncer = Syncer(agent.config)
    try:
        assert daemon._run_pass(syncer, local_changed=True) >= 30.0
    finally:
        syncer.close()
    assert remote_tree(share) == {"Bài 1.docx": b"lesson"}
    assert daemon.state.passes == 1 and daemon.state.last_error is None


def _unannounced(agent: Agent) -> list[str]:
    journal = Journal.open(agent.state_dir / "journal.sqlite3")
    try:
        return [s.finding.path for s in journal.findings() if s.notified_at is None]
    finally:
        journal.close()


@WSGIDAV_ONLY
def test_the_start_up_check_runs_on_a_pc_started_a_minute_ago(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    assert agent.root is not None
    plan = agent.root / "Kế hoạch bài dạy" / "Tuần 3" / "Tiếng Việt - Bài 6.docx"
    plan.parent.mkdir(parents=True)
    make_docx(plan, lesson_plan()[:-2])  # no reflection section: an error to announce
    done = agent.cli("sync")
    assert done.returncode == 0, done.stderr
    assert _unannounced(agent)  # stored by the sync, told by the agent's start-up check
    started = time.monotonic()

    def booted_a_minute_ago() -> float:  # the origin of time.monotonic() is the boot
        return 60.0 + time.monotonic() - started

    stop = threading.Event()
    daemon = Daemon(agent.config, stop, clock=booted_a_minute_ago)
    loop = threading.Thread(target=daemon.run)
    loop.start()
    try:
        wait_until(lambda: daemon.state.passes >= 1 and not _unannounced(agent), 30, "the check")
    finally:
        stop.set()
        daemon.poke()
        loop.join(30)
    assert not loop.is_alive()
    assert remote_tree(share) == {
        "Kế hoạch bài dạy/Tuần 3/Tiếng Việt - Bài 6.docx": plan.read_bytes()
    }
