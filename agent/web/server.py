"""Serving the teacher's page on 127.0.0.1: inside the running agent, or for `hoso ui` alone.

cheroot (the WSGI server `hoso demo` already uses for its share) serves the Flask
application on the loopback only, on ``[ui] port`` or a free port. The application is built
before the port is announced: built at the first request, it made that request (`hoso ui`'s
/health, 2 s at most) wait for Flask's import on a loaded PC. Whoever serves writes
``<state dir>/ui.json`` (0600: the port and its process) so that `hoso ui` finds the page
already open instead of starting a second one, and removes it when it stops.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cheroot import wsgi

from ..durable import write_atomic
from ..log import get_logger
from . import access
from .app import create_app
from .site import Site

log = get_logger(__name__)

ADDRESS_FILE = "ui.json"
HEALTH_TIMEOUT = 2.0  # seconds: a page that answers slower is taken for none
MAX_HEADERS = 64 * 1024  # bytes of a request's headers
MAX_BODY = 4 * 2**20  # bytes of a request's body (the application takes at most 2 MiB)
IDLE_SECONDS = 3600.0  # `hoso ui` on its own stops after an hour without a request


class _Watched:
    """WSGI middleware remembering when the page was last asked for anything."""

    def __init__(self, app: object, site: Site) -> None:
        self.app = app
        self.site = site
        self.last_request = time.monotonic()

    def __call__(self, environ: dict, start_response: object) -> object:
        self.last_request = time.monotonic()
        return self.app(environ, start_response)  # type: ignore[operator]


@dataclass
class Served:
    """A running page: its port, the site behind it, and how to stop it."""

    port: int
    site: Site
    _server: wsgi.Server
    _thread: threading.Thread
    _address: Path
    _watched: _Watched

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        self._server.stop()
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self._address.read_text()).get("pid") == os.getpid():
                self._address.unlink()


def serve(config_path: Path, state_dir: Path, port: int = 0) -> Served:
    """Start serving the page on a thread of its own, on ``port`` or, when it is taken, on a
    free one (OSError when there is none)."""
    server = _listening(port)
    try:
        server.prepare()
    except OSError as exc:
        if not port:
            raise
        # Taken (by another program, or another user squatting it): a free port instead,
        # found through ui.json like any other; the page is never lost for a port.
        log.warning("port %d is taken (%s): the teacher's page uses a free one", port, exc)
        server = _listening(0)
        server.prepare()
    bound = int(server.bind_addr[1])
    site = Site(config_path=config_path, state_dir=state_dir, port=bound)
    address = state_dir / ADDRESS_FILE
    try:
        access.install_secret(state_dir)  # made now: `hoso ui` proves the page by it
        watched = _Watched(create_app(site), site)
        # How `hoso ui` finds the page: a page no one can find is not served at all.
        write_atomic(address, json.dumps({"port": bound, "pid": os.getpid()}).encode())
    except BaseException:
        server.stop()  # never a port left bound to a server that answers no one
        raise
    server.wsgi_app = watched
    thread = threading.Thread(target=server.serve, name="hoso-ui", daemon=True)
    thread.start()
    log.info("teacher's page at http://127.0.0.1:%d/", bound)
    return Served(bound, site, server, thread, address, watched)


def _listening(port: int) -> wsgi.Server:
    server = wsgi.Server(("127.0.0.1", port), None, numthreads=8, server_name="hoso")
    # Any local user can connect: megabytes of headers or body are refused before they
    # are held in memory (forms are small; Flask's own limit says so in plain words).
    server.max_request_header_size = MAX_HEADERS
    server.max_request_body_size = MAX_BODY
    return server


def running_port(state_dir: Path) -> int | None:
    """The port of a page this install already serves (the agent's), None when none answers."""
    try:
        port = int(json.loads((state_dir / ADDRESS_FILE).read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not 0 < port < 65536:
        return None
    # The page proves it holds this install's secret: another local user's server on a
    # port a stale ui.json names would otherwise get the ticket (and the wizard's password).
    challenge = secrets.token_urlsafe(16)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health?challenge={challenge}")
    try:
        with urllib.request.urlopen(request, timeout=HEALTH_TIMEOUT) as answer:
            proof = json.loads(answer.read(1000)).get("proof")
        expected = access.health_proof(access.install_secret(state_dir), port, challenge)
    except (OSError, ValueError, AttributeError, urllib.error.URLError):
        return None
    if isinstance(proof, str) and hmac.compare_digest(proof, expected):
        return port
    return None


def login_url(state_dir: Path, port: int, target: str = "/", *, now: float) -> str:
    """The address that opens a session on the page at ``port`` and shows ``target``."""
    from urllib.parse import quote

    ticket = access.mint_ticket(access.install_secret(state_dir), now)
    url = f"http://127.0.0.1:{port}/login?ticket={ticket}"
    if target != "/":
        url += "&next=" + quote(target, safe="/")
    return url


@contextlib.contextmanager
def serving(config_path: Path, state_dir: Path, port: int = 0) -> Iterator[Served]:
    served = serve(config_path, state_dir, port)
    try:
        yield served
    finally:
        served.close()


def wait_idle(served: Served, stop: threading.Event, idle: float = IDLE_SECONDS) -> None:
    """Block until ``stop`` or until nobody asked the page anything for ``idle`` seconds
    and no task runs (a send started from the page finishes first)."""
    while not stop.wait(30.0):
        quiet = time.monotonic() - served._watched.last_request
        if quiet > idle and not served.site.tasks.running():
            return
