"""The agent loop's schedule (agent/schedule.py) with literal times: no clock, no sleep.

Monotonic times count seconds from the boot, as Linux's monotonic clock does; wall times are
seconds since 1970 (WALL is Monday 7 December 2026, 08:00 UTC).
"""

from __future__ import annotations

from pytest import approx

from agent.config import SyncConfig
from agent.model import Walk
from agent.schedule import (
    AUTH_RETRY,
    FIRST_RETRY,
    MIN_JOB_INTERVAL,
    Hints,
    Outcome,
    PassDue,
    PassEnd,
    Schedule,
    job_wait,
)

SYNC = SyncConfig(settle_seconds=2.0, poll_interval=30.0, rescan_interval=3600.0)
QUIET = Hints()
DONE = PassEnd(Outcome.DONE)
FULL = PassDue(scan_local=True, full_check=True, walk=Walk.FULL)
POLL = PassDue(scan_local=False, full_check=False, walk=Walk.POLL)
WALL = 1_796_630_400.0
DAY = 86_400.0


def started_at(now: float) -> Schedule:
    """A schedule whose first pass (with the start-up check) ran at ``now``."""
    first = Schedule.start(SYNC)
    assert first.due(now, QUIET) == FULL
    return first.after_pass(now, FULL, DONE)


# --- the first pass ----------------------------------------------------------------------------


def test_the_first_look_right_after_boot_is_a_full_pass_with_the_start_up_check() -> None:
    # Three seconds after boot: far less than the rescan interval since the clock's origin,
    # which must not read as "checked a moment ago".
    assert Schedule.start(SYNC).due(3.0, QUIET) == PassDue(
        scan_local=True, full_check=True, walk=Walk.FULL
    )


def test_the_first_look_long_after_boot_is_the_same_full_pass() -> None:
    assert Schedule.start(SYNC).due(40 * DAY, QUIET) == FULL


def test_the_first_pass_failing_still_counts_as_the_start_up_check() -> None:
    # The check validates the folder on disk, which needs no share: the retry does not run
    # it again. The full walk did not happen: the retry is one.
    offline = Schedule.start(SYNC).after_pass(3.0, FULL, PassEnd(Outcome.UNREACHABLE))
    assert offline.due(3.0 + FIRST_RETRY, QUIET) == PassDue(
        scan_local=False, full_check=False, walk=Walk.FULL
    )


# --- polls and rescans -------------------------------------------------------------------------


def test_nothing_is_due_between_polls_and_the_loop_sleeps_until_the_next() -> None:
    schedule = started_at(100.0)
    assert schedule.due(129.9, QUIET) is None
    assert schedule.sleep_for(110.0) == 20.0
    assert schedule.due(130.0, QUIET) == PassDue(scan_local=False, full_check=False)


def test_a_settled_burst_of_local_changes_is_a_pass_that_scans() -> None:
    schedule = started_at(100.0)
    due = schedule.due(105.0, Hints(local_settled=True))
    assert due == PassDue(scan_local=True, full_check=False)


def test_the_loop_wakes_when_local_changes_settle_or_a_job_is_due_if_sooner() -> None:
    schedule = started_at(100.0)
    assert schedule.sleep_for(110.0, settle_deadline=112.25) == 2.25
    assert schedule.sleep_for(110.0, job_wait=7.0) == 7.0
    assert schedule.sleep_for(110.0, settle_deadline=105.0) == 0.0  # overdue: at once


def test_a_poll_asked_for_comes_at_once_and_a_scan_asked_for_scans() -> None:
    schedule = started_at(100.0)
    # A poll asked for (the demo changed the share through plain WebDAV) lists every folder.
    assert schedule.due(101.0, Hints(poll_asked=True)) == PassDue(False, False, Walk.FULL)
    assert schedule.due(101.0, Hints(scan_asked=True)) == PassDue(True, False)


def test_without_a_live_watcher_every_poll_scans_the_folder() -> None:
    schedule = started_at(100.0)
    assert schedule.due(130.0, Hints(watcher_alive=False)) == PassDue(True, False)
    assert schedule.due(120.0, Hints(watcher_alive=False)) is None  # still only at polls


def test_the_rescan_comes_an_interval_after_the_last_and_then_waits_again() -> None:
    schedule = started_at(100.0)
    assert schedule.due(3699.0, Hints(poll_asked=True)) == PassDue(False, False, Walk.FULL)
    assert schedule.due(3700.0, QUIET) == FULL
    again = schedule.after_pass(3700.0, FULL, DONE)
    assert again.due(3730.0, QUIET) == PassDue(False, False)
    assert again.due(7300.0, QUIET) == FULL


def test_polls_are_not_spaced_by_what_a_pass_cost() -> None:
    # A poll costs one request per change beacon: the walks have intervals of their own, and
    # a change made through hoso must arrive within the poll interval.
    schedule = started_at(100.0)
    assert schedule.delay_after(DONE) == 30.0
    after = schedule.after_pass(130.0, POLL, DONE)
    assert after.due(159.0, QUIET) is None and after.due(160.0, QUIET) == POLL


# --- walks -------------------------------------------------------------------------------------


def test_walks_ride_on_polls_recent_folders_every_five_minutes_all_every_hour() -> None:
    schedule = started_at(100.0)  # the first pass was the full walk
    assert schedule.due(370.0, QUIET) == POLL
    recent = PassDue(False, False, Walk.RECENT)
    assert schedule.due(400.0, QUIET) == recent
    schedule = schedule.after_pass(400.0, recent, DONE)
    assert schedule.due(430.0, QUIET) == POLL
    assert schedule.due(700.0, QUIET) == recent
    # The hour's walk lists everything, and the recent walk counts from it.
    assert schedule.due(3700.0, QUIET) == FULL
    walked = schedule.after_pass(3700.0, FULL, DONE)
    assert walked.due(3730.0, QUIET) == POLL and walked.due(4000.0, QUIET) == recent


def test_a_walk_that_did_not_run_to_its_end_stays_due() -> None:
    schedule = started_at(100.0)
    recent = PassDue(False, False, Walk.RECENT)
    offline = schedule.after_pass(400.0, recent, PassEnd(Outcome.UNREACHABLE))
    assert offline.due(400.0 + FIRST_RETRY, QUIET) == recent
    stopped = schedule.after_pass(3700.0, FULL, PassEnd(Outcome.STOPPED))
    assert stopped.due(3730.0, QUIET) == PassDue(False, False, Walk.FULL)


def test_a_due_walk_never_asks_a_refusing_share_sooner() -> None:
    schedule = started_at(100.0)
    refused = schedule.after_pass(3700.0, FULL, PassEnd(Outcome.REFUSED))
    assert refused.due(3700.0 + AUTH_RETRY - 1, QUIET) is None
    assert refused.sleep_for(3701.0) == AUTH_RETRY - 1


def test_the_walks_are_spread_by_the_numbers_drawn() -> None:
    first = Schedule.start(SYNC)
    low = first.after_pass(100.0, FULL, DONE, draw=lambda: 0.0)
    assert (low.next_walk, low.next_recent) == approx((100.0 + 3240.0, 100.0 + 270.0))  # -10 %
    high = first.after_pass(100.0, FULL, DONE, draw=lambda: 1.0)
    assert (high.next_walk, high.next_recent) == approx((100.0 + 3960.0, 100.0 + 330.0))  # +10 %
    draws = iter([0.25, 0.75])
    mixed = first.after_pass(100.0, FULL, DONE, draw=lambda: next(draws))
    assert (mixed.next_walk, mixed.next_recent) == approx((100.0 + 3420.0, 100.0 + 315.0))


# --- the first pass spread ---------------------------------------------------------------------


def test_the_first_pass_waits_its_share_of_the_start_up_spread() -> None:
    # Sixty PCs switched on at 7:00: each looks at the share at its own moment of 30 s.
    schedule = Schedule.start(SYNC, now=100.0, draw=lambda: 0.5)
    assert schedule.due(114.9, QUIET) is None
    assert schedule.sleep_for(100.0) == 15.0
    assert schedule.due(115.0, QUIET) == FULL


def test_local_changes_or_a_request_do_not_wait_for_the_spread() -> None:
    schedule = Schedule.start(SYNC, now=100.0, draw=lambda: 0.9)
    assert schedule.due(101.0, Hints(local_settled=True)) == FULL
    assert schedule.due(101.0, Hints(poll_asked=True)) == PassDue(True, True, Walk.FULL)
    assert schedule.due(101.0, Hints(scan_asked=True)) == FULL


def test_the_spread_is_at_most_the_poll_interval() -> None:
    quick = SyncConfig(poll_interval=10.0, start_spread=30.0)
    assert Schedule.start(quick, now=100.0, draw=lambda: 0.5).next_poll == 105.0
    off = SyncConfig(start_spread=0.0)
    assert Schedule.start(off, now=100.0, draw=lambda: 0.5).due(100.0, QUIET) == FULL


def test_a_file_still_being_written_brings_the_next_pass_close() -> None:
    schedule = started_at(100.0)
    after = schedule.after_pass(200.0, PassDue(True, False), PassEnd(Outcome.RETRY_SOON))
    assert after.next_poll == 202.0  # the settle time, not the poll interval
    quick = Schedule.start(SyncConfig(settle_seconds=0.0)).after_pass(
        5.0, FULL, PassEnd(Outcome.RETRY_SOON)
    )
    assert quick.next_poll == 6.0  # never a spin


# --- failures ----------------------------------------------------------------------------------


def test_an_unreachable_share_is_retried_sooner_then_at_doubling_delays_up_to_the_poll() -> None:
    schedule = Schedule.start(SYNC)
    now, delays = 3.0, []
    due: PassDue | None = FULL
    for _ in range(5):
        assert due is not None
        schedule = schedule.after_pass(now, due, PassEnd(Outcome.UNREACHABLE))
        assert schedule.next_poll is not None
        delays.append(schedule.next_poll - now)
        assert schedule.due(schedule.next_poll - 0.1, QUIET) is None
        now = schedule.next_poll
        due = schedule.due(now, QUIET)
    assert delays == [5.0, 10.0, 20.0, 30.0, 30.0]


def test_a_pass_that_reaches_the_share_again_starts_the_retries_small() -> None:
    schedule = Schedule.start(SYNC)
    for now in (3.0, 8.0, 18.0):
        schedule = schedule.after_pass(now, FULL, PassEnd(Outcome.UNREACHABLE))
    assert schedule.retry_delay == 30.0
    back = schedule.after_pass(38.0, PassDue(False, False), DONE)
    assert back.next_poll == 68.0
    lost = back.after_pass(68.0, PassDue(False, False), PassEnd(Outcome.UNREACHABLE))
    assert lost.next_poll == 68.0 + FIRST_RETRY
    # A pass a command asked the agent for counts too.
    assert schedule.share_reached().delay_after(PassEnd(Outcome.UNREACHABLE)) == FIRST_RETRY


def test_a_refused_login_is_retried_rarely_and_other_stops_at_the_poll() -> None:
    schedule = started_at(100.0)
    refused = schedule.after_pass(130.0, PassDue(False, False), PassEnd(Outcome.REFUSED))
    assert refused.next_poll == 130.0 + AUTH_RETRY
    assert AUTH_RETRY >= 600.0  # the brute-force guards of Nextcloud count minutes
    assert refused.due(130.0 + AUTH_RETRY - 1, QUIET) is None
    stopped = schedule.after_pass(130.0, PassDue(False, False), PassEnd(Outcome.STOPPED))
    assert stopped.next_poll == 160.0
    # Neither is the share being unreachable: the backoff is left as it was.
    assert refused.retry_delay == stopped.retry_delay == FIRST_RETRY


# --- the clocks jumping ------------------------------------------------------------------------


def test_a_laptop_waking_from_suspend_passes_once_not_once_per_poll_missed() -> None:
    # Linux's monotonic clock stops during suspend; a clock that counts it (or an agent moved
    # to another) jumps eight hours: one full pass, then the usual spacing from there.
    schedule = started_at(100.0)
    woke = 100.0 + 8 * 3600.0
    due = schedule.due(woke, QUIET)
    assert due == FULL
    after = schedule.after_pass(woke, due, DONE)
    assert after.due(woke + 1.0, QUIET) is None
    assert after.sleep_for(woke + 1.0) == 29.0


def test_a_job_overdue_after_a_suspend_runs_once() -> None:
    last = WALL
    woke = WALL + 3 * DAY  # a daily job, three days missed
    assert job_wait(last, DAY, woke) == 0.0
    assert job_wait(woke, DAY, woke + 60.0) == DAY - 60.0  # then a day from its run


def test_a_job_wall_clock_set_back_a_little_waits_that_much_longer() -> None:
    # NTP stepping the clock back a few minutes: not worth running a job twice.
    assert job_wait(WALL, 3600.0, WALL - 300.0) == 3900.0


def test_a_job_whose_last_run_lies_far_ahead_is_due_now() -> None:
    # The clock was a year ahead when the job last ran (a flat CMOS battery), then fixed:
    # waiting for the clock to catch up would mean a year without the job.
    assert job_wait(WALL + 365 * DAY, DAY, WALL) == 0.0
    assert job_wait(WALL + 3600.0 + 1, DAY, WALL) == 0.0


def test_the_pass_timing_ignores_the_wall_clock() -> None:
    # Passes are timed on the monotonic clock only: a wall clock set back ten minutes
    # delays a daily job by as much, and the next poll not at all.
    schedule = started_at(100.0)
    assert schedule.due(110.0, QUIET) is None
    assert schedule.sleep_for(110.0, job_wait=job_wait(WALL, DAY, WALL - 600.0)) == 20.0


# --- jobs --------------------------------------------------------------------------------------


def test_a_job_never_run_is_due_at_once() -> None:
    assert job_wait(None, DAY, WALL) == 0.0


def test_a_job_with_a_long_every_waits_it_out_and_the_loop_still_polls() -> None:
    month = 30 * DAY
    assert job_wait(WALL, month, WALL + DAY) == month - DAY
    assert job_wait(WALL, month, WALL + month) == 0.0
    # A wait of years does not stretch the loop's sleep past the next poll.
    schedule = started_at(100.0)
    assert schedule.sleep_for(110.0, job_wait=job_wait(WALL, 10 * 365 * DAY, WALL)) == 20.0


def test_a_job_asking_to_run_more_often_than_a_minute_runs_each_minute() -> None:
    assert job_wait(WALL, 1.0, WALL + 1.0) == MIN_JOB_INTERVAL - 1.0
    assert job_wait(WALL, 0.0, WALL + MIN_JOB_INTERVAL) == 0.0


def test_without_jobs_the_loop_sleeps_until_the_poll() -> None:
    assert started_at(100.0).sleep_for(100.0, job_wait=float("inf")) == 30.0
