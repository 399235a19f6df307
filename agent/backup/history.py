"""When the last good backup was made, kept in the state folder.

`hoso status` shows the backup's age without a passphrase (snapshots are encrypted), and the
agent's scheduler decides from it when the next backup is due. The record holds a time, a
snapshot id and number, counts, and the clock problems the repository's dates showed then
(clock.ClockProblem.json): nothing about the records themselves. It is the last backup made
here, whatever its date: a date in the future of ``now`` means a clock is wrong, not that
the backup is fresh.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from ..config import Config, write_private
from ..i18n import _
from .clock import TOLERANCE, still_future
from .folderstate import config_missing, repository_state

LAST_FILE = "backup-last.json"


def remember(
    config: Config,
    *,
    snapshot: str,
    seq: int,
    files: int,
    size: int,
    skipped: int,
    clock: list[dict[str, str]],
    now: float,
) -> None:
    record = {
        "time": now,
        "snapshot": snapshot,
        "seq": seq,
        "files": files,
        "bytes": size,
        "skipped": skipped,
        "clock": clock,
    }
    write_private(config.state_dir / LAST_FILE, json.dumps(record))


def last_time(config: Config) -> float | None:
    record = _read(config)
    return float(record["time"]) if record else None


def status(config: Config, *, now: float | None = None) -> dict[str, Any] | None:
    """The `backup` object of `hoso status --json`: None when no backup was ever made and
    the repository is not damaged.

    ``age_hours`` is None when the last backup is dated in the future (``clock`` then says
    so); ``clock`` lists the problems with dates (ClockProblem.json, "future" ones only while
    still in the future); ``damaged`` says what is wrong with the repository folder."""
    record = _read(config)
    path = config.backup.repository_path()
    damaged = str(config_missing(path)) if repository_state(path) == "damaged" else None
    if record is None:
        return None if damaged is None else _no_record(config, damaged)
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(now).astimezone()
    last = float(record["time"])
    recorded = record.get("clock")
    clock = [
        problem
        for problem in (recorded if isinstance(recorded, list) else [])
        if isinstance(problem, dict)
        and (problem.get("kind") != "future" or still_future(problem, moment))
    ]
    future = last > now + TOLERANCE.total_seconds()
    if future and not any(p.get("snapshot") == record.get("snapshot") for p in clock):
        when = datetime.fromtimestamp(last).astimezone().isoformat()
        clock.append({"kind": "future", "snapshot": record.get("snapshot") or "", "time": when})
    age_hours = None if future else round(max(0.0, (now - last) / 3600), 1)
    return {
        "last": datetime.fromtimestamp(last).isoformat(timespec="seconds"),
        "snapshot": record.get("snapshot"),
        "files": record.get("files"),
        "age_hours": age_hours,
        # A backup dated in the future proves nothing about its age: warn as if stale.
        "stale": future or (age_hours or 0.0) > config.backup.max_age,
        "repository": str(path),
        "clock": clock,
        "damaged": damaged,
    }


def _no_record(config: Config, damaged: str) -> dict[str, Any]:
    return {
        "last": None,
        "snapshot": None,
        "files": None,
        "age_hours": None,
        "stale": True,
        "repository": str(config.backup.repository_path()),
        "clock": [],
        "damaged": damaged,
    }


def clock_lines(backup: dict[str, Any]) -> list[str]:
    """The warnings `hoso status` prints about the clock, one per problem."""
    lines = []
    for problem in backup.get("clock") or []:
        when = str(problem.get("time", ""))[:16].replace("T", " ")
        snapshot = str(problem.get("snapshot", ""))[:8]
        if problem.get("kind") == "future":
            lines.append(
                _(
                    "Warning: the computer's clock is off: backup {id} is dated {time}, in the "
                    "future. Set the clock right."
                ).format(id=snapshot, time=when)
            )
        else:
            lines.append(
                _(
                    "Warning: a clock went backwards: backup {id} is dated {time}, before the "
                    "backup made ahead of it ({before_time}). Check the computer's clock."
                ).format(
                    id=snapshot,
                    time=when,
                    before_time=str(problem.get("before_time", ""))[:16].replace("T", " "),
                )
            )
    return lines


def _read(config: Config) -> dict[str, Any] | None:
    try:
        record = json.loads((config.state_dir / LAST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("time"), int | float):
        return None
    return record
