"""*Khôi phục* in a real browser: a file deleted and found in the calendar of backups, put back
next to the current one and in its place (the replaced version kept in hoso's trash); a file a
sync pass removed, found in the trash and restored by the running agent; hostile input refused.

The backups are a real repository (a cheap key derivation, snapshots dated by the test); the
share is wsgidav; the page is served in-process (as `hoso ui` without an agent) or by a real
`hoso run`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from agents import Agent, remote_delete, remote_tree
from conftest import Share
from playwright.sync_api import expect
from servers import wait_until
from test_control import running
from webui import Client, login_url, screenshot, served

from agent import config as configmod
from agent.backup import putback, service
from agent.backup.repository import Repository
from agent.envelope import KdfParams
from agent.i18n import language
from agent.journal import Journal
from agent.web.pages import restore
from agent.web.server import running_port
from agent.webpage import WebCard, WebRequest

PASSPHRASE = "mật khẩu sao lưu của cô Lan"
CHEAP = KdfParams(n=2**10)
PLAN = "Tuần 5/Toán/Bài 3.docx"
OTHER = "Tuần 5/Toán/Bài 4.docx"
DAY1 = datetime(2026, 12, 1, 10, 15).astimezone()
DAY2 = datetime(2026, 12, 2, 16, 30).astimezone()


def teacher_with_backups(tmp_path: Path, share: Share) -> Agent:
    """A teacher whose repository holds two days of backups; since then Bài 3 was changed
    and Bài 4 deleted (and the deletion synced)."""
    agent = Agent(tmp_path, share, language="vi")
    agent.write(PLAN, b"as on 1 December")
    agent.write(OTHER, b"lesson 4")
    agent.sync()
    repo = _repository(agent, tmp_path)
    service.backup(agent.config, repo, now=DAY1)
    agent.write(PLAN, b"as on 2 December")
    service.backup(agent.config, repo, now=DAY2)
    agent.write(PLAN, b"today's version")
    agent.delete(OTHER)
    agent.sync()
    assert OTHER not in remote_tree(share)
    return agent


def _open(tab: Any, agent: Agent, port: int, target: str = "/restore/") -> None:
    tab.goto(login_url(agent.state_dir, port, target))


def _finish(tab: Any) -> str:
    """Wait for the task page's end; its result line."""
    result = tab.locator(".task-result")
    expect(result).to_be_visible(timeout=30_000)
    return result.inner_text()


def test_a_deleted_file_comes_back_from_the_calendar_of_backups(
    tmp_path: Path, wsgidav_share: Share, browser_page: Any
) -> None:
    agent = teacher_with_backups(tmp_path, wsgidav_share)
    with served(agent.config_path, agent.state_dir) as page:
        tab = browser_page("laptop")
        _open(tab, agent, page.port)
        expect(tab.locator("h1")).to_contain_text("Lấy lại tệp")
        # No passphrase held anywhere: the page asks, where the command line would prompt.
        tab.fill("#passphrase", "not it")
        tab.click("text=Mở các bản sao lưu")
        expect(tab.locator(".flash.problem")).to_contain_text("không phải cụm mật khẩu")
        tab.fill("#passphrase", PASSPHRASE)
        tab.click("text=Mở các bản sao lưu")
        expect(tab.locator(".restore-calendar")).to_be_visible()
        assert PASSPHRASE not in tab.content()
        days = tab.locator("a.restore-day")
        expect(days).to_have_count(2)
        expect(tab.locator(".restore-month h3")).to_contain_text("12/2026")
        screenshot(tab, "restore-calendar")

        # The day before Bài 4 was deleted: the folder as it was, Bài 4 marked as gone.
        tab.click("a.restore-day >> text=2")
        expect(tab.locator("h1")).to_contain_text("02/12/2026")
        tab.click("a.restore-folder >> text=Tuần 5")
        tab.click("a.restore-folder >> text=Toán")
        row = tab.locator("tr", has_text="Bài 4.docx")
        expect(row.locator(".restore-gone")).to_contain_text("không còn trên máy")
        screenshot(tab, "restore-day")
        row.locator("text=Khôi phục…").click()
        expect(tab.locator(".restore-facts")).to_contain_text("Không còn trên máy")
        screenshot(tab, "restore-pick")
        tab.click("button[value=in_place]")
        assert "Đã khôi phục" in _finish(tab) or "trở lại" in _finish(tab)
        screenshot(tab, "restore-task")
        assert agent.read(OTHER) == b"lesson 4"

        # Bài 3 as on 1 December, next to today's version.
        tab.goto(f"{page.url}restore/day/2026-12-01?path={quote('Tuần 5/Toán')}")
        tab.locator("tr", has_text="Bài 3.docx").locator("text=Khôi phục…").click()
        expect(tab.locator(".restore-facts")).to_contain_text("sửa lần cuối")
        beside = "Tuần 5/Toán/Bài 3 (bản sao lưu 2026-12-01).docx"
        shown = tab.locator("#beside-title + p .restore-name")
        expect(shown).to_have_text(beside.rpartition("/")[2])
        tab.click("button[value=beside]")
        assert "Bài 3 (bản sao lưu 2026-12-01).docx" in _finish(tab)
        assert agent.read(beside) == b"as on 1 December"
        assert agent.read(PLAN) == b"today's version"

        # Bài 3 as on 2 December in its place: today's version goes to hoso's trash first.
        tab.goto(f"{page.url}restore/day/2026-12-02?path={quote('Tuần 5/Toán')}")
        tab.locator("tr", has_text="Bài 3.docx").locator("text=Khôi phục…").click()
        tab.once("dialog", lambda dialog: dialog.accept())
        tab.click("button[value=in_place]")
        assert "thùng rác" in _finish(tab)
        assert agent.read(PLAN) == b"as on 2 December"
        with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
            [kept] = [i for i in journal.trash_items() if i.reason == "replaced_by_backup"]
        assert kept.path == PLAN and Path(kept.stored_as).read_bytes() == b"today's version"

        # The trash on the page lists it, with where it was and why.
        tab.goto(f"{page.url}restore/")
        trash_row = tab.locator("#trash tr", has_text="bị thay bằng phiên bản trong bản sao lưu")
        expect(trash_row).to_contain_text("Bài 3.docx")
        expect(trash_row).to_contain_text("Tuần 5/Toán")
        assert PASSPHRASE not in tab.content()

        tab.goto(page.url)  # the overview's card (its age depends on today: not asserted)
        expect(tab.locator(".card", has_text="Sao lưu")).to_contain_text("Lần sao lưu gần nhất")
        expect(tab.locator(".card", has_text="Sao lưu").locator("a")).to_have_attribute(
            "href", "/restore/"
        )

        phone = browser_page("phone")  # the passphrase is still held: straight to the calendar
        _open(phone, agent, page.port)
        expect(phone.locator(".restore-calendar")).to_be_visible()
        screenshot(phone, "restore-calendar")
        phone.click("a.restore-day >> text=2")
        phone.click("a.restore-folder >> text=Tuần 5")
        phone.click("a.restore-folder >> text=Toán")
        screenshot(phone, "restore-day")
        phone.locator("tr", has_text="Bài 4.docx").locator("text=Khôi phục…").click()
        screenshot(phone, "restore-pick")

    agent.sync()
    share = remote_tree(wsgidav_share)
    assert share[OTHER] == b"lesson 4"
    assert share[PLAN] == b"as on 2 December"
    assert share[beside] == b"as on 1 December"
    logs = b"".join(p.read_bytes() for p in (agent.state_dir / "logs").glob("*") if p.is_file())
    assert PASSPHRASE.encode() not in logs


def test_the_running_agent_restores_from_the_trash_and_from_a_backup(
    tmp_path: Path, wsgidav_share: Share, browser_page: Any
) -> None:
    """A file a sync pass removed (deleted on the share) comes back from the trash, and a file
    changed since a backup gets the backup's version in its place: both carried out by the
    running agent, which then syncs them."""
    agent = Agent(tmp_path, wsgidav_share, language="vi", sync_overrides={"poll_interval": 3600})
    agent.write(PLAN, b"do not lose me")
    agent.write(OTHER, b"lesson 4")
    agent.sync()
    repo = _repository(agent, tmp_path)
    service.backup(agent.config, repo, now=DAY1)
    agent.write(OTHER, b"changed later")
    agent.sync()
    remote_delete(wsgidav_share, PLAN)
    with running(agent) as log:  # its first pass moves the local copy to the trash
        assert PLAN not in agent.tree()
        port = running_port(agent.state_dir)  # the agent serves the page itself
        assert port is not None
        tab = browser_page("laptop")
        _open(tab, agent, port)
        row = tab.locator("#trash tr", has_text="Bài 3.docx")
        expect(row).to_contain_text("Tuần 5/Toán")
        expect(row).to_contain_text("đã bị xóa trên thư mục chung")
        screenshot(tab, "restore-trash")
        phone = browser_page("phone")
        _open(phone, agent, port)
        expect(phone.locator("#trash tr", has_text="Bài 3.docx")).to_be_visible()
        screenshot(phone, "restore-trash")
        row.locator("button", has_text="Khôi phục").click()
        assert "Bài 3.docx" in _finish(tab)
        assert agent.read(PLAN) == b"do not lose me"

        # The agent holds no backup passphrase: typed into the page, used by the page alone.
        tab.goto(f"http://127.0.0.1:{port}/restore/")
        tab.fill("#passphrase", PASSPHRASE)
        tab.click("text=Mở các bản sao lưu")
        tab.click("a.restore-day >> text=1")
        tab.goto(f"http://127.0.0.1:{port}/restore/pick?at={_id(tab)}&path={quote(OTHER)}")
        tab.once("dialog", lambda dialog: dialog.accept())
        tab.click("button[value=in_place]")
        assert "thùng rác" in _finish(tab)
        assert agent.read(OTHER) == b"lesson 4"
        wait_until(
            lambda: (
                remote_tree(wsgidav_share).get(PLAN) == b"do not lose me"
                and remote_tree(wsgidav_share).get(OTHER) == b"lesson 4"
            ),
            30,
            "the restored files on the share",
        )
    assert sum("request trash.restore carried out" in line for line in log) == 1
    assert sum("request backup.restore carried out" in line for line in log) == 1
    items = json.loads(agent.cli("trash", "list", "--json").stdout)
    assert [(i["path"], i["reason"]) for i in items if i["side"] == "local"] == [
        (OTHER, "replaced_by_backup")
    ]
    assert not any(
        PASSPHRASE.encode() in p.read_bytes() for p in agent.state_dir.rglob("*") if p.is_file()
    )


def _id(tab: Any) -> str:
    """The snapshot id in the day page's links."""
    href = tab.locator("a.restore-folder").first.get_attribute("href")
    return href.split("at=", 1)[1].split("&", 1)[0]


def _repository(agent: Agent, tmp_path: Path) -> Repository:
    """A repository on the "USB drive", recorded in the config (whose passphrase hoso does
    not hold: no vault, no key file)."""
    path = tmp_path / "USB" / "hoso-backup"
    repo = Repository.init(path, PASSPHRASE, kdf=CHEAP)
    service.record_repository(agent.config, path)
    agent.config = configmod.load(agent.config_path)
    return repo


def test_hostile_addresses_and_forms_are_refused(tmp_path: Path, wsgidav_share: Share) -> None:
    agent = teacher_with_backups(tmp_path, wsgidav_share)
    outside = tmp_path / "outside.txt"
    with served(agent.config_path, agent.state_dir) as page:
        client = Client(page.port)
        client.log_in(agent.state_dir)
        token = client.csrf()
        status, _, html = client.request(
            "POST", "/restore/unlock", body=f"csrf={token}&passphrase={quote(PASSPHRASE)}"
        )
        assert status == 303
        status, _, html = client.request("GET", "/restore/")
        assert status == 200 and "restore-calendar" in html and PASSPHRASE not in html
        snapshot = _snapshot_id(client)
        for path in ("../outside.txt", "/etc/passwd", "Tuần 5/../../outside.txt", ".hoso-root"):
            status, _, html = client.request(
                "GET", f"/restore/pick?at={snapshot}&path={quote(path)}"
            )
            assert "flash problem" in html, path
            status, _, html = client.request(
                "POST",
                "/restore/put",
                body=f"csrf={token}&at={snapshot}&path={quote(path)}&how=in_place",
            )
            assert "flash problem" in html, path
        for bad_day in ("2026-13-01", "../../x", "2026-12-03"):
            status, _, html = client.request("GET", f"/restore/day/{quote(bad_day)}")
            assert "flash problem" in html, bad_day
        status, _, html = client.request("GET", "/restore/pick?at=0000&path=Tu%E1%BA%A7n%205")
        assert "flash problem" in html
        status, _, html = client.request(
            "POST", "/restore/trash", body=f"csrf={token}&lane=elsewhere&item=1"
        )
        assert status == 303
    assert not outside.exists()
    assert agent.read(PLAN) == b"today's version"
    assert OTHER not in agent.tree()


def _snapshot_id(client: Client) -> str:
    _, _, html = client.request("GET", "/restore/day/2026-12-02")
    return html.split("?at=", 1)[1].split("&", 1)[0].split('"', 1)[0]


def test_put_back_refuses_what_is_not_a_staged_copy(tmp_path: Path, wsgidav_share: Share) -> None:
    agent = Agent(tmp_path, wsgidav_share)
    agent.write(PLAN, b"current")
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        for token, path, how, day in (
            ("../../etc", PLAN, "beside", "2026-12-01"),
            ("0123456789abcdef", PLAN, "beside", "2026-12-01"),  # no such staged copy
            ("0123456789abcdef", "../x", "beside", "2026-12-01"),
            ("0123456789abcdef", PLAN, "over", "2026-12-01"),
            ("0123456789abcdef", PLAN, "beside", "1/12/2026/../x"),
        ):
            with pytest.raises(putback.UsageError):
                putback.put_back(agent.config, journal, token, path, how=how, label=day)
    assert agent.tree() == {PLAN: b"current"}


def test_the_overview_card_says_the_backup_age_in_plain_words(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    agent.write(PLAN, b"plan")

    def card_at(moment: datetime) -> WebCard:
        request = WebRequest(agent.config, "GET", "", {}, {}, moment.timestamp(), "vi")
        with language("vi"):
            return restore.card(request)

    assert card_at(DAY1).lines == ["Máy tính này chưa được thiết lập sao lưu."]
    repo = _repository(agent, tmp_path)
    assert card_at(DAY1).lines == [
        "Chưa có bản sao lưu nào: hoso sẽ tự sao lưu lần đầu khi đang chạy."
    ]
    service.backup(agent.config, repo, now=DAY1)
    fresh = card_at(DAY1 + timedelta(hours=5))
    assert fresh.state == "ok" and fresh.link == "/restore/"
    assert fresh.lines == ["Lần sao lưu gần nhất: 5 giờ trước (10:15 01/12/2026)."]
    (tmp_path / "USB").rename(tmp_path / "USB unplugged")
    stale = card_at(DAY1 + timedelta(days=4))
    assert stale.state == "warn"
    assert stale.lines == [
        "Lần sao lưu gần nhất: 4 ngày trước (10:15 01/12/2026).",
        "Cắm ổ USB sao lưu vào máy: hoso tự sao lưu ngay khi thấy ổ.",
    ]


def test_a_folder_comes_back_beside_or_whole_in_its_place(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    """The service under the page: a folder restored next to the current one, then in its
    place, the current folder (with a file made since the backup) kept whole in the trash."""
    agent = teacher_with_backups(tmp_path, wsgidav_share)
    agent.write("Tuần 5/Toán/Bài 5 (made since).docx", b"new since the backup")
    repo = Repository.open(agent.config.backup.repository_path(), PASSPHRASE)
    [first, _second] = [snapshot_id for snapshot_id, _s in repo.snapshots()]
    with language("vi"), Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        staged = putback.stage(agent.config, repo, first, "Tuần 5", now=DAY2.timestamp())
        assert (staged.files, staged.path) == (2, "Tuần 5")
        done = putback.put_back(
            agent.config, journal, staged.token, "Tuần 5", how="beside", label="2026-12-01"
        )
        assert done.path == "Tuần 5 (bản sao lưu 2026-12-01)"
        staged = putback.stage(agent.config, repo, first, "Tuần 5", now=DAY2.timestamp())
        done = putback.put_back(
            agent.config, journal, staged.token, "Tuần 5", how="in_place", label="2026-12-01"
        )
        assert done.replaced == "Tuần 5"
        [kept] = [i for i in journal.trash_items() if i.reason == "replaced_by_backup"]
    as_backed_up = {PLAN: b"as on 1 December", OTHER: b"lesson 4"}
    assert agent.tree() == {
        **as_backed_up,
        **{
            p.replace("Tuần 5", "Tuần 5 (bản sao lưu 2026-12-01)", 1): b
            for p, b in as_backed_up.items()
        },
    }
    assert kept.kind.value == "dir" and kept.path == "Tuần 5"
    assert sorted(p.name for p in Path(kept.stored_as).rglob("*.docx")) == [
        "Bài 3.docx",
        "Bài 5 (made since).docx",
    ]
    assert not any((agent.state_dir / putback.STAGING).iterdir())


def test_the_school_folders_trash_is_listed_apart_and_restored(
    tmp_path: Path, wsgidav_share: Share, browser_page: Any
) -> None:
    """With a school folder, its own trash (`hoso trash list --school`) has its heading; a
    school file deleted on the share comes back through the school.trash.restore request."""
    server = wsgidav_share.server
    folder = wsgidav_share.remote_dir + "-truong"
    assert server.request("MKCOL", folder + "/")[0] == 201
    school_root = tmp_path / "truong"
    agent = Agent(
        tmp_path,
        wsgidav_share,
        language="vi",
        school={"folder_url": f"{server.url}{folder}/", "folder_root": str(school_root)},
    )
    name = "Biểu mẫu/Kế hoạch tuần.docx"
    (server.data_dir / folder / "Biểu mẫu").mkdir()
    (server.data_dir / folder / name).write_bytes(b"the school's form")
    assert agent.cli("school", "sync").returncode == 0
    assert (school_root / name).read_bytes() == b"the school's form"
    (server.data_dir / folder / name).unlink()  # someone deletes it on the share
    assert agent.cli("school", "sync").returncode == 0
    assert not (school_root / name).exists()
    with served(agent.config_path, agent.state_dir) as page:
        tab = browser_page("laptop")
        _open(tab, agent, page.port)
        expect(tab.locator("#trash h3")).to_have_text(["Thư mục hồ sơ", "Thư mục của trường"])
        row = tab.locator("#trash tr", has_text="Kế hoạch tuần.docx")
        expect(row).to_contain_text("Biểu mẫu")
        row.locator("button", has_text="Khôi phục").click()
        assert "Kế hoạch tuần.docx" in _finish(tab)
    assert (school_root / name).read_bytes() == b"the school's form"
    assert agent.tree() == {}  # nothing came into the records folder
