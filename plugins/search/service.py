"""`hoso search`: what the command does, apart from click. Opens the index of the folder
searched, brings it up to date when nobody else keeps it so, and answers a query.

The records folder's index is kept current by the running agent (indexer.py); when no agent
runs, a search refreshes it first (reading only what changed), so a one-shot search is
never stale. While an agent runs, a search only reads, and leaves out a hit whose file is
gone since. A manager's copy (``--folder``) has no agent: each search refreshes its index.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.api import (
    DEFAULT_LIMITS,
    FIRST_WEEK,
    LAST_WEEK,
    Config,
    SafetyStop,
    Storage,
    StorageError,
    TooComplex,
    Unreadable,
    UsageError,
    _,
    agent_running,
    document_sandbox,
    ignore_rules,
    open_validator,
    printable_name,
    storage,
)

from .files import stat_one
from .index import MIGRATIONS, Facts, Filters, Hit, Writer, count, hits, texts
from .query import DEFAULT_LIMIT, Query, parse
from .snippet import snippet

NAME = "search"
MAX_LIMIT = 1_000_000  # more than any folder holds; SQLite refuses a LIMIT past 2**63
JSON_MARKS = ("«", "»")  # around matched words in the JSON snippet
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Options:
    type: str | None = None
    week: int | None = None
    weeks: str | None = None  # "A-B"
    subject: str | None = None
    folder: Path | None = None
    teacher: str | None = None
    limit: int = DEFAULT_LIMIT
    reindex: bool = False


@dataclass(frozen=True)
class Result:
    path: str
    name: str
    type: str | None
    week: int | None
    subject: str | None
    teacher: str | None
    modified: str  # ISO 8601, local time
    snippet: str
    score: float
    exact: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "type": self.type,
            "week": self.week,
            "subject": self.subject,
            "teacher": self.teacher,
            "modified": self.modified,
            "snippet": self.snippet,
            "score": self.score,
            "exact": self.exact,
        }


@dataclass(frozen=True)
class Answer:
    results: list[Result]
    total: int

    def to_json(self) -> dict[str, Any]:
        return {"results": [r.to_json() for r in self.results], "total": self.total}


def weeks_of(week: int | None, weeks: str | None) -> tuple[int, int] | None:
    """The week range of ``--week N`` or ``--weeks A-B``; UsageError for anything else."""
    if week is not None and weeks is not None:
        raise UsageError(_("Give either --week or --weeks, not both."))
    if week is not None:
        span = (week, week)
    elif weeks is not None:
        first, dash, last = weeks.partition("-")
        if not dash or not first.strip().isdigit() or not last.strip().isdigit():
            raise UsageError(
                _("--weeks takes two week numbers with a dash, for example --weeks 1-18.")
            )
        span = (int(first), int(last))
    else:
        return None
    if not (FIRST_WEEK <= span[0] <= span[1] <= LAST_WEEK):
        raise UsageError(
            _(
                "School weeks go from {first} to {last}, the first week of a range before the "
                "last: {given} is none."
            ).format(first=FIRST_WEEK, last=LAST_WEEK, given=weeks or week)
        )
    return span


def index_name(folder: Path | None) -> str:
    """The storage of a folder's index: the records folder's, or one per other folder."""
    if folder is None:
        return NAME
    return (
        NAME + "_" + hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    )


def open_index(config: Config, folder: Path | None) -> Storage:
    return storage(config, index_name(folder), MIGRATIONS)


def read_text(file: Path) -> str | None:
    """A document's text, read in the sandbox; None for what has none to give (a picture,
    an old .doc, an encrypted or broken file, one too big): it is found by its name.
    OSError when it cannot be opened now (the index reads it again later)."""
    try:
        text = document_sandbox(DEFAULT_LIMITS).read(file).text
    except (Unreadable, TooComplex):
        return None
    # A PDF's ToUnicode map can name a lone surrogate, which SQLite cannot store (UTF-8).
    return _SURROGATE.sub("\ufffd", text)


def facts_of(config: Config, folder: Path | None) -> Facts:
    """What indexing ``folder`` (None: the records folder) needs in a command: the record
    types as the validator has them, and what the sync ignores (hoso's own files, the trash,
    Office lock files, `[sync] ignore`) left out."""
    with open_validator(config) as validator:
        types = tuple(validator.types)
    root = folder if folder is not None else config.root
    skip = ignore_rules(config).is_ignored
    return Facts(root=root, skip=skip, types=types, by_teacher=folder is not None)


def search(
    config: Config,
    text: str,
    options: Options,
    *,
    marks: tuple[str, str] = JSON_MARKS,
) -> Answer:
    """The answer to ``text`` with ``options``; UsageError (nothing changed) for a bad query
    or bad options."""
    query = parse(text)
    filters = _filters(options)
    folder = _folder(options.folder)
    if folder is None and not config.root.is_dir():
        # A refresh would take every record for deleted and empty the index.
        raise SafetyStop(
            _(
                "The records folder {root} is missing or not mounted: nothing can be searched "
                "and the search index was kept. Reconnect the drive or restore the folder, then "
                "search again."
            ).format(root=printable_name(str(config.root)))
        )
    writing = folder is not None or not agent_running(config)
    facts: Facts | None = None
    if writing or options.reindex or filters.type is not None:
        facts = facts_of(config, folder)
        _check_type(filters.type, facts)
    try:
        return _search_index(config, folder, facts, query, filters, options, writing, marks)
    except StorageError as exc:
        if not (options.reindex and writing):
            hint = _(
                "If the search index is damaged, rebuild it: hoso search --reindex WORDS "
                "(with an agent running, stop it first)."
            )
            raise StorageError(f"{exc} {hint}") from None
    # --reindex, nobody else writing: the damaged index is set aside, a new one built.
    _set_aside(config.state_dir / "plugins" / f"{index_name(folder)}.sqlite3")
    return _search_index(config, folder, facts, query, filters, options, writing, marks)


def _search_index(
    config: Config,
    folder: Path | None,
    facts: Facts | None,
    query: Query,
    filters: Filters,
    options: Options,
    writing: bool,
    marks: tuple[str, str],
) -> Answer:
    with open_index(config, folder) as store:
        if facts is not None and (writing or options.reindex):
            writer = Writer(store, facts, read_text)
            if options.reindex:
                writer.forget_stamps()
            writer.refresh()
        root = folder if folder is not None else config.root
        # The agent's index may lag behind a deletion by a moment: check what it says.
        limit = min(options.limit, MAX_LIMIT)
        return answer(store, query, filters, limit, root=None if writing else root, marks=marks)


def _set_aside(index: Path) -> None:
    """``index`` (agent.api.storage's file) and its WAL renamed ``….damaged``: kept to look
    at, replaced by the next one set aside."""
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{index}{suffix}", f"{index}.damaged{suffix}")


def answer(
    store: Storage,
    query: Query,
    filters: Filters,
    limit: int,
    *,
    root: Path | None,
    marks: tuple[str, str] = JSON_MARKS,
) -> Answer:
    """The answer from the index as it is (no refresh); with ``root``, a hit whose file is no
    longer below it is not shown (nor counted, when it would have been)."""
    top: list[Hit] = []
    gone = 0
    with store.reading() as db:
        total = count(db, query, filters)
        offset = 0
        # Only those shown are looked at: a gone file is a rare moment's lag of the agent.
        while len(top) < limit and offset < total:
            batch = hits(db, query, filters, limit - len(top), offset)
            if not batch:
                break
            offset += len(batch)
            for hit in batch:
                if root is not None and stat_one(root, hit.path) is None:
                    gone += 1
                else:
                    top.append(hit)
    with store.reading() as db:
        bodies = texts(db, [h.id for h in top])
    results = [_result(h, bodies.get(h.id, ""), query, marks) for h in top]
    return Answer(results, total - gone)


def _result(hit: Hit, body: str, query: Query, marks: tuple[str, str]) -> Result:
    modified = datetime.fromtimestamp(hit.mtime_ns / 1e9).astimezone()
    return Result(
        path=hit.path,
        name=hit.name,
        type=hit.type,
        week=hit.week,
        subject=hit.subject,
        teacher=hit.teacher,
        modified=modified.isoformat(timespec="seconds"),
        snippet=snippet(body, query.wanted, marks),
        score=round(hit.score, 6),
        exact=hit.exact,
    )


def _filters(options: Options) -> Filters:
    if options.limit < 1:
        raise UsageError(_("--limit takes a number of results of 1 or more."))
    if options.teacher is not None and options.folder is None:
        raise UsageError(
            _(
                "--teacher-folder picks a teacher's folder in a copy of the school share: give "
                "the copy with --folder too."
            )
        )
    return Filters(
        type=options.type.upper() if options.type else None,
        weeks=weeks_of(options.week, options.weeks),
        subject=options.subject,
        teacher=options.teacher,
    )


def _folder(folder: Path | None) -> Path | None:
    if folder is None:
        return None
    if not folder.is_dir():
        raise UsageError(
            _("{folder} is no folder. Give the folder of the copy of the school share.").format(
                folder=printable_name(str(folder))
            )
        )
    return folder.resolve()


def _check_type(code: str | None, facts: Facts) -> None:
    known = [t.code for t in facts.types]
    if code is not None and code not in {k.upper() for k in known}:
        raise UsageError(
            _("{code} is no record type. The types are: {known}.").format(
                code=printable_name(code), known=", ".join(known)
            )
        )
