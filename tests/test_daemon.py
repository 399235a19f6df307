"""The daemon's scheduling decisions after each kind of pass, against a real share."""

from __future__ import annotations

import ctypes
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from agents import Agent, remote_tree, stop_agent, to_toml
from conftest import Share
from docs_factory import lesson_plan, make_docx
from servers import wait_until
from test_control import Lines
from test_lock import HOLDER

from agent import config as configmod
from agent.backup import files as files_mod
from agent.daemon import Daemon, DaemonState
from agent.errors import AuthError
from agent.journal import Journal
from agent.schedule import AUTH_RETRY
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
        delay = daemon.schedule.delay_after(daemon._run_pass(syncer, local_changed=True))
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
        ended = daemon._run_pass(syncer, local_changed=True)
        assert daemon.schedule.delay_after(ended) >= 30.0
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


# --- `hoso run` while a command holds the instance lock ---------------------------------------


def _lock_holder(state_dir: Path) -> subprocess.Popen[str]:
    """Another process holding the instance lock until its stdin is closed (test_lock.py)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "locked"  # blocks until it has the lock
    return holder


@WSGIDAV_ONLY
def test_the_agent_started_while_a_command_holds_the_lock_waits_for_it_then_runs(
    tmp_path: Path, share: Share
) -> None:
    """The service starting (or restarting) while a `hoso sync` does its work itself must not
    exit 2: systemd/hoso-agent.service never restarts after it (RestartPreventExitStatus=2).
    It waits for the command, keeping systemd informed, then starts."""
    unit = (Path(__file__).parent.parent / "systemd" / "hoso-agent.service").read_text()
    assert "RestartPreventExitStatus=2" in unit
    agent = Agent(tmp_path, share, sync_overrides={"poll_interval": 3600.0})
    agent.write("Bài 1.docx", b"lesson")
    holder = _lock_holder(agent.state_dir)  # what `hoso sync` at work holds
    assert holder.stdin is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:  # systemd's end
        manager.bind(str(tmp_path / "notify"))
        manager.settimeout(30)  # a deadline for recv(), not a sleep
        proc = agent.popen("run", env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
        try:
            waiting = manager.recv(4096).decode()
            assert f"STATUS=waiting for process {holder.pid} " in waiting, waiting
            assert "EXTEND_TIMEOUT_USEC=" in waiting and "WATCHDOG=1" in waiting, waiting
            assert remote_tree(share) == {}  # nothing done beside the command
            assert proc.poll() is None

            holder.stdin.close()  # the command finishes and lets the lock go
            assert holder.wait(timeout=10) == 0
            while "READY=1" not in manager.recv(4096).decode():
                pass
            wait_until(lambda: "Bài 1.docx" in remote_tree(share), 30, "the agent's first pass")
        finally:
            holder.kill()
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert remote_tree(share) == {"Bài 1.docx": b"lesson"}
    said = [line for line in err.splitlines() if "waiting for process" in line]
    assert len(said) == 1 and f"waiting for process {holder.pid} to finish" in said[0], err
    assert "already running" not in err


@WSGIDAV_ONLY
def test_the_agent_stopped_while_it_waits_for_the_lock_exits_0(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    holder = _lock_holder(agent.state_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(tmp_path / "notify"))
        manager.settimeout(30)
        proc = agent.popen("run", env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
        try:
            assert "STATUS=waiting for process" in manager.recv(4096).decode()
            proc.send_signal(signal.SIGTERM)  # `systemctl --user stop hoso-agent` meanwhile
            _out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            holder.kill()
            holder.wait(timeout=10)
    assert proc.returncode == 0, err
    assert "agent started" not in err and not (agent.state_dir / "journal.sqlite3").exists()


# --- SIGTERM while a worker thread is busy ------------------------------------------------------


def _validated(agent: Agent) -> dict[str, object]:
    journal = Journal.open(agent.state_dir / "journal.sqlite3")
    try:
        return dict(journal.validated())
    finally:
        journal.close()


def test_sigterm_during_the_start_up_check_of_a_big_folder_ends_the_agent_in_seconds(
    tmp_path: Path,
) -> None:
    """The validation thread checks the whole folder after start-up (minutes for a school
    year of records on a slow PC); `systemctl stop` waited for all of it (and systemd kills
    after 90 s). It now stops between two records, keeping what it stored."""
    # Offline (the check needs no share); a password no log word contains, so none is masked.
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "Qz7-x", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)  # type: ignore[arg-type]
    assert agent.root is not None
    week = agent.root / "Kế hoạch bài dạy" / "Tuần 3"
    week.mkdir(parents=True)
    make_docx(week / "Bài 0.docx", lesson_plan()[:-2])  # no reflection section: a finding each
    plan = (week / "Bài 0.docx").read_bytes()
    records = 2000  # about a minute of checks here, several under load
    for n in range(1, records):
        (week / f"Bài {n}.docx").write_bytes(plan)
    journal = agent.state_dir / "journal.sqlite3"
    proc = agent.popen("run")
    try:
        wait_until(lambda: journal.exists() and len(_validated(agent)) >= 5, 60, "the check")
        stopping = time.monotonic()
        _out, err = stop_agent(proc, 120)
        took = time.monotonic() - stopping
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert took < 20, f"{took:.0f} s to stop"  # one record at most, plus the shutdown
    assert err.rstrip().endswith("agent stopped"), err[-2000:]
    # What was checked is stored, the journal intact; the rest is left for the next start.
    validated = _validated(agent)
    assert 5 <= len(validated) < records
    assert all((agent.root / path).is_file() for path in validated)
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_sigterm_is_heard_at_once_while_another_process_holds_the_journal(
    tmp_path: Path,
) -> None:
    """A command (`hoso backup restore`, `hoso status`) holding the journal's write lock kept
    the agent's loop inside SQLite's busy wait, one C call of up to 10 s: the loop ran on the
    main thread, where Python runs signal handlers only between bytecodes, so SIGTERM went
    unheard meanwhile. The loop now has a thread of its own: the stop is heard at once, and
    the agent ends, its journal sound, once the lock is let go."""
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "Qz7-x", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)  # type: ignore[arg-type]
    journal = agent.state_dir / "journal.sqlite3"
    Journal.open(journal).close()  # as a previous run left it
    holder = sqlite3.connect(journal, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the other process's write lock
    proc = agent.popen("run")
    stderr = Lines(proc)
    asked = [0.0]

    def waiting_for_the_journal() -> bool:
        """The loop's stack, dumped on SIGUSR1 (the agent's faulthandler), is in the
        journal's busy wait for the write lock (opening reads without it)."""
        if any(" in _write" in line for line in stderr.lines):
            return True
        started = any("agent started" in line for line in stderr.lines)
        if started and time.monotonic() - asked[0] > 0.5:
            proc.send_signal(signal.SIGUSR1)
            asked[0] = time.monotonic()
        return False

    try:
        wait_until(waiting_for_the_journal, 60, "the agent to wait for the journal")
        proc.send_signal(signal.SIGTERM)
        wait_until(  # well inside the 10 s the busy wait lasts
            lambda: any("signal 15" in line for line in stderr.lines), 5, "the stop to be heard"
        )
        holder.rollback()
        holder.close()
        assert proc.wait(timeout=60) == 0, stderr.lines[-40:]
    finally:
        holder.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_until(lambda: any("agent stopped" in line for line in stderr.lines), 10, "its last line")
    assert not any("pass:" in line for line in stderr.lines)  # stopped before any pass
    with sqlite3.connect(journal) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


_TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


@pytest.mark.skipif(_TGKILL is None, reason="tgkill's number on this machine not known")
@WSGIDAV_ONLY
def test_sigterm_taken_by_another_thread_stops_an_idle_agent(tmp_path: Path, share: Share) -> None:
    """The kernel may hand a process's signal to any of its threads. When one other than the
    main thread took SIGTERM, Python only noted it: the main thread, asleep in a lock's wait
    (an idle agent sleeps up to the poll interval), never woke to run the handler, and the
    agent went on. The main thread now waits on the signal's wakeup pipe."""
    agent = Agent(tmp_path, share, sync_overrides={"poll_interval": 3600.0})
    agent.write("Bài 1.docx", b"lesson")
    proc = agent.popen("run")
    try:
        wait_until(lambda: "Bài 1.docx" in remote_tree(share), 30, "the first pass")
        wait_until(lambda: _log_has(agent, "pass: 1 up"), 30, "the pass's end")
        threads = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(_TGKILL, proc.pid, threads[0], signal.SIGTERM) == 0  # that thread
        wait_until(lambda: _log_has(agent, "signal 15"), 10, "the stop to be heard")
        _out, err = stop_agent(proc, term=False)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert err.rstrip().endswith("agent stopped"), err[-2000:]


def _log_has(agent: Agent, text: str) -> bool:
    log = agent.state_dir / "logs" / "hoso.log"
    return log.exists() and text in log.read_text(errors="replace")


def test_sigterm_during_a_backup_ends_the_agent_in_seconds_and_the_repository_sound(
    tmp_path: Path,
) -> None:
    """The backup thread backed up the whole folder before letting the agent stop. It now
    stops between two files: no snapshot names the unfinished backup, no file is left half
    written, and the repository checks sound."""
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "Qz7-x", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)  # type: ignore[arg-type]
    assert agent.root is not None
    repository = tmp_path / "USB" / "hoso-backup"
    agent.raw["backup"] = {"repository": str(repository)}
    configmod.write_private(agent.config_path, to_toml(agent.raw))
    env = {"HOSO_BACKUP_PASSPHRASE": "mật khẩu sao lưu của cô Lan"}
    assert agent.cli("backup", "init", env=env).returncode == 0  # no snapshot: one is due now
    files = 4000  # 128 MB: some twenty seconds of backup here, more under load
    noise = random.Random(12)
    for n in range(files):
        folder = agent.root / f"Tuần {n % 35 + 1}"
        folder.mkdir(exist_ok=True)
        (folder / f"ảnh {n}.dat").write_bytes(noise.randbytes(32 * 1024))
    proc = agent.popen("run", env=env)
    try:
        locks = repository / "locks"
        wait_until(lambda: locks.is_dir() and any(locks.iterdir()), 60, "the backup to start")
        stopping = time.monotonic()
        _out, err = stop_agent(proc, 120)
        took = time.monotonic() - stopping
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert took < 8, f"{took:.0f} s to stop"  # one file at most, plus the shutdown
    assert "left unfinished: the agent is stopping" in err, err[-2000:]
    assert not any(locks.iterdir())  # the lock was let go
    assert not [p for p in repository.rglob("*") if p.name.startswith(files_mod.TEMP_PREFIX)]
    listed = agent.cli("backup", "list", "--json", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout
    checked = agent.cli("backup", "check", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert sum(1 for p in agent.root.rglob("*.dat")) == files  # the folder untouched


# --- a service enabled before anyone set hoso up ------------------------------------------


def test_hoso_run_without_a_config_waits_for_the_setup_then_syncs(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    """The admin enabled the service; the teacher sets hoso up later on the page: the agent
    waits (alive, ready for systemd) instead of exit 2, then syncs with the new config."""
    agent = Agent(tmp_path, wsgidav_share)
    config = agent.config_path.read_bytes()
    agent.config_path.unlink()
    proc = agent.popen("run")
    try:
        assert proc.stderr is not None
        assert "waiting for hoso to be set up" in proc.stderr.readline()
        assert proc.poll() is None
        agent.write("Tuần 1/Bài 1.docx", b"plan")
        agent.config_path.write_bytes(config)
        wait_until(lambda: "Tuần 1/Bài 1.docx" in remote_tree(wsgidav_share), 60, "a first pass")
    finally:
        _out, err = stop_agent(proc)
    assert proc.returncode == 0, err


def test_under_a_service_the_agent_starts_again_once_set_up(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    """Under systemd the sandbox was made before the records folder existed: the agent exits
    1 (Restart=on-failure starts it again) with a sentence saying why, never exit 2."""
    agent = Agent(tmp_path, wsgidav_share)
    config = agent.config_path.read_bytes()
    agent.config_path.unlink()
    proc = agent.popen("run", env={"INVOCATION_ID": "0123456789abcdef"})
    assert proc.stderr is not None
    assert "waiting for hoso to be set up" in proc.stderr.readline()
    agent.config_path.write_bytes(config)
    _out, err = stop_agent(proc, term=False)
    assert proc.returncode == 1
    assert "has just been set up" in err


def test_a_service_waiting_for_setup_stops_cleanly(tmp_path: Path, wsgidav_share: Share) -> None:
    agent = Agent(tmp_path, wsgidav_share)
    agent.config_path.unlink()
    proc = agent.popen("run")
    assert proc.stderr is not None
    assert "waiting for hoso to be set up" in proc.stderr.readline()
    _out, _err = stop_agent(proc)
    assert proc.returncode == 0
    assert not agent.config_path.exists()
