"""The safety checks that decide whether a pass may act, as data in → verdict out.

Pure like reconcile: no I/O and no clock (``now`` and the share's time are arguments), so
each rule is tested with literals. sync.py turns a failed check into a SafetyStop or a
warning; nothing here decides what to do about it.

- the mass-delete guard: a plan that deletes too much of what is tracked;
- the restored-share guard: a share that went back in time (put back from an older copy);
- the clock guard: time-based expiry (the trash) refuses to act on a clock that is off.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from agent.model import JournalEntry, Kind, LocalEntry, Plan, RelPath, RemoteEntry
from agent.reconcile import State, local_state, went_back_in_time

# --- the mass-delete guard -------------------------------------------------------------------

_FEW = 4  # below this many tracked entries a percentage means little


@dataclass(frozen=True)
class DeleteCheck:
    """How much of what is tracked a plan would delete, and whether that needs a human."""

    deletions: int
    tracked: int
    percent: float
    exceeds: bool


def check_mass_delete(plan: Plan, tracked: int, max_percent: float) -> DeleteCheck:
    """Count a plan's deletions against ``tracked`` (the number of journal entries).

    A folder delete counts itself plus its ``covers``. The rule: with ``tracked`` ≥ 4 the
    plan exceeds when it deletes more than ``max_percent`` percent, or everything; with 2 or
    3 tracked entries only deleting all of them exceeds; with 0 or 1 nothing does (one lone
    file deleted is an ordinary edit, not an accident).
    """
    deletions = sum(1 + len(action.covers) for action in plan.deletions)
    percent = 100.0 * deletions / tracked if tracked > 0 else (100.0 if deletions else 0.0)
    everything = tracked >= 2 and deletions >= tracked
    exceeds = deletions > 0 and (everything or (tracked >= _FEW and percent > max_percent))
    return DeleteCheck(deletions=deletions, tracked=tracked, percent=percent, exceeds=exceeds)


# --- the restored-share guard ----------------------------------------------------------------

RESTORE_MIN_OLDER = 2  # this many files older on the share: it went back in time
RESTORE_MIN_EVIDENCE = 3  # or one older file plus missing ones, this many in all


@dataclass(frozen=True)
class RestoreCheck:
    """Evidence that the share was put back to an older copy of itself.

    ``older``: files unchanged here whose share copy is another, older version than the one
    last synced. ``missing``: files unchanged here, which the share had confirmed, gone from
    it. Only files the share confirmed and this computer did not touch count: their share
    copy can only have gone back by someone putting an older copy there.
    """

    older: tuple[RelPath, ...] = ()
    missing: tuple[RelPath, ...] = ()

    @property
    def restored(self) -> bool:
        """At least two files went back in time, or one did and two more vanished with it.

        One older file alone is a colleague putting back an old copy; files that only
        vanished are ordinary deletions (a large one is the mass-delete guard's business).
        """
        older = len(self.older)
        return older >= RESTORE_MIN_OLDER or (
            older >= 1 and older + len(self.missing) >= RESTORE_MIN_EVIDENCE
        )


def check_restored_share(
    local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
    journal: Mapping[RelPath, JournalEntry],
) -> RestoreCheck:
    """Compare the share with the journal for the signs of a restore from an older copy."""
    older: list[RelPath] = []
    missing: list[RelPath] = []
    for path, base in sorted(journal.items()):
        if base.kind is not Kind.FILE or not base.remote_confirmed:
            continue
        if local_state(local.get(path), base) is not State.UNCHANGED:
            continue
        there = remote.get(path)
        if there is None:
            missing.append(path)
        elif went_back_in_time(there, base):
            older.append(path)
    return RestoreCheck(tuple(older), tuple(missing))


# --- the clock guard -------------------------------------------------------------------------

DAY = 86400.0
CLOCK_TOLERANCE = DAY  # clocks further apart than this are not trusted to expire anything


class ClockProblem(enum.Enum):
    AHEAD = "ahead"  # this computer's clock is ahead of the share's
    BEHIND = "behind"  # ... behind the share's
    WENT_BACK = "went_back"  # earlier than the start of the last pass
    UNKNOWN = "unknown"  # the share did not say what time it is


@dataclass(frozen=True)
class ClockCheck:
    """Whether ``now`` can be trusted to expire things; ``days`` says how far off it is."""

    problem: ClockProblem | None = None
    days: float = 0.0

    @property
    def trusted(self) -> bool:
        return self.problem is None


def check_clock(now: float, *, server_now: float | None, last_pass: float | None) -> ClockCheck:
    """Judge this computer's clock by evidence it cannot change: the share's clock
    (``server_now``, from its HTTP ``Date``) and the start of the last pass this computer
    recorded. A clock a month ahead would make the whole trash look expired."""
    if server_now is None:
        return ClockCheck(ClockProblem.UNKNOWN)
    skew = now - server_now
    if skew > CLOCK_TOLERANCE:
        return ClockCheck(ClockProblem.AHEAD, skew / DAY)
    if skew < -CLOCK_TOLERANCE:
        return ClockCheck(ClockProblem.BEHIND, -skew / DAY)
    if last_pass is not None and now < last_pass - CLOCK_TOLERANCE:
        return ClockCheck(ClockProblem.WENT_BACK, (last_pass - now) / DAY)
    return ClockCheck()
