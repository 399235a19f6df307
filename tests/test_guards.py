"""agent.guards with literal states and times: the restored-share guard and the clock guard.

(The mass-delete guard's cases live with the plans they judge, in test_reconcile.py.)
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.guards import (
    DAY,
    ClockCheck,
    ClockProblem,
    RestoreCheck,
    check_clock,
    check_restored_share,
)
from agent.model import JournalEntry, Kind, LocalEntry, RemoteEntry

SYNCED_AT = 1_795_000_000  # 2026-11-18 08:26:40 UTC: when the files were last synced
HOUR = 3600


def here(path: str, v: int = 1) -> LocalEntry:
    return LocalEntry(path, Kind.FILE, size=100 + v, mtime_ns=v, inode=7, fs_path=path)


def there(path: str, v: int = 1, *, mtime: int = SYNCED_AT) -> RemoteEntry:
    return RemoteEntry(path, Kind.FILE, etag=f"e{v}", size=100 + v, mtime=mtime, href_path=path)


def synced(path: str, v: int = 1, *, confirmed: bool = True) -> JournalEntry:
    return JournalEntry(path, Kind.FILE, local_size=100 + v, local_mtime_ns=v, local_inode=7,
                        remote_etag=f"e{v}", remote_size=100 + v, remote_mtime=SYNCED_AT,
                        remote_confirmed=confirmed)


def check(local=(), remote=(), journal=()) -> RestoreCheck:
    return check_restored_share({e.path: e for e in local}, {e.path: e for e in remote},
                                {e.path: e for e in journal})


# Ten files synced from here; the share is listed as it is after each case's change.
NAMES = [f"Tuần {n}/Kế hoạch.docx" for n in range(1, 11)]
LOCAL = [here(p, 2) for p in NAMES]
JOURNAL = [synced(p, 2) for p in NAMES]
SHARE = {p: there(p, 2) for p in NAMES}


def share_with(**changes: RemoteEntry | None) -> list[RemoteEntry]:
    """The share of NAMES with some files (by index, "f0".."f9") replaced or removed."""
    listing = dict(SHARE)
    for key, entry in changes.items():
        path = NAMES[int(key[1:])]
        if entry is None:
            del listing[path]
        else:
            listing[path] = entry
    return list(listing.values())


def older(index: int, hours: int = 24) -> RemoteEntry:
    """File ``index`` as an older copy had it: version 1, an older modification time."""
    return there(NAMES[index], 1, mtime=SYNCED_AT - hours * HOUR)


def test_a_share_in_step_with_the_journal_is_not_restored() -> None:
    assert check(LOCAL, SHARE.values(), JOURNAL) == RestoreCheck()


def test_one_file_put_back_to_an_older_copy_by_a_colleague_does_not_trip_it() -> None:
    result = check(LOCAL, share_with(f3=older(3)), JOURNAL)
    assert result.older == (NAMES[3],) and not result.restored


def test_two_files_older_than_when_synced_trip_it() -> None:
    result = check(LOCAL, share_with(f1=older(1), f4=older(4, hours=2)), JOURNAL)
    assert result == RestoreCheck(older=(NAMES[1], NAMES[4]))
    assert result.restored


def test_one_older_file_with_two_missing_ones_trips_it() -> None:
    result = check(LOCAL, share_with(f0=older(0), f5=None, f6=None), JOURNAL)
    assert result == RestoreCheck(older=(NAMES[0],), missing=(NAMES[5], NAMES[6]))
    assert result.restored
    assert not check(LOCAL, share_with(f0=older(0), f5=None), JOURNAL).restored


def test_files_that_only_vanished_are_deletions_not_a_restore() -> None:
    result = check(LOCAL, share_with(**{f"f{n}": None for n in range(8)}), JOURNAL)
    assert len(result.missing) == 8 and not result.restored


def test_newer_versions_on_the_share_are_edits_not_a_restore() -> None:
    edits = {f"f{n}": there(NAMES[n], 3, mtime=SYNCED_AT + HOUR) for n in range(6)}
    assert check(LOCAL, share_with(**edits), JOURNAL) == RestoreCheck()


def test_older_times_within_the_slack_do_not_count() -> None:
    # The journal may hold the PUT answer's Date, a little after the file's own time.
    close = {f"f{n}": there(NAMES[n], 3, mtime=SYNCED_AT - 59) for n in range(5)}
    assert check(LOCAL, share_with(**close), JOURNAL) == RestoreCheck()


def test_an_unchanged_etag_is_never_older() -> None:
    # Same version as synced (ETag and size), only the listed time differs: not a restore.
    same = {f"f{n}": replace(SHARE[NAMES[n]], mtime=SYNCED_AT - DAY) for n in range(5)}
    assert check(LOCAL, share_with(**same), JOURNAL) == RestoreCheck()


def test_only_files_unchanged_here_and_confirmed_by_the_share_count() -> None:
    local = [here(p, 5) if n < 3 else here(p, 2) for n, p in enumerate(NAMES)]  # 0-2 edited here
    journal = [synced(p, 2, confirmed=n != 3) for n, p in enumerate(NAMES)]  # 3 never confirmed
    share = share_with(f0=older(0), f1=older(1), f2=None, f3=None, f4=older(4))
    assert check(local, share, journal) == RestoreCheck(older=(NAMES[4],))
    # A file deleted here is not "unchanged here" either.
    assert check(LOCAL[1:], share_with(f0=older(0), f9=older(9)), JOURNAL).older == (NAMES[9],)


def test_folders_and_files_without_a_listed_time_are_no_evidence() -> None:
    journal = [*JOURNAL, JournalEntry("Tuần 1", Kind.DIR)]
    undated = {f"f{n}": there(NAMES[n], 1, mtime=0) for n in range(5)}
    local = [*LOCAL, LocalEntry("Tuần 1", Kind.DIR)]
    assert check(local, share_with(**undated), journal) == RestoreCheck()


# --- the clock guard ---------------------------------------------------------------------------

NOW = 1_796_000_000.0  # this computer's clock


@pytest.mark.parametrize(("server_now", "last_pass", "expected"), [
    (NOW, NOW - 600, ClockCheck()),
    (NOW - 23 * HOUR, NOW - 600, ClockCheck()),  # a day's tolerance
    (NOW + 23 * HOUR, None, ClockCheck()),
    (NOW - 31 * DAY, NOW - 600, ClockCheck(ClockProblem.AHEAD, 31.0)),
    (NOW + 2 * DAY, NOW - 600, ClockCheck(ClockProblem.BEHIND, 2.0)),
    (NOW, NOW + 40 * DAY, ClockCheck(ClockProblem.WENT_BACK, 40.0)),
    (NOW, NOW + 20 * HOUR, ClockCheck()),
    (None, NOW - 600, ClockCheck(ClockProblem.UNKNOWN)),
])
def test_clock_check(
    server_now: float | None, last_pass: float | None, expected: ClockCheck
) -> None:
    assert check_clock(NOW, server_now=server_now, last_pass=last_pass) == expected
    assert expected.trusted is (expected.problem is None)


def test_a_clock_ahead_of_the_share_is_reported_before_one_that_went_back() -> None:
    # Both are wrong; the share's clock is the stronger evidence and says which way.
    got = check_clock(NOW, server_now=NOW - 31 * DAY, last_pass=NOW + 5 * DAY)
    assert got == ClockCheck(ClockProblem.AHEAD, 31.0)
