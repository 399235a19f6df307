"""Only the teacher reaches the teacher's page: tickets, session, Host, CSRF, origin, secrets.

The page is served for a real agent's config (on wsgidav); requests are raw HTTP so that a
test can send what a browser never would (a foreign Host header, no cookie), and Chromium
shows what a page of another site can do with the teacher's browser.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents import Agent
from conftest import Share
from playwright.sync_api import expect
from webui import Client, login_url, screenshot, served

from agent.errors import HosoError
from agent.web import access
from agent.web.server import Served, running_port


@pytest.fixture
def teacher(tmp_path: Path, wsgidav_share: Share) -> Agent:
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    agent.write("Tuần 1/Toán/Bài 1.docx", b"plan")
    agent.sync()
    return agent


@pytest.fixture
def page(teacher: Agent) -> Iterator[Served]:
    with served(teacher.config_path, teacher.state_dir) as page:
        yield page


def test_the_secret_is_private_and_kept(teacher: Agent, page: Served) -> None:
    secret = teacher.state_dir / access.SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert access.install_secret(teacher.state_dir) == access.install_secret(teacher.state_dir)
    assert running_port(teacher.state_dir) == page.port


def test_without_a_session_nothing_is_shown(teacher: Agent, page: Served) -> None:
    client = Client(page.port)
    for path in ("/", "/?part=live", "/tasks/x", "/home/"):
        status, _, html = client.request("GET", path)
        assert status == 401, path
        assert "hoso ui" in html
        assert "Tuần 1" not in html and "synced" not in html.lower()
    status, _, _ = client.request("POST", "/lang", body="lang=en")
    assert status == 401


def test_a_ticket_opens_one_session_once(teacher: Agent, page: Served) -> None:
    url = login_url(teacher.state_dir, page.port)
    path = url.split(str(page.port), 1)[1]
    first, second = Client(page.port), Client(page.port)
    assert first.request("GET", path)[0] == 303
    assert first.request("GET", "/")[0] == 200
    assert second.request("GET", path)[0] == 401  # used up
    assert second.request("GET", "/")[0] == 401
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert Client(page.port).request("GET", forged)[0] == 401


def test_tickets_expire_and_are_bound_to_the_secret() -> None:
    secret, other = os.urandom(32), os.urandom(32)
    now = 1_800_000_000.0
    ticket = access.mint_ticket(secret, now)
    assert not access.Tickets(other).take(ticket, now)
    assert not access.Tickets(secret).take(ticket, now + access.TICKET_SECONDS + 1)
    assert not access.Tickets(secret).take(ticket, now - 3600)  # minted by a clock far ahead
    tickets = access.Tickets(secret)
    assert tickets.take(ticket, now + 5)
    assert not tickets.take(ticket, now + 6)
    for junk in ("", "a.b", "a.b.c.d", "é.1.x", ticket + "x"):
        assert not tickets.take(junk, now)


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1.nip.io:{port}", "127.0.0.1:1", "[::1]:{port}", ""]
)
def test_a_foreign_host_header_is_refused(teacher: Agent, page: Served, host: str) -> None:
    client = Client(page.port)
    client.log_in(teacher.state_dir)
    status, _, html = client.request("GET", "/", host=host.format(port=page.port))
    assert status == 400
    assert "Tuần" not in html
    assert client.request("GET", "/")[0] == 200
    assert client.request("GET", "/", host=f"localhost:{page.port}")[0] == 200


def test_changes_need_the_csrf_token_and_this_origin(teacher: Agent, page: Served) -> None:
    client = Client(page.port)
    client.log_in(teacher.state_dir)
    token = client.csrf()
    assert client.request("POST", "/lang", body="lang=en")[0] == 403
    assert client.request("POST", "/lang", body="lang=en&csrf=wrong")[0] == 403
    foreign = {"Origin": "http://evil.example"}
    assert client.request("POST", "/lang", body=f"lang=en&csrf={token}", headers=foreign)[0] == 403
    status, headers, _ = client.request("POST", "/lang", body=f"lang=en&csrf={token}&back=/")
    assert status == 303 and headers["location"] == "/"
    _, _, html = client.request("GET", "/")
    assert '<html lang="en">' in html


def test_answers_are_hardened(teacher: Agent, page: Served) -> None:
    client = Client(page.port)
    client.log_in(teacher.state_dir)
    _, headers, _ = client.request("GET", "/")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in headers
    _, headers, _ = client.request("OPTIONS", "/", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in headers


def test_login_never_redirects_off_the_page(teacher: Agent, page: Served) -> None:
    for target in ("//evil.example/", "http://evil.example/", "/\\evil.example", "javascript:x"):
        url = login_url(teacher.state_dir, page.port)
        path = url.split(str(page.port), 1)[1] + "&next=" + target
        status, headers, _ = Client(page.port).request("GET", path)
        assert status == 303 and headers["location"] == "/", target


def test_no_secret_in_any_answer(teacher: Agent, page: Served) -> None:
    client = Client(page.port)
    client.log_in(teacher.state_dir)
    secrets = [
        teacher.share.password,
        access.install_secret(teacher.state_dir).hex(),
    ]
    for path in ("/", "/?part=live", "/static/hoso.js", "/health"):
        _, _, text = client.request("GET", path)
        for secret in secrets:
            assert secret not in text, path


def test_a_page_of_another_site_cannot_act_or_read(
    teacher: Agent, page: Served, browser_page: Any, tmp_path: Path
) -> None:
    """The teacher's browser holds a session; a page from elsewhere posts a form to the
    page and tries to read it: the post is refused (no SameSite cookie, no token), the read
    is blocked by the browser (no CORS)."""
    tab = browser_page()
    tab.goto(login_url(teacher.state_dir, page.port))
    assert tab.locator("h1").inner_text() == "Tổng quan"
    evil = tmp_path / "evil.html"
    evil.write_text(
        f"""<!doctype html><html><body>
        <form id="f" method="post" action="http://127.0.0.1:{page.port}/lang">
        <input name="lang" value="en"></form>
        <script>
        fetch("http://127.0.0.1:{page.port}/", {{credentials: "include"}})
          .then(r => r.text()).then(t => document.title = "READ " + t.length)
          .catch(e => document.title = "BLOCKED");
        </script></body></html>""",
        encoding="utf-8",
    )
    attacker = browser_page()
    attacker.context.add_cookies(tab.context.cookies())  # the same browser's cookie jar
    attacker.goto(evil.as_uri())
    attacker.wait_for_function("document.title.length > 0")
    assert attacker.title() == "BLOCKED"
    with attacker.expect_navigation():
        attacker.evaluate("document.getElementById('f').submit()")
    assert "Tổng quan" not in attacker.content()
    tab.reload()
    assert tab.locator("html").get_attribute("lang") == "vi"


def test_the_overview_in_the_browser(teacher: Agent, page: Served, browser_page: Any) -> None:
    for size in ("laptop", "phone"):
        tab = browser_page(size)
        tab.goto(login_url(teacher.state_dir, page.port))
        assert tab.locator("h1").inner_text() == "Tổng quan"
        assert "đồng bộ" in tab.locator(".card").first.inner_text().lower()
        screenshot(tab, "home")
    tab.get_by_role("button", name="English").click()
    assert tab.locator("h1").inner_text() == "Overview"
    # The overview follows the sync without a reload: a new file shows as waiting.
    teacher.write("Tuần 1/Toán/Bài 2.docx", b"new plan")
    expect(tab.locator(".cards")).to_contain_text("1 change waits to be synced", timeout=20_000)


def test_a_refused_login_on_the_overview_leads_to_setup(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    agent = Agent(tmp_path, wsgidav_share, language="vi", password="not the password")
    with contextlib.suppress(HosoError):
        agent.sync()
    with served(agent.config_path, agent.state_dir) as page:
        client = Client(page.port)
        client.log_in(agent.state_dir)
        _, _, html = client.request("GET", "/?part=live")
    assert "từ chối đăng nhập" in html
    assert 'href="/setup/"' in html
