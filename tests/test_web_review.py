"""A hostile review of the teacher's page's core: what a foreign server on a squatted port, a
broken secret file, a hostile share's names, a page's own fault, a clock a year off and a
taken port do to it. Real servers, raw HTTP and Chromium, as in test_web_access.py."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from agents import Agent
from cheroot import wsgi
from conftest import Share
from playwright.sync_api import expect
from servers import wait_until
from test_control import running
from webui import Client, login_url, screenshot, served

from agent.config import Config
from agent.durable import write_atomic
from agent.errors import UsageError
from agent.web import access
from agent.web.app import Site, create_app
from agent.web.server import ADDRESS_FILE, running_port, serve
from agent.webpage import (
    WebAnswer,
    WebFile,
    WebPage,
    WebRedirect,
    WebRequest,
    WebTask,
    WebView,
)

# A name a hostile share could hold: markup, a bidi override that shows "Bài 1exe.docx",
# and a terminal escape.
HOSTILE = '<img src=x onerror="alert(1)">Bài 1\u202excod.docx\x1b[31m'


@pytest.fixture
def teacher(tmp_path: Path, wsgidav_share: Share) -> Agent:
    agent = Agent(tmp_path, wsgidav_share, language="vi")
    agent.write("Tuần 1/Toán/Bài 1.docx", b"plan")
    agent.sync()
    return agent


# --- a page of the test's own, served by the real application ---------------------------------


@dataclass
class ReviewSite(Site):
    """The site with extra pages (a plugin's, as far as the core can tell)."""

    extra: list[WebPage] = field(default_factory=list)

    def pages(self, config: Config | None) -> list[WebPage]:
        return super().pages(config) + list(self.extra)


STARTED: list[str] = []  # the tasks that began running


def _exits(progress: Callable[[str], None]) -> str:
    STARTED.append("exit")
    raise SystemExit(3)


def hostile_page(folder: Path) -> WebPage:
    """A page that shows a hostile name, serves a hostile file and fails."""
    folder.mkdir(parents=True, exist_ok=True)
    body = (
        '{% extends "base.html" %}{% block content %}<p id="name">{{ name }}</p>'
        '<form method="post" action="/hostile/echo"><input type="hidden" name="csrf" '
        'value="{{ csrf }}"><input type="hidden" name="name" value="{{ name|verbatim }}">'
        "</form>{% endblock %}"
    )
    (folder / "hostile.html").write_text(body, encoding="utf-8")
    (folder / "hostile.jinja").write_text(body, encoding="utf-8")
    planted = folder / "planted.html"
    planted.write_text("<script src=/static/hoso.js></script><p>planted</p>", encoding="utf-8")

    def view(request: WebRequest) -> WebAnswer:
        if request.subpath == "file":
            return WebFile(planted, "Kế hoạch.html", "text/html", inline=True)
        if request.subpath == "pdf":
            return WebFile(planted, "Hồ sơ.pdf", "application/pdf", inline=True)
        if request.subpath == "boom":
            raise RuntimeError("a bug in a page")
        if request.subpath == "echo":  # what a form sent back: the very name shown
            same = request.arg("name") == HOSTILE
            return WebRedirect("/hostile/html", "same" if same else "changed", problem=not same)
        if request.subpath == "exit":  # code written for the CLI, ending with sys.exit
            return WebTask("exit", "Exit", _exits)
        if request.subpath == "flash":
            return WebRedirect("/hostile/html", "Đã khôi phục tệp.")
        if request.subpath == "task":
            return WebTask("hostile", HOSTILE, lambda progress: HOSTILE, then="javascript:alert(1)")
        template = "hostile.jinja" if request.subpath == "jinja" else "hostile.html"
        return WebView(template, {"name": HOSTILE})

    return WebPage(slug="hostile", title=lambda: "Hostile", order=99, templates=folder, view=view)


@dataclass
class Running:
    port: int
    site: ReviewSite
    app: Any


@contextlib.contextmanager
def serving_site(agent: Agent, **kw: Any) -> Iterator[Running]:
    server = wsgi.Server(("127.0.0.1", 0), None, numthreads=4)
    server.prepare()
    port = int(server.bind_addr[1])
    site = ReviewSite(config_path=agent.config_path, state_dir=agent.state_dir, port=port, **kw)
    app = create_app(site)
    server.wsgi_app = app
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield Running(port, site, app)
    finally:
        server.stop()
        thread.join(timeout=10)


def logged_in(agent: Agent, port: int) -> Client:
    client = Client(port)
    client.log_in(agent.state_dir)
    return client


# --- hoso ui hands a ticket only to this install's page ---------------------------------------


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Another local user's server on the port ui.json names, answering like a hoso page."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.seen.append(self.path)
        body = json.dumps({"hoso": True, "proof": "0" * 43}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_hoso_ui_never_takes_a_foreign_server_for_the_page(teacher: Agent) -> None:
    """The agent died without removing ui.json and another local user listens on its port:
    `hoso ui` must not open the ticket (nor the setup wizard's password) on that server."""
    impostor = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    try:
        teacher.state_dir.mkdir(parents=True, exist_ok=True)
        port = impostor.server_address[1]
        address = json.dumps({"port": port, "pid": 1}).encode()
        write_atomic(teacher.state_dir / ADDRESS_FILE, address)
        assert running_port(teacher.state_dir) is None
        assert _Impostor.seen  # it was asked, and its answer did not pass
        assert not any("ticket" in path for path in _Impostor.seen)
    finally:
        impostor.shutdown()
        impostor.server_close()
    with served(teacher.config_path, teacher.state_dir) as page:
        assert running_port(teacher.state_dir) == page.port  # the genuine page still passes


def test_a_ticket_taken_first_by_someone_else_gives_them_seconds(teacher: Agent) -> None:
    """The ticket is in xdg-open's argv, which every local user can read: another user's
    script may take it before the teacher's browser. When the browser then comes with it,
    the session the other one opened ends."""
    with served(teacher.config_path, teacher.state_dir) as page:
        path = login_url(teacher.state_dir, page.port).split(str(page.port), 1)[1]
        thief, browser = Client(page.port), Client(page.port)
        assert thief.request("GET", path)[0] == 303
        assert thief.request("GET", "/")[0] == 200
        assert browser.request("GET", path)[0] == 401  # "already used": the teacher asks again
        status, _, html = thief.request("GET", "/")
        assert status == 401 and "Tuần" not in html
        browser.log_in(teacher.state_dir)  # a new ticket works as ever
        assert browser.request("GET", "/")[0] == 200


def _as_another_user(url: str, cookie: str = "") -> tuple[int, str]:
    """GET ``url`` as user nobody (another local user), with the teacher's cookie if given."""
    command = ["curl", "-s", "-w", "\n%{http_code}", "--max-time", "10", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    done = subprocess.run(
        command, user=65534, capture_output=True, text=True, timeout=20, cwd="/", check=False
    )
    body, _sep, code = done.stdout.rpartition("\n")
    return int(code or 0), body


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another local user")
def test_another_local_user_is_refused_even_with_the_cookie_or_a_ticket(teacher: Agent) -> None:
    """Cookies ignore ports, so another user's web server on 127.0.0.1 visited in the
    teacher's browser receives the session cookie; a ticket shows in xdg-open's argv. Neither
    opens the page to another local user: the kernel says whose socket is asking."""
    with served(teacher.config_path, teacher.state_dir) as page:
        client = logged_in(teacher, page.port)
        base = f"http://127.0.0.1:{page.port}"
        status, html = _as_another_user(base + "/", client.cookie)
        assert status == 403 and "Tuần" not in html and "csrf" not in html
        assert _as_another_user(base + "/health?challenge=x")[0] == 403
        ticket_path = login_url(teacher.state_dir, page.port).split(str(page.port), 1)[1]
        assert _as_another_user(base + ticket_path)[0] == 403
        teachers = Client(page.port)
        assert teachers.request("GET", ticket_path)[0] == 303  # the ticket is still good
        assert teachers.request("GET", "/")[0] == 200
        assert client.request("GET", "/")[0] == 200


def test_the_kernels_table_is_read_for_the_asking_socket_only() -> None:
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    row = "   {n}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000  {uid}  0 1\n"
    table = header + "".join(
        row.format(n=n, local=local, remote=remote, state=state, uid=uid)
        for n, (local, remote, state, uid) in enumerate(
            [
                ("0100007F:1F90", "0100007F:C000", "01", 1000),  # the server's own end
                ("0100007F:C000", "0100007F:1F90", "06", 0),  # an earlier one, TIME_WAIT
                ("0100007F:C000", "0100007F:1F90", "01", 1001),  # the asking socket
                ("7F000001:C001", "7F000001:1F90", "01", 1002),  # other byte order
            ]
        )
    )
    assert access.peer_uid(0xC000, 0x1F90, table) == 1001
    assert access.peer_uid(0xC001, 0x1F90, table) == 1002
    assert access.peer_uid(0xC002, 0x1F90, table) is None


# --- the secret file --------------------------------------------------------------------------


@pytest.mark.parametrize("broken", ["cut", "not hex", "readable by others", "a link", "empty"])
def test_a_broken_secret_file_is_replaced_not_trusted(tmp_path: Path, broken: str) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    path = state / access.SECRET_FILE
    outside = tmp_path / "someone-elses.txt"
    outside.write_text("ab" * 32)
    known = "ab" * 32  # a secret someone else knows
    if broken == "cut":
        path.write_text("abcd")
    elif broken == "not hex":
        path.write_text("zz" * 32)
    elif broken == "readable by others":
        path.write_text(known)
        path.chmod(0o644)
    elif broken == "a link":
        path.symlink_to(outside)
    else:
        path.write_bytes(b"")
    if broken != "a link":
        path.chmod(0o644 if broken == "readable by others" else 0o600)
    secret = access.install_secret(state)
    assert len(secret) == 32 and secret.hex() != known
    assert not path.is_symlink()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bytes.fromhex(path.read_text()) == secret
    assert access.install_secret(state) == secret  # kept from now on
    assert outside.read_text() == "ab" * 32  # a link's target is never written


def test_the_agent_syncs_and_serves_with_a_broken_secret(teacher: Agent) -> None:
    teacher.state_dir.mkdir(parents=True, exist_ok=True)
    (teacher.state_dir / access.SECRET_FILE).write_text("zz" * 32)
    teacher.write("Tuần 1/Toán/Bài 2.docx", b"new plan")
    with running(teacher):
        port = running_port(teacher.state_dir)
        assert port is not None
        client = logged_in(teacher, port)
        assert client.request("GET", "/")[0] == 200
    assert (teacher.share.path / "Tuần 1/Toán/Bài 2.docx").read_bytes() == b"new plan"


@pytest.mark.parametrize(
    ("blocked", "error"), [(access.SECRET_FILE, UsageError), (ADDRESS_FILE, OSError)]
)
def test_a_page_that_cannot_start_leaves_its_port_and_the_sync(
    teacher: Agent, blocked: str, error: type[Exception]
) -> None:
    """A secret that cannot be made, or an address file that cannot be written (a folder in
    its place): `hoso ui` says so, the port is not left bound to a server that answers no
    one (or that no one can find), and the agent syncs without its page."""
    teacher.state_dir.mkdir(parents=True, exist_ok=True)
    (teacher.state_dir / blocked).mkdir()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(error):
        serve(teacher.config_path, teacher.state_dir, port)
    again = socket.socket()
    again.bind(("127.0.0.1", port))  # free again
    again.close()
    teacher.write("Tuần 1/Toán/Bài 3.docx", b"plan 3")
    with running(teacher):
        assert running_port(teacher.state_dir) is None
    assert (teacher.share.path / "Tuần 1/Toán/Bài 3.docx").read_bytes() == b"plan 3"


# --- hostile names, hostile files, a page's own fault -----------------------------------------


def test_hostile_names_are_shown_inert(teacher: Agent, tmp_path: Path) -> None:
    with serving_site(teacher, extra=[hostile_page(tmp_path / "tpl")]) as run:
        client = logged_in(teacher, run.port)
        for sub in ("html", "jinja"):
            status, _, html = client.request("GET", f"/hostile/{sub}")
            assert status == 200, sub
            shown = html.split('<p id="name">', 1)[1].split("</p>", 1)[0]
            assert "<img" not in shown and "&lt;img" in shown, sub
            assert "\u202e" not in shown and "\x1b" not in shown, sub
            assert "\\u202e" in shown and "cod.docx" in shown, sub
            sent = html.split('name="name" value="', 1)[1].split('"', 1)[0]
            token = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            body = urlencode({"csrf": token, "name": unescape(sent)})
            assert client.request("POST", "/hostile/echo", body=body)[0] == 303
            assert (
                '<p class="flash done" role="status">same</p>'
                in client.request("GET", "/hostile/html")[2]
            )
        token = client.csrf()
        status, headers, _ = client.request("POST", "/hostile/task", body=f"csrf={token}")
        assert status == 303 and headers["location"].startswith("/tasks/")
        task_page = headers["location"]

        def task() -> dict[str, Any]:
            return json.loads(client.request("GET", task_page + "?part=1")[2])

        wait_until(lambda: task()["done"], 10, "the task's end")
        expect_done = task()
        assert expect_done["result"].endswith("\\u202excod.docx\\x1b[31m")
        assert expect_done["then"] == "/"  # never a javascript: link
        html = client.request("GET", task_page)[2]
        assert "javascript:" not in html and "\u202e" not in html


def test_a_task_that_exits_still_ends(teacher: Agent, tmp_path: Path) -> None:
    """sys.exit in a task (code written for the command line) ended its thread silently: the
    task ran "for ever", the next of its kind was refused and `hoso ui` never went idle."""
    with serving_site(teacher, extra=[hostile_page(tmp_path / "tpl")]) as run:
        client = logged_in(teacher, run.port)
        token = client.csrf()
        status, headers, _ = client.request("POST", "/hostile/exit", body=f"csrf={token}")
        assert status == 303 and headers["location"].startswith("/tasks/")
        first = headers["location"]
        wait_until(lambda: not run.site.tasks.running(), 10, "the task's end")
        task = json.loads(client.request("GET", first + "?part=1")[2])
        assert task["done"] and task["problem"] and "nhật ký" in task["result"]
        status, headers, _ = client.request(  # not refused as busy
            "POST", "/hostile/exit", body=f"csrf={token}"
        )
        assert status == 303 and headers["location"] != first


def test_work_starts_only_from_a_form_of_the_page(teacher: Agent, tmp_path: Path) -> None:
    """SameSite cookies ignore ports: a page on another port of 127.0.0.1 (another local
    user's server) that sends the teacher's browser to a GET address sends the session
    along. Only a POST, which needs the token, may start work."""
    STARTED.clear()
    with serving_site(teacher, extra=[hostile_page(tmp_path / "tpl")]) as run:
        client = logged_in(teacher, run.port)
        status, _, html = client.request("GET", "/hostile/exit")
        assert status == 500 and "nhật ký" in html
        assert STARTED == []
        token = client.csrf()
        status, headers, _ = client.request("POST", "/hostile/exit", body=f"csrf={token}")
        assert status == 303 and headers["location"].startswith("/tasks/")
        wait_until(lambda: STARTED == ["exit"], 10, "the task's start")


def test_a_message_waits_for_its_page(teacher: Agent, tmp_path: Path) -> None:
    """The overview refreshing itself in another tab must not swallow the message a change
    leaves for the page it goes back to ("the file is restored")."""
    with serving_site(teacher, extra=[hostile_page(tmp_path / "tpl")]) as run:
        client = logged_in(teacher, run.port)
        assert client.request("GET", "/hostile/flash")[0] == 303
        status, _, live = client.request("GET", "/?part=live", headers={"X-Hoso-Part": "1"})
        assert status == 200 and "Đồng bộ" in live
        _, _, html = client.request("GET", "/hostile/html")
        assert "Đã khôi phục tệp." in html


def test_a_new_pages_folder_never_swaps_the_template_loader(teacher: Agent, tmp_path: Path) -> None:
    """Requests run on 8 threads: a loader replaced by one request could be put back by
    another that computed the old one, losing a plugin's templates for good."""
    with serving_site(teacher) as run:
        client = logged_in(teacher, run.port)
        assert client.request("GET", "/")[0] == 200
        loader = run.app.jinja_env.loader
        run.site.extra.append(hostile_page(tmp_path / "tpl"))  # a plugin enabled meanwhile
        assert client.request("GET", "/hostile/html")[0] == 200
        assert run.app.jinja_env.loader is loader
        assert client.request("GET", "/")[0] == 200


# --- files and faults of a page ------------------------------------------------------------


def test_a_file_from_a_page_never_runs_as_the_page(teacher: Agent, tmp_path: Path) -> None:
    """A page serving a record from the share (an .html someone put there) must not let it
    run on the page's origin: only kinds that cannot hold a script are shown inline."""
    with serving_site(teacher, extra=[hostile_page(tmp_path / "tpl")]) as run:
        client = logged_in(teacher, run.port)
        status, headers, body = client.request("GET", "/hostile/file")
        assert status == 200 and "planted" in body
        assert headers["content-disposition"].startswith("attachment")
        status, headers, _ = client.request("GET", "/hostile/pdf")
        assert status == 200 and headers["content-disposition"].startswith("inline")


def test_a_fault_in_a_page_is_told_plainly(
    teacher: Agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")  # a developer's shell: Flask reads it by itself
    with serving_site(teacher, extra=[hostile_page(tmp_path / "tpl")]) as run:
        client = logged_in(teacher, run.port)
        status, headers, html = client.request("GET", "/hostile/boom")
        assert status == 500
        assert "Traceback" not in html and "RuntimeError" not in html and "a bug" not in html
        assert "nhật ký" in html  # the plain sentence, in Vietnamese: see hoso's log
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        status, _, html = client.request("PUT", "/")
        assert status == 405 and "Method Not Allowed" not in html
        assert client.request("GET", "/")[0] == 200  # the page goes on


# --- clocks and ports -------------------------------------------------------------------------


def test_a_session_lasts_twelve_hours_whatever_the_clock_does(tmp_path: Path) -> None:
    wall = [1_800_000_000.0]
    mono = [1000.0]
    site = Site(
        config_path=tmp_path / "config.toml",
        state_dir=tmp_path,
        port=1,
        now=lambda: wall[0],
        monotonic=lambda: mono[0],
    )
    sid = site.open_session()
    assert site.session_valid(sid)
    wall[0] -= 365 * 86400  # the teacher's clock put right, a year back
    mono[0] += 13 * 3600
    assert not site.session_valid(sid)
    fresh = site.open_session()
    wall[0] += 2 * 365 * 86400  # and a year ahead: a session does not end at once
    assert site.session_valid(fresh)


def test_a_taken_port_gives_a_free_one(teacher: Agent) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    try:
        page = serve(teacher.config_path, teacher.state_dir, taken)
        try:
            assert page.port != taken
            assert running_port(teacher.state_dir) == page.port
        finally:
            page.close()
    finally:
        squatter.close()


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_host_variants_and_redirects_stay_on_the_page(teacher: Agent) -> None:
    """Checked and sound: the Host forms a rebinding page or a raw client could use, and the
    addresses a change goes back to."""
    with served(teacher.config_path, teacher.state_dir) as page:
        client = logged_in(teacher, page.port)
        assert client.request("GET", "/", host=f"LOCALHOST:{page.port}")[0] == 200
        for host in (
            f"localhost.:{page.port}",
            f"127.0.0.1.:{page.port}",
            f"127.1:{page.port}",
            f"0x7f000001:{page.port}",
            f"127.0.0.1:{page.port}@evil.example",
        ):
            assert client.request("GET", "/", host=host)[0] == 400, host
        cookie = client.cookie.encode()
        for request in (
            b"GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n",  # absolute form
            b"GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: evil.example\r\n",
            b"GET / HTTP/1.0\r\n",  # no Host at all
        ):
            head = request % page.port if b"%d" in request else request
            answer = _raw(page.port, head + b"Cookie: " + cookie + b"\r\nConnection: close\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
            assert "Tuần".encode() not in answer
        token = client.csrf()
        backs = ("/\t/evil.example", " //evil.example", "\\\\evil.example", "https:evil.example")
        for back in (*backs, "/\\evil.example", "//evil.example"):
            status, headers, _ = client.request(
                "POST", "/lang", body=f"lang=vi&csrf={token}&back={quote(back)}"
            )
            assert status == 303 and headers["location"] == "/", back


def test_a_pages_language_stays_with_its_request(teacher: Agent) -> None:
    """Requests in English and in Vietnamese on the same worker threads, while this thread
    (as the agent's loop) keeps its own language."""
    from agent.i18n import _, language

    with served(teacher.config_path, teacher.state_dir) as page, language("vi"):
        english, vietnamese = logged_in(teacher, page.port), logged_in(teacher, page.port)
        token = english.csrf()
        assert english.request("POST", "/lang", body=f"lang=en&csrf={token}")[0] == 303
        for _round in range(12):  # more rounds than the server has threads
            assert "<h1>Overview</h1>" in english.request("GET", "/")[2]
            assert "<h1>Tổng quan</h1>" in vietnamese.request("GET", "/")[2]
            status, _h, html = Client(page.port).request("GET", "/")
            assert status == 401 and 'lang="vi"' in html
        assert _("Overview") == "Tổng quan"


def test_the_language_chosen_stays_when_the_page_is_opened_again(teacher: Agent) -> None:
    with served(teacher.config_path, teacher.state_dir) as page:
        client = logged_in(teacher, page.port)
        token = client.csrf()
        assert client.request("POST", "/lang", body=f"lang=en&csrf={token}")[0] == 303
        client.log_in(teacher.state_dir)  # `hoso ui` again, in the same browser
        assert "<h1>Overview</h1>" in client.request("GET", "/")[2]
        assert client.csrf() != token  # a new session all the same


def test_huge_headers_are_refused(teacher: Agent) -> None:
    """Another local user sending megabytes of headers: refused early, the page goes on."""
    with served(teacher.config_path, teacher.state_dir) as page:
        client = Client(page.port)
        status, _, _ = client.request("GET", "/health", headers={"X-Big": "a" * 300_000})
        assert status in (413, 431)
        assert client.request("GET", "/health")[0] == 200


# --- the page in the browser ------------------------------------------------------------------


def test_the_overview_says_when_it_is_no_longer_current(
    teacher: Agent, browser_page: Callable[..., Any]
) -> None:
    """The page stopped (the agent restarted, `hoso ui` went idle): the overview must not go
    on saying "all synced" as if it were live."""
    tab = browser_page()
    page = serve(teacher.config_path, teacher.state_dir)
    try:
        tab.goto(login_url(teacher.state_dir, page.port))
        expect(tab.locator("h1")).to_have_text("Tổng quan")
        expect(tab.locator("#stale")).to_be_hidden()
    finally:
        page.close()
    expect(tab.locator("#stale")).to_be_visible(timeout=20_000)
    expect(tab.locator("#stale")).to_contain_text("hoso ui")
    screenshot(tab, "home-stale")
