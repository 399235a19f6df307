"""TLS against a real HTTPS WebDAV server: verified by default, a school's own CA via ``ca_file``.

A private CA and a server certificate for 127.0.0.1 are made with ``cryptography`` once per
module; wsgidav (cheroot's builtin SSL adapter) serves a folder over HTTPS with Basic auth.
The default settings must refuse that server (its CA is in no system store) with an error that
says it is about the certificate and never shows the password; ``ca_file`` naming the CA makes
everything work; a ``ca_file`` of another CA is refused like the default.
"""

from __future__ import annotations

import gettext
import hashlib
import http.client
import json
import ssl
import tomllib
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from agents import run_hoso
from pki import Pki, make_pki
from servers import PASSWORD, USER, WsgiDavServer

from agent import config as hoso_config
from agent.config import Secret
from agent.errors import ConfigError, ExitCode, HosoError, UnreachableError
from agent.remote import Remote

RECORDS = "Hồ sơ GV"  # the records folder on the share (remote_dir)


# --- certificates ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# --- the HTTPS server -----------------------------------------------------------------------


class HttpsWsgiDavServer(WsgiDavServer):
    """tests/servers.py's wsgidav (lifecycle, readiness deadline, Basic auth), over HTTPS."""

    def __init__(self, pki: Pki) -> None:
        super().__init__()
        self.pki = pki
        self.url = f"https://127.0.0.1:{self.port}/"
        self._ready_context = ssl.create_default_context(cafile=str(pki.ca_cert))

    def _prepare(self) -> None:
        super()._prepare()
        config_file = self.base_dir / "wsgidav.json"
        config = json.loads(config_file.read_text())
        config.update(
            ssl_certificate=str(self.pki.server_cert),
            ssl_private_key=str(self.pki.server_key),
            ssl_certificate_chain=str(self.pki.ca_cert),
            ssl_adapter="builtin",
        )
        config_file.write_text(json.dumps(config))

    def _answers(self) -> bool:
        # Ready = a verified TLS handshake and an HTTP answer (any status).
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"{self.kind} exited with code {self._proc.returncode}")
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=1, context=self._ready_context
        )
        try:
            conn.request("OPTIONS", "/")
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()


@pytest.fixture(scope="module")
def https_server(pki: Pki) -> Iterator[HttpsWsgiDavServer]:
    server = HttpsWsgiDavServer(pki)
    (server.data_dir / RECORDS).mkdir()
    server.start()  # polls until a verified HTTPS request is answered, with a deadline
    yield server
    server.remove()


@pytest.fixture(autouse=True)
def english_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages in the source language, whatever another test selected for this process."""
    monkeypatch.setattr("agent.i18n._translations", gettext.NullTranslations())


def make_remote(server: HttpsWsgiDavServer, **options: object) -> Remote:
    # A small backoff only keeps the failing cases fast; retries stay at their default.
    return Remote(
        server.url, RECORDS, server.user, Secret(server.password), backoff=0.01, **options
    )


def failure_of(remote: Remote) -> HosoError:
    try:
        with pytest.raises(HosoError) as caught:
            remote.probe()
    finally:
        remote.close()
    return caught.value


def assert_no_password(error: BaseException) -> None:
    shown = [
        str(error),
        repr(error),
        repr(error.args),
        "".join(traceback.format_exception(error)),  # what a crash report would show
    ]
    for text in shown:
        assert PASSWORD not in text


# --- verification on by default -------------------------------------------------------------


def test_default_settings_refuse_a_certificate_from_an_unknown_ca(
    https_server: HttpsWsgiDavServer,
) -> None:
    requests_before = https_server.request_count()
    error = failure_of(make_remote(https_server))

    assert isinstance(error, UnreachableError)
    assert "127.0.0.1" in str(error)
    assert_no_password(error)
    # No HTTP request (so no login) was sent over the unverified connection.
    assert https_server.request_count() == requests_before


def test_the_refusal_tells_the_user_it_is_about_the_certificate(
    https_server: HttpsWsgiDavServer,
) -> None:
    """A teacher (or the school's IT person) must learn it is the certificate, and what to set,
    rather than being told to check the network."""
    error = failure_of(make_remote(https_server))

    message = str(error)
    assert "certificate" in message.lower(), message
    assert "ca_file" in message, message


def test_a_ca_file_of_another_ca_is_refused_the_same_way(
    https_server: HttpsWsgiDavServer, pki: Pki
) -> None:
    error = failure_of(make_remote(https_server, ca_file=str(pki.other_ca_cert)))

    assert isinstance(error, UnreachableError)
    assert_no_password(error)
    assert "certificate" in str(error).lower(), str(error)


# --- the school's own CA ----------------------------------------------------------------------


def test_ca_file_of_the_school_ca_makes_the_share_work(
    https_server: HttpsWsgiDavServer, pki: Pki, tmp_path: Path
) -> None:
    # REQUESTS_CA_BUNDLE may be set (it is on many machines): ca_file must win over it.
    remote = make_remote(https_server, ca_file=str(pki.ca_cert))
    try:
        caps = remote.probe()
        assert caps.nextcloud is False

        data = "Kế hoạch bài dạy tuần 1\n".encode() * 100
        source = tmp_path / "khbd.docx"
        source.write_bytes(data)
        sent = remote.upload(
            source,
            "Tuần 1.docx",
            expected_etag=None,
            sha256=hashlib.sha256(data).hexdigest(),
            mtime_ns=source.stat().st_mtime_ns,
            size=len(data),
        )
        assert (https_server.data_dir / RECORDS / "Tuần 1.docx").read_bytes() == data

        tree = remote.list_tree()
        assert set(tree) == {"Tuần 1.docx"}
        assert tree["Tuần 1.docx"].etag == sent.etag

        received = bytearray()

        class Sink:
            def write(self, chunk: bytes) -> int:
                received.extend(chunk)
                return len(chunk)

        got = remote.download("Tuần 1.docx", Sink(), size=len(data))
        assert bytes(received) == data
        assert got.etag == sent.etag
    finally:
        remote.close()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_tls_false_accepts_any_certificate(https_server: HttpsWsgiDavServer) -> None:
    remote = make_remote(https_server, verify_tls=False)
    try:
        assert remote.probe().nextcloud is False
    finally:
        remote.close()


# --- the config layer -------------------------------------------------------------------------


def _raw_config(tmp_path: Path, url: str, **remote: object) -> dict[str, object]:
    return {
        "root": str(tmp_path / "records"),
        "state_dir": str(tmp_path / "state"),
        "remote": {"url": url, "remote_dir": RECORDS, "user": USER, **remote},
    }


def test_config_refuses_a_ca_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "school-ca.pem"
    raw = _raw_config(tmp_path, "https://nas.truong.example/dav", ca_file=str(missing))

    with pytest.raises(ConfigError) as caught:
        hoso_config.from_dict(raw, tmp_path / "agent.toml")

    assert "remote.ca_file" in str(caught.value)
    assert str(tmp_path / "agent.toml") in str(caught.value)


def test_config_ca_file_reaches_the_connection(
    https_server: HttpsWsgiDavServer, pki: Pki, tmp_path: Path
) -> None:
    raw = _raw_config(tmp_path, https_server.url, ca_file=str(pki.ca_cert), retries=0)
    config = hoso_config.from_dict(raw, tmp_path / "agent.toml")
    assert config.remote.ca_file == str(pki.ca_cert)
    assert config.remote.verify_tls is True

    remote = Remote.from_config(config, Secret(https_server.password))
    try:
        assert remote.probe().nextcloud is False
    finally:
        remote.close()


# --- hoso init ----------------------------------------------------------------------------------


def test_init_names_the_ca_file_option_and_then_works_with_it(
    https_server: HttpsWsgiDavServer, pki: Pki, tmp_path: Path
) -> None:
    """No config exists at init: an untrusted certificate points to --ca-file, never to a
    setting of a config file; with --ca-file the config keeps it and the agent syncs."""
    config, root = tmp_path / "cfg" / "agent.toml", tmp_path / "HoSo"
    url = f"{https_server.url}{quote(RECORDS)}/"
    args = ["--config", str(config), "init", "--root", str(root), "--url", url, "--user", USER]
    env = {"HOSO_WEBDAV_PASSWORD": PASSWORD, "XDG_STATE_HOME": str(tmp_path / "state")}

    refused = run_hoso(*args, env=env)
    assert refused.returncode == ExitCode.UNREACHABLE, refused.stderr
    text = " ".join(refused.stderr.split())
    assert "sent a certificate that hoso cannot verify. Nothing was written." in text, text
    assert "run `hoso init` again with --ca-file FILE" in text
    assert "[remote]" not in text and "config" not in text
    assert not config.parent.exists() and not root.exists()

    (tmp_path / "other-ca").mkdir()
    other = make_pki(tmp_path / "other-ca")
    wrong = run_hoso(*args, "--ca-file", str(other.ca_cert), env=env)
    assert wrong.returncode == ExitCode.UNREACHABLE, wrong.stderr
    assert f"the authority in {other.ca_cert} did not sign" in " ".join(wrong.stderr.split())
    assert not config.parent.exists()

    missing = run_hoso(*args, "--ca-file", str(tmp_path / "nope.pem"), env=env)
    assert missing.returncode == ExitCode.USAGE, missing.stderr
    assert "--ca-file" in missing.stderr and not config.parent.exists()

    accepted = run_hoso(*args, "--ca-file", str(pki.ca_cert), env=env)
    assert accepted.returncode == 0, accepted.stderr
    written = tomllib.loads(config.read_text())
    assert written["remote"]["ca_file"] == str(pki.ca_cert)
    (root / "Bài 1.txt").write_text("bài một")
    synced = run_hoso(
        "--config", str(config), "sync", env={"XDG_STATE_HOME": env["XDG_STATE_HOME"]}
    )
    assert synced.returncode == 0, synced.stderr
    assert (https_server.data_dir / RECORDS / "Bài 1.txt").read_text() == "bài một"
