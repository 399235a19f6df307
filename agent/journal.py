"""The SQLite journal: the last state both sides agreed on, plus the agent's bookkeeping.

This is the only module that touches SQLite (through sqlite-utils for writes and migrations;
reads go straight to sqlite3, so that `hoso status` does not load sqlite-utils). It stores and
returns what it is told and decides nothing.

Invariants:
- WAL mode with synchronous=NORMAL: a crash (even SIGKILL mid-write) never corrupts the
  file; a power cut may lose the last few records, which only makes the next pass compare
  the bytes again.
- Every write call is one small transaction (BEGIN IMMEDIATE … COMMIT); nothing holds a
  transaction across calls.
- One connection guarded by a lock, so worker threads may call any method.
- The schema version lives in the ``meta`` table; migrations run forward only, each in its
  own transaction. A journal written by a newer hoso is refused with ConfigError.
- The file is readable only by its owner (0600) in a folder created 0700.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .errors import ConfigError, LocalError, Scope
from .i18n import _
from .model import JournalEntry, Kind, RelPath, Side, TrashItem
from .records import Finding, Severity

if TYPE_CHECKING:
    from sqlite_utils import Database

KEEP_PASSES = 50
_VERSION_KEY = "schema_version"
_ENTRY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JournalEntry))
_KINDS = {k.value: k for k in Kind}


class JournalError(LocalError):
    """The journal file could not be read or written (disk full, damaged, removed)."""

    scope = Scope.PASS


@dataclass(frozen=True)
class FileError:
    """A per-file failure, kept so that the path is retried later and shown in status."""

    path: RelPath
    message: str
    attempts: int
    first_seen: float
    last_seen: float
    retry_after: float
    # The version the share refused (403; agent/refusals.py), None for any other failure.
    refused_version: str | None = None


@dataclass(frozen=True)
class ValidationStamp:
    """What a record looked like when it was last validated, and under which rules/day."""

    size: int
    mtime_ns: int
    stamp: str


@dataclass(frozen=True)
class StoredFinding:
    finding: Finding
    first_seen: float
    notified_at: float | None


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    hook: str
    detail: str
    count: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class PassRecord:
    started: float
    finished: float
    outcome: str
    report: dict[str, object]


# --- schema ---------------------------------------------------------------------------------


def _v1(db: Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("entries").create(
        {
            "path": str,
            "kind": str,
            "local_size": int,
            "local_mtime_ns": int,
            "local_inode": int,
            "sha256": str,
            "remote_etag": str,
            "remote_size": int,
            "remote_mtime": int,
            "remote_checksum": str,
            "remote_fileid": str,
        },
        pk="path",
        not_null=["kind"],
    )
    db.table("errors").create(
        {
            "path": str,
            "message": str,
            "attempts": int,
            "first_seen": float,
            "last_seen": float,
            "retry_after": float,
        },
        pk="path",
    )
    db.table("trash").create(
        {
            "id": int,
            "side": str,
            "path": str,
            "stored_as": str,
            "deleted_at": float,
            "kind": str,
            "size": int,
            "sha256": str,
            "reason": str,
        },
        pk="id",
    )
    db.table("passes").create(
        {"id": int, "started": float, "finished": float, "outcome": str, "report": str},
        pk="id",
    )
    db.table("remote_dirs").create({"path": str, "etag": str}, pk="path")


def _v2(db: Database) -> None:
    """Validation findings, what was validated (to check only changed records), and
    plugin failures (shown by `hoso status`)."""
    db.table("validated").create(
        {"path": str, "size": int, "mtime_ns": int, "stamp": str}, pk="path"
    )
    db.table("findings").create(
        {
            "path": str,
            "rule": str,
            "severity": str,
            "message": str,
            "fix": str,
            "first_seen": float,
            "notified_at": float,
        },
        pk=("path", "rule"),
    )
    db.table("plugin_failures").create(
        {
            "plugin": str,
            "hook": str,
            "detail": str,
            "count": int,
            "first_seen": float,
            "last_seen": float,
        },
        pk=("plugin", "hook"),
    )


def _v3(db: Database) -> None:
    """Schema 3 created the inspection emails' ledger here. It now lives in the inspection
    plugin's own storage (plugins/inspection/ledger.py), which takes over the rows of a
    journal that has the table (:meth:`Journal.plugin_table`); a journal made since has none."""


def _v4(db: Database) -> None:
    """Whether the share confirmed each entry (JournalEntry.remote_confirmed). An entry with
    an ETag was confirmed by a PUT answer or a listing; a file without one may be an upload
    the share swallowed, so it counts as unconfirmed until a listing shows it."""
    db.table("entries").add_column("remote_confirmed", int, not_null_default=1)
    db.execute(
        "UPDATE entries SET remote_confirmed = 0"
        " WHERE kind = 'file' AND (remote_etag IS NULL OR remote_etag = '')"
    )


def _v5(db: Database) -> None:
    """Which version of a path the share refused (403), so that it is not sent again until
    it changes (agent/refusals.py); NULL for the other per-file failures."""
    db.table("errors").add_column("refused_version", str)


# Tables a migration below created for a plugin; the plugin's own storage (agent/storage.py)
# takes their rows and drops them. A journal made new still gets them (migrations are never
# edited): empty, they are dropped on the plugin's next open.
PLUGIN_TABLES = frozenset({"sent_messages"})

# MIGRATIONS[n] turns a version-n journal into version n+1. Append only; never edit one.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (_v1, _v2, _v3, _v4, _v5)
SCHEMA_VERSION = len(MIGRATIONS)


# --- plumbing -------------------------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")


def _guarded(
    method: Callable[Concatenate[Journal, P], R],
) -> Callable[Concatenate[Journal, P], R]:
    """Serialise calls on the one connection and turn SQLite failures into JournalError."""

    def wrapper(self: Journal, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise _journal_error(self.path, exc) from None

    functools.update_wrapper(wrapper, method)
    return wrapper


def _journal_error(path: Path, exc: sqlite3.Error) -> JournalError:
    return JournalError(
        _(
            "The sync journal {path} could not be read or written ({detail}). If the disk is "
            "full, free some space. If the file is damaged, move it aside: the next pass "
            "rebuilds it by comparing both sides, without deleting anything."
        ).format(path=path, detail=exc)
    )


def _subtree(folder: RelPath) -> tuple[str, tuple[str, ...]]:
    """SQL condition for ``folder`` and everything below it.

    A range instead of LIKE, so that "%" and "_" in names are plain characters; "0" is the
    character right after "/", and SQLite compares UTF-8 text in code-point order.
    """
    if folder == "":
        return "1", ()
    return "(path = ? OR (path >= ? AND path < ?))", (folder, folder + "/", folder + "0")


def _overlap(a: RelPath, b: RelPath) -> bool:
    return a == "" or b == "" or a == b or b.startswith(a + "/") or a.startswith(b + "/")


def prepare_private_file(path: Path) -> None:
    """Make the folder (0700) and the database file (0600), never opening a file that is
    there already: closing any descriptor of a database file drops every POSIX lock this
    process holds on it, SQLite's too. Another process then takes itself for the database's
    last user, checkpoints and deletes the WAL under this process's live connection, whose
    later writes go to the deleted file and are lost (sqlite.org/howtocorrupt.html, 2.2)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
        os.chmod(path.parent, 0o700)  # mkdir's mode is filtered by the umask
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    os.chmod(path, 0o600)


# --- the journal ----------------------------------------------------------------------------


class Journal:
    """Open with :meth:`Journal.open`; usable as a context manager that closes it."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._database: Database | None = None
        self._lock = threading.RLock()

    @property
    def _db(self) -> Database:
        """sqlite-utils over the same connection, made when first needed (to write)."""
        with self._lock:
            if self._database is None:
                from sqlite_utils import Database

                self._database = Database(self._conn, execute_plugins=False)
            return self._database

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Open (creating if needed) and migrate the journal at ``path``."""
        try:
            prepare_private_file(path)
            conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(
                _("Cannot create the sync journal {path}: {detail}").format(
                    path=path, detail=getattr(exc, "strerror", None) or exc
                )
            ) from None
        journal = cls(path, conn)
        try:
            journal._setup()
        except BaseException:
            conn.close()
            raise
        return journal

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Database]:
        # IMMEDIATE takes the write lock up front, so a second process (e.g. `hoso status`
        # reading while the agent writes) can never deadlock an upgrade from read to write.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise

    @_guarded
    def _setup(self) -> None:
        if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._db.enable_wal()  # once, on a new journal: the mode is kept in the file
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # A plain read first: in WAL mode it never waits for a writer, so `hoso status` or the
        # teacher's page opening the journal while the agent writes does not queue behind it
        # (and cannot time out there). The write lock is taken only to migrate.
        if self._version() == SCHEMA_VERSION:
            return
        while True:
            with self._write() as db:
                version = self._version()
                if version > SCHEMA_VERSION:
                    raise ConfigError(
                        _(
                            "The sync journal {path} was written by a newer version of hoso "
                            "(schema {found}, this version knows up to {known}). Update hoso."
                        ).format(path=self.path, found=version, known=SCHEMA_VERSION)
                    )
                if version == SCHEMA_VERSION:
                    return
                MIGRATIONS[version](db)
                self._set_meta(_VERSION_KEY, str(version + 1))

    def _has_table(self, name: str) -> bool:
        found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._conn.execute(found, (name,)).fetchone() is not None

    def _version(self) -> int:
        if not self._has_table("meta"):
            return 0
        value = self._get_meta(_VERSION_KEY)
        return int(value) if value is not None else 0

    # --- entries ----------------------------------------------------------------------------

    @_guarded
    def entries(self) -> dict[RelPath, JournalEntry]:
        rows = self._conn.execute(f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM entries")
        return {row[0]: _entry(row) for row in rows}

    @_guarded
    def get(self, path: RelPath) -> JournalEntry | None:
        row = self._conn.execute(
            f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM entries WHERE path = ?", (path,)
        ).fetchone()
        return _entry(row) if row else None

    def put(self, entry: JournalEntry) -> None:
        """Insert or replace one entry."""
        self.put_many((entry,))

    @_guarded
    def put_many(self, entries: Iterable[JournalEntry]) -> None:
        """Insert or replace many entries in one transaction."""
        rows = [_row(e) for e in entries]
        # Plain SQL: upsert_all re-reads the table's schema on every call, and this runs
        # once per transferred file.
        with self._write() as db:
            db.conn.executemany(_UPSERT_ENTRY, rows)

    @_guarded
    def delete(self, path: RelPath) -> None:
        with self._write() as db:
            db.execute("DELETE FROM entries WHERE path = ?", (path,))

    @_guarded
    def delete_subtree(self, folder: RelPath) -> None:
        """Drop ``folder`` and everything below it ("" drops every entry)."""
        where, params = _subtree(folder)
        with self._write() as db:
            db.execute(f"DELETE FROM entries WHERE {where}", params)

    @_guarded
    def move_subtree(self, src: RelPath, dst: RelPath) -> None:
        """Re-key ``src`` and everything below it to ``dst``, in one transaction.

        Entries already under ``dst`` are replaced: after the move on disk they describe
        nothing. Moving a path onto itself does nothing; moving a folder into itself (or the
        root anywhere) is a caller bug: ValueError.
        """
        if src == dst and src != "":
            return
        if _overlap(src, dst):
            raise ValueError(f"cannot move {src!r} onto overlapping {dst!r}")
        dst_where, dst_params = _subtree(dst)
        src_where, src_params = _subtree(src)
        with self._write() as db:
            db.execute(f"DELETE FROM entries WHERE {dst_where}", dst_params)
            db.execute(
                f"UPDATE entries SET path = ? || substr(path, ?) WHERE {src_where}",
                (dst, len(src) + 1, *src_params),
            )

    @_guarded
    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM entries").fetchone()[0])

    # --- meta -------------------------------------------------------------------------------

    @_guarded
    def meta_get(self, key: str) -> str | None:
        return self._get_meta(key)

    @_guarded
    def meta_set(self, key: str, value: str | None) -> None:
        """Set a value; None removes the key. The schema version is not settable."""
        if key == _VERSION_KEY:
            raise ValueError(f"{_VERSION_KEY} is managed by the migrations")
        with self._write():
            self._set_meta(key, value)

    def _get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self._conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self._db.table("meta").upsert({"key": key, "value": value}, pk="key")

    # --- per-file errors --------------------------------------------------------------------

    @_guarded
    def record_error(
        self,
        path: RelPath,
        message: str,
        *,
        now: float,
        retry_after: float,
        refused_version: str | None = None,
    ) -> None:
        """Remember a failure of ``path``; a repeated failure counts one more attempt.
        ``refused_version``: the version of the path the share refused (403)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO errors (path, message, attempts, first_seen, last_seen, retry_after,"
                " refused_version) VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
                " message = excluded.message, attempts = attempts + 1,"
                " last_seen = excluded.last_seen, retry_after = excluded.retry_after,"
                " refused_version = excluded.refused_version",
                (path, message, now, now, retry_after, refused_version),
            )

    @_guarded
    def clear_error(self, path: RelPath) -> None:
        # Called after every successful action: skip the write when there is nothing to clear.
        if self._conn.execute("SELECT 1 FROM errors WHERE path = ?", (path,)).fetchone() is None:
            return
        with self._write() as db:
            db.execute("DELETE FROM errors WHERE path = ?", (path,))

    @_guarded
    def errors(self) -> list[FileError]:
        rows = self._conn.execute(
            "SELECT path, message, attempts, first_seen, last_seen, retry_after,"
            " refused_version FROM errors ORDER BY path"
        )
        return [FileError(*row) for row in rows]

    # --- trash ------------------------------------------------------------------------------

    @_guarded
    def add_trash(
        self,
        *,
        side: Side,
        path: RelPath,
        stored_as: str,
        kind: Kind,
        size: int,
        sha256: str | None,
        reason: str,
        deleted_at: float,
    ) -> TrashItem:
        with self._write() as db:
            table = db.table("trash").insert(
                {
                    "side": side.value,
                    "path": path,
                    "stored_as": stored_as,
                    "deleted_at": deleted_at,
                    "kind": kind.value,
                    "size": size,
                    "sha256": sha256,
                    "reason": reason,
                }
            )
            item_id = table.last_pk
        assert isinstance(item_id, int)  # an INTEGER PRIMARY KEY is always an int
        return TrashItem(item_id, side, path, stored_as, deleted_at, kind, size, sha256, reason)

    @_guarded
    def trash_items(self) -> list[TrashItem]:
        """Newest first."""
        rows = self._conn.execute(f"{_TRASH_SELECT} ORDER BY deleted_at DESC, id DESC")
        return [_trash_item(row) for row in rows]

    @_guarded
    def get_trash(self, item_id: int) -> TrashItem | None:
        row = self._conn.execute(f"{_TRASH_SELECT} WHERE id = ?", (item_id,)).fetchone()
        return _trash_item(row) if row else None

    @_guarded
    def remove_trash(self, item_id: int) -> None:
        with self._write() as db:
            db.execute("DELETE FROM trash WHERE id = ?", (item_id,))

    # --- passes -----------------------------------------------------------------------------

    @_guarded
    def record_pass(self, record: PassRecord) -> None:
        """Append a pass; only the last KEEP_PASSES are kept."""
        with self._write() as db:
            db.table("passes").insert(
                {
                    "started": record.started,
                    "finished": record.finished,
                    "outcome": record.outcome,
                    "report": json.dumps(record.report, ensure_ascii=False),
                }
            )
            db.execute(
                "DELETE FROM passes WHERE id NOT IN"
                " (SELECT id FROM passes ORDER BY id DESC LIMIT ?)",
                (KEEP_PASSES,),
            )

    @_guarded
    def last_pass(self) -> PassRecord | None:
        row = self._conn.execute(
            "SELECT started, finished, outcome, report FROM passes ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return PassRecord(row[0], row[1], row[2], json.loads(row[3]))

    # --- remote folder ETags ----------------------------------------------------------------

    @_guarded
    def remote_dir_etags(self) -> dict[RelPath, str]:
        return dict(self._conn.execute("SELECT path, etag FROM remote_dirs").fetchall())

    @_guarded
    def set_remote_dir_etags(self, etags: Mapping[RelPath, str]) -> None:
        """Replace all stored folder ETags, in one transaction."""
        with self._write() as db:
            db.execute("DELETE FROM remote_dirs")
            db.table("remote_dirs").insert_all(
                ({"path": p, "etag": e} for p, e in etags.items()), pk="path"
            )

    # --- validation -------------------------------------------------------------------------

    @_guarded
    def validated(self) -> dict[RelPath, ValidationStamp]:
        rows = self._conn.execute("SELECT path, size, mtime_ns, stamp FROM validated")
        return {row[0]: ValidationStamp(row[1], row[2], row[3]) for row in rows}

    @_guarded
    def store_validation(
        self,
        path: RelPath,
        stamp: ValidationStamp,
        findings: Iterable[Finding],
        *,
        now: float,
    ) -> None:
        """Replace a record's findings, in one transaction. A finding that was already
        known keeps when it was first seen and whether the teacher was told."""
        with self._write() as db:
            before = {
                row[0]: (row[1], row[2])
                for row in db.execute(
                    "SELECT rule, first_seen, notified_at FROM findings WHERE path = ?", (path,)
                )
            }
            db.execute("DELETE FROM findings WHERE path = ?", (path,))
            db.conn.executemany(
                "INSERT OR REPLACE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        f.path,
                        f.rule,
                        f.severity.value,
                        f.message,
                        f.fix,
                        *before.get(f.rule, (now, None)),
                    )
                    for f in findings
                ],
            )
            db.execute(
                "INSERT OR REPLACE INTO validated VALUES (?, ?, ?, ?)",
                (path, stamp.size, stamp.mtime_ns, stamp.stamp),
            )

    @_guarded
    def forget_validation(self, paths: Iterable[RelPath]) -> None:
        """Drop what is known about records that no longer exist: each path, and all below
        it when it was a folder."""
        rows = [(p, p + "/") for p in paths]
        below = "path = ?1 OR substr(path, 1, length(?2)) = ?2"
        with self._write() as db:
            db.conn.executemany(f"DELETE FROM findings WHERE {below}", rows)
            db.conn.executemany(f"DELETE FROM validated WHERE {below}", rows)

    @_guarded
    def findings(self) -> list[StoredFinding]:
        rows = self._conn.execute(
            "SELECT path, rule, severity, message, fix, first_seen, notified_at FROM findings"
            " ORDER BY path, rule"
        )
        return [
            StoredFinding(Finding(r[0], r[1], Severity(r[2]), r[3], r[4]), r[5], r[6]) for r in rows
        ]

    @_guarded
    def mark_notified(self, keys: Iterable[tuple[RelPath, str]], *, now: float) -> None:
        with self._write() as db:
            db.conn.executemany(
                "UPDATE findings SET notified_at = ? WHERE path = ? AND rule = ?",
                [(now, path, rule) for path, rule in keys],
            )

    # --- plugin failures --------------------------------------------------------------------

    @_guarded
    def record_plugin_failure(self, plugin: str, hook: str, detail: str, *, now: float) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO plugin_failures VALUES (?, ?, ?, 1, ?, ?)"
                " ON CONFLICT(plugin, hook) DO UPDATE SET detail = excluded.detail,"
                " count = count + 1, last_seen = excluded.last_seen",
                (plugin, hook, detail, now, now),
            )

    @_guarded
    def clear_plugin_failure(self, plugin: str, hook: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM plugin_failures WHERE plugin = ? AND hook = ?", (plugin, hook))

    @_guarded
    def plugin_failures(self) -> list[PluginFailure]:
        rows = self._conn.execute(
            "SELECT plugin, hook, detail, count, first_seen, last_seen FROM plugin_failures"
            " ORDER BY last_seen DESC"
        )
        return [PluginFailure(*row) for row in rows]

    # --- tables kept for a plugin before plugins had storage of their own -----------------

    @_guarded
    def plugin_table(self, table: str) -> tuple[tuple[str, ...], list[tuple[Any, ...]]] | None:
        """The columns and rows of ``table``, one the journal kept for a plugin
        (:data:`PLUGIN_TABLES`), or None once it was handed over."""
        if table not in PLUGIN_TABLES:
            raise ValueError(f"{table} is no plugin's table")
        if not self._has_table(table):
            return None
        cursor = self._conn.execute(f"SELECT * FROM [{table}]")
        rows = cursor.fetchall()
        return tuple(d[0] for d in cursor.description), rows

    @_guarded
    def drop_plugin_table(self, table: str) -> None:
        """Drop ``table`` once its plugin's storage holds its rows."""
        if table not in PLUGIN_TABLES:
            raise ValueError(f"{table} is no plugin's table")
        with self._write() as db:
            db.execute(f"DROP TABLE IF EXISTS [{table}]")

    @_guarded
    def close(self) -> None:
        self._conn.close()


def synced_sha256(path: Path, relpath: RelPath) -> str | None:
    """The SHA-256 of ``relpath``'s bytes as both sides last agreed on them, read from the
    journal at ``path`` without writing to it (no creation, no migration, no lock held);
    None when the journal is absent or unreadable, the path is no file of it, or the share
    has not confirmed the upload yet (JournalEntry.remote_confirmed)."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(
            "SELECT sha256 FROM entries WHERE path = ? AND kind = ? AND remote_confirmed = 1",
            (relpath, Kind.FILE.value),
        ).fetchone()
    except sqlite3.Error:  # a journal of an older schema: the next pass migrates it
        return None
    finally:
        conn.close()
    return row[0] if row and row[0] else None


_TRASH_SELECT = (
    "SELECT id, side, path, stored_as, deleted_at, kind, size, sha256, reason FROM trash"
)


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    values = dict(zip(_ENTRY_COLUMNS, row, strict=True))
    values["kind"] = _KINDS[values["kind"]]
    values["remote_confirmed"] = bool(values["remote_confirmed"])
    return JournalEntry(**values)


_UPSERT_ENTRY = (
    f"INSERT OR REPLACE INTO entries ({', '.join(_ENTRY_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in _ENTRY_COLUMNS)})"
)


def _row(entry: JournalEntry) -> dict[str, object]:
    values = {column: getattr(entry, column) for column in _ENTRY_COLUMNS}
    values["kind"] = entry.kind.value
    values["remote_confirmed"] = int(entry.remote_confirmed)
    return values


def _trash_item(row: tuple[Any, ...]) -> TrashItem:
    item_id, side, path, stored_as, deleted_at, kind, size, sha256, reason = row
    return TrashItem(
        item_id, Side(side), path, stored_as, deleted_at, _KINDS[kind], size, sha256, reason
    )
