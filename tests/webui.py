"""Test helpers for the teacher's page: the page served for an agent, a real Chromium.

Chromium is Debian's (/usr/bin/chromium, package chromium), driven by Playwright's Python
API with ``executable_path``: nothing is downloaded. Screenshots go to
``test-artifacts/screens/`` at the repository root (override with HOSO_ARTIFACTS), one per
page and size, to be looked at before an issue is resolved.

A page is opened the way `hoso ui` opens it: a ticket minted from the install's secret,
``/login?ticket=…`` in the browser, which then holds a session cookie.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.web import server as webserver

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SIZES = {"laptop": LAPTOP, "phone": PHONE}


def artifacts() -> Path:
    folder = Path(os.environ.get("HOSO_ARTIFACTS") or REPO / "test-artifacts") / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def served(config_path: Path, state_dir: Path) -> Iterator[webserver.Served]:
    """The teacher's page for this config, served in the test's process (as `hoso ui` does
    when no agent runs)."""
    with webserver.serving(config_path, state_dir) as page:
        yield page


def login_url(state_dir: Path, port: int, target: str = "/") -> str:
    return webserver.login_url(state_dir, port, target, now=time.time())


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """One headless Chromium for the test process (a context per test keeps them apart)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium (/usr/bin/chromium, Debian package chromium) is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium_browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(size="laptop")``: a fresh browser tab (its own cookies) at that size."""
    contexts: list[Any] = []

    def open_page(size: str = "laptop") -> Any:
        context = chromium_browser.new_context(viewport=SIZES[size], locale="vi-VN")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    try:
        yield open_page
    finally:
        for context in contexts:
            context.close()


def screenshot(page: Any, name: str) -> Path:
    """A full-page screenshot as test-artifacts/screens/<name>-<width>x<height>.png."""
    size = page.viewport_size
    path = artifacts() / f"{name}-{size['width']}x{size['height']}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


class Client:
    """A raw HTTP client keeping the page's cookie, as a browser would."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str = "",
        headers: dict[str, str] | None = None,
        host: str | None = None,
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        sent = {"Host": f"127.0.0.1:{self.port}" if host is None else host, **(headers or {})}
        if self.cookie:
            sent.setdefault("Cookie", self.cookie)
        if body:
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=body.encode(), headers=sent)
        answer = conn.getresponse()
        text = answer.read().decode("utf-8", "replace")
        got = {k.lower(): v for k, v in answer.getheaders()}
        if "set-cookie" in got:
            self.cookie = got["set-cookie"].split(";")[0]
        conn.close()
        return answer.status, got, text

    def log_in(self, state_dir: Path) -> None:
        url = login_url(state_dir, self.port)
        status, headers, _ = self.request("GET", url.split(str(self.port), 1)[1])
        assert status == 303, status
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]

    def csrf(self) -> str:
        _, _, html = self.request("GET", "/")
        marker = 'name="csrf" value="'
        return html.split(marker, 1)[1].split('"', 1)[0]
