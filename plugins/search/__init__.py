"""Search: find any record on the spot by its name or its text (letter rules L3, L6).

A built-in hoso plugin. It adds ``hoso search``: an SQLite FTS5 index of the records folder
(or of a manager's copy of the school share, ``--folder``), matched accent-, case- and
spacing-insensitively, with snippets of the records' own text. Under ``hoso run`` a thread of
the plugin keeps the index current as records settle and passes bring files; the hooks only
hand it work, so a sync pass never waits for indexing. docs/search.md tells how it matches.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from agent.api import Config, Record, Report
from agent.hooks import Job, JobContext, LazyCommand, hookimpl

REFRESH_EVERY = 3600.0  # seconds


@hookimpl
def hoso_commands() -> list[LazyCommand]:
    """Named here, imported only when run (`hoso --help` lists them from this)."""
    return [
        LazyCommand(
            "search",
            "Find records by their name and text: accents, case and spacing do not matter.",
            "plugins.search.commands:search_command",
        ),
    ]


@hookimpl(wrapper=True)
def hoso_record_types(config: Config) -> Generator[None, list[Any], list[Any]]:
    """Sees the record types the other plugins give the agent's validator (unchanged), so
    that the agent's indexer classifies as the validator does without a plugin host of its
    own (a second host in the agent process disturbs the first one's bookkeeping)."""
    answers = yield
    from .seentypes import remember_types

    remember_types(config, [t for answer in answers if isinstance(answer, list) for t in answer])
    return answers


@hookimpl
def hoso_scheduled_jobs(config: Config) -> list[Job]:
    from .indexer import start

    start(config)  # only the running agent asks for jobs: its indexer starts here
    return [Job("refresh-index", REFRESH_EVERY, refresh_index)]


def refresh_index(context: JobContext) -> None:
    """Walk the folder now and then: a change the watcher and the passes missed (a file
    restored with its old time) is indexed within the hour."""
    from .indexer import running

    indexer = running(context.config)
    if indexer is not None:
        indexer.refresh()


@hookimpl
def hoso_record_settled(config: Config, record: Record) -> None:
    from .indexer import running

    indexer = running(config)
    if indexer is not None:
        indexer.update([record.path])


@hookimpl
def hoso_after_pass(config: Config, report: Report) -> None:
    from .indexer import running

    indexer = running(config)
    if indexer is not None:
        indexer.refresh()


@hookimpl
def hoso_web_pages(config: Config) -> list[Any]:
    from .web import page

    return [page()]
