"""The daemon's scheduling decisions after each kind of pass, against a real share."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from agents import Agent, remote_tree
from conftest import Share

from agent.daemon import AUTH_RETRY, Daemon, DaemonState
from agent.errors import AuthError
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
