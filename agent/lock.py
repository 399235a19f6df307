"""One agent per config: an exclusive lock on ``<state_dir>/agent.lock``.

`hoso run` holds :class:`InstanceLock` for its whole run. A state-changing command (`hoso
sync`, `hoso trash restore`) takes it to do its work itself when no agent runs, and hands the
work to the agent holding it otherwise (agent/control.py), so a manual sync never runs beside
the service on the same journal. The "stop it first" message is for a second `hoso run`
while an agent holds the lock; `hoso run` waits for a command holding it (agent/daemon.py).

Invariants:
- The lock is a ``flock`` on an open descriptor, so the kernel drops it when the holder dies,
  however it dies (SIGKILL, power loss): a lock file left behind is never "stale".
- The descriptor is not inherited by child processes (Python opens files non-inheritable),
  so a plugin's subprocess cannot keep the lock alive after the agent exits.
- The file is readable only by its owner and holds the holder's PID, for the error message.
- The file is never deleted: unlinking a flock'ed file lets a third process lock a new inode
  while the second still waits on the old one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from .errors import AlreadyRunning, LocalError
from .i18n import _
from .safepath import private_dir

LOCK_NAME = "agent.lock"


class InstanceLock:
    """Context manager holding the state folder's agent lock.

    ``with InstanceLock(config.state_dir): ...`` raises :class:`AlreadyRunning` when another
    process holds it, and :class:`LocalError` when the lock file cannot be opened at all.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock without waiting, then record our PID in the file."""
        if self._fd is not None:
            return
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(self._busy_message(pid), pid) from None
        except OSError as exc:
            os.close(fd)
            raise self._io_error(exc) from None
        _write_pid(fd, os.getpid())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up; the PID is cleared first so nobody reads a finished holder."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _open(self) -> int:
        try:
            private_dir(self.state_dir)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._io_error(exc) from None
        # The file may predate us with a looser mode (copied state folder, old umask).
        os.fchmod(fd, 0o600)
        return fd

    def _busy_message(self, pid: int | None) -> str:
        if pid is None:
            return _(
                "Another hoso agent is already running for the state folder {state_dir}. "
                "Stop it first (for the service: `systemctl --user stop hoso-agent`)."
            ).format(state_dir=self.state_dir)
        return _(
            "Another hoso agent (process {pid}) is already running for the state folder "
            "{state_dir}. Stop it first (for the service: `systemctl --user stop hoso-agent`)."
        ).format(pid=pid, state_dir=self.state_dir)

    def _io_error(self, exc: OSError) -> LocalError:
        return LocalError(
            _("Cannot use the lock file {path}: {detail}").format(
                path=self.path, detail=exc.strerror or exc
            )
        )


def held_elsewhere(state_dir: Path) -> bool:
    """Whether another process holds the agent lock now (an agent runs, or a command doing a
    sync itself). Takes nothing: the lock is tried and let go at once."""
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False  # never created: no agent ever ran here
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing lets go of a lock taken
    return False


def _read_pid(fd: int) -> int | None:
    # The holder may be between flock() and writing its PID: an empty file means "unknown".
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _write_pid(fd: int, pid: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid}\n".encode("ascii"), 0)
