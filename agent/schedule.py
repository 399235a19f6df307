"""When `hoso run` does what: the decisions of the agent's loop, pure.

The loop (agent/daemon.py) reads its clocks, asks the schedule what is due, does that work,
tells the schedule how it went and sleeps as long as the schedule says. Nothing here reads a
clock, a file or the network: every time is an argument, so tests use literal times.

Two clocks. Passes are timed on the monotonic clock: seconds from an arbitrary origin (the boot,
on Linux), which never goes backwards and does not count the hours a laptop was suspended. The
plugins' scheduled jobs and the backups are timed on the wall clock, because their last runs are
stored (the journal, the backup history) and must outlive a restart; that clock can jump either
way.

How much of the share a pass lists (model.Walk; docs/sync.md, "How an idle agent finds
changes"): a poll reads only the change beacons; every folder is listed at least every
``walk_interval`` (a full walk) and the recent folders every ``recent_walk_interval`` (a recent
walk). Walks ride on polls: one due makes the next poll that walk, so a share that does not
answer, or refuses the login, is not asked more often because a walk is due.

Randomness is an argument too (``draw``: numbers in [0, 1), the loop's random.Random, literals
in tests), so that sixty agents switched on at 7:00 do not list the share at the same second:
the first pass waits ``draw() × min(start_spread, poll_interval)`` unless local changes or a
request ask for it sooner, and each walk is due at its interval ± WALK_JITTER.

Invariants: the first look after start-up is a full pass (a full walk) followed by the start-up
check (the whole folder validated), whatever the monotonic clock's origin; a walk that did not
run to its end stays due; an unreachable share is retried after FIRST_RETRY seconds, doubling up
to the poll interval; a refused login is retried no more often than AUTH_RETRY; a clock that
jumped forward runs what is due once, never once per turn missed; a job's or a backup's last
run dated well in the future (the clock was ahead then) makes it due now rather than when the
clock catches up.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass

from .backup.clock import TOLERANCE as CLOCK_TOLERANCE
from .config import BACKUP_SCHEDULES, Config, SyncConfig
from .davstatus import AUTH_RETRY_MINUTES
from .model import Walk

FIRST_RETRY = 5.0  # seconds before the first retry of an unreachable share
AUTH_RETRY = AUTH_RETRY_MINUTES * 60.0  # while the share refuses the login
WALK_JITTER = 0.1  # a walk is due at its interval ± 10 %
# Numbers drawn uniformly from [0, 1); None: no randomness (no start-up wait, walks exactly
# at their intervals).
Draw = Callable[[], float] | None
SETTLE_RETRY_MIN = 1.0  # seconds at least before the pass a settling file asked for
MIN_JOB_INTERVAL = 60.0  # seconds: a job asking for less would spin
BACKUP_RETRY = 600.0  # seconds after a backup failed


class Outcome(enum.Enum):
    """How a pass ended, as far as the schedule cares."""

    DONE = "done"
    RETRY_SOON = "retry_soon"  # done, but a file still being written waits for another pass
    UNREACHABLE = "unreachable"  # the share did not answer: work offline, retry soon
    REFUSED = "refused"  # the share refused the login: retry rarely (brute-force guards)
    STOPPED = "stopped"  # any other stop (a safety stop, a config problem): retry at the poll


@dataclass(frozen=True)
class PassEnd:
    outcome: Outcome


@dataclass(frozen=True)
class Hints:
    """What the loop has seen since it last looked."""

    local_settled: bool = False  # a burst of local change hints has settled (the debouncer)
    poll_asked: bool = False  # look at the share now (the demo changed something there)
    scan_asked: bool = False  # the folder changed behind the watcher's back (a restore)
    watcher_alive: bool = True  # without a live watcher nothing tells about local changes


@dataclass(frozen=True)
class PassDue:
    scan_local: bool  # scan the records folder (else only the share may have changed)
    full_check: bool  # after it, validate the whole folder (start-up check, periodic rescan)
    walk: Walk = Walk.POLL  # how much of a plain WebDAV share to list


@dataclass(frozen=True)
class Schedule:
    """The pass timing on the monotonic clock. Each event returns the next schedule."""

    poll_interval: float
    rescan_interval: float
    settle_seconds: float
    walk_interval: float = 3600.0
    recent_walk_interval: float = 300.0
    next_poll: float | None = None  # None: at once (the first pass)
    # None: the start-up check is due whatever the clock's origin. Monotonic time counts from
    # boot, so a number here would skip it on a PC started less than an interval ago.
    last_rescan: float | None = None
    retry_delay: float = FIRST_RETRY
    next_walk: float | None = None  # the next full walk; None: the next pass
    next_recent: float | None = None  # the next recent walk; None: the next pass

    @classmethod
    def start(
        cls, sync: SyncConfig, *, now: float = 0.0, draw: Draw = None
    ) -> Schedule:
        """The schedule of an agent starting at ``now``: its first pass waits a random part
        of ``start_spread`` (capped at the poll interval), none without ``draw``."""
        spread = min(sync.start_spread, sync.poll_interval)
        wait = spread * draw() if draw is not None else 0.0
        return cls(
            sync.poll_interval,
            sync.rescan_interval,
            sync.settle_seconds,
            sync.walk_interval,
            sync.recent_walk_interval,
            next_poll=now + wait if wait else None,
        )

    def due(self, now: float, hints: Hints) -> PassDue | None:
        """The pass to run at ``now``, or None when nothing calls for one."""
        poll_due = (
            self.next_poll is None or now >= self.next_poll or hints.poll_asked or hints.scan_asked
        )
        first = self.last_rescan is None
        # The first pass waits its turn (the start-up spread) unless something asks for it.
        rescan_due = first or now - self.last_rescan >= self.rescan_interval
        if first and not (poll_due or hints.local_settled):
            return None
        if not (hints.local_settled or poll_due or rescan_due):
            return None
        scan = hints.local_settled or rescan_due or hints.scan_asked or not hints.watcher_alive
        return PassDue(scan_local=scan, full_check=rescan_due, walk=self._walk(now, hints))

    def _walk(self, now: float, hints: Hints) -> Walk:
        # A poll asked for (the demo changed the share through plain WebDAV) lists it all.
        if self.next_walk is None or now >= self.next_walk or hints.poll_asked:
            return Walk.FULL
        if self.next_recent is None or now >= self.next_recent:
            return Walk.RECENT
        return Walk.POLL

    def delay_after(self, result: PassEnd) -> float:
        """Seconds from the start of a pass that ended so to the next poll."""
        poll = self.poll_interval
        if result.outcome is Outcome.UNREACHABLE:
            return min(self.retry_delay, poll)
        if result.outcome is Outcome.REFUSED:
            # A refused login retried every poll would trip the server's brute-force guard
            # (Nextcloud throttles, then blocks): wait until someone can fix the account.
            return max(poll, AUTH_RETRY)
        if result.outcome is Outcome.RETRY_SOON:
            return max(self.settle_seconds, SETTLE_RETRY_MIN)
        # A poll costs one request per change beacon (or one Depth 0 PROPFIND on Nextcloud):
        # polls need no spacing by the pass's cost any more, walks have their own intervals.
        return poll

    def after_pass(
        self,
        started: float,
        due: PassDue,
        result: PassEnd,
        *,
        draw: Draw = None,
    ) -> Schedule:
        """The schedule once the pass that was ``due`` at ``started`` ended with ``result``;
        ``draw`` places the next walks within their jitter."""
        after = dataclasses.replace(
            self,
            next_poll=started + self.delay_after(result),
            last_rescan=started if due.full_check else self.last_rescan,
        )
        if result.outcome is Outcome.UNREACHABLE:
            backoff = min(self.retry_delay * 2, self.poll_interval)
            return dataclasses.replace(after, retry_delay=backoff)
        if result.outcome not in (Outcome.DONE, Outcome.RETRY_SOON):
            return after  # the walk did not happen: still due
        if due.walk is Walk.FULL:
            after = dataclasses.replace(
                after, next_walk=started + _jittered(self.walk_interval, draw)
            )
        if due.walk in (Walk.FULL, Walk.RECENT):
            after = dataclasses.replace(
                after, next_recent=started + _jittered(self.recent_walk_interval, draw)
            )
        return after.share_reached()

    def share_reached(self) -> Schedule:
        """A pass ran to its end (the agent's own or one a command asked for): the next time
        the share is unreachable, retries start small again."""
        return dataclasses.replace(self, retry_delay=FIRST_RETRY)

    def sleep_for(
        self, now: float, *, settle_deadline: float | None = None, job_wait: float = float("inf")
    ) -> float:
        """Seconds to sleep from ``now`` (unless woken): until the next poll, the moment a
        burst of local changes has settled, or the next job, whichever is first."""
        deadlines = [now if self.next_poll is None else self.next_poll, now + job_wait]
        if settle_deadline is not None:
            deadlines.append(settle_deadline)
        return max(0.0, min(deadlines) - now)


def _jittered(interval: float, draw: Draw) -> float:
    if draw is None:
        return interval
    return interval * (1.0 + WALK_JITTER * (2.0 * draw() - 1.0))


def job_wait(last_run: float | None, every: float, now: float) -> float:
    """Wall-clock seconds from ``now`` until a job run every ``every`` seconds (at least
    MIN_JOB_INTERVAL) and last run at ``last_run`` is due; 0 when due. A job never run is
    due; so is one whose last run lies ahead of ``now`` beyond CLOCK_TOLERANCE (the clock
    was ahead then, or was set back since): waiting for the clock to catch up could take years.
    """
    if last_run is None or last_run > now + CLOCK_TOLERANCE.total_seconds():
        return 0.0
    return max(0.0, last_run + max(every, MIN_JOB_INTERVAL) - now)


def backup_due(
    *, now: float, last_backup: float | None, last_change: float | None, config: Config
) -> str | None:
    """Why a backup is due now ("schedule", "changes"), or None (the backup thread asks,
    agent/backup/scheduler.py). ``last_backup`` is the last one made here (history), whatever
    its date: one dated in the future of ``now`` beyond CLOCK_TOLERANCE means the clock was
    ahead when it was made, and a backup is due now rather than when the clock catches up."""
    interval = BACKUP_SCHEDULES[config.backup.schedule]
    in_future = last_backup is not None and last_backup > now + CLOCK_TOLERANCE.total_seconds()
    if interval and (last_backup is None or in_future or now - last_backup >= interval):
        return "schedule"
    quiet = config.backup.after_changes_minutes * 60
    if (
        quiet
        and last_change is not None
        and (last_backup is None or last_change > last_backup)
        and now - last_change >= quiet
    ):
        return "changes"
    return None
