"""Per-plugin storage: each plugin's own SQLite file in the state folder, with its own migrations.

A plugin keeps what it must remember (a ledger, a cache) here rather than in the sync journal,
whose schema is the agent's. Plugins reach it through :func:`agent.api.storage`.

Invariants:
- One file per plugin, ``<state dir>/plugins/<name>.sqlite3``, readable only by its owner
  (0600, in a folder created 0700); WAL with synchronous=NORMAL, as the journal.
- The plugin's migrations are numbered by their place in the list it passes: ``PRAGMA
  user_version`` counts those applied, and each runs in its own transaction together with the
  count, so a crash leaves the file at one version or the next. A file written by a newer
  version of the plugin (more migrations than it knows) is refused with ConfigError.
- Tables the journal kept for a plugin before plugins had storage of their own
  (:data:`FROM_JOURNAL`) move on the plugin's first open: the rows are copied in one
  transaction (a row already there is kept: the plugin's own is newer) and only after it
  committed and checkpointed into the synced main file (a commit under synchronous=NORMAL is
  not fsync'd) are they dropped from the journal. A crash or power cut between the two leaves
  the rows in both, and the next open copies none of them twice; none loses one.
- One connection per :class:`Storage`, guarded by a lock, so threads may share it.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sqlite_utils import Database

from .errors import ConfigError, LocalError, UsageError
from .i18n import _
from .journal import Journal, prepare_private_file

Migration = Callable[[Database], None]

FOLDER = "plugins"
# The tables journals of schema 3 and 4 hold for a plugin: moved into its storage on first open.
FROM_JOURNAL: dict[str, tuple[str, ...]] = {"inspection": ("sent_messages",)}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class StorageError(LocalError):
    """A plugin's storage file could not be read or written (disk full, damaged, removed)."""


class Storage:
    """A plugin's own database; open with :func:`open_storage`, close when done (or use
    ``with``). ``db`` is a sqlite-utils ``Database``; write inside :meth:`transaction`."""

    def __init__(self, path: Path, db: Database) -> None:
        self.path = path
        self.db = db
        self._lock = threading.RLock()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT; rolled back on any exception),
        holding this storage's lock; SQLite failures become :class:`StorageError`."""
        with self._lock, self._errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[Database]:
        """The database for reads, holding this storage's lock."""
        with self._lock, self._errors():
            yield self.db

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError(
                _(
                    "The plugin storage {path} could not be read or written ({detail}). If the "
                    "disk is full, free some space."
                ).format(path=self.path, detail=exc)
            ) from None

    def close(self) -> None:
        with self._lock:
            self.db.close()


def storage_path(state_dir: Path, plugin: str) -> Path:
    if not _NAME.fullmatch(plugin):
        raise UsageError(
            _("{name} is no plugin name (lower-case letters, digits and _).").format(name=plugin)
        )
    return state_dir / FOLDER / f"{plugin}.sqlite3"


def open_storage(state_dir: Path, plugin: str, migrations: Sequence[Migration]) -> Storage:
    """The storage of ``plugin``, created if needed, its ``migrations`` applied, and the
    tables the journal kept for it moved in."""
    path = storage_path(state_dir, plugin)
    try:
        prepare_private_file(path)
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(
            _("Cannot create the plugin storage {path}: {detail}").format(
                path=path, detail=getattr(exc, "strerror", None) or exc
            )
        ) from None
    storage = Storage(path, Database(conn, execute_plugins=False))
    try:
        with storage.reading() as db:
            db.enable_wal()
            db.execute("PRAGMA synchronous=NORMAL")
        _migrate(storage, migrations)
        for table in FROM_JOURNAL.get(plugin, ()):
            _adopt(storage, state_dir / "journal.sqlite3", table)
    except BaseException:
        conn.close()
        raise
    return storage


def _migrate(storage: Storage, migrations: Sequence[Migration]) -> None:
    while True:
        with storage.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(migrations):
                raise ConfigError(
                    _(
                        "The plugin storage {path} was written by a newer version of its plugin "
                        "(schema {found}, this version knows up to {known}). Update hoso."
                    ).format(path=storage.path, found=version, known=len(migrations))
                )
            if version == len(migrations):
                return
            migrations[version](db)
            db.execute(f"PRAGMA user_version = {version + 1:d}")


def _adopt(storage: Storage, journal_path: Path, table: str) -> None:
    """Move ``table`` of the journal into ``storage`` (which has a table of that name with
    the same columns and primary key), copy first, drop after."""
    if not journal_path.is_file():
        return  # never create a journal only to find it empty
    with Journal.open(journal_path) as journal:
        held = journal.plugin_table(table)
        if held is None:
            return
        columns, rows = held
        if rows:
            names = ", ".join(f"[{c}]" for c in columns)
            marks = ", ".join("?" for _c in columns)
            with storage.transaction() as db:
                db.conn.executemany(
                    f"INSERT OR IGNORE INTO [{table}] ({names}) VALUES ({marks})", rows
                )
            if not _on_disk(storage):
                return  # both keep the rows; the next open tries again
        journal.drop_plugin_table(table)


def _on_disk(storage: Storage) -> bool:
    """Whether all committed is in the synced main file: with synchronous=NORMAL a commit is
    not fsync'd, and the journal's drop must not outlive, at a power cut, the rows' copy. A
    FULL checkpoint syncs the WAL, copies it in and syncs the file; False when a reader in
    another process kept it from finishing."""
    with storage.reading() as db:
        busy, _log, _done = db.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
    return not busy
