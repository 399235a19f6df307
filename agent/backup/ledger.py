"""What this computer wrote into each backup repository, kept in the state folder.

The repository's manifest proves what the repository held, but a manifest can be deleted
along with what it lists, or replaced by an older copy. This record is the second witness:
the snapshots and key slots made here, and the manifest generation this computer last
wrote. It holds ids, numbers and labels, nothing about the records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Config, write_private

LEDGER_FILE = "backup-written.json"


@dataclass(frozen=True)
class Written:
    generation: int = 0  # the manifest generation last written from here (0: none)
    snapshots: dict[str, int | None] = field(default_factory=dict)  # id → number
    keys: dict[str, str] = field(default_factory=dict)  # slot id → label


def load(config: Config, repo_id: str) -> Written:
    entry = _read(config).get(repo_id)
    if not isinstance(entry, dict):
        return Written()
    snapshots, keys = entry.get("snapshots"), entry.get("keys")
    generation = entry.get("generation")
    return Written(
        generation if isinstance(generation, int) else 0,
        dict(snapshots) if isinstance(snapshots, dict) else {},
        dict(keys) if isinstance(keys, dict) else {},
    )


def record(
    config: Config,
    repo_id: str,
    *,
    generation: int | None,
    snapshots: Mapping[str, int | None] = {},
    forgotten: Iterable[str] = (),
    keys: Mapping[str, str] = {},
    removed_keys: Iterable[str] = (),
) -> None:
    """Add what was just written, drop what was just removed (by this computer)."""
    before = load(config, repo_id)
    gone, gone_keys = set(forgotten), set(removed_keys)
    after = {
        "generation": max(before.generation, generation or 0),
        "snapshots": {k: v for k, v in {**before.snapshots, **snapshots}.items() if k not in gone},
        "keys": {k: v for k, v in {**before.keys, **keys}.items() if k not in gone_keys},
    }
    everything = _read(config)
    everything[repo_id] = after
    write_private(config.state_dir / LEDGER_FILE, json.dumps(everything, ensure_ascii=False))


def _read(config: Config) -> dict[str, Any]:
    try:
        content = json.loads((config.state_dir / LEDGER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}
