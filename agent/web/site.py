"""What the teacher's page serves, without the web framework: the config it follows, its pages,
its sessions and its running tasks.

Apart from agent/web/app.py so that the agent can listen for the page at start-up and build
the Flask application (Flask, Jinja, Werkzeug: about 5 MiB an idle agent would otherwise hold)
only when the page is first asked for.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import config as configmod
from ..config import Config
from ..hooks import load_plugins
from ..webpage import WebPage
from .tasks import Tasks

SESSION_SECONDS = 12 * 3600.0  # a session lasts a school day; `hoso ui` opens a new one
RESERVED = {"login", "logout", "lang", "static", "tasks", "health"}


@dataclass
class Site:
    """What the application serves: the config file it follows (re-read when it changes, so
    the first-run wizard and `hoso init` take effect without a restart), the pages, the
    sessions opened here and the running tasks."""

    config_path: Path
    state_dir: Path
    port: int
    now: Callable[[], float] = time.time
    # Sessions live in this process only, so they are timed by its own clock: a wall clock
    # put right by a year must neither end them at once nor make them last a year.
    monotonic: Callable[[], float] = time.monotonic
    tasks: Tasks = field(default_factory=Tasks)
    _sessions: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _config: tuple[tuple[int, int], Config] | None = None
    _pages: tuple[Config | None, list[WebPage]] | None = None

    def config(self) -> Config | None:
        """The config as the file says now; None before `hoso init` (or the wizard)."""
        try:
            stat = self.config_path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._config is not None and self._config[0] == stamp:
                return self._config[1]
        loaded = configmod.load(self.config_path)
        with self._lock:
            self._config = (stamp, loaded)
        return loaded

    def pages(self, config: Config | None) -> list[WebPage]:
        """The core's pages and the enabled plugins', in menu order."""
        from .pages import core_pages

        with self._lock:
            if self._pages is not None and self._pages[0] is config:
                return self._pages[1]
        found = list(core_pages())
        if config is not None:
            found += [page for _plugin, page in load_plugins(config).web_pages()]
        found = [p for p in found if p.slug not in RESERVED]
        found.sort(key=lambda page: (page.order, page.slug))
        with self._lock:
            self._pages = (config, found)
        return found

    def open_session(self) -> str:
        sid = secrets.token_urlsafe(24)
        now = self.monotonic()
        with self._lock:
            for old in [s for s, until in self._sessions.items() if until < now]:
                del self._sessions[old]
            self._sessions[sid] = now + SESSION_SECONDS
        return sid

    def session_valid(self, sid: object) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            until = self._sessions.get(sid)
        return until is not None and self.monotonic() < until

    def close_session(self, sid: object) -> None:
        with self._lock:
            self._sessions.pop(str(sid), None)
