"""The repository's manifest: which snapshots and key slots it holds, under the master key.

Anyone can delete a file of the repository; only a key holder can write the manifest. So a
snapshot or a key slot the manifest lists but the disk lacks was lost, not forgotten
(docs/backup-format.md, "The manifest"). Invariants kept by the writers in repository.py:
- the manifest never lists a file that a finished operation removed: it is updated after a
  snapshot or slot is written, and before one is deleted;
- ``generation`` grows by one at every write, and ``seq`` is the highest snapshot number ever
  given, so numbers are never reused even after the newest snapshot is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    generation: int = 0
    seq: int = 0
    snapshots: dict[str, int | None] = field(default_factory=dict)  # id → number (None: v1)
    keys: dict[str, str] = field(default_factory=dict)  # slot id → label

    def json(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "generation": self.generation,
            "seq": self.seq,
            "snapshots": dict(sorted(self.snapshots.items())),
            "keys": dict(sorted(self.keys.items())),
        }

    def with_snapshot(self, snapshot_id: str, seq: int | None) -> Manifest:
        return replace(
            self,
            generation=self.generation + 1,
            seq=max(self.seq, seq or 0),
            snapshots={**self.snapshots, snapshot_id: seq},
        )

    def without_snapshots(self, snapshot_ids: set[str]) -> Manifest:
        kept = {k: v for k, v in self.snapshots.items() if k not in snapshot_ids}
        return replace(self, generation=self.generation + 1, snapshots=kept)

    def with_key(self, slot_id: str, label: str) -> Manifest:
        return replace(self, generation=self.generation + 1, keys={**self.keys, slot_id: label})

    def without_key(self, slot_id: str) -> Manifest:
        kept = {k: v for k, v in self.keys.items() if k != slot_id}
        return replace(self, generation=self.generation + 1, keys=kept)


def parse(content: dict[str, Any]) -> Manifest:
    """A Manifest from its JSON; ValueError when malformed (the caller calls it damaged)."""
    generation, seq = content.get("generation"), content.get("seq")
    snapshots, keys = content.get("snapshots"), content.get("keys")
    if not (
        _count(generation)
        and _count(seq)
        and isinstance(snapshots, dict)
        and isinstance(keys, dict)
        and all(v is None or _count(v) for v in snapshots.values())
        and all(isinstance(v, str) for v in keys.values())
    ):
        raise ValueError("malformed manifest")
    return Manifest(generation, seq, dict(snapshots), dict(keys))


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
