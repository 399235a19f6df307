"""InstanceLock: one agent per state folder, freed by the kernel when its holder dies."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.errors import AlreadyRunning, ExitCode, LocalError
from agent.lock import InstanceLock

HOLDER = """
import sys
from pathlib import Path
from agent.lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of tmp_path/state, until killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "state")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    # readline() blocks until the child has the lock: no sleep needed.
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def test_lock_file_is_private_and_names_the_holder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with InstanceLock(state) as lock:
        assert lock.held
        mode = stat.S_IMODE(lock.path.stat().st_mode)
        assert mode == 0o600
        assert lock.path.read_text().strip() == str(os.getpid())
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert not lock.held
    assert lock.path.read_text() == ""  # a finished holder leaves no PID behind


def test_second_holder_is_refused_with_pid_and_state_dir(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    state = tmp_path / "state"
    with pytest.raises(AlreadyRunning) as info:
        InstanceLock(state).acquire()
    message = str(info.value)
    assert str(holder.pid) in message
    assert str(state) in message
    assert info.value.exit_code is ExitCode.USAGE


def test_lock_of_a_killed_process_is_free(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    state = tmp_path / "state"
    with pytest.raises(AlreadyRunning):
        InstanceLock(state).acquire()
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL
    # The dead holder's PID is still in the file, but the kernel dropped its flock.
    assert (state / "agent.lock").read_text().strip() == str(holder.pid)
    with InstanceLock(state) as lock:
        assert lock.path.read_text().strip() == str(os.getpid())


def test_two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire()
    first.acquire()  # idempotent for the holder itself
    with pytest.raises(AlreadyRunning):
        InstanceLock(tmp_path).acquire()
    first.release()
    with InstanceLock(tmp_path) as second:
        assert second.held


def test_loose_mode_of_an_old_lock_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "agent.lock"
    path.write_text("123\n")
    path.chmod(0o644)
    with InstanceLock(tmp_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_unusable_state_dir_is_a_local_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(LocalError) as info:
        InstanceLock(blocker / "state").acquire()
    assert "agent.lock" in str(info.value)


def test_held_elsewhere_tells_without_taking_the_lock(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    from agent.lock import held_elsewhere

    state = tmp_path / "state"
    assert not held_elsewhere(tmp_path / "never-used")  # no lock file: nothing created
    assert not (tmp_path / "never-used").exists()
    assert held_elsewhere(state)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert not held_elsewhere(state)
    # Asking took nothing: the lock is free for an agent at once.
    with InstanceLock(state):
        assert held_elsewhere(state)  # another descriptor of this process counts too
