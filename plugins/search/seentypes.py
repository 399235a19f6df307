"""The record types the plugins gave the agent's validator, as the search plugin's wrapper of
``hoso_record_types`` saw them: kept apart from the indexer, so that a one-shot `hoso sync`
(which asks for the types too) does not load the index and its readers."""

from __future__ import annotations

import threading
from pathlib import Path

from agent.api import Config, RecordType

_types: dict[tuple[Path, Path], tuple[RecordType, ...]] = {}
_lock = threading.Lock()


def remember_types(config: Config, types: list[RecordType]) -> None:
    """The record types the plugins gave for ``config`` (the agent's validator asks for them
    before the agent starts its jobs, and again on a new school profile)."""
    with _lock:
        _types[(config.state_dir, config.root)] = tuple(types)


def remembered_types(config: Config) -> tuple[RecordType, ...]:
    with _lock:
        return _types.get((config.state_dir, config.root), ())
