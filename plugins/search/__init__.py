"""Search: find any record on the spot by its name or its text (letter rules L3, L6).

A built-in hoso plugin. It adds ``hoso search``: an SQLite FTS5 index of the records folder
(or of a manager's copy of the school share, ``--folder``), matched accent-, case- and
spacing-insensitively, with snippets of the records' own text. Under ``hoso run`` a thread of
the plugin keeps the index current as records settle and passes bring files; the hooks only
hand it work, so a sync pass never waits for indexing. docs/search.md tells how it matches.
"""

from __future__ import annotations

from typing import Any

from agent.api import Config, Record, Report
from agent.hooks import hookimpl


@hookimpl
def hoso_register_commands(cli: Any) -> None:
    from .commands import register

    register(cli)


@hookimpl
def hoso_record_settled(config: Config, record: Record) -> None:
    from .indexer import indexer

    indexer(config).update([record.path])


@hookimpl
def hoso_after_pass(config: Config, report: Report) -> None:
    from .indexer import indexer

    indexer(config).refresh()
