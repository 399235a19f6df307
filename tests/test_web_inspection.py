"""*Nộp hồ sơ* and *In*, the inspection plugin's pages, in a real Chromium.

A teacher's agent on wsgidav with a few weeks of lesson plans; the inspection goes to a real
aiosmtpd (tests/mailservers.py) and is read back there (recipients, one transaction per part,
the files as attachments); the binder is read back with pdftotext. The mail password is typed
into the page where the command would prompt, and is then nowhere: not in a page, a task's
lines, a log or a file of the state folder.
"""

from __future__ import annotations

import contextlib
import email
import json
import os
import shutil
import subprocess
import time
import unicodedata
from collections.abc import Iterator
from datetime import date, timedelta
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from agents import Agent, to_toml
from conftest import Share
from docs_factory import make_pdf
from inspection_factory import MANAGER, SCHOOL_MAILBOX, TEACHER, blob, raw_config
from mailservers import MAIL_USER, SmtpServer
from playwright.sync_api import expect
from servers import PASSWORD
from webui import Client, login_url, screenshot, served

from agent import config as configmod
from agent.config import Config
from plugins.inspection.package import attachment_name

LIMIT = 1_000_000  # three ~600 KB records: three emails
WEEKS = (10, 11, 12)
SCHOOL = "Trường Tiểu học Bình Chánh"


def _configure(agent: Agent, **tables: Any) -> Config:
    """The agent's config plus the teacher, school and inspection tables (to_toml writes no
    arrays of tables: those are appended)."""
    raw = raw_config(agent.root, agent.state_dir, **tables)
    raw.update({k: agent.raw[k] for k in ("remote", "sync", "host_name")}, language="vi")
    reviewers = raw["school"].pop("reviewers", [])
    schedule = raw.get("inspection", {}).pop("schedule", [])
    text = to_toml(raw)
    for reviewer in reviewers:
        text += "\n[[school.reviewers]]\n" + to_toml(reviewer)
    for item in schedule:
        text += "\n[[inspection.schedule]]\n" + to_toml(item)
    configmod.write_private(agent.config_path, text)
    return configmod.load(agent.config_path)


@contextlib.contextmanager
def inspection_teacher(tmp_path: Path, share: Share) -> Iterator[tuple[Agent, SmtpServer]]:
    agent = Agent(tmp_path, share, language="vi")
    for week in WEEKS:
        blob(
            agent.root / "Kế hoạch bài dạy" / f"Tuần {week}" / f"Bài {week}.pdf", 600_000, seed=week
        )
    # The school's calendar: an inspection of weeks 10–12 in three days (the page runs on
    # the real clock, so the day is counted from today).
    day = date.today() + timedelta(days=3)
    with SmtpServer() as server:
        _configure(
            agent,
            smtp={
                "host": server.host,
                "port": server.port,
                "security": "none",
                "username": MAIL_USER,
                "max_message_bytes": LIMIT,
                "timeout": 5,
                "retries": 1,
            },
            inspection={
                "schedule": [{"date": day.isoformat(), "weeks": "10-12", "types": ["KHBD"]}]
            },
        )
        yield agent, server


def _state_files_hold(state_dir: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in state_dir.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_an_inspection_is_planned_sent_and_shown_in_the_history(
    tmp_path: Path, wsgidav_share: Share, browser_page: Any
) -> None:
    with (
        inspection_teacher(tmp_path, wsgidav_share) as (agent, server),
        served(agent.config_path, agent.state_dir) as page,
    ):
        # The overview says what is missing for the coming inspection.
        tab = browser_page("laptop")
        tab.goto(login_url(agent.state_dir, page.port, "/"))
        expect(tab.locator(".card", has_text="Kiểm tra hồ sơ")).to_contain_text(
            "Tuần 10–12 chưa được gửi"
        )
        tab.get_by_role("link", name="Nộp hồ sơ").first.click()
        # The form starts at the inspection's period; the plan comes before any sending.
        expect(tab.locator("h1")).to_have_text("Nộp hồ sơ kiểm tra")
        expect(tab.get_by_label("từ tuần")).to_have_value("10")
        expect(tab.get_by_label("đến tuần")).to_have_value("12")
        tab.get_by_role("button", name="Xem những gì sẽ gửi").click()
        plan = tab.locator("section.plan")
        expect(plan).to_contain_text("3 hồ sơ")
        expect(plan).to_contain_text("trong 3 thư")
        expect(plan.locator(".recipients")).to_contain_text(SCHOOL_MAILBOX)
        expect(plan.locator(".recipients")).to_contain_text(MANAGER)
        expect(plan.locator("table.parts tbody tr")).to_have_count(3)
        assert not server.received  # looking sends nothing
        screenshot(tab, "inspection-plan")
        # No mail login in the vault: the page asks for the password, once.
        tab.get_by_label("Mật khẩu đăng nhập thư").fill(PASSWORD)
        tab.on("dialog", lambda dialog: dialog.accept())
        tab.get_by_role("button", name="Gửi", exact=True).click()
        result = tab.locator(".task-result")
        expect(result).to_contain_text("Đã gửi Tuần 10–12 trong 3 thư", timeout=30_000)
        lines = tab.locator(".task-lines li")
        for part in (1, 2, 3):
            expect(lines.filter(has_text=f"Đang gửi phần {part}/3")).to_have_count(1)
        screenshot(tab, "inspection-sent")
        task_html = tab.content()
        tab.get_by_role("link", name="Tiếp tục").click()
        history = tab.locator("section.card.sent")
        expect(history).to_have_count(1)
        expect(history).to_contain_text("Tuần 10–12")
        expect(history).to_contain_text("Đã đến đủ mọi người nhận")
        expect(history.locator("tbody tr")).to_have_count(3)
        screenshot(tab, "inspection-history")
        pages = [task_html, tab.content()]
        # The evidence copy is the email as sent, offered as a file to save.
        client = Client(page.port)
        client.log_in(agent.state_dir)
        link = history.get_by_role("link", name="Lưu thư (.eml)").first.get_attribute("href")
        status, headers, body = client.request("GET", str(link))
        assert status == 200 and headers["content-disposition"].startswith("attachment")
        # Sent twice? The plan says so and asks before sending again.
        tab.goto(
            f"http://127.0.0.1:{page.port}/inspection/?kind=weeks&week_from=10&week_to=12&type=KHBD"
        )
        expect(tab.locator("section.plan")).to_contain_text("đã được gửi đầy đủ lúc")
        expect(tab.get_by_label("Gửi lại (thành một lần nộp mới)")).to_be_visible()
        pages.append(tab.content())
        received = server.wait_for(3)
    assert len(received) == 3
    sent_files: dict[str, bytes] = {}
    message_ids = []
    for mail in received:
        assert mail.rcpt_tos == (SCHOOL_MAILBOX, MANAGER)  # both in one transaction
        assert mail.mail_from == TEACHER["email"] and mail.login == MAIL_USER
        message = email.message_from_bytes(mail.content, policy=policy.SMTP)
        message_ids.append(message["Message-ID"])
        for part in message.iter_attachments():
            assert part.get_content_disposition() == "attachment"
            sent_files[part.get_filename()] = part.get_payload(decode=True)
    expected = {
        attachment_name(f"Kế hoạch bài dạy/Tuần {w}/Bài {w}.pdf"): (
            agent.root / "Kế hoạch bài dạy" / f"Tuần {w}" / f"Bài {w}.pdf"
        ).read_bytes()
        for w in WEEKS
    }
    assert {k: v for k, v in sent_files.items() if k in expected} == expected
    assert message_ids[0] in body
    history_html = pages[1]
    for message_id in message_ids:
        assert message_id.replace("<", "&lt;").replace(">", "&gt;") in history_html
    evidence = list((agent.root / "Minh chứng nộp hồ sơ").rglob("*.eml"))
    assert len(evidence) == 3
    # The password went to the mail server and nowhere else.
    for html in pages:
        assert PASSWORD not in html
    assert not _state_files_hold(agent.state_dir, PASSWORD)


def test_a_vault_passphrase_is_asked_where_the_command_would_prompt(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    from agent.vault import Vault, protect

    with inspection_teacher(tmp_path, wsgidav_share) as (agent, server):
        config = configmod.load(agent.config_path)
        Vault.open(config, create=True).set("smtp", PASSWORD, {"username": MAIL_USER})
        passphrase = "mật khẩu kho 2026"
        protect(config, passphrase)
        with served(agent.config_path, agent.state_dir) as page:
            client = Client(page.port)
            client.log_in(agent.state_dir)
            query = urlencode(
                [("kind", "weeks"), ("week_from", "10"), ("week_to", "12"), ("type", "KHBD")]
            )
            status, _, html = client.request("GET", f"/inspection/?{query}")
            assert status == 200
            assert 'name="vault_passphrase"' in html and 'name="mail_password"' not in html
            package = html.split('name="package" value="', 1)[1].split('"', 1)[0]
            csrf = client.csrf()
            form = [("csrf", csrf), *[tuple(p.split("=", 1)) for p in query.split("&")]]
            # A wrong passphrase: refused, nothing sent, said on the task's page.
            done = _send(client, [*form, ("package", package), ("vault_passphrase", "sai")])
            assert done["problem"] and "Sai cụm mật khẩu" in done["result"], done
            assert not server.received
            done = _send(client, [*form, ("package", package), ("vault_passphrase", passphrase)])
            assert not done["problem"], done
            assert len(server.wait_for(3)) == 3
            for path in ("/inspection/", f"/inspection/?{query}"):
                assert passphrase not in client.request("GET", path)[2]
            assert passphrase not in str(done) and PASSWORD not in str(done)
    assert not _state_files_hold(agent.state_dir, passphrase)


def _send(client: Client, form: list[tuple[str, str]]) -> dict[str, Any]:
    """Post the send form; the task's end (its JSON) once it is done."""
    status, headers, _ = client.request("POST", "/inspection/send", body=urlencode(form))
    assert status == 303, status
    task = headers["location"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = json.loads(client.request("GET", task + "?part=1")[2])
        if answer["done"]:
            return dict(answer)
        time.sleep(0.2)
    raise AssertionError("the sending did not end")


def test_the_records_changed_since_the_plan_are_not_sent(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    with (
        inspection_teacher(tmp_path, wsgidav_share) as (agent, server),
        served(agent.config_path, agent.state_dir) as page,
    ):
        client = Client(page.port)
        client.log_in(agent.state_dir)
        form = [("kind", "weeks"), ("week_from", "10"), ("week_to", "12"), ("type", "KHBD")]
        html = client.request("GET", "/inspection/?" + urlencode(form))[2]
        package = html.split('name="package" value="', 1)[1].split('"', 1)[0]
        blob(agent.root / "Kế hoạch bài dạy" / "Tuần 11" / "Bài 11b.pdf", 1000, seed=99)
        done = _send(
            client,
            [("csrf", client.csrf()), *form, ("package", package), ("mail_password", PASSWORD)],
        )
        assert done["problem"] and "đã thay đổi" in done["result"]
        assert not server.received
        assert not (agent.root / "Minh chứng nộp hồ sơ").exists()


# --- In: the binder ----------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="needs Debian libreoffice-writer-nogui and poppler-utils (.ci/run installs them)",
)
def test_the_print_page_makes_a_binder_and_opens_it(
    tmp_path: Path, wsgidav_share: Share, browser_page: Any
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    lessons = {(1, "Toán", 1), (1, "Tiếng Việt", 2), (2, "Toán", 3)}
    for week, subject, n in lessons:
        folder = agent.root / f"Tuần {week}" / subject
        folder.mkdir(parents=True, exist_ok=True)
        # Lesson plans kept as PDFs go in as they are: no LibreOffice run in this test.
        lines = [f"Tuần {week} – {subject} – Bài {n}", "KẾ HOẠCH BÀI DẠY"]
        make_pdf(folder / f"Bài {n}.pdf", [*lines, "IV. Điều chỉnh sau bài dạy", "Tốt."])
    _configure(agent)
    before = {p: p.read_bytes() for p in agent.root.rglob("*") if p.is_file()}
    with served(agent.config_path, agent.state_dir) as page:
        tab = browser_page("laptop")
        tab.goto(login_url(agent.state_dir, page.port, "/print/"))
        expect(tab.locator("h1")).to_have_text("In tập hồ sơ")
        expect(tab.locator(".hint .path")).to_have_text(str(agent.state_dir / "print"))
        screenshot(tab, "print-form")
        tab.get_by_label("từ tuần").fill("1")
        tab.get_by_label("đến tuần").fill("2")
        tab.get_by_role("button", name="Tạo tập hồ sơ").click()
        expect(tab.locator(".task-result")).to_contain_text("Tập hồ sơ đã xong", timeout=60_000)
        expect(tab.locator(".task-lines li").first).to_contain_text("Đang chọn hồ sơ")
        screenshot(tab, "print-made")
        tab.get_by_role("link", name="Tiếp tục").click()
        made = tab.locator("#made")
        expect(made).to_contain_text("Tập hồ sơ đã xong")
        expect(made).to_contain_text("KHBD Tuần 1–2.pdf")
        row = tab.locator("table.binders tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("KHBD Tuần 1–2.pdf")
        screenshot(tab, "print-made-list")
        href = made.get_by_role("link", name="Mở để in").get_attribute("href")
        assert href == row.get_by_role("link", name="Mở để in").get_attribute("href")
        answer = tab.context.request.get(f"http://127.0.0.1:{page.port}{href}")
        assert answer.status == 200
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["content-disposition"].startswith("inline")
        data = answer.body()
        # Only files of the page's folder are served.
        for name in ("../agent.toml", "../journal.sqlite3", "nothing.pdf", "a\x00.pdf"):
            got = tab.context.request.get(
                f"http://127.0.0.1:{page.port}/print/file?" + urlencode({"name": name}),
                max_redirects=0,
            )
            assert got.status == 303, name
    pdf = agent.state_dir / "print" / "KHBD Tuần 1–2.pdf"
    assert pdf.read_bytes() == data
    cover = unicodedata.normalize(
        "NFC",
        subprocess.run(
            ["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout,
    )
    for words in (SCHOOL.upper(), "KẾ HOẠCH BÀI DẠY", TEACHER["name"], "Tuần 1–2"):
        assert words in cover, words
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for week, subject, n in lessons:
        assert unicodedata.normalize("NFC", f"Tuần {week} – {subject} – Bài {n}") in (
            unicodedata.normalize("NFC", text)
        )
    # nothing written into the records folder
    assert {p: p.read_bytes() for p in agent.root.rglob("*") if p.is_file()} == before


@pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs Debian poppler-utils (.ci/run installs it)"
)
def test_the_print_folder_keeps_only_the_newest_binders(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    """Each print makes a new file (a free name): the page keeps the binders it lists, so that
    repeated prints do not fill the state folder for ever; other files there stay."""
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    folder = agent.root / "Tuần 1" / "Toán"
    folder.mkdir(parents=True)
    lines = ["Tuần 1 – Toán – Bài 1", "KẾ HOẠCH BÀI DẠY", "IV. Điều chỉnh sau bài dạy", "Tốt."]
    make_pdf(folder / "Bài 1.pdf", lines)
    _configure(agent)
    binders = agent.state_dir / "print"
    binders.mkdir(parents=True)
    for n in range(1, 13):  # twelve earlier prints, the oldest first
        (binders / f"KHBD cũ {n}.pdf").write_bytes(b"%PDF-1.4 old")
        os.utime(binders / f"KHBD cũ {n}.pdf", (1_790_000_000 + n, 1_790_000_000 + n))
    (binders / "ghi chú.txt").write_text("not a binder")
    with served(agent.config_path, agent.state_dir) as page:
        client = Client(page.port)
        client.log_in(agent.state_dir)
        form = [("csrf", client.csrf()), ("kind", "weeks"), ("week_from", "1"), ("week_to", "1")]
        status, headers, _ = client.request(
            "POST", "/print/make", body=urlencode([*form, ("type", "KHBD")])
        )
        assert status == 303, status
        deadline = time.monotonic() + 60
        while not (done := json.loads(client.request("GET", headers["location"] + "?part=1")[2]))[
            "done"
        ]:
            assert time.monotonic() < deadline, "the binder was not made"
            time.sleep(0.2)
        assert not done["problem"], done["result"]
        listed = client.request("GET", "/print/")[2]
    kept = sorted(p.name for p in binders.iterdir())
    assert kept == sorted(
        ["KHBD Tuần 1.pdf", "ghi chú.txt", *(f"KHBD cũ {n}.pdf" for n in range(4, 13))]
    )
    assert "KHBD Tuần 1.pdf" in listed and "KHBD cũ 4.pdf" in listed
    assert "Chỉ giữ 10 tập mới nhất" in listed


def test_both_pages_on_a_phone(tmp_path: Path, wsgidav_share: Share, browser_page: Any) -> None:
    with (
        inspection_teacher(tmp_path, wsgidav_share) as (agent, _server),
        served(agent.config_path, agent.state_dir) as page,
    ):
        tab = browser_page("phone")
        tab.goto(login_url(agent.state_dir, page.port, "/inspection/"))
        tab.get_by_role("button", name="Xem những gì sẽ gửi").click()
        expect(tab.locator("section.plan")).to_contain_text("trong 3 thư")
        send = tab.get_by_role("button", name="Gửi", exact=True)
        expect(send).to_be_visible()
        box = send.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390 and box["height"] >= 44
        screenshot(tab, "inspection-plan")
        tab.goto(f"http://127.0.0.1:{page.port}/print/")
        make = tab.get_by_role("button", name="Tạo tập hồ sơ")
        box = make.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
        screenshot(tab, "print-form")


def test_bad_choices_and_missing_mail_settings_are_said_and_nothing_is_sent(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    for week in WEEKS:
        blob(agent.root / "Kế hoạch bài dạy" / f"Tuần {week}" / f"Bài {week}.pdf", 1000, seed=week)
    _configure(agent)  # no [smtp]: this computer cannot send
    with served(agent.config_path, agent.state_dir) as page:
        client = Client(page.port)
        client.log_in(agent.state_dir)
        week = [("kind", "weeks"), ("type", "KHBD")]
        html = client.request(
            "GET", "/inspection/?" + urlencode([*week, ("week_from", "12"), ("week_to", "10")])
        )[2]
        assert "Hãy chọn tuần học từ 1 đến 35" in html and 'class="plan"' not in html
        html = client.request(
            "GET",
            "/inspection/?"
            + urlencode([("kind", "weeks"), ("week_from", "10"), ("week_to", "12")]),
        )[2]
        assert "Hãy đánh dấu ít nhất một loại hồ sơ" in html
        html = client.request(
            "GET", "/inspection/?" + urlencode([*week, ("week_from", "20"), ("week_to", "21")])
        )[2]
        assert "Không tìm thấy hồ sơ nào thuộc loại KHBD cho Tuần 20–21" in html
        html = client.request(
            "GET", "/inspection/?" + urlencode([*week, ("week_from", "10"), ("week_to", "12")])
        )[2]
        assert "3 hồ sơ" in html and "Máy này chưa có cài đặt gửi thư" in html
        assert 'action="/inspection/send"' not in html
    assert not (agent.root / "Minh chứng nộp hồ sơ").exists()
