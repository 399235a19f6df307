"""The order of snapshots, and whether the clocks that dated them can be trusted.

Snapshots are ordered by when they were made in the repository: the sequence number each one
carries (docs/backup-format.md, "Trees and snapshots"), not the wall-clock time a PC with a
wrong clock wrote into it. Snapshots of format 1 have no number: they were all made before
the repository was upgraded, so they come first, in the order of their times.

Invariants: everything here is pure; ``now`` is an argument, never read from a clock. A
problem is reported only beyond ``TOLERANCE``, so clocks that NTP nudges do not cry wolf.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from ..i18n import _

TOLERANCE = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1).astimezone()

Snapshots = list[tuple[str, dict[str, Any]]]


def snapshot_time(snapshot: dict[str, Any]) -> datetime:
    """The time a snapshot records (a naive one is local time; an unreadable one, 1970)."""
    try:
        time = datetime.fromisoformat(snapshot["time"])
    except (KeyError, TypeError, ValueError):
        return _EPOCH
    return time if time.tzinfo else time.astimezone()


def snapshot_seq(snapshot: dict[str, Any]) -> int | None:
    seq = snapshot.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 else None


def order_key(item: tuple[str, dict[str, Any]]) -> tuple[int, int, datetime, str]:
    """Sort key of (id, snapshot): numbered snapshots by number after the unnumbered ones,
    which go by time; the id only breaks ties."""
    snapshot_id, snapshot = item
    seq = snapshot_seq(snapshot)
    if seq is None:
        return (0, 0, snapshot_time(snapshot), snapshot_id)
    return (1, seq, _EPOCH, snapshot_id)


def in_order(snapshots: Snapshots) -> Snapshots:
    """Oldest first, as made in the repository."""
    return sorted(snapshots, key=order_key)


@dataclass(frozen=True)
class ClockProblem:
    """A snapshot dated in the future of ``now`` ("future"), or earlier than the snapshot
    made before it ("backwards": the clock of the PC that made it went back)."""

    kind: Literal["future", "backwards"]
    snapshot: str
    time: str
    before: str = ""  # "backwards": the snapshot made just before, dated later
    before_time: str = ""

    def json(self) -> dict[str, str]:
        found = {"kind": self.kind, "snapshot": self.snapshot, "time": self.time}
        if self.kind == "backwards":
            found |= {"before": self.before, "before_time": self.before_time}
        return found

    def describe(self, now: datetime) -> str:
        if self.kind == "future":
            return _(
                "snapshot {id} is dated {time}, in the future of this computer's clock "
                "({now}): that clock was ahead then, or is behind now"
            ).format(id=self.snapshot[:8], time=_shown(self.time), now=_shown(now.isoformat()))
        return _(
            "snapshot {id} is dated {time}, earlier than snapshot {before} made before it "
            "({before_time}): a clock went backwards"
        ).format(
            id=self.snapshot[:8],
            time=_shown(self.time),
            before=self.before[:8],
            before_time=_shown(self.before_time),
        )


def assess(snapshots: Snapshots, now: datetime) -> list[ClockProblem]:
    """Every clock problem among ``snapshots`` (any order), in repository order."""
    problems: list[ClockProblem] = []
    previous: tuple[str, dict[str, Any]] | None = None
    for snapshot_id, snapshot in in_order(snapshots):
        time = snapshot_time(snapshot)
        if time > now + TOLERANCE:
            problems.append(ClockProblem("future", snapshot_id, time.isoformat()))
        if previous is not None and time < snapshot_time(previous[1]) - TOLERANCE:
            problems.append(
                ClockProblem(
                    "backwards",
                    snapshot_id,
                    time.isoformat(),
                    previous[0],
                    snapshot_time(previous[1]).isoformat(),
                )
            )
        previous = (snapshot_id, snapshot)
    return problems


def still_future(problem: dict[str, Any], now: datetime) -> bool:
    """Whether a recorded "future" problem is still one at ``now`` (time catches up)."""
    return snapshot_time({"time": problem.get("time")}) > now + TOLERANCE


def _shown(iso: str) -> str:
    return iso[:16].replace("T", " ")
