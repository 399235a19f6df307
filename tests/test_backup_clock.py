"""Wrong clocks and backups (issue 11, item 7): the order made in the repository wins.

The issue's case: a backup made while the PC's clock was a year ahead must not stay `latest`
once the clock is fixed, `forget --keep-last 1` must keep the real newest snapshot, the day
rules must stop (exit 4) rather than trust dates a wrong clock wrote, the scheduler must not
wait for the clock to catch up, and `hoso status` must not call such a backup 0 hours old.
Clocks are literal times given to the code; nothing sleeps. The command-line cases date the
odd snapshot in 2099, in the future of any clock the tests run under.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from backup_factory import write

from agent.backup import clock, history
from agent.backup.maintenance import forget_plan
from agent.backup.repository import Repository
from agent.backup.service import apply_retention
from agent.backup.snapshots import create, find_snapshot
from agent.config import Config, from_dict
from agent.envelope import KdfParams
from agent.errors import ExitCode, SafetyStop
from agent.schedule import backup_due as due

PASS = "mật khẩu sao lưu của cô Lan"
CHEAP = KdfParams(n=2**10)
VN = timezone(timedelta(hours=7))
VECTORS = Path(__file__).parent / "backup_vectors"
LESSON = "Tuần 12/Toán - Bài 23.docx"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN)


def config_for(tmp_path: Path, **backup: Any) -> Config:
    raw = {
        "root": str(tmp_path / "HoSo"),
        "state_dir": str(tmp_path / "state"),
        "host_name": "GV-LAN",
        "remote": {"url": "http://127.0.0.1:9/"},
        "backup": {"repository": str(tmp_path / "USB"), **backup},
    }
    return from_dict(raw, tmp_path / "agent.toml")


def files_of(path: Path) -> dict[str, str]:
    """Every file of a repository but its locks, with the SHA-256 of its bytes."""
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.relative_to(path).parts[0] != "locks"
    }


@pytest.fixture
def jumped(tmp_path: Path) -> tuple[Repository, Path, dict[str, str]]:
    """The issue's case: a backup on 1 Dec, one made with the clock a year ahead, then one
    on 2 Dec after the clock was fixed; the lesson plan changed each time."""
    root = tmp_path / "HoSo"
    repo = Repository.init(tmp_path / "USB", PASS, kdf=CHEAP)
    made = {}
    for label, when in (
        ("first", "2026-12-01T09:00"),
        ("ahead", "2027-12-01T09:00"),
        ("fixed", "2026-12-02T09:00"),
    ):
        write(root / LESSON, f"bài 23, bản {label}".encode())
        with repo.lock():
            made[label] = create(repo, root, host="GV-LAN", now=at(when)).snapshot
    return repo, root, made


# --- the order --------------------------------------------------------------------------


def test_latest_is_the_last_made_not_the_latest_dated(
    jumped: tuple[Repository, Path, dict[str, str]],
) -> None:
    repo, _root, made = jumped
    assert [i for i, _ in repo.snapshots()] == [made["first"], made["ahead"], made["fixed"]]
    assert [s["seq"] for _, s in repo.snapshots()] == [1, 2, 3]
    assert find_snapshot(repo, "latest")[0] == made["fixed"]
    assert find_snapshot(repo, None)[0] == made["fixed"]
    # "As it was on 1 Dec" still goes by date: the snapshot dated that day.
    assert find_snapshot(repo, None, at=at("2026-12-01T23:59"))[0] == made["first"]
    # A day both the real and the jumped snapshot claim: the last made wins.
    assert find_snapshot(repo, None, at=at("2028-01-01T00:00"))[0] == made["fixed"]


def test_keep_last_keeps_the_real_newest(
    jumped: tuple[Repository, Path, dict[str, str]],
) -> None:
    repo, _root, made = jumped
    kept, forgotten = forget_plan(repo.snapshots(), keep_last=1)
    assert kept == [made["fixed"]]
    assert forgotten == [made["first"], made["ahead"]]


def test_a_new_backup_builds_on_the_last_made(
    jumped: tuple[Repository, Path, dict[str, str]],
) -> None:
    """The unchanged-file shortcut reuses the last made snapshot's tree, not the one with
    the latest date (whose lesson plan is older)."""
    repo, root, _made = jumped
    with repo.lock():
        again = create(repo, root, host="GV-LAN", now=at("2026-12-03T09:00"))
    assert again.bytes_added < 200  # only the new tree and snapshot: nothing re-read
    assert again.seq == 4


def test_numbers_are_never_reused_after_the_newest_is_forgotten(tmp_path: Path) -> None:
    root = tmp_path / "HoSo"
    write(root / LESSON, b"bai 23")
    repo = Repository.init(tmp_path / "USB", PASS, kdf=CHEAP)
    with repo.lock():
        first = create(repo, root, host="GV-LAN", now=at("2026-12-01T09:00"))
        second = create(repo, root, host="GV-LAN", now=at("2026-12-02T09:00"))
        repo.remove_snapshot(second.snapshot)
        third = create(repo, root, host="GV-LAN", now=at("2026-12-03T09:00"))
    assert (first.seq, second.seq, third.seq) == (1, 2, 3)
    assert [s["seq"] for _, s in Repository.open(repo.path, PASS).snapshots()] == [1, 3]


def test_a_format_1_repository_still_reads_and_numbers_after_its_old_snapshots(
    tmp_path: Path,
) -> None:
    """The committed format 1 repository: its unnumbered snapshot stays first, a new
    snapshot dated before it comes after it, and the repository is upgraded to format 2."""
    path = tmp_path / "vector"
    shutil.copytree(VECTORS / "repository", path)
    expected = json.loads((VECTORS / "repository.json").read_text(encoding="utf-8"))
    repo = Repository.open(path, expected["passphrase"])
    assert repo.version == 1 and not (path / "manifest").exists()
    old = expected["snapshot"]
    assert repo.snapshots() == [(old, expected["snapshot_json"])]  # read as it was written
    write(tmp_path / "HoSo" / LESSON, b"bai 23")
    with repo.lock():
        new = create(repo, tmp_path / "HoSo", host="GV-LAN", now=at("2020-01-01T09:00"))
    assert new.seq == 1
    again = Repository.open(path, expected["passphrase"])
    assert again.version == 2
    assert [i for i, _ in again.snapshots()] == [old, new.snapshot]
    manifest = again.read_manifest()
    assert manifest is not None and manifest.snapshots == {old: None, new.snapshot: 1}
    assert set(manifest.keys) == {s["id"] for s in again.key_slots()}


# --- what the dates say about the clock -----------------------------------------------------


def test_assess_names_a_future_snapshot_and_a_clock_gone_backwards(
    jumped: tuple[Repository, Path, dict[str, str]],
) -> None:
    repo, _root, made = jumped
    problems = clock.assess(repo.snapshots(), now=at("2026-12-02T10:00"))
    assert [(p.kind, p.snapshot, p.before) for p in problems] == [
        ("future", made["ahead"], ""),
        ("backwards", made["fixed"], made["ahead"]),
    ]
    assert "in the future" in problems[0].describe(at("2026-12-02T10:00"))
    # A year later the jumped snapshot is no longer in the future; the jump stays visible.
    later = clock.assess(repo.snapshots(), now=at("2027-12-02T10:00"))
    assert [p.kind for p in later] == ["backwards"]
    # Within the tolerance, clocks NTP nudges raise nothing.
    nudged = [
        ("a", {"seq": 1, "time": "2026-12-01T09:00:00+07:00"}),
        ("b", {"seq": 2, "time": "2026-12-01T08:59:00+07:00"}),
    ]
    assert clock.assess(nudged, now=at("2026-12-01T08:30")) == []


def test_day_rules_stop_on_untrusted_dates_and_keep_last_does_not(
    tmp_path: Path, jumped: tuple[Repository, Path, dict[str, str]]
) -> None:
    repo, _root, made = jumped
    config = config_for(tmp_path)
    before = files_of(repo.path)
    now = at("2026-12-02T10:00")
    with pytest.raises(SafetyStop) as stopped:
        apply_retention(
            config, repo, keep_last=0, keep_daily=1, keep_weekly=0, keep_monthly=0, now=now
        )
    assert stopped.value.exit_code == ExitCode.SAFETY_STOP
    message = str(stopped.value)
    assert made["ahead"][:8] in message and "in the future" in message
    assert made["fixed"][:8] in message and "backwards" in message
    assert "--allow-clock-jump" in message
    assert files_of(repo.path) == before  # nothing forgotten, nothing written
    kept = apply_retention(
        config,
        repo,
        keep_last=1,
        keep_daily=0,
        keep_weekly=0,
        keep_monthly=0,
        now=now,
        dry_run=True,
    )
    assert kept.kept == [made["fixed"]]
    confirmed = apply_retention(
        config,
        repo,
        keep_last=0,
        keep_daily=2,
        keep_weekly=0,
        keep_monthly=0,
        now=now,
        allow_clock_jump=True,
    )
    assert sorted(confirmed.forgotten) == [made["first"]]  # each of 2 newest days kept
    assert set(repo.snapshot_ids()) == {made["ahead"], made["fixed"]}


def test_a_last_backup_in_the_future_is_due_now(tmp_path: Path) -> None:
    daily = config_for(tmp_path)
    now = 1_800_000_000.0
    year = 365 * 86400.0
    assert due(now=now, last_backup=now + year, last_change=None, config=daily) == "schedule"
    assert due(now=now, last_backup=now + 60, last_change=None, config=daily) is None


def test_status_does_not_call_a_future_backup_fresh(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    now = at("2026-12-02T10:00").timestamp()
    history.remember(
        config,
        snapshot="ab" * 32,
        seq=2,
        files=3,
        size=10,
        skipped=0,
        clock=[],
        now=at("2027-12-01T09:00").timestamp(),
    )
    shown = history.status(config, now=now)
    assert shown is not None
    assert shown["age_hours"] is None and shown["stale"] is True
    assert [p["kind"] for p in shown["clock"]] == ["future"]
    assert "in the future" in history.clock_lines(shown)[0]
    # Once the clock is right again and a backup made, all is well.
    history.remember(
        config, snapshot="cd" * 32, seq=3, files=3, size=10, skipped=0, clock=[], now=now
    )
    fresh = history.status(config, now=now + 3600)
    assert fresh is not None and fresh["age_hours"] == 1.0 and fresh["clock"] == []


# --- on the command line --------------------------------------------------------------------


def test_list_restore_forget_and_status_with_a_backup_from_the_future(tmp_path: Path) -> None:
    from agents import Agent
    from conftest import Share

    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)
    env = {"HOSO_BACKUP_PASSPHRASE": PASS}
    usb = tmp_path / "USB"
    assert agent.cli("backup", "init", "--repository", str(usb), env=env).returncode == 0
    agent.write(LESSON, b"bai 23, ban dau")
    assert agent.cli("backup", "create", env=env).returncode == 0
    agent.write(LESSON, b"bai 23, dong ho chay truoc")
    repo = Repository.open(usb, PASS)
    with repo.lock():  # the PC's clock far ahead
        ahead = create(repo, agent.root, host=agent.name, now=at("2099-01-01T09:00")).snapshot
    agent.write(LESSON, b"bai 23, moi nhat")
    made = agent.cli("backup", "create", "--json", env=env)
    assert made.returncode == 0, made.stderr
    newest = json.loads(made.stdout)["snapshot"]

    listed = agent.cli("backup", "list", "--json", env=env)
    rows = json.loads(listed.stdout)
    assert [(r["seq"], r["clock"]) for r in rows] == [(1, None), (2, "future"), (3, "backwards")]
    assert [r["id"] for r in rows][1:] == [ahead, newest]
    assert "in the future" in listed.stderr and "backwards" in listed.stderr
    text = agent.cli("backup", "list", env=env)
    assert ahead[:8] in text.stderr and newest[:8] in text.stderr

    target = tmp_path / "restored"
    restored = agent.cli("backup", "restore", "latest", "--target", str(target), env=env)
    assert restored.returncode == 0, restored.stderr
    assert (target / LESSON).read_bytes() == b"bai 23, moi nhat"

    before = files_of(usb)
    stopped = agent.cli("backup", "forget", "--keep-daily", "7", env=env)
    assert stopped.returncode == ExitCode.SAFETY_STOP
    assert ahead[:8] in stopped.stderr and "--allow-clock-jump" in stopped.stderr
    assert files_of(usb) == before
    by_order = agent.cli("backup", "forget", "--keep-last", "1", "--dry-run", env=env)
    assert by_order.returncode == 0 and newest[:8] not in by_order.stdout
    assert ahead[:8] in by_order.stdout

    status = json.loads(agent.cli("status", "--json").stdout)["backup"]
    assert {p["kind"] for p in status["clock"]} == {"future", "backwards"}
    assert status["age_hours"] is not None  # the last backup itself was made right now
    assert "clock" in agent.cli("status").stderr

    confirmed = agent.cli("backup", "forget", "--keep-daily", "7", "--allow-clock-jump", env=env)
    assert confirmed.returncode == 0, confirmed.stderr
    assert newest in {
        r["id"] for r in json.loads(agent.cli("backup", "list", "--json", env=env).stdout)
    }


def test_status_says_the_clock_is_off_for_a_backup_dated_in_the_future(tmp_path: Path) -> None:
    from agents import Agent
    from conftest import Share

    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)
    env = {"HOSO_BACKUP_PASSPHRASE": PASS}
    assert (
        agent.cli("backup", "init", "--repository", str(tmp_path / "USB"), env=env).returncode == 0
    )
    agent.write(LESSON, b"bai 23")
    assert agent.cli("backup", "create", env=env).returncode == 0
    record_file = agent.state_dir / history.LAST_FILE
    record = json.loads(record_file.read_text())
    record["time"] += 365 * 86400  # made while the clock was a year ahead, since fixed
    record_file.write_text(json.dumps(record))
    status = agent.cli("status")
    assert "in the future: the clock is off" in status.stdout
    assert "hours ago" not in status.stdout
    assert "the computer's clock is off" in status.stderr
    backup = json.loads(agent.cli("status", "--json").stdout)["backup"]
    assert backup["age_hours"] is None and backup["stale"] is True
    assert [p["kind"] for p in backup["clock"]] == ["future"]
