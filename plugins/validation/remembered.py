"""The files that were too complex to read, remembered until they change.

A document that hit a limit of the sandbox (:mod:`agent.documents.sandbox`) costs its full
limit every time it is read: the agent checks every record once a day, and `hoso check
--again` on demand. So the file is remembered by its size, modification time and inode, with
the limits it hit them under, in ``<state_dir>/validation-too-complex.json``; while all of these
are unchanged, :meth:`TooComplexFiles.recall` answers instead of a worker. A saved, replaced or
touched file, or raised limits, get it read again.

The store is shared by the agent and the commands: each write replaces the file whole
(``write_private``), and a reader reloads it when it changed. Two processes writing at the same
time may lose one entry: that file is then read once more, nothing worse.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from agent.api import (
    Limit,
    Limits,
    TooComplex,
    write_private,
)

P = ParamSpec("P")
T = TypeVar("T")

FILE_NAME = "validation-too-complex.json"
MAX_ENTRIES = 1000


def _identity(stat: os.stat_result, limits: Limits) -> list[Any]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino, list(astuple(limits))]


class TooComplexFiles:
    """The remembered files of one state folder. Thread-safe."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self._entries: dict[str, dict[str, Any]] = {}
        self._loaded: int | None = None  # the store's mtime_ns when last loaded
        self._lock = threading.Lock()

    def recall(self, file: Path, stat: os.stat_result, limits: Limits) -> TooComplex | None:
        """What ``file`` hit when it was last read, if it has not changed since."""
        with self._lock:
            self._reload()
            entry = self._entries.get(str(file))
        if entry is None or entry["identity"] != _identity(stat, limits):
            return None
        return TooComplex(Limit(entry["limit"]), str(entry.get("detail", "")))

    def remember(self, file: Path, stat: os.stat_result, limits: Limits, exc: TooComplex) -> None:
        entry = {
            "identity": _identity(stat, limits),
            "limit": exc.limit.value,
            "detail": exc.detail,
        }
        with self._lock:
            self._reload()
            self._entries[str(file)] = entry
            self._prune()
            self._save()

    def forget(self, file: Path) -> None:
        with self._lock:
            self._reload()
            if self._entries.pop(str(file), None) is not None:
                self._save()

    def _reload(self) -> None:
        try:
            mtime = self.store.stat().st_mtime_ns
        except FileNotFoundError:
            self._entries, self._loaded = {}, None
            return
        if mtime == self._loaded:
            return
        try:
            raw = json.loads(self.store.read_text(encoding="utf-8"))
            files = raw["files"] if isinstance(raw, dict) else {}
        except (OSError, ValueError, KeyError):  # damaged: forgetting only costs re-reads
            files = {}
        self._entries = {k: v for k, v in files.items() if isinstance(v, dict)}
        self._loaded = mtime

    def _prune(self) -> None:
        """Drop the entries of files that are gone, and the oldest past MAX_ENTRIES."""
        self._entries = {k: v for k, v in self._entries.items() if os.path.lexists(k)}
        while len(self._entries) > MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]

    def _save(self) -> None:
        write_private(self.store, json.dumps({"files": self._entries}, ensure_ascii=False))
        self._loaded = self.store.stat().st_mtime_ns


def remembering(
    read: Callable[Concatenate[Path, P], T], files: TooComplexFiles, limits: Limits
) -> Callable[Concatenate[Path, P], T]:
    """``read`` (the sandbox's ``read`` or ``analyse``) that answers from ``files`` for a
    file remembered as too complex, and remembers the files that are."""

    def read_unless_known(file: Path, *args: P.args, **kwargs: P.kwargs) -> T:
        stat = file.stat()
        known = files.recall(file, stat, limits)
        if known is not None:
            raise known
        try:
            answer = read(file, *args, **kwargs)
        except TooComplex as exc:
            files.remember(file, stat, limits, exc)
            raise
        files.forget(file)
        return answer

    return read_unless_known


_shared: dict[Path, TooComplexFiles] = {}
_shared_lock = threading.Lock()


def of_state_dir(state_dir: Path) -> TooComplexFiles:
    """The remembered files of a state folder, one object per process."""
    with _shared_lock:
        files = _shared.get(state_dir)
        if files is None:
            files = _shared[state_dir] = TooComplexFiles(state_dir / FILE_NAME)
        return files
