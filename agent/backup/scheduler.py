"""The running agent's backups: on the schedule, and once a burst of changes has settled.

`BackupWorker` runs the backups :func:`agent.schedule.backup_due` (pure) says are due, and the
retention policy, on a thread of its own, so a backup never holds up a sync pass. Without a
repository or a passphrase it can use unattended (HOSO_BACKUP_PASSPHRASE, the vault or
`[backup] key_file`), it says so once in the log and stays idle; a damaged repository (its
config missing) is said so too. At each look it re-reads the config file when the file changed
(:class:`FollowedConfig`, which the backup made before a mass delete the agent is asked for
uses too), so that a repository created or connected while the agent runs (`hoso backup
init`, `hoso backup connect`) is used from then on.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

from .. import config as configmod
from ..config import Config
from ..errors import ConfigError, HosoError, SafetyStop
from ..log import get_logger
from ..schedule import BACKUP_RETRY, backup_due
from . import history
from .repository import config_missing, repository_state

log = get_logger(__name__)

TICK = 60.0  # how often the worker looks whether a backup is due


class _Stopping(HosoError):
    """The agent is stopping: the backup in progress ends between two files, unfinished
    (no snapshot names it; the packs already written are complete files, as after a crash)."""


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells cheaply that the config file was rewritten (write_private replaces it)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class FollowedConfig:
    """The config file as it is on disk now, for whatever the running agent backs up with:
    re-read when the file was rewritten. A config broken meanwhile is said once and the one
    read before stays in force (the agent's sync goes on with it too). Thread-safe: the backup
    thread and the loop thread (a request's backup) both ask."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._stamp = _stamp(config.path)
        self._lock = threading.Lock()

    def current(self) -> Config:
        with self._lock:
            stamp = _stamp(self._config.path)
            if stamp == self._stamp or stamp is None:
                return self._config
            self._stamp = stamp
            try:
                self._config = configmod.load(self._config.path)
            except ConfigError as exc:
                log.warning("backups go on with the settings read before: %s", exc)
            return self._config


class BackupWorker:
    def __init__(self, followed: FollowedConfig, stop: threading.Event) -> None:
        self.followed = followed
        self.config = followed.current()
        self.stop = stop
        self.wake = threading.Event()
        self.last_change: float | None = None
        self._not_before = 0.0
        self.thread = threading.Thread(target=self._run, name="hoso-backup", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _configured(self) -> bool:
        """A repository exists (`hoso backup init` may run while the agent does)."""
        return repository_state(self.config.backup.repository_path()) == "repository"

    def changed(self) -> None:
        """A pass changed the records folder or brought changes into it."""
        self.last_change = time.time()

    def finish(self) -> None:
        """Stop; a backup in progress ends at the next file (see ``_stopping``)."""
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join()

    def _reread_config(self) -> bool:
        """Take the config as it is now; True when its backup settings differ from those
        used so far."""
        fresh = self.followed.current()
        changed = fresh.backup != self.config.backup
        self.config = fresh
        if changed:
            log.info("backup settings changed: repository %s", fresh.backup.repository_path())
        return changed

    def _run(self) -> None:
        repo = None
        told = False
        while not self.stop.is_set():
            if self._reread_config():  # another repository, or another passphrase for it
                repo, told, self._not_before = None, False, 0.0
            now = time.time()
            reason = None
            if not self._configured():
                if not told:
                    self._say_why_idle()
                    told = True
            elif now >= self._not_before:
                reason = backup_due(
                    now=now,
                    last_backup=history.last_time(self.config),
                    last_change=self.last_change,
                    config=self.config,
                )
            if reason is not None:
                repo = self._backup(repo, reason)
            self.wake.wait(TICK)

    def _say_why_idle(self) -> None:
        path = self.config.backup.repository_path()
        if repository_state(path) == "damaged":
            log.error("backups stopped: %s", config_missing(path))
        else:
            log.info("backups: no repository yet (`hoso backup init`)")

    def _backup(self, repo, reason: str):  # type: ignore[no-untyped-def]
        from . import service

        try:
            if repo is None:
                repo = service.open_repository(self.config, service.passphrase(self.config))
            result = service.backup(self.config, repo, tags=[reason], on_progress=self._stopping)
            log.info(
                "backup %s: %d files, %d bytes new (%s)",
                result.snapshot[:8],
                result.files,
                result.bytes_added,
                reason,
            )
            if reason == "schedule":
                self._trim(repo)
        except _Stopping:
            log.info("backup (%s) left unfinished: the agent is stopping", reason)
        except HosoError as exc:
            log.warning("backup not made (%s): %s; trying again later", reason, exc)
            self._not_before = time.time() + BACKUP_RETRY
        return repo

    def _stopping(self, path: str) -> None:
        """Asked before each file is backed up: a large folder takes minutes, and SIGTERM
        must end the agent within seconds."""
        if self.stop.is_set():
            raise _Stopping("stopping")

    def _trim(self, repo) -> None:  # type: ignore[no-untyped-def]
        """The retention policy; dates from a wrong clock stop it until a person confirms."""
        from . import service

        try:
            service.apply_retention(self.config, repo, now=datetime.now().astimezone())
        except SafetyStop as exc:
            log.warning("old backups not forgotten: %s", exc)
