"""State-changing commands while the agent runs: handed to it over the control channel.

Each test runs a real `hoso run` subprocess on a real share and checks what the command did
on disk, on the share and on screen, and that the agent (not the command) carried it out.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import Agent, remote_delete, remote_put, remote_tree, stop_agent, to_toml
from conftest import Share
from docs_factory import lesson_plan, make_docx
from servers import wait_until

from agent import channel, control
from agent import config as configmod
from agent.errors import AgentGone, AlreadyRunning, ControlError, ExitCode, UsageError
from agent.journal import Journal

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
PASSPHRASE = "mật khẩu sao lưu của cô Lan"
QUIET = {"poll_interval": 3600.0}  # the agent looks at the share only when asked


def _passed_since(agent: Agent, since: float) -> bool:
    """A pass started after ``since`` (wall clock) is recorded in the journal."""
    if not (agent.state_dir / "journal.sqlite3").exists():
        return False
    journal = Journal.open(agent.state_dir / "journal.sqlite3")
    try:
        last = journal.last_pass()
        return last is not None and last.started >= since
    finally:
        journal.close()


@contextlib.contextmanager
def running(agent: Agent, env: dict[str, str] | None = None) -> Iterator[list[str]]:
    """`hoso run` until the block ends; yields a list that then holds its log lines."""
    started = time.time()
    proc = agent.popen("run", env=env)
    log: list[str] = []
    try:
        sock = agent.state_dir / channel.SOCKET_NAME
        wait_until(
            lambda: sock.exists() and _passed_since(agent, started), 30, "the agent's first pass"
        )
        yield log
    finally:
        _out, err = stop_agent(proc)
        log += err.splitlines()
    assert proc.returncode == 0, err


def carried_out_by_agent(log: list[str], name: str) -> int:
    return sum(f"request {name} carried out" in line for line in log)


def _add_backup(agent: Agent, tmp_path: Path) -> None:
    agent.raw["backup"] = {"repository": str(tmp_path / "USB" / "hoso-backup")}
    configmod.write_private(agent.config_path, to_toml(agent.raw))
    agent.config = configmod.from_dict(agent.raw, agent.config_path)


# --- the four commands while the agent runs --------------------------------------------------


@WSGIDAV_ONLY
def test_trash_restore_while_the_agent_runs(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    agent.write("Tuần 1/Quan trọng.docx", b"do not lose me")
    agent.write("Tuần 1/Khác.docx", b"another")
    assert agent.cli("sync").returncode == 0
    remote_delete(share, "Tuần 1/Quan trọng.docx")
    with running(agent) as log:  # its first pass moves the local copy to the trash
        assert "Tuần 1/Quan trọng.docx" not in agent.tree()
        items = json.loads(agent.cli("trash", "list", "--json").stdout)
        assert [i["path"] for i in items] == ["Tuần 1/Quan trọng.docx"]

        restored = agent.cli("trash", "restore", str(items[0]["id"]))

        assert restored.returncode == 0, restored.stderr
        assert "Restored as Tuần 1/Quan trọng.docx" in restored.stdout
        assert agent.read("Tuần 1/Quan trọng.docx") == b"do not lose me"
        assert json.loads(agent.cli("trash", "list", "--json").stdout) == []
        # The agent carries it to the share by itself, without waiting for its poll.
        wait_until(
            lambda: remote_tree(share).get("Tuần 1/Quan trọng.docx") == b"do not lose me",
            30,
            "the restored file on the share",
        )
    assert carried_out_by_agent(log, "trash.restore") == 1


@WSGIDAV_ONLY
def test_sync_asks_the_agent_for_a_pass_now_and_prints_its_result(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    agent.write("Bài 1.docx", b"one")
    with running(agent) as log:
        remote_put(share, "Nhận xét.txt", b"from the manager")
        remote_put(share, "Tuần 2/Ghi chú.txt", b"notes")

        text = agent.cli("sync")

        assert text.returncode == 0, text.stderr
        assert "downloaded: Nhận xét.txt" in text.stdout
        assert "downloaded: Tuần 2/Ghi chú.txt" in text.stdout
        assert agent.read("Nhận xét.txt") == b"from the manager"

        remote_put(share, "Tuần 3/Bài mới.docx", b"new")
        as_json = agent.cli("sync", "--json")
        assert as_json.returncode == 0, as_json.stderr
        body = json.loads(as_json.stdout)
        assert body["downloaded"] == ["Tuần 3/Bài mới.docx"]
        assert set(body) >= {"uploaded", "deleted_local", "deleted_remote", "failed", "skipped"}
        assert agent.read("Tuần 3/Bài mới.docx") == b"new"

        again = agent.cli("sync")
        assert again.returncode == 0 and again.stdout.strip() == "Everything is in sync."

        remote_put(share, "Tuần 4/Bài.docx", b"four")
        events: list[dict[str, object]] = []  # what a terminal shows as progress lines
        result = control.carry_out(agent.config, "sync", {"progress": True}, emit=events.append)
        assert result["report"]["downloaded"] == ["Tuần 4/Bài.docx"]
        assert {
            "event": "progress",
            "done": 2,
            "total": 2,
            "kind": "download",
            "path": "Tuần 4/Bài.docx",
        } in events  # after the folder was made
    assert carried_out_by_agent(log, "sync") == 4


@WSGIDAV_ONLY
def test_sync_flags_are_honoured_by_the_agent(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    names = [f"Tuần 1/Bài {n}.docx" for n in range(1, 7)]
    for name in names:
        agent.write(name, name.encode())
    assert agent.cli("sync").returncode == 0
    with running(agent) as log:
        remote_put(share, "Mới.txt", b"new")
        dry = agent.cli("sync", "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "Dry run: nothing was changed." in dry.stdout and "Mới.txt" in dry.stdout
        assert not (agent.root / "Mới.txt").exists()

        for name in names:  # someone empties the teacher's folder on the share
            remote_delete(share, name)
        stopped = agent.cli("sync")
        assert stopped.returncode == ExitCode.SAFETY_STOP, stopped.stderr
        assert "--allow-mass-delete" in stopped.stderr
        assert all((agent.root / name).exists() for name in names)

        confirmed = agent.cli("sync", "--allow-mass-delete")
        assert confirmed.returncode == 0, confirmed.stderr
        assert "the deleted files are kept in the trash only" in confirmed.stderr
        assert not any((agent.root / name).exists() for name in names)
        kept = json.loads(agent.cli("trash", "list", "--json").stdout)
        assert sorted(i["path"] for i in kept) == sorted(names)
    assert carried_out_by_agent(log, "sync") == 2  # the refused pass answered with its error


@WSGIDAV_ONLY
def test_check_again_while_the_agent_runs(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    assert agent.root is not None
    plan = agent.root / "Kế hoạch bài dạy" / "Tuần 3" / "Tiếng Việt - Bài 6.docx"
    plan.parent.mkdir(parents=True)
    make_docx(plan, lesson_plan()[:-2])  # no reflection section: an error
    with running(agent):
        checked = agent.cli("check", "--again", "--json")
        assert checked.returncode == ExitCode.PARTIAL, checked.stderr
        found = json.loads(checked.stdout)["findings"]
        assert any(
            f["path"] == "Kế hoạch bài dạy/Tuần 3/Tiếng Việt - Bài 6.docx"
            and f["severity"] == "error"
            for f in found
        )
        text = agent.cli("check", "--again")
        assert "Records checked now: 1" in text.stdout, text.stdout


@WSGIDAV_ONLY
def test_backup_restore_into_the_records_folder_while_the_agent_runs(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    _add_backup(agent, tmp_path)
    env = {"HOSO_BACKUP_PASSPHRASE": PASSPHRASE}
    agent.write("Tuần 1/Bài 1.docx", b"lesson one")
    agent.write("Tuần 1/Bài 2.docx", b"lesson two")
    assert agent.cli("backup", "init", env=env).returncode == 0
    assert agent.cli("backup", "create", env=env).returncode == 0
    with running(agent, env=env):
        wait_until(lambda: "Tuần 1/Bài 1.docx" in remote_tree(share), 30, "the first upload")
        agent.delete("Tuần 1/Bài 1.docx")  # by mistake; the agent deletes it on the share
        wait_until(lambda: "Tuần 1/Bài 1.docx" not in remote_tree(share), 30, "the deletion")

        done = agent.cli(
            "backup",
            "restore",
            "latest",
            "Tuần 1/Bài 1.docx",
            "--target",
            str(agent.root),
            env=env,
        )

        assert done.returncode == 0, done.stderr
        assert "Restored 1 files" in done.stdout
        assert agent.read("Tuần 1/Bài 1.docx") == b"lesson one"
        wait_until(
            lambda: remote_tree(share).get("Tuần 1/Bài 1.docx") == b"lesson one",
            30,
            "the restored file on the share",
        )


def _emptied_share(tmp_path: Path, share: Share) -> tuple[Agent, list[str]]:
    """An agent with a backup repository (its passphrase in the vault, as `hoso backup init`
    leaves it) whose files were all deleted on the share."""
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    _add_backup(agent, tmp_path)
    names = [f"Tuần 1/Bài {n}.docx" for n in range(1, 7)]
    for name in names:
        agent.write(name, name.encode())
    assert agent.cli("sync").returncode == 0
    init = agent.cli("backup", "init", env={"HOSO_BACKUP_PASSPHRASE": PASSPHRASE})
    assert init.returncode == 0, init.stderr
    for name in names:
        remote_delete(share, name)
    return agent, names


@WSGIDAV_ONLY
def test_a_confirmed_mass_delete_is_backed_up_first_by_the_agent(
    tmp_path: Path, share: Share
) -> None:
    agent, names = _emptied_share(tmp_path, share)
    with running(agent):  # no passphrase in its environment: the vault's
        wait_until(
            lambda: (agent.state_dir / "backup-last.json").exists(), 60, "its scheduled backup"
        )
        confirmed = agent.cli("sync", "--allow-mass-delete")
        assert confirmed.returncode == 0, confirmed.stderr
        assert "Backed up first: snapshot" in confirmed.stderr
        assert not any((agent.root / name).exists() for name in names)
    listed = agent.cli("backup", "list", "--json", env={"HOSO_BACKUP_PASSPHRASE": PASSPHRASE})
    assert any("before-mass-delete" in row["tags"] for row in json.loads(listed.stdout))


@WSGIDAV_ONLY
def test_an_agent_without_the_passphrase_deletes_nothing_and_says_why(
    tmp_path: Path, share: Share
) -> None:
    agent, names = _emptied_share(tmp_path, share)
    assert agent.cli("vault", "remove", "backup").returncode == 0
    with running(agent):
        refused = agent.cli("sync", "--allow-mass-delete")
        assert refused.returncode == ExitCode.USAGE, refused.stderr
        assert "cannot back up before this mass delete" in refused.stderr
        assert "hoso vault set backup" in refused.stderr
        assert PASSPHRASE not in refused.stderr + refused.stdout
        assert all(agent.read(name) == name.encode() for name in names)


@WSGIDAV_ONLY
def test_a_mass_delete_is_backed_up_into_a_repository_created_while_the_agent_runs(
    tmp_path: Path, share: Share
) -> None:
    """Issue 17's very scenario: the repository is made while the agent runs. The backup
    before the mass delete uses the config as it is now, as the agent's backups do."""
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    names = [f"Tuần 1/Bài {n}.docx" for n in range(1, 7)]
    for name in names:
        agent.write(name, name.encode())
    assert agent.cli("sync").returncode == 0
    with running(agent):
        _add_backup(agent, tmp_path)  # what `hoso backup init --repository` records
        init = agent.cli("backup", "init", env={"HOSO_BACKUP_PASSPHRASE": PASSPHRASE})
        assert init.returncode == 0, init.stderr
        for name in names:
            remote_delete(share, name)
        confirmed = agent.cli("sync", "--allow-mass-delete")
        assert confirmed.returncode == 0, confirmed.stderr
        assert "kept in the trash only" not in confirmed.stderr, confirmed.stderr
        assert "Backed up first: snapshot" in confirmed.stderr, confirmed.stderr
        assert not any((agent.root / name).exists() for name in names)
    listed = agent.cli("backup", "list", "--json", env={"HOSO_BACKUP_PASSPHRASE": PASSPHRASE})
    [before] = [row for row in json.loads(listed.stdout) if "before-mass-delete" in row["tags"]]
    assert before["files"] >= len(names), before  # the six records (and the folder marker)


# --- the channel itself ----------------------------------------------------------------------


@WSGIDAV_ONLY
def test_the_socket_is_private_and_gone_after_a_clean_stop(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    sock = agent.state_dir / channel.SOCKET_NAME
    with running(agent):
        assert stat.S_ISSOCK(sock.lstat().st_mode)
        assert stat.S_IMODE(sock.lstat().st_mode) == 0o600
        assert stat.S_IMODE(agent.state_dir.stat().st_mode) == 0o700
        assert sock.lstat().st_uid == os.getuid()
    assert not sock.exists()


@WSGIDAV_ONLY
def test_a_socket_left_by_a_killed_agent_breaks_nothing(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    sock = agent.state_dir / channel.SOCKET_NAME
    started = time.time()
    proc = agent.popen("run")
    try:
        wait_until(
            lambda: sock.exists() and _passed_since(agent, started), 30, "the agent's first pass"
        )
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert sock.exists()  # nobody removed it
    remote_put(share, "Mới.txt", b"new")

    direct = agent.cli("sync", timeout=60)  # the lock is free: the command syncs itself

    assert direct.returncode == 0, direct.stderr
    assert "downloaded: Mới.txt" in direct.stdout
    assert agent.read("Mới.txt") == b"new"
    with running(agent) as log:  # a new agent replaces the dead one's socket
        remote_put(share, "Sau.txt", b"after")
        asked = agent.cli("sync")
        assert asked.returncode == 0, asked.stderr
        assert "downloaded: Sau.txt" in asked.stdout
    assert carried_out_by_agent(log, "sync") == 1


@WSGIDAV_ONLY
def test_a_request_the_agent_does_not_know_is_refused_clearly(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides=QUIET)
    with running(agent):
        with pytest.raises(UsageError) as info:
            control.carry_out(agent.config, "backup.teleport", {}, emit=lambda event: None)
        assert info.value.exit_code is ExitCode.USAGE
        assert "older hoso" in str(info.value) and "restart" in str(info.value)
        with pytest.raises(UsageError) as unknown_option:
            control.carry_out(agent.config, "sync", {"dry_run": True, "turbo": True}, emit=print)
        assert "turbo" in str(unknown_option.value)
        assert agent.tree() == {}


def test_only_our_own_user_is_answered() -> None:
    assert channel.peer_allowed(1000, 1000)
    assert not channel.peer_allowed(1001, 1000)
    assert not channel.peer_allowed(0, 1000)  # not even root, unless the agent is root's


def test_a_peer_of_another_user_is_refused_over_the_socket(tmp_path: Path) -> None:
    state = tmp_path / "state"
    calls: list[channel.Call] = []
    # The listener believes it runs as another user: we are then that "other" peer.
    listener = channel.Listener(state, calls.append, own_uid=os.getuid() + 1)
    listener.start()
    try:
        answered = channel.ask(
            state,
            "sync",
            # Larger than the socket's buffer: the refusal comes before the request is read,
            # so sending it fails (EPIPE) every time, not only when the timing says so.
            {"padding": "x" * 1_000_000},
            on_event=lambda event: None,
            deadline=time.monotonic() + 30,
            clock=time.monotonic,
        )
    finally:
        listener.close()
    assert isinstance(answered, channel.Failure)
    assert answered.code == "refused" and answered.exit_code == ExitCode.USAGE
    assert calls == []  # never reached the agent
    assert not (state / channel.SOCKET_NAME).exists()


def test_a_request_trickling_in_is_cut_off_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request line has a deadline in all, not per read: a peer sending one byte now and
    then (each well within the deadline) does not hold one of the few slots for ever."""
    monkeypatch.setattr(channel, "READ_REQUEST_TIMEOUT", 1.0)
    calls: list[channel.Call] = []
    listener = channel.Listener(tmp_path / "state", calls.append)
    listener.start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(tmp_path / "state" / channel.SOCKET_NAME))
        sock.settimeout(0.3)  # a byte every 0.3 s: each read alone would be in time
        started = time.monotonic()
        answer = b""
        while not answer.endswith(b"\n") and time.monotonic() - started < 10:
            with contextlib.suppress(OSError):
                sock.sendall(b" ")
            with contextlib.suppress(TimeoutError):
                answer += sock.recv(4096)
        cut_off = time.monotonic() - started
    finally:
        sock.close()
        listener.close(wait=1)
    assert cut_off < 3, f"still connected after {cut_off:.1f} s"
    error = json.loads(answer)["error"]
    assert error["message"] == "No request came in time." and error["exit_code"] == 2
    assert calls == []


def test_nobody_listening_is_told_apart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(state / channel.SOCKET_NAME))
    dead.close()  # a socket file nobody listens on, as a killed agent leaves it
    with pytest.raises(AgentGone):
        channel.ask(
            state, "sync", {}, on_event=print, deadline=time.monotonic() + 5, clock=time.monotonic
        )


def test_a_long_state_folder_path_still_gets_its_socket(tmp_path: Path) -> None:
    state = tmp_path / ("d" * 60) / ("e" * 60) / "state"
    assert len(os.fsencode(state / channel.SOCKET_NAME)) > 108
    seen: list[str] = []

    def answer(call: channel.Call) -> None:
        seen.append(call.name)
        call.answer({"echo": call.args})

    listener = channel.Listener(state, answer)
    listener.start()
    try:
        assert stat.S_IMODE((state / channel.SOCKET_NAME).lstat().st_mode) == 0o600
        answered = channel.ask(
            state,
            "ping",
            {"n": 1},
            on_event=print,
            deadline=time.monotonic() + 30,
            clock=time.monotonic,
        )
    finally:
        listener.close()
    assert answered == {"echo": {"n": 1}} and seen == ["ping"]


# --- a request while a pass is running -------------------------------------------------------


class Gate:
    """A TCP proxy in front of the share that holds every byte the share answers while shut:
    a pass in progress that lasts as long as the test wants. The answers are held, not the
    requests: the share would give up on a request held past its own timeout (cheroot's
    10 s, soon reached on a loaded machine) and end the pass before the test is ready."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.opened = threading.Event()
        self.opened.set()
        self.held = 0  # answer chunks that waited at the shut gate
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _addr = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, gated: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if gated and not self.opened.is_set():
                    self.held += 1
                    self.opened.wait()
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.opened.set()
        self._listener.close()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # before the agent is stopped: a held pass would keep it from stopping


class Lines:
    """A subprocess's stderr lines, collected on a thread as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        stream = proc.stderr
        threading.Thread(
            target=lambda: self.lines.extend(iter(stream.readline, "")), daemon=True
        ).start()


def _held_pass(tmp_path: Path, share: Share) -> tuple[Agent, Gate]:
    port = int(share.url.rstrip("/").rsplit(":", 1)[1])
    gate = Gate(port)
    # The agent waits for a held answer as long as the test may hold it.
    remote = {"url": gate.url, "timeout": 300.0}
    agent = Agent(tmp_path, share, sync_overrides=QUIET, remote_overrides=remote)
    return agent, gate


@WSGIDAV_ONLY
def test_a_request_waits_for_the_pass_in_progress_and_says_so(tmp_path: Path, share: Share) -> None:
    agent, gate = _held_pass(tmp_path, share)
    with running(agent) as log, gate:
        gate.opened.clear()
        agent.write("Lưu trong lúc chờ.docx", b"saved")  # the agent's own pass starts
        wait_until(lambda: gate.held > 0, 30, "the agent's pass to reach the share")
        asking = agent.popen("sync")
        stderr = Lines(asking)
        wait_until(
            lambda: any("Waiting for the agent's sync pass" in line for line in stderr.lines),
            30,
            "the command to say it waits",
        )
        assert asking.poll() is None  # still waiting: nothing ran beside the pass
        gate.opened.set()
        out, _err = asking.communicate(timeout=60)
        assert asking.returncode == 0, stderr.lines
        assert out.strip() == "Everything is in sync."  # the agent's pass had uploaded it
        assert remote_tree(share)["Lưu trong lúc chờ.docx"] == b"saved"
    assert carried_out_by_agent(log, "sync") == 1


@WSGIDAV_ONLY
def test_a_request_waiting_when_the_agent_stops_is_done_by_the_command(
    tmp_path: Path, share: Share
) -> None:
    agent, gate = _held_pass(tmp_path, share)
    started = time.time()
    proc = agent.popen("run")
    try:
        sock = agent.state_dir / channel.SOCKET_NAME
        wait_until(lambda: sock.exists() and _passed_since(agent, started), 30, "the first pass")
        gate.opened.clear()
        agent.write("Bài 1.docx", b"one")
        wait_until(lambda: gate.held > 0, 30, "the agent's pass to reach the share")
        remote_put(share, "Từ tổ trưởng.txt", b"comment")
        asking = agent.popen("sync")
        stderr = Lines(asking)
        wait_until(
            lambda: any("Waiting for the agent's sync pass" in line for line in stderr.lines),
            30,
            "the command to say it waits",
        )
        proc.send_signal(signal.SIGTERM)  # the service is stopped meanwhile
        gate.opened.set()
        _out, agent_log = stop_agent(proc, term=False)
        assert proc.returncode == 0, agent_log
        out, _err = asking.communicate(timeout=60)
    finally:
        gate.close()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "request sync carried out" not in agent_log
    assert asking.returncode == 0, stderr.lines
    # The command's own pass, once the lock was free, did what the stopped agent left undone
    # (how much of it the agent's held pass did depends on where the stop found it).
    assert "Error" not in out and out.strip(), out
    assert agent.read("Từ tổ trưởng.txt") == b"comment"
    assert remote_tree(share)["Bài 1.docx"] == b"one"


def test_a_lock_holder_that_takes_no_requests_gets_the_busy_message(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder = subprocess.Popen(  # what a `hoso sync` at work, or an older agent, looks like
        [sys.executable, "-c", LOCK_HOLDER, str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    config = configmod.from_dict(
        {
            "root": str(tmp_path / "HoSo"),
            "state_dir": str(state),
            "remote": {"url": "http://127.0.0.1:9/"},
        },
        tmp_path / "agent.toml",
    )
    now = [0.0]
    try:
        with pytest.raises(AlreadyRunning) as info:
            control.carry_out(
                config,
                "trash.restore",
                {"item": 1},
                emit=print,
                clock=lambda: now[0],
                sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
            )
    finally:
        holder.kill()
        holder.wait(timeout=10)
    assert info.value.exit_code is ExitCode.USAGE
    message = str(info.value)
    assert str(holder.pid) in message and "takes no requests" in message
    assert now[0] >= control.STARTING_GRACE  # it waited for an agent still starting


LOCK_HOLDER = """
import sys
from pathlib import Path
from agent.lock import InstanceLock
InstanceLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
sys.stdin.readline()
"""


@WSGIDAV_ONLY
def test_a_request_whose_command_gave_up_is_not_carried_out(tmp_path: Path, share: Share) -> None:
    agent, gate = _held_pass(tmp_path, share)
    agent.write("Quan trọng.docx", b"keep")
    agent.write("Khác.docx", b"other")
    assert agent.cli("sync").returncode == 0
    remote_delete(share, "Quan trọng.docx")
    with running(agent), gate:  # its first pass moves the local copy to the trash
        items = json.loads(agent.cli("trash", "list", "--json").stdout)
        assert [i["path"] for i in items] == ["Quan trọng.docx"]
        gate.opened.clear()
        agent.write("Bài mới.docx", b"new")
        wait_until(lambda: gate.held > 0, 30, "the agent's pass to reach the share")
        asking = agent.popen("trash", "restore", str(items[0]["id"]))
        stderr = Lines(asking)
        wait_until(
            lambda: any("Waiting for the agent's sync pass" in line for line in stderr.lines),
            30,
            "the command to say it waits",
        )
        asking.send_signal(signal.SIGINT)  # the teacher gives up (Ctrl-C)
        asking.communicate(timeout=30)
        gate.opened.set()
        log = agent.state_dir / "logs" / "hoso.log"
        wait_until(
            lambda: "request trash.restore dropped" in log.read_text(errors="replace"),
            30,
            "the agent to drop the request",
        )
        assert not (agent.root / "Quan trọng.docx").exists()
        kept = json.loads(agent.cli("trash", "list", "--json").stdout)
        assert [i["path"] for i in kept] == ["Quan trọng.docx"]


def test_an_agent_that_never_answers_is_given_up_on_with_a_message(tmp_path: Path) -> None:
    state = tmp_path / "state"
    taken: list[channel.Call] = []
    listener = channel.Listener(state, taken.append)  # takes the request, never answers
    listener.start()
    try:
        with pytest.raises(ControlError) as info:
            channel.ask(
                state,
                "trash.restore",
                {"item": 1},
                on_event=print,
                deadline=time.monotonic() + 1.0,
                clock=time.monotonic,
            )
    finally:
        listener.close(wait=0)
    assert [call.name for call in taken] == ["trash.restore"]
    assert "did not answer in time" in str(info.value)
    assert info.value.exit_code is ExitCode.PARTIAL
    wait_until(lambda: not taken[0].asker_waiting(), 10, "the agent to see the asker gone")


def test_a_request_whose_connection_was_closed_meanwhile_has_no_asker_waiting() -> None:
    """The connection's thread closes the socket once the asker hangs up; the agent's loop
    asking about it a moment later must get False, not a ValueError that ends the loop."""
    ours, theirs = socket.socketpair()
    theirs.close()
    call = channel.Call("trash.restore", {"item": 1}, _conn=ours)
    ours.close()  # fileno() is now -1
    assert call.asker_waiting() is False
