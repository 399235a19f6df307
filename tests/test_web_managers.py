"""*Tổ trưởng / Ban giám hiệu*, the managers' page, in a real Chromium: two teachers' agents
sync their lesson plans to a wsgidav share, the principal's agent keeps a copy of the whole
share, and the page shows `hoso report`'s table and follows a week being completed without a
reload; the search page searches across the teachers there. On a teacher's computer the page
is neither in the menu nor at its address."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from agents import Agent, to_toml
from conftest import Share
from docs_factory import lesson_plan, make_docx
from playwright.sync_api import expect
from webui import Client, login_url, screenshot, served

from agent import config as configmod
from agent.web.server import Served

PRINCIPAL = "Lê Văn Cường"
TEACHERS = {"lan": "Nguyễn Thị Lan", "minh": "Trần Văn Minh"}
CURRENT = 4  # the school year starts three weeks before this week


def plan(agent: Agent, rel: str, reflection: str = "Học sinh hiểu bài.") -> None:
    (agent.root / rel).parent.mkdir(parents=True, exist_ok=True)
    make_docx(agent.root / rel, lesson_plan(reflection=reflection, activity_rows=2))


def year_start(today: date) -> date:
    return today - timedelta(days=today.weekday() + 7 * (CURRENT - 1))


@dataclass
class School:
    share: Share
    teachers: dict[str, Agent]
    manager: Agent


def teacher_agent(tmp_path: Path, share: Share, login: str) -> Agent:
    status, _ = share.server.request("MKCOL", f"{share.remote_dir}/{login}/")
    assert status == 201
    return Agent(
        tmp_path,
        share,
        name=login,
        language="vi",
        remote_overrides={"remote_dir": f"{share.remote_dir}/{login}"},
        plugins={"desktop": {"enabled": False}},
    )


@pytest.fixture
def school(tmp_path: Path, wsgidav_share: Share) -> School:
    lan = teacher_agent(tmp_path, wsgidav_share, "lan")
    minh = teacher_agent(tmp_path, wsgidav_share, "minh")
    for week in range(1, CURRENT + 1):
        plan(lan, f"Tuần {week}/Toán/Bài {week}.docx", f"Rút kinh nghiệm tuần {week}: phép chia.")
    for week in range(1, CURRENT):
        plan(minh, f"Tuần {week}/Tiếng Việt/Bài {week}.docx", "Rút kinh nghiệm: luyện đọc.")
    lan.sync()
    minh.sync()
    # The principal's computer: the whole share is its records folder.
    manager = Agent(
        tmp_path,
        wsgidav_share,
        name="bgh",
        language="vi",
        school={"principal": {"name": PRINCIPAL, "position": "Hiệu trưởng"}, "teachers": TEACHERS},
        plugins={
            "desktop": {"enabled": False},
            "validation": {"year_start": year_start(date.today()).isoformat()},
        },
    )
    manager.raw["teacher"] = {"name": PRINCIPAL}
    configmod.write_private(manager.config_path, to_toml(manager.raw))
    manager.config = configmod.from_dict(manager.raw, manager.config_path)
    assert manager.config.roles.manager() is not None
    manager.sync()
    assert (manager.root / "minh" / "Tuần 3" / "Tiếng Việt" / "Bài 3.docx").is_file()
    return School(wsgidav_share, {"lan": lan, "minh": minh}, manager)


def logged_in(port: int, state_dir: Path) -> Client:
    client = Client(port)
    client.log_in(state_dir)
    return client


@pytest.fixture
def page(school: School) -> Iterator[Served]:
    with served(school.manager.config_path, school.manager.state_dir) as page:
        yield page


def test_the_report_shows_each_teacher_and_follows_a_week_completed(
    school: School, page: Served, browser_page
) -> None:
    tab = browser_page("laptop")
    tab.goto(login_url(school.manager.state_dir, page.port, "/managers/"))
    expect(tab.get_by_role("link", name="Tổ trưởng / Ban giám hiệu")).to_have_attribute(
        "aria-current", "page"
    )
    table = tab.locator("table.managers-weeks")
    expect(table.locator("thead th")).to_have_text(
        ["Giáo viên", "Tuần 1", "Tuần 2", "Tuần 3", "Tuần 4"]
    )
    lan = table.locator("tbody tr", has_text=TEACHERS["lan"])
    minh = table.locator("tbody tr", has_text=TEACHERS["minh"])
    expect(lan.locator("td")).to_have_text(["✓ 1"] * CURRENT)
    expect(minh.locator("td")).to_have_text(["✓ 1"] * (CURRENT - 1) + ["✗"])
    summary = tab.locator("table.managers-summary tbody tr", has_text=TEACHERS["minh"])
    expect(summary.locator("td").nth(2)).to_contain_text("1")
    screenshot(tab, "managers-report")
    _, _, home = logged_in(page.port, school.manager.state_dir).request("GET", "/?part=live")
    assert "Tuần 4: 1 trên 2 giáo viên đã nộp kế hoạch bài dạy." in home

    # Minh hands in week 4: it reaches the share, then the principal's copy; the page follows.
    plan(
        school.teachers["minh"], f"Tuần {CURRENT}/Tiếng Việt/Bài {CURRENT}.docx", "Rút kinh nghiệm."
    )
    school.teachers["minh"].sync()
    school.manager.sync()
    expect(minh.locator("td").last).to_have_text("✓ 1", timeout=25_000)
    expect(
        tab.locator("table.managers-summary tbody tr", has_text=TEACHERS["minh"])
        .locator("td")
        .nth(2)
    ).to_contain_text("0")

    phone = browser_page("phone")
    phone.goto(login_url(school.manager.state_dir, page.port, "/managers/?from=1&to=4"))
    expect(phone.locator("table.managers-weeks tbody tr")).to_have_count(2)
    screenshot(phone, "managers-report")
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the phone page scrolls sideways ({width}px)"

    # Search across the teachers, narrowed to one of them, from the report's link.
    tab.locator("table.managers-summary tbody tr", has_text=TEACHERS["lan"]).get_by_role(
        "link"
    ).click()
    teacher = tab.get_by_label("Giáo viên")
    expect(teacher).to_have_value("lan")
    expect(teacher.locator("option:checked")).to_have_text(TEACHERS["lan"])
    box = tab.get_by_label("Từ trong tên hoặc nội dung hồ sơ")
    box.fill("rut kinh nghiem")
    box.press("Enter")
    results = tab.locator(".search-result")
    expect(results).to_have_count(CURRENT)
    for index in range(CURRENT):
        expect(results.nth(index)).to_contain_text(f"Giáo viên: {TEACHERS['lan']}")
    screenshot(tab, "search-managers")
    tab.get_by_label("Giáo viên").select_option("")
    tab.get_by_role("button", name="Tìm với các điều kiện này").click()
    expect(results).to_have_count(2 * CURRENT)


def test_a_teachers_computer_has_no_managers_page(school: School) -> None:
    lan = school.teachers["lan"]
    with served(lan.config_path, lan.state_dir) as page:
        client = Client(page.port)
        client.log_in(lan.state_dir)
        status, _, html = client.request("GET", "/")
        assert status == 200 and "/search/" in html
        assert "/managers/" not in html and "Tổ trưởng" not in html
        status, _, html = client.request("GET", "/managers/")
        assert status == 404
        assert "Nguyễn" not in html
        # Nor is the search page's teacher filter there.
        status, _, html = client.request("GET", "/search/?q=bai")
        assert status == 200 and 'name="teacher"' not in html


def test_a_copy_that_cannot_be_read_is_said_on_the_page_and_its_card(tmp_path: Path) -> None:
    raw = {
        "root": str(tmp_path / "TruongTH"),  # not there: the drive is not mounted
        "state_dir": str(tmp_path / "state"),
        "language": "vi",
        "remote": {"url": "http://127.0.0.1:9/"},
        "plugins": {"desktop": {"enabled": False}},
        "school": {"principal": {"name": PRINCIPAL}},
        "teacher": {"name": PRINCIPAL},
    }
    configmod.write_private(tmp_path / "agent.toml", to_toml(raw))
    with served(tmp_path / "agent.toml", tmp_path / "state") as page:
        client = logged_in(page.port, tmp_path / "state")
        for address in ("/managers/", "/managers/?part=live", "/?part=live"):
            status, _, html = client.request("GET", address)
            assert status == 200, address
            assert "không có hoặc chưa được kết nối" in html and "TruongTH" in html, address
            assert "<html" not in html or address == "/managers/", address


def test_a_reviewer_is_a_manager_by_name_and_a_teacher_is_not(tmp_path: Path) -> None:
    raw = {
        "root": str(tmp_path),
        "remote": {"url": "http://127.0.0.1:9/"},
        "school": {
            "reviewers": [{"name": "Lê  Văn Cường", "groups": ["Tổ 1"]}],
            "principal": {"name": "Nguyễn Văn An"},
        },
    }
    for name, manager in (
        ("lê văn cường", True),
        ("Nguyễn Văn An", True),
        ("Nguyễn Thị Lan", False),
        ("", False),
    ):
        config = configmod.from_dict({**raw, "teacher": {"name": name}}, tmp_path / "a.toml")
        assert (config.roles.manager() is not None) is manager, name


def test_a_lesson_plan_is_checked_once_per_version(tmp_path: Path) -> None:
    from plugins.validation.service import _remembered

    file = tmp_path / "Tuần 1" / "Bài 1.docx"
    file.parent.mkdir()
    file.write_bytes(b"one")
    calls: list[str] = []

    def check(path: Path, rel: str, record_type: object) -> list:
        calls.append(path.read_text())
        return []

    verdicts: dict = {}
    today = date(2026, 10, 5)
    for _round in range(3):
        _remembered(file, "Tuần 1/Bài 1.docx", None, check=check, verdicts=verdicts, today=today)
    assert calls == ["one"]
    file.write_bytes(b"two!")  # a new version: read again
    _remembered(file, "Tuần 1/Bài 1.docx", None, check=check, verdicts=verdicts, today=today)
    _remembered(file, "Tuần 1/Bài 1.docx", None, check=check, verdicts=verdicts, today=today)
    assert calls == ["one", "two!"]


@pytest.mark.parametrize("depth", [0, 6, "2", True])
def test_a_wrong_teacher_depth_names_the_setting(tmp_path: Path, depth: object) -> None:
    from agent.errors import ConfigError
    from plugins.validation.settings import settings_of

    raw = {"root": str(tmp_path), "remote": {"url": "http://127.0.0.1:9/"}}
    config = configmod.from_dict(
        {**raw, "plugins": {"validation": {"teacher_depth": depth}}}, tmp_path / "a.toml"
    )
    with pytest.raises(ConfigError, match="plugins.validation.teacher_depth"):
        settings_of(config)
    ok = configmod.from_dict(
        {**raw, "plugins": {"validation": {"teacher_depth": 2}}}, tmp_path / "a"
    )
    assert settings_of(ok).teacher_depth == 2
