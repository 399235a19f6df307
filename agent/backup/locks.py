"""The exclusive lock of a backup repository (docs/backup-format.md, Locks).

A writer creates ``locks/<id>``, then lists the folder: any other lock that is not stale
means the repository is in use, and the writer removes its own lock and stops. The files
themselves live behind :class:`LockFolder`, which the repository implements, so that this
module holds only the protocol and the staleness rule.

Invariants:
- A lock is stale only when its process is provably gone (same host, and either a different
  boot or no such process), or when it is older than 24 hours: a live backup is never broken.
- A lock file that cannot be read is treated as held unless the file is older than 24 hours.
- Clearing a stale lock is logged with the host, process and time it named.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ..errors import BackupDamaged, RepositoryInUse
from ..i18n import _
from ..log import get_logger

STALE_AFTER = timedelta(hours=24)
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")

logger = get_logger(__name__)


class LockFolder(Protocol):
    """The repository's ``locks/`` folder, with envelopes already sealed and opened."""

    def create(self, plaintext: bytes) -> str: ...
    def names(self) -> list[str]: ...
    def read(self, name: str) -> bytes: ...  # BackupDamaged when it does not authenticate
    def modified(self, name: str) -> datetime: ...
    def remove(self, name: str) -> None: ...


@dataclass(frozen=True)
class Holder:
    """Who this process is, as a lock records it."""

    host: str
    pid: int
    boot: str

    @classmethod
    def current(cls) -> Holder:
        return cls(host=socket.gethostname(), pid=os.getpid(), boot=boot_id())

    def lock_json(self, now: datetime) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "boot": self.boot,
            "time": now.isoformat(timespec="seconds"),
            "exclusive": True,
        }


def boot_id() -> str:
    """This boot of this machine (Linux): a PID from an earlier boot names no live process."""
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    return True


def is_stale(lock: dict[str, Any], me: Holder, now: datetime) -> bool:
    """Whether ``lock`` may be removed by ``me`` at ``now``: its holder is provably gone."""
    try:
        taken = datetime.fromisoformat(lock["time"])
        if now - taken > STALE_AFTER:
            return True
    except (KeyError, TypeError, ValueError):
        pass  # fall through to the process test
    if lock.get("host") != me.host:
        return False
    boot = lock.get("boot", "")
    if boot and me.boot and boot != me.boot:
        return True
    pid = lock.get("pid")
    return isinstance(pid, int) and pid != me.pid and not process_alive(pid)


@contextmanager
def exclusive(folder: LockFolder, me: Holder, now: datetime) -> Iterator[None]:
    """Hold the repository's exclusive lock for the ``with`` block; RepositoryInUse if held."""
    mine = folder.create(json.dumps(me.lock_json(now)).encode())
    try:
        for name in folder.names():
            if name != mine:
                _claim(folder, name, me, now)
    except BaseException:
        folder.remove(mine)
        raise
    try:
        yield
    finally:
        folder.remove(mine)


def _claim(folder: LockFolder, name: str, me: Holder, now: datetime) -> None:
    """Remove the lock ``name`` if stale; raise RepositoryInUse if it is held."""
    try:
        lock = json.loads(folder.read(name))
    except FileNotFoundError:
        return  # released while we looked
    except (BackupDamaged, ValueError):
        _claim_unreadable(folder, name, now)
        return
    if not isinstance(lock, dict):
        lock = {}
    if is_stale(lock, me, now):
        logger.warning(
            "removed the stale backup lock locks/%s of process %s on %s (taken %s)",
            name,
            lock.get("pid"),
            lock.get("host"),
            lock.get("time"),
        )
        folder.remove(name)
        return
    raise RepositoryInUse(
        _(
            "The backup repository is in use by hoso process {pid} on {host} since {time}. "
            "Wait for it to finish, then try again."
        ).format(pid=lock.get("pid", "?"), host=lock.get("host", "?"), time=lock.get("time", "?"))
    )


def _claim_unreadable(folder: LockFolder, name: str, now: datetime) -> None:
    """A lock file that does not decrypt: held, unless the file itself is old enough."""
    try:
        age = now - folder.modified(name)
    except FileNotFoundError:
        return
    if age > STALE_AFTER:
        logger.warning("removed the unreadable stale lock file locks/%s", name)
        folder.remove(name)
        return
    raise RepositoryInUse(
        _(
            "The backup repository is locked by the file locks/{name}, which cannot be read. "
            "If no other hoso is using the repository, delete that file."
        ).format(name=name)
    )
