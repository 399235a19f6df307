"""The search index: an SQLite FTS5 table in the plugin's own storage, kept current
incrementally, and the queries on it.

One storage file per folder searched: ``search`` for the records folder, ``search_<hash>``
for a folder given with ``--folder`` (a manager's copy of the school share).

Rows: ``docs`` holds each file's path (relative, NFC), metadata and stamp (size, mtime_ns);
``docs_fts`` (same rowid) its name and path and its text, each twice: folded (what is
matched) and as written (the snippet, and the exact-accent ranking).

Invariants:
- A file's row is replaced in one transaction (the old row and the new go together; a few
  files' rows share one), so a process killed mid-way leaves every file indexed as before
  or as after, never half.
- A file is read only in the document sandbox (the reader callable given), outside any
  transaction: a slow document never holds the write lock.
- A refresh of the whole folder drops the rows of every file no longer there, so a moved or
  deleted record leaves no stale hit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.api import Database, RecordType, fold

from .files import Found, Skip, Stamp, meta_of, stat_one, walk
from .query import Query, search_fold

BATCH_FILES = 64  # rows committed together, at most
BATCH_SECONDS = 0.5  # and at least this often: a record read is soon searchable
NAME_WEIGHT = 10.0  # a word in the name or path counts ten times one in the text
# The text of a document, None when it has none; OSError when it cannot be opened now (no
# permission, locked): it is then found by name and read again at the next refresh.
Reader = Callable[[Path], str | None]


def _v1(db: Database) -> None:
    db.execute(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, name TEXT NOT "
        "NULL, type TEXT, week INTEGER, subject TEXT, subject_folded TEXT, teacher TEXT, "
        "teacher_folded TEXT, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, has_text "
        "INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE VIRTUAL TABLE docs_fts USING fts5(name_folded, body_folded, name_text, "
        "body_text, tokenize = 'unicode61 remove_diacritics 0')"
    )


MIGRATIONS = [_v1]  # append to change the schema; never edit one


@dataclass(frozen=True)
class Facts:
    """What the index needs to know about the folder: which files to leave out, the record
    types, and whether its first folders are teachers' (a manager's copy)."""

    root: Path
    skip: Skip
    types: tuple[RecordType, ...]
    by_teacher: bool


@dataclass(frozen=True)
class Changes:
    read: int = 0
    dropped: int = 0
    unchanged: int = 0


def stamps(db: Database) -> dict[str, Stamp]:
    return {
        path: Stamp(size, mtime_ns)
        for path, size, mtime_ns in db.execute("SELECT path, size, mtime_ns FROM docs")
    }


def put(db: Database, found: Found, facts: Facts, text: str | None) -> None:
    """Replace ``found``'s row (call inside a transaction)."""
    drop(db, [found.path])
    meta = meta_of(found.path, facts.types, by_teacher=facts.by_teacher)
    cursor = db.execute(
        "INSERT INTO docs (path, name, type, week, subject, subject_folded, teacher, "
        "teacher_folded, size, mtime_ns, has_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            found.path,
            meta.name,
            meta.type,
            meta.week,
            meta.subject,
            fold(meta.subject) if meta.subject else None,
            meta.teacher,
            fold(meta.teacher) if meta.teacher else None,
            found.stamp.size,
            found.stamp.mtime_ns,
            int(text is not None),
        ],
    )
    body = text or ""
    # The week in the one spelling a teacher types: "Tuần 05", "T07" or "Tuan_7" is also
    # found by "tuần 5" / "tuan 7" ("05" is no "5" to the index).
    name = found.path if meta.week is None else f"{found.path} Tuần {meta.week}"
    db.execute(
        "INSERT INTO docs_fts (rowid, name_folded, body_folded, name_text, body_text) "
        "VALUES (?, ?, ?, ?, ?)",
        [cursor.lastrowid, search_fold(name), search_fold(body), name, body],
    )


def drop(db: Database, paths: Iterable[str]) -> int:
    dropped = 0
    for path in paths:
        row = db.execute("SELECT id FROM docs WHERE path = ?", [path]).fetchone()
        if row is None:
            continue
        db.execute("DELETE FROM docs_fts WHERE rowid = ?", [row[0]])
        db.execute("DELETE FROM docs WHERE id = ?", [row[0]])
        dropped += 1
    return dropped


class Writer:
    """Brings an index up to date with its folder; ``transaction`` is the storage's."""

    def __init__(self, store: Any, facts: Facts, read: Reader) -> None:
        self.store = store
        self.facts = facts
        self.read = read

    def refresh(self, stop: Callable[[], bool] = lambda: False) -> Changes:
        """Walk the whole folder: read what changed, drop what is gone. Nothing when the
        folder itself is not there (a drive unplugged): its records are not gone."""
        if not self.facts.root.is_dir():
            return Changes()
        with self.store.reading() as db:
            known = stamps(db)
        found = walk(self.facts.root, self.facts.skip)
        gone = [path for path in known if path not in found]
        if gone:
            with self.store.transaction() as db:
                dropped = drop(db, gone)
        else:
            dropped = 0
        changed = [f for path, f in sorted(found.items()) if known.get(path) != f.stamp]
        read = self._index(changed, stop)
        return Changes(read=read, dropped=dropped, unchanged=len(found) - len(changed))

    def update(self, paths: Iterable[str], stop: Callable[[], bool] = lambda: False) -> Changes:
        """Bring only ``paths`` up to date (a record that settled, a file a pass moved)."""
        with self.store.reading() as db:
            known = stamps(db)
        changed: list[Found] = []
        gone: list[str] = []
        for path in paths:
            found = stat_one(self.facts.root, path)
            if found is None or self._skipped(path):
                gone.append(path)
            elif known.get(found.path) != found.stamp:
                changed.append(found)
        dropped = 0
        if gone:
            with self.store.transaction() as db:
                dropped = drop(db, gone)
        return Changes(read=self._index(changed, stop), dropped=dropped)

    def forget_stamps(self) -> None:
        """Make every file look changed: the next refresh reads them all again (the rows
        stay searchable meanwhile)."""
        with self.store.transaction() as db:
            db.execute("UPDATE docs SET mtime_ns = -1")

    def _skipped(self, path: str) -> bool:
        parts = path.split("/")
        folders = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        return any(self.facts.skip(f, True) for f in folders) or self.facts.skip(path, False)

    def _index(self, changed: list[Found], stop: Callable[[], bool]) -> int:
        """Read each of ``changed`` and commit their rows a batch at a time (FTS5 writes a
        segment per transaction: one per file would make a cold index slow)."""
        done = 0
        batch: list[tuple[Found, str | None]] = []
        since = time.monotonic()
        for found in changed:
            if stop():
                break
            try:
                text = self.read(found.file)
            except OSError:  # a stamp no file has: the next refresh tries it again
                found, text = replace(found, stamp=Stamp(found.stamp.size, -1)), None
            batch.append((found, text))
            if len(batch) >= BATCH_FILES or time.monotonic() - since >= BATCH_SECONDS:
                done += self._commit(batch)
                batch, since = [], time.monotonic()
        return done + self._commit(batch)

    def _commit(self, batch: list[tuple[Found, str | None]]) -> int:
        if batch:
            with self.store.transaction() as db:
                for found, text in batch:
                    put(db, found, self.facts, text)
        return len(batch)


# --- queries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    type: str | None = None
    weeks: tuple[int, int] | None = None
    subject: str | None = None
    teacher: str | None = None


@dataclass(frozen=True)
class Hit:
    id: int
    path: str
    name: str
    type: str | None
    week: int | None
    subject: str | None
    teacher: str | None
    mtime_ns: int
    score: float  # higher is better (bm25, negated)
    exact: bool  # holds the words with the accents as typed


def hits(db: Database, query: Query, filters: Filters, limit: int, offset: int = 0) -> list[Hit]:
    """The matches of ``query`` from ``offset`` on, at most ``limit``, best first:
    exact-accent matches (when the query has accents), then those of a week the query names,
    then by bm25 with names weighted over text. SQLite keeps only the best ones while it
    ranks (no list of every match is made)."""
    where, args = _filters(filters)
    exact = "0"
    exact_args: list[Any] = []
    if query.accented:
        exact = "d.id IN (SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?)"
        exact_args = [query.exact_match()]
    named = query.weeks
    in_week = f"d.week IN ({', '.join('?' for _w in named)})" if named else "0"
    sql = (
        f"SELECT d.id, d.path, d.name, d.type, d.week, d.subject, d.teacher, d.mtime_ns, "
        f"bm25(docs_fts, {NAME_WEIGHT}, 1.0, 0.0, 0.0) AS rank, {exact} AS exact, "
        f"{in_week} AS in_week FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid "
        f"WHERE docs_fts MATCH ?{where} ORDER BY exact DESC, in_week DESC, rank, d.path "
        f"LIMIT ? OFFSET ?"
    )
    params = [*exact_args, *named, query.match(), *args, limit, offset]
    rows = db.execute(sql, params).fetchall()
    return [
        Hit(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], -row[8], bool(row[9]))
        for row in rows
    ]


def count(db: Database, query: Query, filters: Filters) -> int:
    """How many records match ``query`` (no ranking needed)."""
    where, args = _filters(filters)
    if not where:
        sql = "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH ?"
    else:
        sql = (
            "SELECT count(*) FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid "
            f"WHERE docs_fts MATCH ?{where}"
        )
    return int(db.execute(sql, [query.match(), *args]).fetchone()[0])


def texts(db: Database, ids: list[int]) -> dict[int, str]:
    """The text of each of ``ids``, as written (for snippets)."""
    marks = ", ".join("?" for _i in ids)
    sql = f"SELECT rowid, body_text FROM docs_fts WHERE rowid IN ({marks})"
    return {rowid: text for rowid, text in db.execute(sql, ids)}


def _filters(filters: Filters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if filters.type is not None:
        clauses.append("upper(d.type) = ?")  # codes are matched in any case
        args.append(filters.type)
    if filters.weeks is not None:
        clauses.append("d.week BETWEEN ? AND ?")
        args += list(filters.weeks)
    if filters.subject is not None:
        clauses.append("d.subject_folded = ?")
        args.append(fold(filters.subject))
    if filters.teacher is not None:
        clauses.append("d.teacher_folded = ?")
        args.append(fold(filters.teacher))
    return "".join(f" AND {c}" for c in clauses), args
