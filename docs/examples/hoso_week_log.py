"""hoso-week-log: lists, week by week, the records a teacher saved.

Each record that settles in a "Tuần N" folder is remembered in the plugin's own storage (its
path and week), and the running agent rewrites "Nhật ký tuần.txt" at the root of the records
folder every hour, durably: a crash leaves the old list or the new one, never half of one.
The list syncs like a record but is never checked as one.
"""

from __future__ import annotations

from agent.api import (
    Config,
    Database,
    Record,
    literal_pattern,
    natural_key,
    storage,
    week_of_path,
    write_atomic,
)
from agent.hooks import Job, JobContext, hookimpl

NAME = "week_log"
LOG = "Nhật ký tuần.txt"


def _v1(db: Database) -> None:
    db.table("saved").create({"path": str, "week": int}, pk="path")


MIGRATIONS = [_v1]  # append a function to change the table later; never edit one


@hookimpl
def hoso_own_files(config: Config) -> list[str]:
    return [literal_pattern(LOG)]


@hookimpl
def hoso_record_settled(config: Config, record: Record) -> None:
    week = week_of_path(record.path)
    if week is None:
        return
    with storage(config, NAME, MIGRATIONS) as store, store.transaction() as db:
        db.table("saved").upsert({"path": record.path, "week": week}, pk="path")


def write_log(context: JobContext) -> None:
    with storage(context.config, NAME, MIGRATIONS) as store, store.reading() as db:
        rows = list(db.query("SELECT path, week FROM saved"))
    lines = []
    for week in sorted({row["week"] for row in rows}):
        lines.append(f"Tuần {week}")
        paths = (row["path"] for row in rows if row["week"] == week)
        lines += [f"  {path}" for path in sorted(paths, key=natural_key)]
    text = "\n".join(lines) + "\n"
    write_atomic(context.config.root / LOG, text.encode("utf-8"), mode=0o644)


@hookimpl
def hoso_scheduled_jobs(config: Config) -> list[Job]:
    return [Job("write-log", 3600, write_log)]
