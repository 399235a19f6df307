"""The teacher's pages *Cần sửa* (records to fix) and *Xung đột* (conflicts), in Chromium.

A real agent on wsgidav: a lesson plan without its "Rút kinh nghiệm" section is listed with
its fix and leaves the page by itself once fixed; conflicts made on purpose (the share's copy
and this computer's both changed) are resolved each of the three ways, and the records
folder, hoso's trash and the share are read afterwards. The desktop's opener is a real
`xdg-open` program of the test's own that writes down what it was asked to open.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import pytest
from agents import Agent, remote_put, remote_tree, trash_contents
from conftest import Share
from docs_factory import lesson_plan, make_docx
from playwright.sync_api import expect
from servers import wait_until
from test_control import carried_out_by_agent, running
from webui import Client, login_url, screenshot, served

from agent import conflicts, control, i18n
from agent.conflictname import conflict_copy_name, copy_kind, copy_machine, kept_copy_name
from agent.errors import LocalError, UsageError
from agent.journal import Journal
from agent.model import TrashReason
from agent.desktopopen import open_record
from agent.web.server import running_port

PLAN = "Kế hoạch bài dạy/Tuần 3/Tiếng Việt - Bài 6.docx"


def checked_pass(agent: Agent) -> None:
    """One pass with the plugins, validation included, in the teacher's language as the
    running agent does it (the checks run on threads of their own: the process's language)."""
    before = i18n.current_language()
    i18n.setup("vi")
    try:
        with agent.syncer(plugins=True) as syncer:
            syncer.run_pass()
    finally:
        i18n.setup(before)


def docx(path: Path, *lines: str) -> bytes:
    make_docx(path, list(lines))
    return path.read_bytes()


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A desktop session whose `xdg-open` writes each target, one a line, into a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened.txt"
    program = bin_dir / "xdg-open"
    program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":0")
    return opened


def opened_targets(opened: Path) -> list[str]:
    return opened.read_text().splitlines() if opened.exists() else []


# --- names and decisions (pure) ----------------------------------------------------------------


def test_a_copy_names_its_machine_and_a_kept_copy_is_no_copy_any_more() -> None:
    copy = conflict_copy_name(
        "Tuần 1/Bài 1.docx", host="may-b, phòng 2", now=datetime(2026, 11, 29, 9, 30), taken=()
    )
    assert copy_machine(copy) == "may-b, phòng 2"
    assert copy_machine("Tuần 1/Bài 1 (conflicted copy 2024-10-01 101500).docx") is None
    kept = kept_copy_name(
        "Tuần 1/Bài 1.docx", host="may-b", taken={"Tuần 1/Bài 1 (bản của máy may-b).docx"}
    )
    assert kept == "Tuần 1/Bài 1 (bản của máy may-b, 2).docx"
    assert copy_kind(kept) is None
    assert kept_copy_name("Bài 1.docx", host=None, taken=()) == "Bài 1 (bản thứ hai).docx"


def test_each_choice_sets_the_other_version_aside_and_never_the_last_one() -> None:
    copy = conflicts.Version(
        "A/x (bản xung đột, máy m, 2026-01-02 03h04).docx",
        "A/x (bản xung đột, máy m, 2026-01-02 03h04).docx",
        5,
        1,
    )
    original = conflicts.Version("A/x.docx", "A/x.docx", 4, 2)
    pair = conflicts.Conflict(copy, original, "m")
    Trash, Rename = conflicts.Trash, conflicts.Rename
    mine = conflicts.decide(pair, conflicts.Choice.MINE, taken=())
    assert mine == [conflicts.Replace(copy.path, "A/x.docx")]
    assert conflicts.decide(pair, conflicts.Choice.THEIRS, taken=()) == [Trash(copy.path)]
    both = conflicts.decide(pair, conflicts.Choice.BOTH, taken=())
    assert both == [Rename(copy.path, "A/x (bản của máy m).docx")]
    alone = conflicts.Conflict(copy, None, "m")
    assert conflicts.decide(alone, conflicts.Choice.MINE, taken=()) == [
        Rename(copy.path, "A/x.docx")
    ]
    for choice in (conflicts.Choice.THEIRS, conflicts.Choice.BOTH):
        with pytest.raises(UsageError):
            conflicts.decide(alone, choice, taken=())


# --- Cần sửa -------------------------------------------------------------------------------------


@pytest.fixture
def teacher(tmp_path: Path, wsgidav_share: Share) -> Agent:
    return Agent(tmp_path, wsgidav_share, language="vi")


def test_a_finding_is_shown_with_its_fix_opens_and_goes_once_fixed(
    teacher: Agent, browser_page, desktop: Path, tmp_path: Path
) -> None:
    assert teacher.root is not None
    plan = teacher.root / PLAN
    plan.parent.mkdir(parents=True)
    make_docx(plan, lesson_plan()[:-2])  # no "Điều chỉnh sau bài dạy" / "Rút kinh nghiệm"
    checked_pass(teacher)
    with served(teacher.config_path, teacher.state_dir) as page:
        tab = browser_page("laptop")
        tab.goto(login_url(teacher.state_dir, page.port, "/"))
        expect(tab.locator("main")).to_contain_text("1 hồ sơ cần sửa")
        tab.get_by_role("link", name="Xem cần sửa gì").click()
        record = tab.locator("section.record-to-fix")
        expect(record).to_have_count(1)
        expect(record).to_contain_text("Tiếng Việt - Bài 6.docx")
        expect(record).to_contain_text("Kế hoạch bài dạy/Tuần 3")
        expect(record).to_contain_text("Cách sửa:")
        expect(record).to_contain_text("Rút kinh nghiệm")
        expect(record).to_contain_text("Phải sửa")
        screenshot(tab, "problems-list")
        phone = browser_page("phone")
        phone.goto(login_url(teacher.state_dir, page.port, "/problems/"))
        expect(phone.locator("section.record-to-fix")).to_contain_text("Cách sửa:")
        screenshot(phone, "problems-list")

        record.get_by_role("button", name="Mở tệp").click()
        expect(tab.locator(".flash.done")).to_contain_text("Đã mở")
        record.get_by_role("button", name="Mở thư mục").click()
        expect(tab.locator(".flash.done")).to_contain_text("Đã mở")
        assert opened_targets(desktop) == [str(plan), str(plan.parent)]

        # A keyboard user's focus stays on the button while the list refreshes unchanged.
        button = tab.locator("section.record-to-fix").get_by_role("button", name="Mở tệp")
        button.focus()
        for _round in range(2):
            with tab.expect_response(lambda answer: "part=live" in answer.url, timeout=15_000):
                pass
        expect(button).to_be_focused()

        # The teacher fixes the plan in Word; the agent checks it again; the page follows
        # by itself (no reload).
        make_docx(plan, lesson_plan())
        checked_pass(teacher)
        expect(tab.locator(".problems")).to_contain_text("Không có gì cần sửa", timeout=15_000)
        expect(tab.locator("section.record-to-fix")).to_have_count(0)
        screenshot(tab, "problems-none")
    with Journal.open(teacher.state_dir / "journal.sqlite3") as journal:
        assert journal.findings() == []


def test_only_a_listed_record_inside_the_records_folder_is_opened(
    teacher: Agent, desktop: Path, tmp_path: Path
) -> None:
    assert teacher.root is not None
    plan = teacher.root / PLAN
    plan.parent.mkdir(parents=True)
    make_docx(plan, lesson_plan()[:-2])
    checked_pass(teacher)
    outside = tmp_path / "outside" / "Tuần 3"
    outside.mkdir(parents=True)
    (outside / plan.name).write_bytes(b"not a record")
    with served(teacher.config_path, teacher.state_dir) as page:
        client = Client(page.port)
        client.log_in(teacher.state_dir)
        token = client.csrf()

        def ask(path: str, what: str = "file") -> str:
            body = f"csrf={token}&open={what}&path=" + _quote(path)
            status, headers, _ = client.request("POST", "/problems/", body=body)
            assert status == 303
            return client.request("GET", headers["location"])[2]

        for made_up in ("../outside/Tuần 3/Tiếng Việt - Bài 6.docx", "/etc/passwd", "Tuần 1"):
            assert "không còn trong danh sách" in ask(made_up)
        # The listed record's folder swapped for a link to another place: refused.
        moved = plan.parent.with_name("Tuần 3 thật")
        plan.parent.rename(moved)
        plan.parent.symlink_to(outside)
        html = ask(PLAN)
        assert "liên kết" in html or "symbolic" in html
        assert opened_targets(desktop) == []
        plan.parent.unlink()
        moved.rename(plan.parent)
        # The record itself replaced by a link: refused too.
        plan.rename(plan.with_name("saved.docx"))
        plan.symlink_to(outside / plan.name)
        assert "liên kết" in ask(PLAN)
        plan.unlink()
        plan.with_name("saved.docx").rename(plan)
        assert "Đã mở" in ask(PLAN, "folder")
    assert opened_targets(desktop) == [str(plan.parent)]
    # What a desktop would run is never opened as a file, only its folder.
    launcher = teacher.root / "Tuần 1" / "Kế hoạch.desktop"
    launcher.parent.mkdir()
    launcher.write_text("[Desktop Entry]\nExec=sh -c 'echo pwned'\n")
    with pytest.raises(LocalError, match="chỉ mở các tệp văn bản"), i18n.language("vi"):
        open_record(teacher.root, "Tuần 1/Kế hoạch.desktop", folder=False)
    assert opened_targets(desktop) == [str(plan.parent)]


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


# --- Xung đột ------------------------------------------------------------------------------------


def make_conflicts(
    agent: Agent, share: Share, tmp_path: Path, names: list[str]
) -> dict[str, tuple[bytes, bytes]]:
    """For each name, a document changed both on the share ("theirs") and here ("mine")
    before a pass: after it, the share's version has the name and this computer's is a
    conflict copy beside it. {name: (theirs, mine)}."""
    staging = tmp_path / "staging"
    staging.mkdir()
    made = {}
    for number, name in enumerate(names):
        first = docx(staging / f"{number}-0.docx", f"Bài {number}: bản đầu")
        agent.write(name, first)
    agent.sync()
    for number, name in enumerate(names):
        theirs = docx(
            staging / f"{number}-1.docx", f"Bài {number}: bản của tổ trưởng, sửa trên máy chủ"
        )
        mine = docx(
            staging / f"{number}-2.docx",
            f"Bài {number}: bản của cô giáo trên máy này, thêm phần luyện tập",
        )
        remote_put(share, name, theirs)
        agent.write(name, mine)
        made[name] = (theirs, mine)
    report = agent.sync()
    assert len(report.conflicts) == len(names)
    return made


def test_conflicts_are_resolved_each_of_three_ways(
    teacher: Agent, wsgidav_share: Share, browser_page, tmp_path: Path
) -> None:
    names = ["Tuần 5/Toán - Bài 1.docx", "Tuần 5/Toán - Bài 2.docx", "Tuần 5/Toán - Bài 3.docx"]
    made = make_conflicts(teacher, wsgidav_share, tmp_path, names)
    with served(teacher.config_path, teacher.state_dir) as page:
        tab = browser_page("laptop")
        tab.goto(login_url(teacher.state_dir, page.port, "/"))
        expect(tab.locator("main")).to_contain_text("3 hồ sơ bị sửa ở hai nơi")
        tab.get_by_role("link", name="Chọn bản giữ lại").click()
        sections = tab.locator("section.conflict")
        expect(sections).to_have_count(3)
        first = sections.filter(has_text="Toán - Bài 1.docx").first
        expect(first).to_contain_text("máy này (may-a)")
        expect(first).to_contain_text("bản của tổ trưởng")  # the named version's preview
        expect(first).to_contain_text("thêm phần luyện tập")  # the copy's preview
        screenshot(tab, "conflicts-list")
        phone = browser_page("phone")
        phone.goto(login_url(teacher.state_dir, page.port, "/conflicts/"))
        expect(phone.locator("section.conflict")).to_have_count(3)
        screenshot(phone, "conflicts-list")

        # The copy changes after the page showed it: refused, nothing moved.
        copy_of_1 = _copy_of(teacher, names[0])
        before = teacher.tree()
        teacher.write(copy_of_1, made[names[0]][1] + b"\0")
        first.get_by_role("button", name="Giữ bản xung đột").click()
        expect(tab.locator(".flash.problem")).to_contain_text("không có gì được chuyển")
        assert teacher.tree() == {**before, copy_of_1: made[names[0]][1] + b"\0"}
        teacher.write(copy_of_1, made[names[0]][1])

        tab.reload()
        section = tab.locator("section.conflict").filter(has_text="Toán - Bài 1.docx").first
        section.get_by_role("button", name="Giữ bản xung đột").click()
        expect(tab.get_by_role("status")).to_contain_text("Toán - Bài 1.docx")
        section = tab.locator("section.conflict").filter(has_text="Toán - Bài 2.docx").first
        section.get_by_role("button", name="Giữ bản mang tên hồ sơ").click()
        expect(tab.get_by_role("status")).to_contain_text("Toán - Bài 2.docx")
        section = tab.locator("section.conflict").filter(has_text="Toán - Bài 3.docx").first
        section.get_by_role("button", name="Giữ cả hai").click()
        expect(tab.get_by_role("status")).to_contain_text("bản của máy may-a")
        expect(tab.locator("section.conflict")).to_have_count(0)
        screenshot(tab, "conflicts-none")

    kept_both = "Tuần 5/Toán - Bài 3 (bản của máy may-a).docx"
    (theirs1, mine1), (theirs2, mine2), (theirs3, mine3) = (made[n] for n in names)
    expected = {names[0]: mine1, names[1]: theirs2, names[2]: theirs3, kept_both: mine3}
    here = {p: v for p, v in teacher.tree().items() if p.startswith("Tuần 5/")}
    assert here == expected
    trashed = trash_contents(teacher, wsgidav_share)
    assert theirs1 in trashed and mine2 in trashed  # the versions not kept: in hoso's trash
    with Journal.open(teacher.state_dir / "journal.sqlite3") as journal:
        aside = {
            i.path for i in journal.trash_items() if i.reason == TrashReason.CONFLICT_SET_ASIDE
        }
    assert aside == {names[0], _copy_name_in(aside, names[1])}
    teacher.sync()
    on_share = {p: v for p, v in remote_tree(wsgidav_share).items() if p.startswith("Tuần 5/")}
    assert on_share == expected
    assert teacher.tree() == remote_tree(wsgidav_share)


def _copy_of(agent: Agent, name: str) -> str:
    stem = name.rpartition(".")[0]
    found = [p for p in agent.tree() if p.startswith(stem + " (bản xung đột")]
    assert len(found) == 1, found
    return found[0]


def _copy_name_in(paths: set[str], name: str) -> str:
    stem = re.escape(name.rpartition(".")[0])
    found = [p for p in paths if re.match(stem + r" \(bản xung đột, máy may-a, ", p)]
    assert len(found) == 1, paths
    return found[0]


def test_the_running_agent_resolves_for_its_page_and_syncs_at_once(
    teacher: Agent, wsgidav_share: Share, tmp_path: Path
) -> None:
    """The page served by `hoso run` hands the choice to the agent's own loop (the control
    channel), which carries it out between passes and syncs right away."""
    name = "Tuần 6/Tiếng Việt - Bài 4.docx"
    theirs, mine = make_conflicts(teacher, wsgidav_share, tmp_path, [name])[name]
    [found] = conflicts.find(teacher.config)
    assert found.original is not None
    with running(teacher) as log:
        client = Client(running_port(teacher.state_dir))
        client.log_in(teacher.state_dir)
        form = {
            "csrf": client.csrf(),
            "copy": found.copy.path,
            "choice": "mine",
            "copy_stamp": found.copy.stamp,
            "original_stamp": found.original.stamp,
        }
        body = "&".join(f"{k}={_quote(v)}" for k, v in form.items())
        status, headers, _ = client.request("POST", "/conflicts/", body=body)
        assert status == 303
        html = client.request("GET", headers["location"])[2]
        assert "Bản xung đột đã mang tên hồ sơ" in html and "đang không chạy" not in html

        def synced() -> bool:
            tree = remote_tree(wsgidav_share)
            return tree.get(name) == mine and found.copy.path not in tree

        wait_until(synced, 30, "the agent to sync the choice")
    assert carried_out_by_agent(log, "conflict.resolve") == 1
    assert teacher.tree() == remote_tree(wsgidav_share) == {name: mine}
    assert theirs in trash_contents(teacher, wsgidav_share)


def test_a_link_or_a_made_up_copy_is_never_touched(teacher: Agent, tmp_path: Path) -> None:
    assert teacher.root is not None
    outside = tmp_path / "outside.docx"
    outside.write_bytes(b"a file of another place")
    teacher.write("Tuần 1/Bài 1.docx", b"the record")
    link = "Tuần 1/Bài 1 (bản xung đột, máy x, 2026-01-01 10h00).docx"
    (teacher.root / link).symlink_to(outside)
    assert conflicts.find(teacher.config) == []  # a link is no conflict copy of the records
    for copy in (link, "../outside.docx", "Tuần 1/Bài 1.docx", "/etc/passwd"):
        args = {"copy": copy, "choice": "theirs", "copy_stamp": "", "original_stamp": ""}
        with pytest.raises(conflicts.ChangedMeanwhile):
            control.carry_out(teacher.config, "conflict.resolve", args, emit=lambda e: None)
    with pytest.raises(UsageError):
        control.carry_out(
            teacher.config, "conflict.resolve", {"copy": link, "choice": "all"}, emit=print
        )
    assert outside.read_bytes() == b"a file of another place"
    assert (teacher.root / link).is_symlink()
    assert not teacher.local_trash().exists()


def test_a_copy_left_alone_takes_the_records_name(teacher: Agent) -> None:
    copy = "Tuần 2/Bài 7 (conflicted copy 2024-10-01 101500).docx"
    teacher.write(copy, b"the only version")
    [found] = conflicts.find(teacher.config)
    assert found.original is None and found.machine is None
    args = {"copy": copy, "choice": "mine", "copy_stamp": found.copy.stamp, "original_stamp": ""}
    done = control.carry_out(teacher.config, "conflict.resolve", args, emit=lambda e: None)
    assert done == {"choice": "mine", "kept": "Tuần 2/Bài 7.docx", "trashed": []}
    assert teacher.tree() == {"Tuần 2/Bài 7.docx": b"the only version"}


def test_without_the_records_folder_the_overview_still_shows(teacher: Agent) -> None:
    assert teacher.root is not None
    teacher.root.rename(teacher.root.with_name("unplugged"))
    with served(teacher.config_path, teacher.state_dir) as page:
        client = Client(page.port)
        client.log_in(teacher.state_dir)
        status, _, html = client.request("GET", "/")
        assert status == 200 and "Hồ sơ cần sửa" in html
        status, _, html = client.request("GET", "/conflicts/")
        assert status == 200 and str(teacher.root) in html  # the scan's own message


def test_conflicts_come_in_the_order_of_the_weeks(teacher: Agent) -> None:
    for week in (10, 2, 9):
        teacher.write(f"Tuần {week}/Bài 1.docx", b"named")
        teacher.write(f"Tuần {week}/Bài 1 (bản xung đột, máy b, 2026-01-01 10h00).docx", b"copy")
    found = conflicts.find(teacher.config)
    assert [c.copy.path.split("/")[0] for c in found] == ["Tuần 2", "Tuần 9", "Tuần 10"]
    assert all(c.original is not None and c.machine == "b" for c in found)
