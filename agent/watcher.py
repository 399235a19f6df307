"""File-system hints for the daemon: which paths under the records folder may have changed.

The only module that imports watchdog. :class:`Watcher` turns watchdog events into
record-relative paths and hands each to a callback; :class:`OwnWrites` remembers what the
agent itself just wrote so its own downloads are not echoed back as local edits;
:class:`Debouncer` tells the daemon when the files it was told about have settled enough
for a pass.

Invariants:
- Hints only: a missed or extra event never loses data, because each pass rescans the
  folder (the scanner is the truth). So dropping an event we cannot place is always safe.
- Paths given to ``on_change`` are NFC, ``/``-separated, relative to the root (the root
  itself is ``""``), never ignored, never our temp files (``.~hoso-`` prefix), never a
  path registered in :class:`OwnWrites` within its time-to-live. ``None`` says that events
  were lost (the kernel's queue overflowed): anything under the root may have changed.
- Both ends of a move are reported. Office lock files are reported like any file: closing
  a document may unblock a download that waited for it.
- No debouncing here; the callback runs on watchdog's thread and must be quick.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    EventsLostEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from .errors import LocalError
from .i18n import _
from .log import get_logger
from .model import RelPath, nfc

log = get_logger(__name__)

TEMP_PREFIX = ".~hoso-"

# watchdog warns when a folder created inside a just-created folder gets its watch added
# twice (by the event and by its rescan); the watch is fine, the warning is journal noise.
warnings.filterwarnings(
    "ignore", message="Callback with id .* already exists", category=RuntimeWarning
)

# What can change a file's content, name or mtime. Opens, reads and a folder's own
# "modified" (a child came or went; the child's event says which) are left out.
_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,  # close after writing: the moment a save is complete
    FileAttribEvent,  # `touch` or a restore that sets the mtime
    FileDeletedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    EventsLostEvent,  # the kernel's queue overflowed: the hint is "somewhere under the root"
]


class OwnWrites:
    """Paths the agent itself wrote recently, so their events are not echoed back (thread-safe).

    An entry lives ``ttl`` seconds after its last :meth:`add`: long enough for the
    kernel's events of one write to arrive, short enough that a teacher's edit right after
    a download is still seen (and the next rescan catches it if it was not).
    """

    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._until: dict[RelPath, float] = {}
        self._lock = threading.Lock()

    def add(self, path: RelPath) -> None:
        """Register ``path`` (NFC, relative) just before the agent writes, moves or deletes it."""
        now = self._clock()
        with self._lock:
            self._until[nfc(path)] = now + self._ttl
            self._prune(now)

    def is_own(self, path: RelPath) -> bool:
        """True if ``path`` was registered and has not expired."""
        now = self._clock()
        with self._lock:
            return self._until.get(nfc(path), now) > now

    def _prune(self, now: float) -> None:
        expired = [p for p, until in self._until.items() if until <= now]
        for path in expired:
            del self._until[path]


class Watcher:
    """Recursive watch of the records folder that calls ``on_change(path)`` for each hint
    (``on_change(None)`` when events were lost).

    ``ignore(path, is_dir)`` is the scanner's ignore rule; ignored paths are dropped.
    """

    def __init__(
        self,
        root: Path,
        on_change: Callable[[RelPath | None], None],
        *,
        ignore: Callable[[RelPath, bool], bool],
        own_writes: OwnWrites,
    ) -> None:
        # abspath, not resolve(): watchdog reports paths under the spelling it was given.
        self._root = os.path.abspath(root)
        self._on_change = on_change
        self._ignore = ignore
        self._own_writes = own_writes
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        """Begin watching; raises LocalError when the folder cannot be watched (missing,
        or the system's inotify watch limit reached). Idempotent while running."""
        if self._observer is not None:
            return
        observer = Observer()
        handler = _Handler(self)
        try:
            observer.schedule(handler, self._root, recursive=True, event_filter=_EVENTS)
            observer.start()
        except OSError as exc:
            observer.stop()
            raise LocalError(
                _(
                    "Cannot watch the records folder {root} for changes: {detail}. "
                    "Changes will be found by the periodic rescan instead."
                ).format(root=self._root, detail=exc.strerror or exc)
            ) from None
        self._observer = observer

    def stop(self) -> None:
        """Stop watching and wait for watchdog's threads; safe to call twice."""
        observer, self._observer = self._observer, None
        if observer is None:
            return
        observer.stop()
        observer.join(timeout=10)

    @property
    def alive(self) -> bool:
        """False once stopped, or when watchdog's threads died (e.g. the root was removed
        or the watch limit was hit in a new subfolder): the daemon then relies on rescans."""
        observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        return bool(observer.emitters) and all(e.is_alive() for e in observer.emitters)

    def dispatch(self, event: FileSystemEvent) -> None:
        """Turn one watchdog event into zero, one or two ``on_change`` calls."""
        if isinstance(event, EventsLostEvent):
            self._call(None)
            return
        for raw, is_dir in _ends(event):
            path = self._relative(raw)
            if path is None or self._dropped(path, is_dir):
                continue
            self._call(path)

    def _call(self, path: RelPath | None) -> None:
        try:
            self._on_change(path)
        except Exception:
            # A bug in the callback must not silently end watching for the agent's life.
            log.exception("change handler failed for %s", path)

    def _relative(self, raw: str) -> RelPath | None:
        rel = os.path.relpath(raw, self._root)
        if rel == os.curdir:
            return ""
        if rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return None  # outside the root: a move's far end in another folder
        return nfc(rel.replace(os.sep, "/"))

    def _dropped(self, path: RelPath, is_dir: bool) -> bool:
        if any(part.startswith(TEMP_PREFIX) for part in path.split("/")):
            return True
        return self._own_writes.is_own(path) or (path != "" and self._ignore(path, is_dir))


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        super().__init__()
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._watcher.dispatch(event)


def _ends(event: FileSystemEvent) -> Iterator[tuple[str, bool]]:
    yield os.fsdecode(event.src_path), event.is_directory
    if event.dest_path:
        yield os.fsdecode(event.dest_path), event.is_directory


PASS_SPACING = 1.0  # seconds at least between two passes the debouncer asks for


class Debouncer:
    """When to run a pass after change hints, path by path (thread-safe; the clock is injected).

    A path has settled once no hint about it arrived for ``settle`` seconds, or ``max_wait``
    seconds after its first hint, so a file written continuously is still synced every
    ``max_wait`` seconds. A pass is due as soon as the earliest pending path has settled,
    whatever else is still being written: the scanner leaves the files written within the
    settle time for a later pass (which the pass asks for), so during a stream of saves each
    file goes up about ``settle`` after its own last write. Passes come at most one per
    ``spacing`` seconds, each taking every path settled by then: a stream of 1,000 files
    makes a pass a second, not 1,000. A hint without a usable path (``None``: events were
    lost; ``""``: the records folder itself) falls back to the whole-folder rule: due once
    no hint of any kind arrived for ``settle`` seconds, or ``max_wait`` after it. Typical
    loop::

        debouncer.touch(path, now)           # from the watcher's callback
        deadline = debouncer.next_deadline() # sleep until then (or until the next touch)
        if debouncer.take(now): run_pass()
    """

    def __init__(self, settle: float, max_wait: float, spacing: float = PASS_SPACING) -> None:
        self._settle = max(settle, 0.0)
        self._max_wait = max(max_wait, self._settle)  # a max below the settle delay means none
        self._spacing = max(spacing, 0.0)
        self._paths: dict[RelPath, _Burst] = {}  # path → its hints since it was last taken
        self._whole: _Burst | None = None  # the hints without a usable path
        self._last = float("-inf")  # the latest hint of any kind
        self._taken = float("-inf")  # when the last pass was taken
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        """True when hints arrived that no :meth:`take` has cleared yet."""
        with self._lock:
            return bool(self._paths) or self._whole is not None

    def touch(self, path: RelPath | None, now: float) -> None:
        """Record a hint about ``path`` (``None`` or ``""``: the whole folder) seen at ``now``."""
        with self._lock:
            # Callers read their clock before taking the lock, so touches may arrive a hair
            # out of order.
            self._last = max(self._last, now)
            if not path:
                self._whole = _Burst.extend(self._whole, now)
            else:
                self._paths[path] = _Burst.extend(self._paths.get(path), now)

    def next_deadline(self) -> float | None:
        """The time at which :meth:`due` becomes True, or None when nothing is pending."""
        with self._lock:
            return self._deadline()

    def due(self, now: float) -> bool:
        """True when a pass should run now (does not clear the pending hints)."""
        with self._lock:
            deadline = self._deadline()
            return deadline is not None and now >= deadline

    def take(self, now: float) -> bool:
        """Like :meth:`due`, and when True clears the hints settled by ``now`` in one step
        (those still settling stay pending), so a hint arriving meanwhile from the watcher's
        thread is never lost."""
        with self._lock:
            deadline = self._deadline()
            if deadline is None or now < deadline:
                return False
            self._paths = {p: b for p, b in self._paths.items() if self._settles(b) > now}
            if self._whole is not None and self._settles_whole(self._whole) <= now:
                self._whole = None
            self._taken = now
            return True

    def _settles(self, burst: _Burst) -> float:
        return min(burst.last + self._settle, burst.first + self._max_wait)

    def _settles_whole(self, burst: _Burst) -> float:
        return min(self._last + self._settle, burst.first + self._max_wait)

    def _deadline(self) -> float | None:
        times = [self._settles(b) for b in self._paths.values()]
        if self._whole is not None:
            times.append(self._settles_whole(self._whole))
        if not times:
            return None
        return max(min(times), self._taken + self._spacing)


@dataclass(frozen=True)
class _Burst:
    """The first and the latest hint about one path since it was last taken."""

    first: float
    last: float

    @staticmethod
    def extend(burst: _Burst | None, now: float) -> _Burst:
        if burst is None:
            return _Burst(now, now)
        return _Burst(burst.first, max(burst.last, now))
