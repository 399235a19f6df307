"""*Tìm kiếm*, the search plugin's page, in a real Chromium against a teacher's agent on wsgidav:
a word of a record's body found accent-folded with its snippet highlighted, a hostile file
name shown as text (nothing injected), a bad query answered with the command's own message,
and "open" acting only on a document inside the records folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from agents import Agent
from conftest import Share
from docs_factory import lesson_plan, make_docx
from playwright.sync_api import expect
from webui import Client, login_url, screenshot, served

from agent.errors import UsageError
from agent.i18n import language
from agent.web.server import Served
from plugins.search.query import parse

WEEK = "Kế hoạch bài dạy/Tuần 12/Toán"
PLAN = f"{WEEK}/Bài 56 – Phép chia.docx"
HOSTILE = f"{WEEK}/<img src=x onerror=alert(1)>.docx"


def plan(root: Path, rel: str, reflection: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    make_docx(root / rel, lesson_plan(reflection=reflection, activity_rows=2))


@pytest.fixture
def teacher(tmp_path: Path, wsgidav_share: Share, monkeypatch: pytest.MonkeyPatch) -> Agent:
    # No desktop: "open" must say where the file is, never start a program during the tests.
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    agent = Agent(tmp_path, wsgidav_share, language="vi", plugins={"desktop": {"enabled": False}})
    plan(agent.root, PLAN, "Rút kinh nghiệm: học sinh cần luyện thêm phép chia có dư.")
    plan(agent.root, f"{WEEK}/Bài 57 – Luyện tập.docx", "Học sinh làm tốt bài tập.")
    agent.sync()
    # A name no share should hold (and a text that is markup), as a hostile share can give.
    plan(agent.root, HOSTILE, 'Phép chia <b>in đậm</b> <script>alert("x")</script>')
    launcher = "[Desktop Entry]\nType=Application\nExec=sh -c 'echo opened'\n"
    (agent.root / WEEK / "phép chia.desktop").write_text(launcher)
    return agent


@pytest.fixture
def page(teacher: Agent) -> Iterator[Served]:
    with served(teacher.config_path, teacher.state_dir) as page:
        yield page


def open_tab(browser_page, teacher: Agent, page: Served, size: str, target: str = "/search/"):
    tab = browser_page(size)
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.goto(login_url(teacher.state_dir, page.port, target))
    return tab, dialogs


def test_a_word_of_the_body_is_found_highlighted_and_a_hostile_name_stays_text(
    teacher: Agent, page: Served, browser_page
) -> None:
    tab, dialogs = open_tab(browser_page, teacher, page, "laptop")
    expect(tab.get_by_role("link", name="Tìm kiếm")).to_have_attribute("aria-current", "page")
    box = tab.get_by_label("Từ trong tên hoặc nội dung hồ sơ")
    expect(box).to_have_attribute("type", "search")
    box.fill("LUYEN THEM phep chia")  # no accents, other case: folded like the command
    box.press("Enter")
    found = tab.locator(".search-result", has_text="Bài 56 – Phép chia.docx")
    expect(found).to_have_count(1)
    expect(found.locator("mark")).to_have_text(["luyện thêm phép chia"])
    expect(found).to_contain_text("Tuần 12")
    expect(found).to_contain_text("Toán")
    expect(found.locator(".search-folder")).to_have_text(WEEK)
    screenshot(tab, "search-results")

    box = tab.get_by_label("Từ trong tên hoặc nội dung hồ sơ")
    box.fill("phep chia")
    box.press("Enter")
    hostile = tab.locator(".search-result", has_text="onerror")
    expect(hostile.locator("h3")).to_have_text("<img src=x onerror=alert(1)>.docx")
    expect(hostile.locator(".search-snippet")).to_contain_text('<script>alert("x")</script>')
    assert tab.locator("main img, main script, main b").count() == 0
    assert tab.evaluate("() => document.querySelectorAll('img,[onerror]').length") == 0
    assert dialogs == []
    # A launcher from the share is found by its name, but only its folder can be opened.
    script = tab.locator(".search-result", has_text="phép chia.desktop")
    expect(script.get_by_role("button", name=re.compile("Mở thư mục"))).to_have_count(1)
    expect(script.get_by_role("button", name=re.compile("Mở tệp"))).to_have_count(0)

    # Opening on a computer with no desktop says where the file is.
    found = tab.locator(".search-result", has_text="Bài 56 – Phép chia.docx")
    found.get_by_role("button", name=re.compile("Mở tệp")).click()
    expect(tab.locator(".flash.done")).to_contain_text(str(teacher.root / PLAN))
    expect(tab.get_by_label("Từ trong tên hoặc nội dung hồ sơ")).to_have_value("phep chia")

    phone, _ = open_tab(browser_page, teacher, page, "phone", "/search/?q=phep+chia&weeks=12")
    expect(phone.locator(".search-result").first).to_be_visible()
    screenshot(phone, "search-results")
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the phone page scrolls sideways ({width}px)"


def test_a_bad_query_or_filter_shows_the_commands_message(
    teacher: Agent, page: Served, browser_page
) -> None:
    with language("vi"), pytest.raises(UsageError) as raised:
        parse("-nhap")
    tab, _ = open_tab(browser_page, teacher, page, "phone")
    box = tab.get_by_label("Từ trong tên hoặc nội dung hồ sơ")
    box.fill("-nhap")
    box.press("Enter")
    expect(tab.locator(".flash.problem")).to_have_text(str(raised.value))
    expect(tab.locator(".search-result")).to_have_count(0)
    screenshot(tab, "search-bad-query")

    tab.goto(tab.url.split("?")[0] + "?" + urlencode({"q": "phep chia", "weeks": "40"}))
    expect(tab.locator(".flash.problem")).to_contain_text("40")
    tab.goto(tab.url.split("?")[0] + "?" + urlencode({"q": "phep chia", "type": "XYZ"}))
    expect(tab.locator(".flash.problem")).to_contain_text("XYZ")


def test_open_acts_only_on_a_document_inside_the_records_folder(
    teacher: Agent, page: Served, tmp_path: Path
) -> None:
    client = Client(page.port)
    client.log_in(teacher.state_dir)
    token = client.csrf()
    outside = tmp_path / "bí mật.docx"
    outside.write_bytes(b"secret")

    def opening(path: str, what: str = "file") -> str:
        body = urlencode({"csrf": token, "path": path, "what": what, "back": "/search/"})
        status, headers, _ = client.request("POST", "/search/open", body=body)
        assert status == 303 and headers["location"] == "/search/"
        _, _, html = client.request("GET", "/search/")
        return html

    assert "nằm ngoài thư mục hồ sơ" in opening("../../" + outside.name)
    assert "nằm ngoài thư mục hồ sơ" in opening(str(outside))
    assert "nằm ngoài thư mục hồ sơ" in opening(PLAN + "\x00.docx")
    assert "chỉ mở các tệp văn bản" in opening(f"{WEEK}/phép chia.desktop")
    assert str(teacher.root / WEEK) in opening(f"{WEEK}/phép chia.desktop", "folder")
    _, _, html = client.request("GET", "/search/?" + urlencode({"q": "phep chia", "limit": "0"}))
    assert "search-result" in html and "flash problem" not in html
    status, _, _ = client.request(
        "POST", "/search/open", body=urlencode({"path": PLAN, "what": "file"})
    )
    assert status == 403  # no CSRF token
