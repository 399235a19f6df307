"""A plugin's own storage: one SQLite file per plugin in the state folder, its migrations
applied on open; and the inspection ledger's move out of the sync journal, row for row."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from inspection_factory import make_config

from agent.api import ConfigError, Database, StorageError, UsageError, storage
from agent.journal import Journal
from plugins.inspection.ledger import Ledger

# A journal of schema 4 written by the Journal that still held the ledger (see its README).
OLD_JOURNAL = Path(__file__).parent / "journal_vectors" / "journal-v4-with-ledger.sqlite3"


def _notes(db: Database) -> None:
    db.table("notes").create({"id": int, "text": str}, pk="id")


def _notes_author(db: Database) -> None:
    db.table("notes").add_column("author", str)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def _tables(path: Path) -> set[str]:
    return {row[0] for row in _rows(path, "SELECT name FROM sqlite_master WHERE type='table'")}


def test_each_plugin_gets_its_own_private_file_with_its_migrations_applied_once(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    with storage(config, "notes", [_notes]) as store:
        with store.transaction() as db:
            db.table("notes").insert({"id": 1, "text": "Tuần 10"})
    # a later version of the plugin adds a migration: only that one runs
    with storage(config, "notes", [_notes, _notes_author]) as store:
        with store.transaction() as db:
            db.table("notes").insert({"id": 2, "text": "Tuần 11", "author": "Hoa"})
    with storage(config, "other", []) as other:
        assert other.path != store.path
    path = tmp_path / "state" / "plugins" / "notes.sqlite3"
    assert store.path == path
    assert _rows(path, "SELECT id, text, author FROM notes ORDER BY id") == [
        (1, "Tuần 10", None),
        (2, "Tuần 11", "Hoa"),
    ]
    assert _rows(path, "PRAGMA user_version") == [(2,)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not (tmp_path / "state" / "journal.sqlite3").exists()  # none made for nothing


def test_a_file_of_a_newer_plugin_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    with storage(config, "notes", [_notes, _notes_author]):
        pass
    path = tmp_path / "state" / "plugins" / "notes.sqlite3"
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="newer version"):
        storage(config, "notes", [_notes])
    assert path.read_bytes() == before


def test_a_migration_that_fails_leaves_the_file_at_the_version_before(tmp_path: Path) -> None:
    config = make_config(tmp_path / "HoSo", tmp_path / "state")

    def broken(db: Database) -> None:
        db.table("notes").add_column("author", str)
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(StorageError, match="disk I/O error"):
        storage(config, "notes", [_notes, broken])
    path = tmp_path / "state" / "plugins" / "notes.sqlite3"
    assert _rows(path, "PRAGMA user_version") == [(1,)]
    assert [row[1] for row in _rows(path, "PRAGMA table_info(notes)")] == ["id", "text"]


def test_a_name_that_is_no_plugin_name_makes_no_file(tmp_path: Path) -> None:
    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    with pytest.raises(UsageError):
        storage(config, "../journal", [])
    assert not (tmp_path / "state").exists()


# --- the ledger leaves the journal -------------------------------------------------------------


def _old_journal(state: Path) -> Path:
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    return Path(shutil.copy(OLD_JOURNAL, state / "journal.sqlite3"))


def _old_rows() -> list[tuple[object, ...]]:
    return _rows(OLD_JOURNAL, "SELECT * FROM sent_messages ORDER BY message_id")


def test_the_ledger_of_an_existing_journal_moves_into_the_plugin_storage_row_for_row(
    tmp_path: Path,
) -> None:
    journal = _old_journal(tmp_path / "state")
    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    with Ledger.opened(config) as ledger:
        messages = ledger.sent_messages()
    assert [(m.message_id, m.package, m.part) for m in messages] == [
        ("<hoso-1@truong.example>", "pkgA", 1),
        ("<hoso-2@truong.example>", "pkgA", 2),
        ("<hoso-3@truong.example>", "pkgB", 1),
    ]
    assert [m.complete for m in messages] == [True, False, True]
    assert messages[1].refused == {"pho@truong.example": "451 try later"}
    assert messages[0].files[0]["path"] == "Tuần 10/KHBD Tuần 10.docx"
    moved = tmp_path / "state" / "plugins" / "inspection.sqlite3"
    assert _rows(moved, "SELECT * FROM sent_messages ORDER BY message_id") == _old_rows()
    assert "sent_messages" not in _tables(journal)
    with Journal.open(journal) as opened:  # the journal itself is untouched and still opens
        assert opened.plugin_table("sent_messages") is None


def test_a_crash_between_copy_and_drop_neither_loses_nor_doubles_a_row(tmp_path: Path) -> None:
    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    _old_journal(tmp_path / "state")
    with Ledger.opened(config) as ledger:  # the copy committed, and the ledger moved on:
        first = ledger.sent_messages()
        done = replace(first[1], accepted=first[0].accepted, refused={})
        ledger.put_sent_messages([done])
    # … but the journal kept its table, as after a crash right before the drop
    journal = _old_journal(tmp_path / "state")
    with Ledger.opened(config) as ledger:
        again = ledger.sent_messages()
    assert len(again) == 3
    assert again[1].complete  # the plugin's own, newer row is kept, not the journal's old one
    assert "sent_messages" not in _tables(journal)


def test_a_new_journal_has_no_ledger_and_the_plugin_starts_an_empty_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    Journal.open(state / "journal.sqlite3").close()
    assert "sent_messages" not in _tables(state / "journal.sqlite3")
    with Ledger.opened(make_config(tmp_path / "HoSo", state)) as ledger:
        assert ledger.sent_messages() == []
    assert "sent_messages" not in _tables(state / "journal.sqlite3")
    assert {"entries", "meta"} <= _tables(state / "journal.sqlite3")


def _synced_rows(path: Path, sql: str, tmp: Path) -> list[tuple[object, ...]] | None:
    """What ``sql`` finds in ``path``'s main database file alone: what a power cut keeps when
    the WAL of a connection still open was never fsync'd (synchronous=NORMAL). None when the
    table is not there at all."""
    tmp.mkdir()
    alone = Path(shutil.copy(path, tmp / path.name))  # without its -wal and -shm
    try:
        return _rows(alone, sql)
    except sqlite3.OperationalError:
        return None


def test_the_journal_drops_its_ledger_only_once_the_copy_would_survive_a_power_cut(
    tmp_path: Path,
) -> None:
    journal = _old_journal(tmp_path / "state")
    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    moved = tmp_path / "state" / "plugins" / "inspection.sqlite3"
    # Open, as `hoso inspect send` keeps its ledger open through minutes of SMTP work.
    ledger = Ledger.open(config)
    try:
        in_journal = _synced_rows(journal, "SELECT * FROM sent_messages", tmp_path / "j")
        in_storage = _synced_rows(moved, "SELECT * FROM sent_messages", tmp_path / "s")
    finally:
        ledger.close()
    assert in_journal is None  # the drop is on disk (the journal was closed: checkpointed)
    # … so the rows must be too, else a power cut now loses the ledger (and resends mail)
    assert sorted(in_storage or []) == sorted(_old_rows())
