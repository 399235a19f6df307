"""Notifications summarised: one per kind and pass, urgent ones alone, each key told once.

The decision (agent.notices) with literal notifications; then the agent for real: `hoso run`
over a folder of many damaged lesson plans tells a recording channel one summary per pass, and
its log holds one line for them, not one per file; the jobs' notifications are told once per
key, across restarts too.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from agents import Agent, remote_tree, stop_agent
from conftest import Share
from servers import wait_until
from test_hooks import install_plugin

from agent.daemon import Daemon, _Jobs
from agent.hooks import Notification
from agent.i18n import language
from agent.notices import MAX_ALONE, REMEMBER_SECONDS, remember, summarise
from agent.schedule import Outcome

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)


def finding(n: int) -> Notification:
    path = f"Kế hoạch bài dạy/Tuần 1/Bài {n}.docx"
    return Notification(
        f"finding:{path}:khbd.reflection-missing",
        f"Record to fix: {path}",
        "The reflection is missing.",
        path=path,
        page="/problems/",
    )


STOP = Notification("stopped:SafetyStop", "hoso stopped", "Half the share is gone.", urgent=True)
SEND = Notification("inspection:send:2026-12", "Not sent", "The mail server refused.", urgent=True)


def test_three_hundred_findings_make_one_summary_naming_the_first_few() -> None:
    notes = [finding(n) for n in range(1, 301)]
    telling = summarise(notes)
    (summary,) = telling.shown
    assert summary.title == "300 records to fix — open the page"
    assert summary.body == (
        "Kế hoạch bài dạy/Tuần 1/Bài 1.docx, Kế hoạch bài dạy/Tuần 1/Bài 2.docx, "
        "Kế hoạch bài dạy/Tuần 1/Bài 3.docx and 297 more."
    )
    assert summary.page == "/problems/" and not summary.urgent
    assert telling.told == {note.key for note in notes}  # all 300 are told by it


def test_a_summary_counts_records_not_findings() -> None:
    other_rule = Notification(
        finding(1).key.replace("reflection-missing", "several-lessons"),
        finding(1).title,
        "Two lessons in one file.",
        path=finding(1).path,
        page="/problems/",
    )
    (summary,) = summarise([finding(1), other_rule, finding(2)]).shown
    assert summary.title == "2 records to fix — open the page"
    assert summary.body == "Kế hoạch bài dạy/Tuần 1/Bài 1.docx, Kế hoạch bài dạy/Tuần 1/Bài 2.docx."


def test_a_summary_names_records_in_the_order_a_teacher_counts() -> None:
    (summary,) = summarise([finding(10), finding(2), finding(1), finding(2)]).shown
    assert summary.body == (
        "Kế hoạch bài dạy/Tuần 1/Bài 1.docx, Kế hoạch bài dạy/Tuần 1/Bài 2.docx, "
        "Kế hoạch bài dạy/Tuần 1/Bài 10.docx."
    )


def test_the_summary_is_in_the_teachers_language() -> None:
    with language("vi"):
        (summary,) = summarise([finding(n) for n in range(1, 13)]).shown
    assert summary.title == "12 hồ sơ cần sửa — mở trang"
    assert summary.body.endswith(" và 9 mục khác.")


def test_urgent_ones_stand_alone_and_a_lone_one_of_a_kind_is_itself() -> None:
    held = Notification("held:too_big:Video.mp4", "Not synced: Video.mp4", "Too big.", "Video.mp4")
    notes = [finding(1), STOP, finding(2), held, SEND, finding(3)]
    shown = summarise(notes).shown
    assert shown[:2] == (STOP, SEND)  # first, each on its own
    assert shown[2].title == "3 records to fix — open the page"
    assert shown[3] == held  # the only one of its kind: shown as it is
    assert len(shown) == 4


def test_a_plugin_marking_everything_urgent_cannot_flood() -> None:
    notes = [
        Notification(f"mine:{n}", f"Urgent {n}", "now", urgent=True, page="/mine/")
        for n in range(10)
    ]
    shown = summarise(notes).shown
    assert shown[:MAX_ALONE] == tuple(notes[:MAX_ALONE])
    (rest,) = shown[MAX_ALONE:]
    assert rest.title == "7 messages from hoso — open the page"
    assert rest.urgent and rest.page == "/mine/"
    assert rest.body == "Urgent 3, Urgent 4, Urgent 5 and 4 more."


def test_keys_dedupe_within_a_pass_and_across_passes() -> None:
    first = summarise([finding(1), finding(1), STOP])
    assert first.shown == (STOP, finding(1))  # the same key twice is told once
    again = summarise([finding(1), STOP, finding(2)], told=first.told)
    assert again.shown == (finding(2),)
    assert again.told == {finding(2).key}
    assert summarise([finding(1), STOP], told=first.told | again.told).shown == ()


def test_told_keys_are_remembered_for_a_while_then_forgotten() -> None:
    told = remember({}, ["a", "b"], 1_000.0)
    assert told == {"a": 1_000.0, "b": 1_000.0}
    later = 1_000.0 + REMEMBER_SECONDS
    assert remember(told, ["c"], later - 1) == {"a": 1_000.0, "b": 1_000.0, "c": later - 1}
    assert remember(told, ["b"], later) == {"b": later}  # "a" is forgotten, "b" told again


# --- the agent --------------------------------------------------------------------------------

CHANNEL = """
from agent.hooks import Notification, hookimpl

told = []


@hookimpl
def hoso_notify(notification):
    with open(__file__ + ".told", "a", encoding="utf-8") as out:
        out.write(f"{notification.key}|{notification.title}|{notification.page}\\n")
    told.append(notification)
    return False  # not delivered: the agent logs it


@hookimpl
def hoso_scheduled_jobs():
    from agent.hooks import Job

    def remind(context):
        context.notify(Notification("remind:today", "Reminder", "Once a day."))
        context.notify(Notification("remind:today", "Reminder", "Once a day."))

    return [Job("remind", 60, remind)]
"""


@pytest.fixture
def channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A recording notification channel, installed as a third-party plugin; the file it
    writes each notification to (one line: key|title|page)."""
    site = tmp_path / "site"
    install_plugin(site, "hoso_channel", CHANNEL)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("hoso_channel", None)


def told_lines(site: Path) -> list[str]:
    told = site / "hoso_channel.py.told"
    return told.read_text(encoding="utf-8").splitlines() if told.exists() else []


def damaged_plans(agent: Agent, week: int, count: int) -> list[str]:
    """A week's lesson plans whose bytes are no .docx, each one a finding
    (file.unreadable-corrupt), made aside and moved in at once (one pass sees them all)."""
    aside = agent.home / f"aside {week}"
    for n in range(1, count + 1):
        (aside / f"Bài {n}.docx").parent.mkdir(parents=True, exist_ok=True)
        (aside / f"Bài {n}.docx").write_bytes(b"PK\x03\x04 not really a document %d" % n)
    folder = agent.root / "Kế hoạch bài dạy" / f"Tuần {week}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    aside.rename(folder)
    return [f"Kế hoạch bài dạy/Tuần {week}/Bài {n}.docx" for n in range(1, count + 1)]


@WSGIDAV_ONLY
def test_the_agent_tells_one_summary_per_pass_and_logs_one_line(
    tmp_path: Path, share: Share, channel: Path
) -> None:
    agent = Agent(tmp_path, share, plugins={"handover": {"enabled": False}})
    first = damaged_plans(agent, 3, 40)
    log_file = agent.state_dir / "logs" / "hoso.log"
    proc = agent.popen("run", env={"PYTHONPATH": str(channel), "DBUS_SESSION_BUS_ADDRESS": ""})
    try:
        wait_until(lambda: set(first) <= set(remote_tree(share)), 60, "the plans uploaded")
        wait_until(lambda: any("finding:" in t for t in told_lines(channel)), 60, "a summary")
        second = damaged_plans(agent, 4, 5)  # saved later: the next pass's findings
        wait_until(
            lambda: sum("finding:" in t for t in told_lines(channel)) >= 2, 60, "the next one"
        )
    finally:
        stop_agent(proc)
    findings = [line for line in told_lines(channel) if line.startswith("finding:")]
    assert findings == [
        "finding:summary|40 records to fix — open the page|/problems/",
        "finding:summary|5 records to fix — open the page|/problems/",
    ]
    log = log_file.read_text(encoding="utf-8")
    assert log.count("records to fix — open the page") == 2  # one line per summary
    assert "Record to fix:" not in log  # no line per file
    assert sum(f"{name}," in log or f"{name} and" in log for name in first + second) <= 6


def test_a_jobs_notification_is_told_once_per_key_across_runs_and_restarts(
    tmp_path: Path, channel: Path
) -> None:
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    agent = Agent(
        tmp_path,
        share,  # type: ignore[arg-type]
        plugins={"validation": {"enabled": False}, "handover": {"enabled": False}},
    )
    stop = threading.Event()
    now = time.time()  # the jobs record their last run by the clock
    with agent.syncer(plugins=True) as syncer:
        jobs = _Jobs(agent.config, syncer)
        assert jobs.run_due(now, stop)
        assert jobs.run_due(now + 61, stop)  # due again a minute later
    with agent.syncer(plugins=True) as syncer:  # a restart
        assert _Jobs(agent.config, syncer).run_due(now + 200, stop)
    assert told_lines(channel) == ["remind:today|Reminder|"]


@WSGIDAV_ONLY
def test_a_safety_stop_is_told_once_urgently_while_it_lasts(
    tmp_path: Path, share: Share, channel: Path
) -> None:
    agent = Agent(tmp_path, share, plugins={"validation": {"enabled": False}})
    for n in range(1, 5):
        agent.write(f"Bài {n}.docx", b"lesson %d" % n)
    daemon = Daemon(agent.config, threading.Event())
    with agent.syncer(plugins=True) as syncer:
        daemon._run_pass(syncer, local_changed=True)
        for n in range(1, 4):  # three of four gone at once: the mass-delete guard stops
            agent.delete(f"Bài {n}.docx")
        for _ in range(2):
            assert daemon._run_pass(syncer, local_changed=True).outcome is Outcome.STOPPED
        assert told_lines(channel) == [
            "stopped:SafetyStop|hoso stopped syncing to keep your files safe|"
        ]
        assert sys.modules["hoso_channel"].told[0].urgent
        agent.write("Bài 1.docx", b"lesson 1")  # back: the passes run again
        agent.write("Bài 2.docx", b"lesson 2")
        agent.write("Bài 3.docx", b"lesson 3")
        assert daemon._run_pass(syncer, local_changed=True).outcome is Outcome.DONE
        for n in range(1, 4):
            agent.delete(f"Bài {n}.docx")
        assert daemon._run_pass(syncer, local_changed=True).outcome is Outcome.STOPPED
    assert len(told_lines(channel)) == 2  # a new stop, told again
    assert set(remote_tree(share)) == {f"Bài {n}.docx" for n in range(1, 5)}  # nothing deleted
