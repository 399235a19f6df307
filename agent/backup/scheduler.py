"""When the running agent backs up: on the schedule, and once a burst of changes has settled.

`due()` is the decision, pure. `BackupWorker` runs due backups (and the retention policy) on
a thread of its own, so a backup never holds up a sync pass. Without a repository or a
passphrase it can use unattended (HOSO_BACKUP_PASSPHRASE or `[backup] key_file`), it says so
once in the log and stays idle; a damaged repository (its config missing) is said so too.

The last backup is the last one made here (history), whatever its date: one dated in the
future of ``now`` means the clock was ahead when it was made, and a backup is due now
rather than when the clock catches up.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from ..config import BACKUP_SCHEDULES, Config
from ..errors import HosoError, SafetyStop
from ..log import get_logger
from . import history
from .clock import TOLERANCE
from .repository import config_missing, repository_state

log = get_logger(__name__)

RETRY_AFTER_FAILURE = 600.0  # seconds
TICK = 60.0  # how often the worker looks whether a backup is due


def due(
    *, now: float, last_backup: float | None, last_change: float | None, config: Config
) -> str | None:
    """Why a backup is due now ("schedule", "changes"), or None."""
    interval = BACKUP_SCHEDULES[config.backup.schedule]
    in_future = last_backup is not None and last_backup > now + TOLERANCE.total_seconds()
    if interval and (last_backup is None or in_future or now - last_backup >= interval):
        return "schedule"
    quiet = config.backup.after_changes_minutes * 60
    if (
        quiet
        and last_change is not None
        and (last_backup is None or last_change > last_backup)
        and now - last_change >= quiet
    ):
        return "changes"
    return None


class BackupWorker:
    def __init__(self, config: Config, stop: threading.Event) -> None:
        self.config = config
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
        """Let a backup in progress finish, then stop."""
        self.wake.set()
        if self.thread.is_alive():
            self.thread.join()

    def _run(self) -> None:
        repo = None
        told = False
        while not self.stop.is_set():
            now = time.time()
            reason = None
            if not self._configured():
                if not told:
                    self._say_why_idle()
                    told = True
            elif now >= self._not_before:
                reason = due(
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
            result = service.backup(self.config, repo, tags=[reason])
            log.info(
                "backup %s: %d files, %d bytes new (%s)",
                result.snapshot[:8],
                result.files,
                result.bytes_added,
                reason,
            )
            if reason == "schedule":
                self._trim(repo)
        except HosoError as exc:
            log.warning("backup not made (%s): %s; trying again later", reason, exc)
            self._not_before = time.time() + RETRY_AFTER_FAILURE
        return repo

    def _trim(self, repo) -> None:  # type: ignore[no-untyped-def]
        """The retention policy; dates from a wrong clock stop it until a person confirms."""
        from . import service

        try:
            service.apply_retention(self.config, repo, now=datetime.now().astimezone())
        except SafetyStop as exc:
            log.warning("old backups not forgotten: %s", exc)
