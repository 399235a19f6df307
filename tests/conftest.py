"""Fixtures that start real servers and give each test a fresh folder on them.

One server per kind per session (started on first use); ``dav_server`` runs a test against
wsgidav, Apache mod_dav, rclone and nginx (with and without Basic auth); ``share`` is a new
empty folder on that server. Apache, rclone and nginx are marked ``interop`` and skipped, with
the reason, only when their program is not installed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from servers import (
    SCHOOL_KINDS,
    SERVERS,
    DavServer,
    FaultServer,
    SchoolShare,
    Share,
    missing_binary,
    school_share,
)

from webui import browser_page, chromium_browser  # noqa: F401  (fixtures for every test)

from agent import i18n
from agent import log as agent_log

# No test may reach the developer's real OS keyring (the vault's key would land there); hoso
# processes started by the tests inherit this too. Tests that want a keyring pass their own.
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
# The tests speak English unless one says otherwise (as agents.hoso_env does for the hoso
# processes they start): where no locale variable names a language, hoso speaks Vietnamese.
os.environ["LANGUAGE"] = "en"
i18n.setup()


@pytest.fixture(autouse=True)
def _secrets_registered_by_a_test_stay_in_it() -> Iterator[None]:
    """The log's secret list is process-wide: a test that registers "x" (a vault entry's
    secret) would mask every later test's "x" in the same worker process."""
    saved, pattern = set(agent_log._secrets), agent_log._secret_pattern
    yield
    with agent_log._secrets_lock:
        agent_log._secrets.clear()
        agent_log._secrets.update(saved)
        agent_log._secret_pattern = pattern


DAV_KINDS = [
    pytest.param("wsgidav", id="wsgidav"),
    pytest.param("apache", id="apache", marks=pytest.mark.interop),
    pytest.param("rclone", id="rclone", marks=pytest.mark.interop),
    pytest.param("nginx", id="nginx", marks=pytest.mark.interop),
    pytest.param("nginx-anon", id="nginx-anon", marks=pytest.mark.interop),
]
_folder_numbers = itertools.count(1)


def _server(kind: str) -> Iterator[DavServer]:
    missing = missing_binary(kind)
    if missing:
        pytest.skip(f"{kind} WebDAV tests need `{missing}`, which is not installed")
    server = SERVERS[kind]()
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="session")
def wsgidav_server() -> Iterator[DavServer]:
    yield from _server("wsgidav")


@pytest.fixture(scope="session")
def apache_server() -> Iterator[DavServer]:
    yield from _server("apache")


@pytest.fixture(scope="session")
def rclone_server() -> Iterator[DavServer]:
    yield from _server("rclone")


@pytest.fixture(scope="session")
def nginx_server() -> Iterator[DavServer]:
    yield from _server("nginx")


@pytest.fixture(scope="session")
def nginx_anon_server() -> Iterator[DavServer]:
    yield from _server("nginx-anon")


@pytest.fixture(params=DAV_KINDS)
def dav_server(request: pytest.FixtureRequest) -> DavServer:
    server: DavServer = request.getfixturevalue(
        f"{request.param.replace('-', '_')}_server"
    )
    if not server.running:  # a test may have stopped it to simulate an outage
        server.start()
    return server


@pytest.fixture
def share(dav_server: DavServer, request: pytest.FixtureRequest) -> Share:
    return _new_share(dav_server, request)


@pytest.fixture
def wsgidav_share(wsgidav_server: DavServer, request: pytest.FixtureRequest) -> Share:
    """A fresh folder on wsgidav alone: for tests about what hoso shows, not how servers differ."""
    return _new_share(wsgidav_server, request)


def _new_share(dav_server: DavServer, request: pytest.FixtureRequest) -> Share:
    name = f"t{next(_folder_numbers):04d}-{request.node.originalname}"[:60]
    status, _ = dav_server.request("MKCOL", name + "/")  # nginx refuses a folder without "/"
    assert status == 201, f"could not create the test folder {name}: HTTP {status}"
    return Share(
        server=dav_server,
        url=dav_server.url,
        remote_dir=name,
        user=dav_server.user,
        password=dav_server.password,
        path=dav_server.data_dir / name,
    )


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.fixture(params=[pytest.param(k, id=k) for k in SCHOOL_KINDS])
def school(request: pytest.FixtureRequest) -> Iterator[SchoolShare]:
    """A school's share of its own for this test (servers.SchoolShare): two teachers' own
    folders and the school folder both may write, on Apache and on wsgidav."""
    missing = missing_binary(request.param)
    if missing:
        pytest.skip(f"{request.param} WebDAV tests need `{missing}`, which is not installed")
    share = school_share(request.param)
    yield share
    share.server.remove()


@pytest.fixture
def school_read_only() -> Iterator[SchoolShare]:
    """An Apache school share on which minh may only read the school folder (writes: 403)."""
    missing = missing_binary("apache")
    if missing:
        pytest.skip(f"apache WebDAV tests need `{missing}`, which is not installed")
    share = school_share("apache", read_only=("minh",))
    yield share
    share.server.remove()
