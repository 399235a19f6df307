"""The SQLite journal on real files: CRUD, subtree operations, bookkeeping tables,
migrations, permissions, threads, and a SIGKILL in the middle of writing."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.errors import ConfigError
from agent.journal import (
    KEEP_PASSES,
    SCHEMA_VERSION,
    FileError,
    Journal,
    JournalError,
    PassRecord,
)
from agent.model import JournalEntry, Kind, Side

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "state" / "journal.db") as j:
        yield j


def file_entry(path: str, n: int = 1, sha: str | None = "ab" * 32) -> JournalEntry:
    return JournalEntry(
        path,
        Kind.FILE,
        n,
        n * 1000,
        n + 7,
        sha,
        f"etag-{n}",
        n,
        n * 10,
        None if n % 2 else f"SHA256:{n}",
        None if n % 3 else f"id{n}",
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- entries --------------------------------------------------------------------------------


def test_put_get_replace_delete(journal: Journal) -> None:
    plan = file_entry("Tuần 1/Kế hoạch bài dạy.docx", 3)
    folder = JournalEntry("Tuần 1", Kind.DIR)
    journal.put(plan)
    journal.put(folder)

    assert journal.get(plan.path) == plan
    assert journal.entries() == {plan.path: plan, "Tuần 1": folder}
    assert journal.get("Tuần 9") is None

    changed = file_entry(plan.path, 4, sha=None)
    journal.put(changed)
    assert journal.get(plan.path) == changed and journal.count() == 2

    journal.delete(plan.path)
    assert journal.entries() == {"Tuần 1": folder}


def test_put_many_of_ten_thousand_rows_reads_back_quickly(journal: Journal) -> None:
    rows = [file_entry(f"Tuần {i % 35}/Bài {i}.docx", i) for i in range(10_000)]
    journal.put_many(rows)

    started = time.perf_counter()
    entries = journal.entries()
    elapsed = time.perf_counter() - started

    assert entries == {r.path: r for r in rows}
    assert elapsed < 1.0, elapsed


NAMES = [
    "Tuần_1%",
    "Tuần_1%/Bài 1.docx",
    "Tuần_1%/Rút kinh nghiệm",
    "Tuần_1%/Rút kinh nghiệm/Biên bản.docx",
    "Tuần_1%x",  # same prefix, no slash: a sibling, not a child
    "Tuần_1%-/a.docx",  # "-" sorts just before "/"
    "Tuần_1%0/a.docx",  # "0" sorts just after "/"
    "TuầnX1abc/b.docx",  # what LIKE 'Tuần_1%/%' would wrongly match
    "Tuần 2/c.docx",
]


def test_delete_subtree_treats_like_characters_literally(journal: Journal) -> None:
    journal.put_many(file_entry(n) for n in NAMES)

    journal.delete_subtree("Tuần_1%")

    assert set(journal.entries()) == set(NAMES) - {
        "Tuần_1%",
        "Tuần_1%/Bài 1.docx",
        "Tuần_1%/Rút kinh nghiệm",
        "Tuần_1%/Rút kinh nghiệm/Biên bản.docx",
    }


def test_move_subtree_rekeys_and_replaces_stale_destination(journal: Journal) -> None:
    journal.put_many(file_entry(n, i + 1) for i, n in enumerate(NAMES))
    journal.put(file_entry("Lưu trữ/Tuần_1%/cũ.docx", 99))  # stale: nothing on disk there

    journal.move_subtree("Tuần_1%", "Lưu trữ/Tuần_1%")

    entries = journal.entries()
    assert set(entries) == {
        "Lưu trữ/Tuần_1%",
        "Lưu trữ/Tuần_1%/Bài 1.docx",
        "Lưu trữ/Tuần_1%/Rút kinh nghiệm",
        "Lưu trữ/Tuần_1%/Rút kinh nghiệm/Biên bản.docx",
        "Tuần_1%x",
        "Tuần_1%-/a.docx",
        "Tuần_1%0/a.docx",
        "TuầnX1abc/b.docx",
        "Tuần 2/c.docx",
    }
    moved = entries["Lưu trữ/Tuần_1%/Rút kinh nghiệm/Biên bản.docx"]
    assert moved == file_entry("Lưu trữ/Tuần_1%/Rút kinh nghiệm/Biên bản.docx", 4)


def test_move_subtree_refuses_overlapping_paths(journal: Journal) -> None:
    journal.put(file_entry("a/b"))
    for src, dst in [("a", "a/b"), ("a/b", "a"), ("", "x"), ("x", "")]:
        with pytest.raises(ValueError):
            journal.move_subtree(src, dst)
    journal.move_subtree("a/b", "a/b")
    assert journal.entries() == {"a/b": file_entry("a/b")}


# --- meta, errors, trash, passes, folder ETags ---------------------------------------------


def test_meta_values(journal: Journal) -> None:
    assert journal.meta_get("remote_identity") is None
    journal.meta_set("remote_identity", "trường-th-a")
    journal.meta_set("remote_identity", "trường-th-b")
    assert journal.meta_get("remote_identity") == "trường-th-b"
    journal.meta_set("remote_identity", None)
    assert journal.meta_get("remote_identity") is None
    with pytest.raises(ValueError):
        journal.meta_set("schema_version", "0")
    assert journal.meta_get("schema_version") == str(SCHEMA_VERSION)


def test_errors_count_attempts_and_keep_first_seen(journal: Journal) -> None:
    journal.record_error("Tuần 1/a.docx", "423 Locked", now=100.0, retry_after=160.0)
    journal.record_error("Tuần 1/a.docx", "507 Insufficient Storage", now=200.0, retry_after=320.0)
    journal.record_error("b.docx", "Permission denied", now=150.0, retry_after=210.0)

    assert journal.errors() == [  # ordered by path
        FileError("Tuần 1/a.docx", "507 Insufficient Storage", 2, 100.0, 200.0, 320.0),
        FileError("b.docx", "Permission denied", 1, 150.0, 150.0, 210.0),
    ]
    journal.clear_error("Tuần 1/a.docx")
    assert [e.path for e in journal.errors()] == ["b.docx"]


def test_trash_items_newest_first(journal: Journal) -> None:
    old = journal.add_trash(
        side=Side.LOCAL,
        path="Tuần 1/Bài.docx",
        stored_as="/state/trash/1",
        kind=Kind.FILE,
        size=12,
        sha256="cd" * 32,
        reason="deleted_remote",
        deleted_at=1000.0,
    )
    new = journal.add_trash(
        side=Side.REMOTE,
        path="Tuần 2",
        stored_as=".hoso-trash/Tuần 2",
        kind=Kind.DIR,
        size=0,
        sha256=None,
        reason="deleted_local",
        deleted_at=2000.0,
    )

    assert old.id != new.id
    assert journal.trash_items() == [new, old]
    assert journal.get_trash(old.id) == old
    journal.remove_trash(old.id)
    assert journal.get_trash(old.id) is None
    assert journal.trash_items() == [new]


def test_passes_keep_the_last_fifty(journal: Journal) -> None:
    assert journal.last_pass() is None
    for i in range(KEEP_PASSES + 5):
        journal.record_pass(PassRecord(float(i), i + 0.5, "ok", {"uploaded": [f"Bài {i}.docx"]}))

    assert journal.last_pass() == PassRecord(54.0, 54.5, "ok", {"uploaded": ["Bài 54.docx"]})
    with contextlib.closing(sqlite3.connect(journal.path)) as raw:
        kept = [r[0] for r in raw.execute("SELECT started FROM passes ORDER BY started")]
    assert kept == [float(i) for i in range(5, KEEP_PASSES + 5)]


def test_remote_dir_etags_are_replaced_as_a_whole(journal: Journal) -> None:
    journal.set_remote_dir_etags({"": "r1", "Tuần 1": "a1", "Tuần 2": "b1"})
    journal.set_remote_dir_etags({"": "r2", "Tuần 1": "a2"})
    assert journal.remote_dir_etags() == {"": "r2", "Tuần 1": "a2"}
    journal.set_remote_dir_etags({})
    assert journal.remote_dir_etags() == {}


# --- files, versions, damage ----------------------------------------------------------------


def test_file_and_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "moi" / "state" / "journal.db"
    with Journal.open(path) as j:
        j.put(file_entry("a"))
        assert mode(path.parent) == 0o700
        assert mode(path) == 0o600
        extras = sorted(path.parent.glob("journal.db-*"))  # WAL and shared-memory files
        assert [p.name for p in extras] == ["journal.db-shm", "journal.db-wal"]
        assert all(mode(p) == 0o600 for p in extras)


def test_existing_world_readable_journal_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    path.chmod(0o644)
    Journal.open(path).close()
    assert mode(path) == 0o600


def test_empty_file_is_migrated_and_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.touch()
    with Journal.open(path) as j:
        assert j.meta_get("schema_version") == str(SCHEMA_VERSION)
        assert j.count() == 0
        j.put(file_entry("Tuần 1/a.docx"))
    with Journal.open(path) as j:
        assert j.entries() == {"Tuần 1/a.docx": file_entry("Tuần 1/a.docx")}


def test_a_version_3_journal_learns_which_entries_the_share_confirmed(tmp_path: Path) -> None:
    """Schema 4 adds remote_confirmed: entries with an ETag were confirmed by a PUT answer
    or a listing; files without one may be uploads the share swallowed."""
    path = tmp_path / "journal.db"
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        # The schema-3 entries table, as hoso 0.x wrote it.
        raw.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        raw.execute("INSERT INTO meta VALUES ('schema_version', '3')")
        raw.execute(  # the per-file errors as schema 1 made them (schema 5 adds a column)
            "CREATE TABLE errors (path TEXT PRIMARY KEY, message TEXT, attempts INTEGER,"
            " first_seen FLOAT, last_seen FLOAT, retry_after FLOAT)"
        )
        raw.execute(
            "CREATE TABLE entries (path TEXT PRIMARY KEY, kind TEXT NOT NULL, local_size INTEGER,"
            " local_mtime_ns INTEGER, local_inode INTEGER, sha256 TEXT, remote_etag TEXT,"
            " remote_size INTEGER, remote_mtime INTEGER, remote_checksum TEXT,"
            " remote_fileid TEXT)"
        )
        raw.executemany(
            "INSERT INTO entries VALUES (?, ?, 5, 6, 7, NULL, ?, 5, 9, NULL, NULL)",
            [
                ("Tuần 1", "dir", ""),
                ("Tuần 1/listed.docx", "file", "abc-1"),
                ("Tuần 1/no-etag.docx", "file", ""),
                ("Tuần 1/null-etag.docx", "file", None),
            ],
        )

    with Journal.open(path) as j:
        assert j.meta_get("schema_version") == str(SCHEMA_VERSION) == "5"
        confirmed = {p: e.remote_confirmed for p, e in j.entries().items()}
        assert confirmed == {
            "Tuần 1": True,
            "Tuần 1/listed.docx": True,
            "Tuần 1/no-etag.docx": False,
            "Tuần 1/null-etag.docx": False,
        }
        seen = replace(j.entries()["Tuần 1/no-etag.docx"], remote_confirmed=True)
        j.put(seen)
    with Journal.open(path) as j:
        assert j.get("Tuần 1/no-etag.docx") == seen


def test_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    Journal.open(path).close()
    with contextlib.closing(sqlite3.connect(path)) as raw, raw:
        raw.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )

    with pytest.raises(ConfigError, match="newer version of hoso"):
        Journal.open(path)


def test_damaged_file_is_a_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a database, just bytes " * 200)
    with pytest.raises(JournalError, match="move it aside"):
        Journal.open(path)


def test_closed_journal_raises_journal_error(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "journal.db")
    j.close()
    with pytest.raises(JournalError):
        j.count()


# --- concurrency and crashes ----------------------------------------------------------------


def test_worker_threads_share_one_journal(journal: Journal) -> None:
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(100):
                entry = file_entry(f"t{worker}/f{i}", i + 1)
                journal.put(entry)
                assert journal.get(entry.path) == entry
        except BaseException as exc:  # collected and re-raised by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert failures == []
    assert journal.count() == 400


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from agent.journal import Journal
    from agent.model import JournalEntry, Kind

    journal = Journal.open(Path(sys.argv[1]))
    batch = 0
    while True:
        journal.put_many(
            JournalEntry(f"Tuần {batch:05d}/Bài {k}.docx", Kind.FILE, local_size=batch)
            for k in range(10)
        )
        journal.meta_set("last_batch", str(batch))
        print(batch, flush=True)
        batch += 1
    """
)


def test_sigkill_mid_write_leaves_a_consistent_prefix(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        deadline = time.monotonic() + 20
        confirmed = -1
        while confirmed < 60 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            confirmed = int(line)
        assert confirmed >= 60, "the writer did not get going"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    with Journal.open(path) as j:
        entries = j.entries()
        last = int(j.meta_get("last_batch") or -1)

    batches: dict[int, int] = {}
    for entry in entries.values():
        batches[entry.local_size] = batches.get(entry.local_size, 0) + 1
    n = len(batches)
    assert n > confirmed  # everything reported committed survived the kill
    assert sorted(batches) == list(range(n))  # a prefix: no gaps
    assert set(batches.values()) == {10}  # put_many is all or nothing
    assert last in (n - 1, n - 2)  # meta is written right after each batch


WRITE_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('held', 'yes')")
    print("locked", flush=True)
    sys.stdin.read()  # held until the test closes our stdin
    conn.execute("COMMIT")
    """
)


def test_opening_to_read_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """`hoso status` and the page open the journal while the agent is in a write: that must
    not wait for the write lock (nor fail with "database is locked" when it is held long)."""
    path = tmp_path / "journal.sqlite3"
    with Journal.open(path) as journal:
        journal.put(JournalEntry("Bài 1.docx", Kind.FILE, local_size=3))
    holder = subprocess.Popen(
        [sys.executable, "-c", WRITE_HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with Journal.open(path) as reader:
            assert list(reader.entries()) == ["Bài 1.docx"]
            assert reader.meta_get("held") is None  # the writer's uncommitted row is not seen
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert holder.returncode == 0


COUNT_ENTRIES = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM entries').fetchone()[0])"


def test_a_second_opening_in_the_agent_never_lets_another_process_delete_the_wal(
    tmp_path: Path,
) -> None:
    """The agent opens the journal more than once (its loop, the control channel, the
    backups, the page). Opening it must not close a descriptor of the database file: that
    dropped the loop's SQLite locks, a `hoso status` then took itself for the last user and
    deleted the WAL, and every later write of the agent went to the deleted file (seen in a
    test as `hoso status` showing no pass while the agent logged passes)."""
    path = tmp_path / "journal.sqlite3"
    agent = Journal.open(path)
    try:
        agent.put(file_entry("a"))
        Journal.open(path).close()  # e.g. the control channel's own
        outside = [sys.executable, "-c", COUNT_ENTRIES, str(path)]
        assert subprocess.run(outside, capture_output=True, text=True).stdout.strip() == "1"
        agent.put(file_entry("b"))  # after `hoso status` came and went
        assert (tmp_path / "journal.sqlite3-wal").exists()
        assert subprocess.run(outside, capture_output=True, text=True).stdout.strip() == "2"
    finally:
        agent.close()
