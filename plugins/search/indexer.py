"""The running agent's indexer: a thread of the plugin that keeps the records folder's index
current while ``hoso run`` syncs.

It is started by the plugin's ``hoso_scheduled_jobs`` (asked once by the agent as it starts,
so never in a one-shot command). The hooks only hand it work (:meth:`Indexer.update` for a
record that settled, :meth:`Indexer.refresh` after a pass): they never touch SQLite nor read
a document, so a sync pass never waits for indexing. The thread reads changed files in the
document sandbox and commits each file's row in a transaction of its own.

The agent has no hook to stop a plugin, so the thread is a daemon thread: it dies with the
process, at any point, and the per-file transactions leave the index as it was before or
after that file (the next refresh reads what was left).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from agent.api import Config, HosoError, Storage, ignore_rules, with_shipped

from .index import Facts, Writer
from .seentypes import remembered_types
from .service import open_index, read_text

log = logging.getLogger(__name__)
RETRY_SECONDS = 60.0  # after a failure (the reader could not start, the disk is full)

_indexers: dict[tuple[Path, Path], Indexer] = {}
_indexers_lock = threading.Lock()


def facts_of(config: Config) -> Facts:
    """The records folder's facts in the agent: the types as its validator has them (the
    plugins' first, then the shipped catalogue), what the sync ignores left out."""
    types = tuple(with_shipped(list(remembered_types(config))))
    return Facts(
        root=config.root, skip=ignore_rules(config).is_ignored, types=types, by_teacher=False
    )


def start(config: Config) -> Indexer:
    """The indexer of ``config``'s records folder, started on first use (by the running agent
    only: its jobs are asked for once, when it starts), with a refresh of the whole folder
    queued: what changed while no agent ran is indexed at once. Asked again when the agent
    takes a new school profile: the record types and ignore rules are read again."""
    key = (config.state_dir, config.root)
    with _indexers_lock:
        found = _indexers.get(key)
        if found is None:
            found = _indexers[key] = Indexer(config)
    found.renew(config)
    return found


def running(config: Config) -> Indexer | None:
    """The indexer the running agent started for ``config``; None in any other process (a
    one-shot `hoso sync` leaves the index to the next search) or for another folder."""
    with _indexers_lock:
        return _indexers.get((config.state_dir, config.root))


class Indexer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._whole = False
        self._renewed = False
        self._wake = threading.Event()
        self._pause = threading.Event()  # never set: waited on between tries
        self._thread = threading.Thread(target=self._run, name="hoso-search-index", daemon=True)
        self._thread.start()

    def renew(self, config: Config) -> None:
        """Work on ``config`` from now on (types and rules read again), the whole folder."""
        with self._lock:
            self.config = config
            self._renewed = True
            self._whole = True
        self._wake.set()

    def update(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._paths.update(paths)
        self._wake.set()

    def refresh(self) -> None:
        with self._lock:
            self._whole = True
        self._wake.set()

    def _take(self) -> tuple[set[str], bool, bool]:
        with self._lock:
            self._wake.clear()
            paths, self._paths = self._paths, set()
            whole, self._whole = self._whole, False
            renewed, self._renewed = self._renewed, False
        return paths, whole, renewed

    def _run(self) -> None:
        store: Storage | None = None
        writer: Writer | None = None
        while True:
            self._wake.wait()
            paths, whole, renewed = self._take()
            try:
                if store is None:
                    store = open_index(self.config, None)
                if writer is None or renewed:
                    writer = Writer(store, facts_of(self.config), read_text)
                if paths:
                    writer.update(sorted(paths))
                if whole:
                    writer.refresh()
            except Exception as exc:
                # The thread lives as long as the agent: no file and no bug may end it (a
                # record dated past 2262 once did, silently, for the rest of the agent's run).
                if isinstance(exc, HosoError):
                    log.warning("search index: %s (trying again in a minute)", exc)
                else:
                    log.exception("search index: unexpected error (trying again in a minute)")
                    writer = None  # made again on the next try
                with self._lock:  # the work is kept for the next try
                    self._paths |= paths
                    self._whole |= whole
                    self._renewed |= renewed
                self._pause.wait(RETRY_SECONDS)
                self._wake.set()
