"""Sending inspection mail against real servers on loopback (plugins/inspection/mail.py).

SMTP: aiosmtpd (tests/mailservers.py) in clear, with required STARTTLS and with implicit TLS
under a test CA, with AUTH PLAIN/LOGIN and XOAUTH2, and its fault switches: a refused login,
550 and 451 recipients, a connection dropped instead of accepting, 4xx/5xx answers to MAIL
FROM and DATA, a server that hangs on DATA, a small SIZE. The OAuth2 refresh goes to a token
endpoint of the test's own; the Sent-folder copy goes into Debian's dovecot. Every failure
is also checked for the secret: never in the error, its repr, its traceback or the log.
"""

from __future__ import annotations

import base64
import codecs
import gettext
import imaplib
import logging
import re
import ssl
import time
import traceback
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mailservers import (
    ACCESS_TOKEN,
    MAIL_USER,
    ImapServer,
    JsonEndpoint,
    SmtpServer,
    missing_dovecot,
    server_context,
)
from pki import Pki, issue_server_cert, make_pki
from servers import PASSWORD, free_port

from agent.config import Secret
from agent.errors import ConfigError, HosoError
from plugins.inspection.mail import (
    Credentials,
    SmtpSession,
    append_to_sent,
    imap_folder_name,
    refresh_access_token,
)
from plugins.inspection.model import (
    MailLoginRefused,
    MailRejected,
    MailTemporary,
    MailUnreachable,
)
from plugins.inspection.settings import SmtpSettings

SCHOOL = "vanphong@truong.test"
MANAGER = "hieupho@truong.test"
PASSWORD_LOGIN = Credentials(MAIL_USER, Secret(PASSWORD))
TOKEN_LOGIN = Credentials(MAIL_USER, Secret(ACCESS_TOKEN), "xoauth2")
REFRESH_TOKEN = "1//hoso-test-refresh-token-4242"
CLIENT_SECRET = "GOCSPX-hoso-test-client-secret"
SECURITY = {"plain": "none", "starttls": "starttls", "tls": "tls"}  # server mode → setting


def message(subject: str = "Nộp hồ sơ tuần 10–13", size: int = 0) -> bytes:
    """A message as the packager builds it: CRLF, with lines that need dot-stuffing."""
    head = (
        "From: giaovien@truong.test\r\n"
        f"To: {SCHOOL}, {MANAGER}\r\n"
        f"Subject: =?utf-8?b?{base64.b64encode(subject.encode()).decode()}?=\r\n"
        "Message-ID: <part1.hoso@truong.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    body = "Kính gửi Ban giám hiệu,\r\n.\r\n..hai chấm\r\n.một chấm\r\n".encode()
    return head + body + b"x" * size + b"\r\n"


@pytest.fixture(autouse=True)
def english_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages in the source language, whatever another test selected for this process."""
    monkeypatch.setattr("agent.i18n._translations", gettext.NullTranslations())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def smtp_settings(server: SmtpServer, pki: Pki, **changes: Any) -> SmtpSettings:
    settings = SmtpSettings(
        host=server.host,
        port=server.port,
        security=SECURITY[server.security],
        username=MAIL_USER,
        ca_file=pki.ca_cert,
        timeout=5.0,
    )
    return replace(settings, **changes)


def failure(caught: pytest.ExceptionInfo[HosoError], caplog: pytest.LogCaptureFixture) -> str:
    """The error's message, once checked that no secret shows anywhere a person could see."""
    error = caught.value
    shown = [
        str(error),
        repr(error),
        repr(error.args),
        "".join(traceback.format_exception(error)),
        # The client's log only: "mail.log" is the test server's own logger.
        *(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")),
    ]
    user = MAIL_USER.encode()
    secrets = [
        PASSWORD,
        ACCESS_TOKEN,
        REFRESH_TOKEN,
        CLIENT_SECRET,
        base64.b64encode(b"\0" + user + b"\0" + PASSWORD.encode()).decode(),
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.b64encode(b"user=" + user + b"\x01auth=Bearer " + ACCESS_TOKEN.encode()).decode(),
    ]
    for text in shown:
        for secret in secrets:
            assert secret not in text
    return str(error)


@pytest.fixture(autouse=True)
def debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


# --- delivery -------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["plain", "starttls", "tls"])
def test_one_transaction_reaches_both_recipients_byte_for_byte(security: str, pki: Pki) -> None:
    data = message()
    with SmtpServer(security, pki=pki) as server:
        with SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN) as session:
            delivery = session.send(data, MAIL_USER, [SCHOOL, MANAGER])
        [received] = server.wait_for(1)

    assert delivery.accepted == (SCHOOL, MANAGER)
    assert dict(delivery.refused) == {} and dict(delivery.deferred) == {}
    assert re.fullmatch(r"250 2\.0\.0 Ok: queued as HOSO0001", delivery.reply)
    assert received.content == data  # dot-stuffing undone by the server: nothing re-encoded
    assert received.rcpt_tos == (SCHOOL, MANAGER)
    assert received.mail_from == MAIL_USER
    assert received.login == MAIL_USER
    assert "BODY=8BITMIME" in received.mail_options  # the body has UTF-8 in 8bit


def test_xoauth2_login_and_several_messages_on_one_session(pki: Pki) -> None:
    with SmtpServer("starttls", pki=pki, auth=("XOAUTH2",)) as server:
        with SmtpSession(smtp_settings(server, pki), TOKEN_LOGIN) as session:
            first = session.send(message("Phần 1/2"), MAIL_USER, [SCHOOL, MANAGER])
            second = session.send(message("Phần 2/2"), MAIL_USER, [SCHOOL, MANAGER])
        received = server.wait_for(2)

    assert server.logins == [("XOAUTH2", MAIL_USER)]  # one login for both messages
    assert first.accepted == second.accepted == (SCHOOL, MANAGER)
    assert first.reply != second.reply  # each its own queue id
    assert [r.content for r in received] == [message("Phần 1/2"), message("Phần 2/2")]


def test_login_falls_back_to_auth_login(pki: Pki) -> None:
    with (
        SmtpServer("tls", pki=pki, auth=("LOGIN",)) as server,
        SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN) as session,
    ):
        delivery = session.send(message(), MAIL_USER, [SCHOOL])

    assert server.logins == [("LOGIN", MAIL_USER)]
    assert delivery.accepted == (SCHOOL,)


def test_size_is_declared_and_a_message_above_the_limit_is_not_sent(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    small, big = message(), message(size=4000)
    limit = len(small) + 1000
    with SmtpServer("starttls", pki=pki, size_limit=limit) as server:
        with SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN) as session:
            session.send(small, MAIL_USER, [SCHOOL])
            with pytest.raises(MailRejected) as caught:
                session.send(big, MAIL_USER, [SCHOOL])
            session.send(small, MAIL_USER, [MANAGER])  # the session goes on
        received = server.wait_for(2)

    text = failure(caught, caplog)
    assert str(len(big)) in text and str(limit) in text
    assert "max_message_bytes" in text
    assert [r.rcpt_tos for r in received] == [(SCHOOL,), (MANAGER,)]
    assert f"SIZE={len(small)}" in received[0].mail_options


# --- recipients -----------------------------------------------------------------------------


def test_refused_and_deferred_recipients_are_told_apart(pki: Pki) -> None:
    gone, busy = "nghihuu@truong.test", "dayngay@truong.test"
    with SmtpServer("starttls", pki=pki) as server:
        server.faults.reject.add(gone)
        server.faults.defer.add(busy)
        with SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN) as session:
            delivery = session.send(message(), MAIL_USER, [gone, SCHOOL, busy, MANAGER])
        [received] = server.wait_for(1)

    assert delivery.accepted == (SCHOOL, MANAGER)
    assert delivery.refused[gone].startswith("550 5.1.1")
    assert delivery.deferred[busy].startswith("451 4.2.0")
    assert set(delivery.refused) == {gone} and set(delivery.deferred) == {busy}
    assert received.rcpt_tos == (SCHOOL, MANAGER)


def test_all_recipients_refused_sends_no_data_and_the_session_goes_on(pki: Pki) -> None:
    with SmtpServer("starttls", pki=pki) as server:
        server.faults.reject.update({SCHOOL, MANAGER})
        with SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN) as session:
            nobody = session.send(message(), MAIL_USER, [SCHOOL, MANAGER])
            assert server.received == []
            server.faults.reject.clear()
            again = session.send(message(), MAIL_USER, [SCHOOL])
        [received] = server.wait_for(1)

    assert nobody.accepted == () and nobody.reply == ""
    assert set(nobody.refused) == {SCHOOL, MANAGER}
    assert again.accepted == (SCHOOL,)
    assert received.rcpt_tos == (SCHOOL,)  # a fresh transaction, nothing left of the first


# --- faults while sending -------------------------------------------------------------------


def test_a_connection_dropped_instead_of_accepting_kills_the_session(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    with SmtpServer("tls", pki=pki) as server:
        server.faults.drop_after = 1
        with SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN) as session:
            session.send(message("Phần 1/2"), MAIL_USER, [SCHOOL, MANAGER])
            with pytest.raises(MailTemporary) as caught:
                session.send(message("Phần 2/2"), MAIL_USER, [SCHOOL, MANAGER])
            with pytest.raises(MailTemporary) as dead:
                session.send(message("Phần 2/2"), MAIL_USER, [SCHOOL, MANAGER])
        # leaving the dead session did not raise
        received = server.wait_for(1)

    assert "connection was lost" in failure(caught, caplog)
    assert "closed" in failure(dead, caplog)
    assert [r.content for r in received] == [message("Phần 1/2")]


@pytest.mark.parametrize(
    ("switch", "reply", "error"),
    [
        ("mail_reply", "451 4.7.1 Sender rate limited, try later", MailTemporary),
        ("mail_reply", "553 5.7.1 Sender address rejected: not owned by user", MailRejected),
        ("data_reply", "451 4.3.0 Queue file write error", MailTemporary),
        ("data_reply", "552 5.3.4 Message size exceeds fixed limit", MailRejected),
    ],
)
def test_answers_to_mail_from_and_data(
    switch: str,
    reply: str,
    error: type[HosoError],
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with SmtpServer("starttls", pki=pki) as server:
        setattr(server.faults, switch, reply)
        with SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN) as session:
            with pytest.raises(error) as caught:
                session.send(message(), MAIL_USER, [SCHOOL, MANAGER])
            setattr(server.faults, switch, None)
            if error is MailRejected:  # refused for good, but the session is still usable
                assert session.send(message(), MAIL_USER, [SCHOOL]).accepted == (SCHOOL,)
            else:  # temporary: the session is dead, a retry needs a new one
                with pytest.raises(MailTemporary):
                    session.send(message(), MAIL_USER, [SCHOOL])

    assert reply in failure(caught, caplog)
    assert len(server.received) == (1 if error is MailRejected else 0)


def test_a_server_that_hangs_on_data_times_out(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    with SmtpServer("starttls", pki=pki) as server:
        server.faults.hang = True
        settings = smtp_settings(server, pki, timeout=1.0)
        with SmtpSession(settings, PASSWORD_LOGIN) as session:
            started = time.monotonic()
            with pytest.raises(MailTemporary) as caught:
                session.send(message(), MAIL_USER, [SCHOOL, MANAGER])
            waited = time.monotonic() - started
        assert server.hanging.is_set()
        assert server.received == []  # nothing was accepted when the client gave up

    assert "did not answer within 1 seconds" in failure(caught, caplog)
    assert 0.9 < waited < 4


# --- connecting and logging in ----------------------------------------------------------------


def test_starttls_is_required_never_skipped(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    # A server in clear that offers AUTH: the password must not go out.
    with SmtpServer("plain", pki=pki) as server, pytest.raises(MailUnreachable) as caught:
        SmtpSession(smtp_settings(server, pki, security="starttls"), PASSWORD_LOGIN).__enter__()

    assert "STARTTLS" in failure(caught, caplog)
    assert server.auth_attempts == 0


def _certificate_case(pki: Pki, case: str) -> tuple[tuple[Path, Path] | None, Path | None]:
    """(server certificate, client ca_file) for each way a certificate can be wrong."""
    if case == "system_cas":
        return None, None
    if case == "other_ca":
        return None, pki.other_ca_cert
    if case == "expired":
        return issue_server_cert(pki, "expired", expired=True), pki.ca_cert
    return issue_server_cert(pki, "wrong-host", host="mail.truong-khac.test"), pki.ca_cert


@pytest.mark.parametrize(
    ("security", "case", "words"),
    [
        ("tls", "system_cas", "certificate authority this computer does not know"),
        ("starttls", "other_ca", "certificate authority this computer does not know"),
        ("tls", "expired", "expired"),
        ("starttls", "wrong_host", "another server name"),
    ],
)
def test_an_untrusted_certificate_is_refused_with_its_reason(
    security: str, case: str, words: str, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    cert, ca_file = _certificate_case(pki, case)
    with SmtpServer(security, pki=pki, cert=cert) as server:
        settings = smtp_settings(server, pki, ca_file=ca_file)
        with pytest.raises(MailUnreachable) as caught:
            SmtpSession(settings, PASSWORD_LOGIN).__enter__()

    text = failure(caught, caplog)
    assert words in text
    assert "ca_file" in text
    assert server.auth_attempts == 0


def test_unreachable_servers(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    closed = SmtpSettings(host="127.0.0.1", port=free_port(), security="tls", timeout=2.0)
    with pytest.raises(MailUnreachable) as refused:
        SmtpSession(closed, PASSWORD_LOGIN).__enter__()
    assert "refused the connection" in failure(refused, caplog)

    # TLS spoken to a server in clear
    with SmtpServer("plain", pki=pki) as server, pytest.raises(MailUnreachable) as wrong:
        SmtpSession(smtp_settings(server, pki, security="tls"), PASSWORD_LOGIN).__enter__()
    assert "no secure connection" in failure(wrong, caplog)


@pytest.mark.parametrize(
    ("auth", "credentials", "advice"),
    [
        (("PLAIN", "LOGIN"), Credentials(MAIL_USER, Secret("wrong " + PASSWORD)), "app password"),
        (("LOGIN",), PASSWORD_LOGIN, "app password"),  # refused by the switch
        (("XOAUTH2",), Credentials(MAIL_USER, Secret("expired-token"), "xoauth2"), "sign in"),
        (("XOAUTH2",), TOKEN_LOGIN, "sign in again"),
    ],
    ids=["wrong-password", "refused-login", "bad-token", "refused-token"],
)
def test_a_refused_login_says_what_to_do_and_never_shows_the_secret(
    auth: tuple[str, ...],
    credentials: Credentials,
    advice: str,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with SmtpServer("starttls", pki=pki, auth=auth) as server:
        server.faults.refuse_auth = credentials.secret.reveal() in (PASSWORD, ACCESS_TOKEN)
        with pytest.raises(MailLoginRefused) as caught:
            SmtpSession(smtp_settings(server, pki), credentials).__enter__()
        assert server.received == []

    text = failure(caught, caplog)
    assert advice in text
    assert "535" in text
    assert MAIL_USER in text
    assert server.auth_attempts == 1


def test_a_server_without_auth_is_a_refused_login(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        SmtpServer("starttls", pki=pki, auth=()) as server,
        pytest.raises(MailLoginRefused) as caught,
    ):
        SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN).__enter__()

    assert "offers no login (AUTH)" in failure(caught, caplog)


def test_a_session_that_failed_to_open_cannot_send(pki: Pki) -> None:
    with SmtpServer("starttls", pki=pki, auth=()) as server:
        session = SmtpSession(smtp_settings(server, pki), PASSWORD_LOGIN)
        with pytest.raises(MailLoginRefused):
            session.__enter__()
        with pytest.raises(MailTemporary):  # nothing open to send on
            session.send(message(), MAIL_USER, [SCHOOL])


# --- OAuth2 token refresh -----------------------------------------------------------------------


def _token_answer(form: dict[str, str]) -> tuple[int, object]:
    if form.get("refresh_token") == REFRESH_TOKEN:
        return 200, {"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
    return 400, {"error": "invalid_grant", "error_description": f"Bad {REFRESH_TOKEN[:4]}"}


def test_refresh_gets_an_access_token_that_logs_in(pki: Pki) -> None:
    with JsonEndpoint(_token_answer) as endpoint:
        token = refresh_access_token(
            endpoint.url,
            "hoso-client",
            Secret(CLIENT_SECRET),
            Secret(REFRESH_TOKEN),
            ca_file=None,
            timeout=5,
        )
    assert endpoint.forms == [
        {
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": "hoso-client",
            "client_secret": CLIENT_SECRET,
        }
    ]
    assert "***" in repr(token)
    with (
        SmtpServer("tls", pki=pki, auth=("XOAUTH2",)) as server,
        SmtpSession(smtp_settings(server, pki), Credentials(MAIL_USER, token, "xoauth2")),
    ):
        pass  # logging in is the test
    assert server.logins == [("XOAUTH2", MAIL_USER)]


def test_refresh_over_https_verifies_the_certificate(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    tls = server_context(pki.server_cert, pki.server_key)
    with JsonEndpoint(_token_answer, tls=tls) as endpoint:
        assert endpoint.url.startswith("https://")
        token = refresh_access_token(
            endpoint.url, "hoso-client", None, Secret(REFRESH_TOKEN), ca_file=pki.ca_cert, timeout=5
        )
        with pytest.raises(MailUnreachable) as caught:
            refresh_access_token(
                endpoint.url, "hoso-client", None, Secret(REFRESH_TOKEN), ca_file=None, timeout=5
            )
    assert token.reveal() == ACCESS_TOKEN
    assert "certificate authority" in failure(caught, caplog)
    assert len(endpoint.forms) == 1  # the refused connection carried no token


@pytest.mark.parametrize(
    ("answer", "error", "words"),
    [
        ((400, {"error": "invalid_grant"}), MailLoginRefused, "sign in again"),
        ((401, {"error": "invalid_client"}), MailLoginRefused, "invalid_client"),
        ((503, {"error": f"down {REFRESH_TOKEN}"}), MailUnreachable, "503"),
        ((200, {"token_type": "Bearer"}), MailUnreachable, "without an access token"),
    ],
)
def test_refresh_failures(
    answer: tuple[int, object],
    error: type[HosoError],
    words: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with JsonEndpoint(lambda form: answer) as endpoint, pytest.raises(error) as caught:
        refresh_access_token(
            endpoint.url,
            "hoso-client",
            Secret(CLIENT_SECRET),
            Secret(REFRESH_TOKEN),
            ca_file=None,
            timeout=5,
        )
    assert words in failure(caught, caplog)


def test_refresh_refuses_plain_http_off_this_computer_and_reports_no_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ConfigError) as clear:
        refresh_access_token(
            "http://oauth2.truong.test/token", "c", None, Secret(REFRESH_TOKEN),
            ca_file=None, timeout=5,
        )  # fmt: skip
    assert "https://" in failure(clear, caplog)

    nobody = f"http://127.0.0.1:{free_port()}/token"
    with pytest.raises(MailUnreachable) as caught:
        refresh_access_token(nobody, "c", None, Secret(REFRESH_TOKEN), ca_file=None, timeout=5)
    assert "refused the connection" in failure(caught, caplog)


# --- IMAP: the copy in the Sent folder ------------------------------------------------------


def _dovecot(pki: Pki) -> Iterator[ImapServer]:
    reason = missing_dovecot()
    if reason:
        pytest.skip(reason)
    with ImapServer(pki) as server:
        yield server


@pytest.fixture(scope="module")
def imap_server(pki: Pki) -> Iterator[ImapServer]:
    yield from _dovecot(pki)


@pytest.fixture
def fresh_imap_server(pki: Pki) -> Iterator[ImapServer]:
    """Its own dovecot: failed logins slow the next ones down (dovecot's auth penalty)."""
    yield from _dovecot(pki)


def imap_settings(server: ImapServer, folder: str, **changes: Any) -> SmtpSettings:
    settings = SmtpSettings(
        username=MAIL_USER,
        ca_file=server.ca_file,
        timeout=5.0,
        imap_host=server.host,
        imap_port=server.port,
        imap_security="tls",
        imap_folder=folder,
    )
    return replace(settings, **changes)


def stored(server: ImapServer, folder: str) -> list[tuple[bytes, bytes]]:
    """(FLAGS and INTERNALDATE, message bytes) of each message in ``folder``, read back."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with imaplib.IMAP4_SSL(server.host, server.port, ssl_context=context, timeout=5) as imap:
        imap.login(server.user, server.password)
        status, _count = imap.select(f'"{folder}"', readonly=True)
        assert status == "OK", _count
        status, data = imap.fetch("1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        assert status == "OK"
        return [item for item in data if isinstance(item, tuple)]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_append_creates_the_folder_and_stores_the_exact_message_as_read(
    security: str, imap_server: ImapServer
) -> None:
    folder = f"Sent-{security}"
    port = imap_server.port if security == "tls" else imap_server.starttls_port
    settings = imap_settings(imap_server, folder, imap_security=security, imap_port=port)
    # When it was sent: in the past (dovecot takes no date in the future), whole seconds.
    when = (datetime.now(UTC) - timedelta(days=3, hours=5)).replace(microsecond=0)
    data = message()

    append_to_sent(settings, PASSWORD_LOGIN, data, when)  # the folder does not exist yet
    append_to_sent(settings, PASSWORD_LOGIN, message("Phần 2/2"), when)

    [(first_meta, first), (_meta, second)] = stored(imap_server, folder)
    assert first == data and second == message("Phần 2/2")
    assert b"\\Seen" in first_meta
    assert b"INTERNALDATE " + when.strftime('"%d-%b-%Y %H:%M:%S +0000"').encode() in first_meta


def test_append_with_xoauth2_into_a_vietnamese_folder(imap_server: ImapServer) -> None:
    folder = "Thư đã gửi"
    settings = imap_settings(imap_server, folder)

    append_to_sent(settings, TOKEN_LOGIN, message(), datetime.now(UTC))

    # The name went out in modified UTF-7: decode what the server lists, our own way.
    context = ssl.create_default_context(cafile=str(imap_server.ca_file))
    with imaplib.IMAP4_SSL(imap_server.host, imap_server.port, ssl_context=context) as imap:
        imap.login(imap_server.user, imap_server.password)
        _status, listing = imap.list()
    names = [line.rsplit(b' "', 1)[-1].rstrip(b'"') for line in listing if isinstance(line, bytes)]
    as_utf7 = [n.replace(b"&-", b"\0").replace(b"&", b"+").replace(b",", b"/") for n in names]
    decoded = [codecs.decode(n, "utf-7").replace("\0", "&") for n in as_utf7]
    assert folder in decoded
    assert stored(imap_server, imap_folder_name(folder))[0][1] == message()


def test_folder_names_in_modified_utf7() -> None:
    # RFC 3501 §5.1.3's own example, and the "&" that must be escaped.
    assert imap_folder_name("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert imap_folder_name("Sent & Archive") == "Sent &- Archive"


@pytest.mark.parametrize("credentials", [PASSWORD_LOGIN, TOKEN_LOGIN], ids=["password", "token"])
def test_append_with_a_refused_login(
    credentials: Credentials, fresh_imap_server: ImapServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = replace(credentials, secret=Secret("wrong-" + credentials.secret.reveal()))
    settings = imap_settings(fresh_imap_server, "Sent")
    with pytest.raises(MailLoginRefused) as caught:
        append_to_sent(settings, wrong, message(), datetime.now(UTC))
    assert "AUTHENTICATIONFAILED" in failure(caught, caplog)


def test_append_refuses_an_untrusted_imap_server(
    imap_server: ImapServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = imap_settings(imap_server, "Sent", ca_file=None)
    with pytest.raises(MailUnreachable) as caught:
        append_to_sent(settings, PASSWORD_LOGIN, message(), datetime.now(UTC))
    assert "ca_file" in failure(caught, caplog)
