"""When the last good backup was made, kept in the state folder.

`hoso status` shows the backup's age without a passphrase (snapshots are encrypted), and the
agent's scheduler decides from it when the next backup is due. The record holds a time, a
snapshot id and counts: nothing about the records themselves.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from ..config import Config, write_private

LAST_FILE = "backup-last.json"


def remember(config: Config, *, snapshot: str, files: int, size: int, skipped: int) -> None:
    record = {
        "time": time.time(),
        "snapshot": snapshot,
        "files": files,
        "bytes": size,
        "skipped": skipped,
    }
    write_private(config.state_dir / LAST_FILE, json.dumps(record))


def last_time(config: Config) -> float | None:
    record = _read(config)
    return float(record["time"]) if record else None


def status(config: Config, *, now: float | None = None) -> dict[str, Any] | None:
    """The `backup` object of `hoso status --json`: None when no backup was ever made."""
    record = _read(config)
    if record is None:
        return None
    now = time.time() if now is None else now
    age_hours = max(0.0, (now - float(record["time"])) / 3600)
    return {
        "last": datetime.fromtimestamp(float(record["time"])).isoformat(timespec="seconds"),
        "snapshot": record.get("snapshot"),
        "files": record.get("files"),
        "age_hours": round(age_hours, 1),
        "stale": age_hours > config.backup.max_age,
        "repository": str(config.backup.repository_path()),
    }


def _read(config: Config) -> dict[str, Any] | None:
    try:
        record = json.loads((config.state_dir / LAST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("time"), int | float):
        return None
    return record
