"""Mail out: SMTP submission of built messages, the OAuth2 token refresh, and the copy of each
message in the teacher's Sent folder over IMAP.

The one module that talks SMTP, IMAP and the OAuth2 token endpoint (smtplib, imaplib,
urllib): their exceptions become the plugin's errors (model.py). Invariants:
- certificates are always verified (the system's CAs, or ``[smtp] ca_file``), host names too;
- STARTTLS, when configured, is required: never a fall-back to clear text;
- passwords and tokens never appear in an exception, a log line or a repr: they are held in
  :class:`~agent.config.Secret`, only revealed to build the bytes sent, and any server text
  quoted in a message is scrubbed of them;
- a message's bytes go out as they are (already CRLF; smtplib only dot-stuffs).
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import json
import logging
import re
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPException
from pathlib import Path
from types import MappingProxyType, TracebackType
from urllib.parse import urlencode, urlsplit

from agent.api import (
    ConfigError,
    Secret,
    _,
    is_loopback,
)

from .model import MailLoginRefused, MailRejected, MailTemporary, MailTimedOut, MailUnreachable
from .settings import SmtpSettings

log = logging.getLogger(__name__)

AUTH_METHODS = ("password", "xoauth2")
LOGIN_REFUSED = (530, 534, 535)  # authentication required / too weak / credentials invalid
MAX_TOKEN_ANSWER = 64 * 1024
# The message goes out in pieces, each given ``[smtp] timeout`` on its own: a slow line that
# moves goes on, a server that stops reading is found out within the timeout (one sendall
# of 25 MB would be given the timeout for all of it).
DATA_CHUNK = 64 * 1024
# The socket's send buffer, capped: the system would grow it to megabytes, which a slow line
# takes minutes to carry after the last piece was handed over, while hoso waits for the
# server's answer with no way to tell a moving line from a dead server.
SEND_BUFFER = 256 * 1024
_DOT_LINE = re.compile(rb"(?m)^\.")  # dot-stuffing (RFC 5321 4.5.2)
DEFAULT_SENT = "Sent"  # when the server marks no folder \\Sent
# A LIST answer: (flags) "delimiter" name — the name quoted or an atom.
_LIST_LINE = re.compile(
    r'\((?P<flags>[^)]*)\) +(?:"(?:[^"\\]|\\.)*"|NIL) +(?P<name>"(?:[^"\\]|\\.)*"|\S+)$'
)
# OpenSSL's verification results, in the words a school's IT person needs.
EXPIRED = {10}
NOT_YET_VALID = {9}
UNKNOWN_CA = {2, 18, 19, 20, 21}
WRONG_HOST = {62, 64}


@dataclass(frozen=True)
class Credentials:
    username: str
    secret: Secret  # an app password, or an OAuth2 access token when method == "xoauth2"
    method: str = "password"  # "password" | "xoauth2"

    def __post_init__(self) -> None:
        if self.method not in AUTH_METHODS:
            raise ValueError(f"unknown login method {self.method!r}")


@dataclass(frozen=True)
class Delivery:
    """What the server did with one message, recipient by recipient."""

    accepted: tuple[str, ...]  # the server took the message for these: it is theirs now
    refused: Mapping[str, str]  # recipient -> "550 5.1.1 …" (permanent)
    deferred: Mapping[str, str]  # recipient -> "451 …" (temporary: try again later)
    reply: str  # the server's reply to the end of DATA ("250 … queued as X"); "" if no DATA


# --- errors ---------------------------------------------------------------------------------


def _scrub(text: str, credentials: Credentials) -> str:
    """Server text with the secret (plain or base64) blanked, in case a server echoes it."""
    secret = credentials.secret.reveal()
    if secret:
        text = text.replace(secret, "***")
        text = text.replace(base64.b64encode(secret.encode()).decode(), "***")
    return text


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


def _timed_out(exc: BaseException) -> bool:
    # smtplib turns a read timeout into SMTPServerDisconnected raised inside the handler.
    return isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)


def _certificate_problem(exc: ssl.SSLCertVerificationError) -> str:
    code = exc.verify_code
    if code in EXPIRED:
        return _("its certificate has expired")
    if code in NOT_YET_VALID:
        return _("its certificate is not valid yet (check this computer's date and time)")
    if code in WRONG_HOST:
        return _("its certificate was issued for another server name")
    if code in UNKNOWN_CA:
        return _(
            "its certificate was issued by a certificate authority this computer does not know"
        )
    return _("its certificate could not be verified ({reason})").format(reason=exc.verify_message)


def _untrusted(host: str, exc: ssl.SSLCertVerificationError) -> MailUnreachable:
    return MailUnreachable(
        _(
            "The server {host} cannot be trusted: {problem}. If the school uses its own "
            "certificate authority, set `[smtp] ca_file` to its certificate."
        ).format(host=host, problem=_certificate_problem(exc))
    )


def _problem(exc: BaseException, port: int, timeout: float) -> str:
    """Why a connection failed or ended, for a person."""
    if _timed_out(exc):
        return _("it did not answer within {seconds:g} seconds").format(seconds=timeout)
    if isinstance(exc, socket.gaierror):
        return _("this name cannot be found (check the config file and the network)")
    if isinstance(exc, ConnectionRefusedError):
        return _("it refused the connection on port {port}").format(port=port)
    if isinstance(exc, ssl.SSLError):
        return _(
            "no secure connection could be set up ({reason}); check that the security setting "
            'matches the port ("tls" is usually port 465 or 993, "starttls" 587 or 143)'
        ).format(reason=exc.reason or exc.strerror)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _("it answered {reply}").format(reply=_reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPServerDisconnected | imaplib.IMAP4.abort | EOFError):
        return _("it closed the connection")
    if isinstance(exc, imaplib.IMAP4.error):
        return _("it answered {reply}").format(reply=_imap_text(exc.args[0] if exc.args else ""))
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return _("the connection failed ({reason})").format(reason=reason)


def _unreachable(
    host: str, port: int, exc: BaseException, timeout: float, *, service: str = "smtp"
) -> MailUnreachable:
    """``service`` says what did not happen: "smtp" (sending), "imap" (the Sent copy) or
    "signin" (the OAuth2 token refresh)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _untrusted(host, exc)
    problem = _problem(exc, port, timeout)
    if service == "signin":
        text = _("The OAuth2 sign-in service {host} cannot be reached: {problem}.")
    elif service == "imap":
        text = _(
            "The IMAP server {host} cannot be reached: {problem}. The copy for the Sent folder "
            "was not stored."
        )
    else:
        text = _("The mail server {host} cannot be reached: {problem}. Nothing was sent.")
    return MailUnreachable(text.format(host=host, problem=problem))


def _tls_context(ca_file: Path | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        raise ConfigError(
            _("Setting `[smtp] ca_file`: {path} is not a readable certificate (PEM).").format(
                path=ca_file
            )
        ) from None


def _login_refused(host: str, credentials: Credentials, reply: str) -> MailLoginRefused:
    if credentials.method == "xoauth2":
        advice = _("The OAuth2 authorisation may have been withdrawn or expired: sign in again.")
    else:
        advice = _(
            "Check the password saved in the vault. Gmail and Google Workspace no longer "
            "accept the account's ordinary password: create an app password (it needs "
            "2-step verification) or sign in with OAuth2."
        )
    return MailLoginRefused(
        _("The mail server {host} refused the login of {user} ({reply}). {advice}").format(
            host=host, user=credentials.username, reply=_scrub(reply, credentials), advice=advice
        )
    )


# --- SMTP -----------------------------------------------------------------------------------


class SmtpSession:
    """One SMTP connection, logged in, for several messages.

    ``with SmtpSession(settings, credentials) as session: session.send(…)``. Entering connects
    (implicit TLS or required STARTTLS per ``settings.security``), says EHLO and logs in; it
    raises MailUnreachable (network, TLS, no STARTTLS), MailTimedOut (no answer within
    ``settings.timeout`` at a step, which the message names) or MailLoginRefused. After a
    MailTemporary (MailTimedOut included) from :meth:`send` the session is dead (the
    connection is closed) and every further :meth:`send` raises MailTemporary: open a new
    session to retry. After a MailRejected the session is still usable for other messages.
    Leaving says QUIT and never raises.
    """

    def __init__(self, settings: SmtpSettings, credentials: Credentials) -> None:
        self._settings = settings
        self._credentials = credentials
        self._smtp: smtplib.SMTP | None = None
        self._step = ""  # what the session waits for now, for the message if it times out
        self._waited = settings.timeout  # how long it waits at this step

    def __enter__(self) -> SmtpSession:
        if not self._settings.host:
            raise ConfigError(_("No mail server is set: add `host` to the `[smtp]` table."))
        try:
            self._smtp = self._connect()
            self._login(self._smtp)
        except BaseException:
            self._abandon()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server went away: nothing left to close politely
        finally:
            smtp.close()

    # --- connecting ------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        host, port, timeout = settings.host, settings.port, settings.timeout
        context = _tls_context(settings.ca_file)
        try:
            self._at(_("connecting (the server's greeting)"))
            if settings.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            self._smtp = smtp  # closed by __enter__ if what follows fails
            self._at(_("saying hello (EHLO)"))
            smtp.ehlo_or_helo_if_needed()
            if settings.security == "starttls":
                self._start_tls(smtp, context)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._failed(exc) from None
        log.debug("connected to %s:%d (%s)", host, port, settings.security)
        return smtp

    def _start_tls(self, smtp: smtplib.SMTP, context: ssl.SSLContext) -> None:
        if not smtp.has_extn("starttls"):
            raise MailUnreachable(
                _(
                    "The mail server {host} does not offer STARTTLS on port {port}, so the "
                    "password would travel unencrypted; nothing was sent. Use `security = "
                    '"tls"` (usually port 465) or the port your provider names for STARTTLS.'
                ).format(host=self._settings.host, port=self._settings.port)
            )
        self._at(_("starting encryption (STARTTLS)"))
        smtp.starttls(context=context)  # verifies the certificate and the host name
        self._at(_("saying hello (EHLO)"))
        smtp.ehlo()  # the features offered inside TLS are the ones that count

    def _login(self, smtp: smtplib.SMTP) -> None:
        host = self._settings.host
        if not smtp.has_extn("auth"):
            raise MailLoginRefused(
                _(
                    "The mail server {host} offers no login (AUTH) on this connection, so "
                    "it cannot know the message is from you. Check `[smtp] host`, `port` and "
                    "`security` (providers take submissions on port 587 or 465)."
                ).format(host=host)
            )
        offered = set(smtp.esmtp_features["auth"].upper().split())
        try:
            self._at(_("logging in (AUTH)"))
            code, reply = self._authenticate(smtp, offered)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._failed(exc) from None
        if code == 235:
            log.debug("logged in to %s as %s", host, self._credentials.username)
            return
        text = _reply(code, reply)
        if code in LOGIN_REFUSED or 500 <= code < 600:
            raise _login_refused(host, self._credentials, text)
        raise MailUnreachable(
            _("The mail server {host} could not check the login just now ({reply}).").format(
                host=host, reply=_scrub(text, self._credentials)
            )
        )

    def _authenticate(self, smtp: smtplib.SMTP, offered: set[str]) -> tuple[int, bytes]:
        """The AUTH exchange, UTF-8 throughout (smtplib's login() only takes ASCII)."""
        credentials = self._credentials
        user = credentials.username.encode()
        secret = credentials.secret.reveal().encode()
        if credentials.method == "xoauth2" and "XOAUTH2" in offered:
            blob = b"user=" + user + b"\x01auth=Bearer " + secret + b"\x01\x01"
            code, reply = smtp.docmd("AUTH", "XOAUTH2 " + _b64(blob))
            if code == 334:  # the error details; an empty line ends the exchange
                code, reply = smtp.docmd("")
            return code, reply
        if credentials.method == "password" and "PLAIN" in offered:
            return smtp.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + secret))
        if credentials.method == "password" and "LOGIN" in offered:
            code, reply = smtp.docmd("AUTH", "LOGIN " + _b64(user))
            if code == 334:
                code, reply = smtp.docmd(_b64(secret))
            return code, reply
        raise MailLoginRefused(
            _(
                "The mail server {host} offers no login this program can use for `{method}` "
                "(it offers: {offered})."
            ).format(
                host=self._settings.host,
                method=credentials.method,
                offered=" ".join(sorted(offered)),
            )
        )

    # --- sending ---------------------------------------------------------------------------

    def send(self, data: bytes, sender: str, recipients: Sequence[str]) -> Delivery:
        """Send one message (exact bytes, CRLF) to ``recipients`` in one transaction.

        Returns who accepted, refused (5xx) and deferred (4xx) it; DATA is only sent when
        someone accepted, so all refused gives ``accepted=()``. Raises MailRejected (5xx to
        MAIL FROM or DATA, or the message is above the server's SIZE: nothing sent) and
        MailTemporary (4xx to MAIL FROM or DATA, connection lost; MailTimedOut: no answer
        in time, at any step). After MailTemporary the message counts as not accepted; but
        when the connection is lost while waiting for the answer to the end of DATA, the
        server may have taken it all the same (RFC 1047): a retry can then deliver it twice.
        """
        smtp = self._smtp
        if smtp is None:
            raise MailTemporary(
                _("The connection to the mail server {host} is closed; try again.").format(
                    host=self._settings.host
                )
            )
        options = self._mail_options(smtp, data, sender, recipients)
        try:
            self._at(_("giving the sender (MAIL FROM)"))
            code, reply = smtp.mail(sender, options)
            self._check(code, reply)
            self._at(_("giving the recipients (RCPT TO)"))
            accepted, refused, deferred = self._recipients(smtp, recipients)
            if not accepted:
                smtp.rset()
                return Delivery((), refused, deferred, "")
            code, answer = self._data(smtp, data)
            self._check(code, answer)
        except (OSError, smtplib.SMTPException) as exc:
            raise self._lost(exc) from None
        log.info("message of %d bytes accepted for %d recipient(s)", len(data), len(accepted))
        return Delivery(accepted, refused, deferred, _reply(code, answer))

    def _mail_options(
        self, smtp: smtplib.SMTP, data: bytes, sender: str, recipients: Sequence[str]
    ) -> list[str]:
        options = []
        if smtp.has_extn("size"):
            limit = smtp.esmtp_features["size"].strip()
            if limit.isdigit() and 0 < int(limit) < len(data):
                raise MailRejected(
                    _(
                        "The message is {size} bytes but the mail server {host} takes at most "
                        "{limit} bytes; nothing was sent. Lower `[smtp] max_message_bytes` so "
                        "that the submission is split into smaller messages."
                    ).format(size=len(data), host=self._settings.host, limit=int(limit))
                )
            options.append(f"SIZE={len(data)}")
        if not data.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not all(address.isascii() for address in (sender, *recipients)):
            if not smtp.has_extn("smtputf8"):
                raise MailRejected(
                    _(
                        "An address has letters outside ASCII and the mail server {host} "
                        "cannot take such addresses; nothing was sent."
                    ).format(host=self._settings.host)
                )
            options.append("SMTPUTF8")
        return options

    def _recipients(
        self, smtp: smtplib.SMTP, recipients: Sequence[str]
    ) -> tuple[tuple[str, ...], Mapping[str, str], Mapping[str, str]]:
        accepted: list[str] = []
        refused: dict[str, str] = {}
        deferred: dict[str, str] = {}
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code in (250, 251):
                accepted.append(recipient)
            elif 400 <= code < 500:
                deferred[recipient] = _reply(code, reply)
            else:
                refused[recipient] = _reply(code, reply)
        return tuple(accepted), MappingProxyType(refused), MappingProxyType(deferred)

    def _check(self, code: int, reply: bytes | str) -> None:
        """MAIL FROM or end-of-DATA answers: 2xx goes on, 4xx ends the session, 5xx refuses."""
        if 200 <= code < 300:
            return
        text = _scrub(_reply(code, reply), self._credentials)
        host = self._settings.host
        if 400 <= code < 500:
            self._abandon()
            raise MailTemporary(
                _("The mail server {host} cannot take the message just now ({reply}).").format(
                    host=host, reply=text
                )
            )
        self._reset()
        raise MailRejected(
            _("The mail server {host} refused the message ({reply}); it was not sent.").format(
                host=host, reply=text
            )
        )

    def _data(self, smtp: smtplib.SMTP, data: bytes) -> tuple[int, bytes | str]:
        """DATA and the message: the answer to its end, or the refusal of DATA itself.
        Each piece of the message gets the timeout; the answer to its end gets the timeout
        plus a second a megabyte, for a server that scans the attachments first."""
        self._at(_("starting the message (DATA)"))
        code, reply = smtp.docmd("DATA")
        if code != 354:
            return code, reply
        self._at(_("taking the message ({size} bytes)").format(size=len(data)))
        assert smtp.sock is not None  # docmd() raised if the connection was gone
        smtp.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        stuffed = _DOT_LINE.sub(b"..", data)
        stuffed += b".\r\n" if stuffed.endswith(b"\r\n") else b"\r\n.\r\n"
        for start in range(0, len(stuffed), DATA_CHUNK):
            smtp.send(stuffed[start : start + DATA_CHUNK])
        wait = self._settings.timeout + len(data) / 1_000_000
        self._at(_("confirming it took the message"), wait)
        smtp.sock.settimeout(wait)
        try:
            return smtp.getreply()
        finally:
            if smtp.sock is not None:  # getreply() closes it on a failure
                smtp.sock.settimeout(self._settings.timeout)

    def _at(self, step: str, wait: float | None = None) -> None:
        self._step = step
        self._waited = self._settings.timeout if wait is None else wait

    def _failed(self, exc: BaseException) -> MailUnreachable | MailTimedOut:
        """Why connecting or logging in failed."""
        if _timed_out(exc):
            return self._no_answer()
        return _unreachable(self._settings.host, self._settings.port, exc, self._settings.timeout)

    def _no_answer(self) -> MailTimedOut:
        return MailTimedOut(
            _("The mail server {host} did not answer within {seconds:g} seconds ({step}).").format(
                host=self._settings.host, seconds=round(self._waited, 1), step=self._step
            )
        )

    def _lost(self, exc: BaseException) -> MailTemporary:
        self._abandon()
        if _timed_out(exc):
            return self._no_answer()
        return MailTemporary(
            _("Sending through the mail server {host} failed: the connection was lost.").format(
                host=self._settings.host
            )
        )

    def _reset(self) -> None:
        """Back to a clean state after a refused message, so the session can go on."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._abandon()

    def _abandon(self) -> None:
        """Close without QUIT: the server is gone, or slow, or said to come back later."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- OAuth2 ---------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A token endpoint never redirects; following one could carry the token elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def refresh_access_token(
    token_url: str,
    client_id: str,
    client_secret: Secret | None,
    refresh_token: Secret,
    *,
    ca_file: Path | None,
    timeout: float,
) -> Secret:
    """A fresh OAuth2 access token (RFC 6749 §6) for XOAUTH2.

    Raises ConfigError (not https, except to a loopback host), MailLoginRefused (400/401:
    the authorisation was withdrawn or expired) or MailUnreachable (network, TLS, another
    answer).
    """
    parts = urlsplit(token_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{parts.scheme}://{parts.netloc}{parts.path}"  # never the query string
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise ConfigError(
            _("The OAuth2 token address {url} must start with https://.").format(url=where)
        )
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token.reveal()}
    form["client_id"] = client_id
    if client_secret:
        form["client_secret"] = client_secret.reveal()
    request = urllib.request.Request(
        token_url,
        data=urlencode(form).encode(),
        headers={"Accept": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=_tls_context(ca_file))
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            answer = response.read(MAX_TOKEN_ANSWER)
    except urllib.error.HTTPError as exc:
        raise _token_refused(where, exc) from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, BaseException) else exc
        raise _unreachable(host, port, reason, timeout, service="signin") from None
    except (OSError, HTTPException) as exc:
        raise _unreachable(host, port, exc, timeout, service="signin") from None
    return _access_token(where, answer)


def _token_refused(where: str, exc: urllib.error.HTTPError) -> MailLoginRefused | MailUnreachable:
    try:
        error = json.loads(exc.read(MAX_TOKEN_ANSWER) or b"{}").get("error", "")
    except (ValueError, AttributeError, OSError, HTTPException):
        error = ""
    finally:
        exc.close()
    # Only a short code such as "invalid_grant": the rest of the answer is not shown.
    code = error if isinstance(error, str) and error.replace("_", "").isalnum() else ""
    if exc.code in (400, 401):
        return MailLoginRefused(
            _(
                "The OAuth2 authorisation was withdrawn or expired ({address} answered "
                "{status} {error}): sign in again."
            ).format(address=where, status=exc.code, error=code)
        )
    return MailUnreachable(
        _("The OAuth2 token service {address} answered {status} {error}.").format(
            address=where, status=exc.code, error=code
        )
    )


def _access_token(where: str, answer: bytes) -> Secret:
    try:
        token = json.loads(answer).get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise MailUnreachable(
            _("The OAuth2 token service {address} answered without an access token.").format(
                address=where
            )
        )
    return Secret(token)


# --- IMAP -----------------------------------------------------------------------------------


def append_to_sent(
    settings: SmtpSettings, credentials: Credentials, data: bytes, when: datetime
) -> None:
    """Store a copy of a sent message in the Sent folder (``[smtp] imap_folder``), read.

    The folder is created once when the server says it does not exist. Raises
    MailUnreachable (network, TLS, the server would not store it) or MailLoginRefused.
    """
    if not settings.imap_host:
        raise ConfigError(_("No IMAP server is set: add `imap_host` to the `[smtp]` table."))
    imap = _imap_connect(settings)
    try:
        _imap_login(imap, settings, credentials)
        _imap_append(imap, settings, credentials, data, when)
    finally:
        _imap_logout(imap)


def _imap_connect(settings: SmtpSettings) -> imaplib.IMAP4:
    host, port, timeout = settings.imap_host, settings.imap_port, settings.timeout
    context = _tls_context(settings.ca_file)
    try:
        if settings.imap_security == "tls":
            return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
        imap = imaplib.IMAP4(host, port, timeout=timeout)  # "none" only to loopback (settings)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise _imap_unreachable(settings, exc) from None
    if settings.imap_security == "starttls":
        try:
            _imap_start_tls(imap, settings, context)
        except BaseException:
            _imap_logout(imap)
            raise
    return imap


def _imap_start_tls(imap: imaplib.IMAP4, settings: SmtpSettings, context: ssl.SSLContext) -> None:
    if "STARTTLS" not in imap.capabilities:
        raise MailUnreachable(
            _(
                "The IMAP server {host} does not offer STARTTLS on port {port}, so the "
                'password would travel unencrypted. Use `imap_security = "tls"` (port 993).'
            ).format(host=settings.imap_host, port=settings.imap_port)
        )
    try:
        imap.starttls(context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise _imap_unreachable(settings, exc) from None


def _imap_login(imap: imaplib.IMAP4, settings: SmtpSettings, credentials: Credentials) -> None:
    user = credentials.username.encode()
    secret = credentials.secret.reveal().encode()
    try:
        if credentials.method == "xoauth2":
            blob = b"user=" + user + b"\x01auth=Bearer " + secret + b"\x01\x01"
            # A second challenge carries the error details: answer it with an empty line.
            imap.authenticate("XOAUTH2", lambda challenge: b"" if challenge else blob)
        elif "AUTH=PLAIN" in imap.capabilities:
            imap.authenticate("PLAIN", lambda _challenge: b"\0" + user + b"\0" + secret)
        else:
            imap.login(_imap_quote(credentials.username), credentials.secret.reveal())
    except (imaplib.IMAP4.abort, OSError) as exc:
        raise _imap_unreachable(settings, exc) from None
    except imaplib.IMAP4.error as exc:
        reply = _imap_text(exc.args[0] if exc.args else "")
        raise _login_refused(settings.imap_host, credentials, reply) from None
    except UnicodeEncodeError:  # LOGIN is ASCII only; the server offers nothing else
        raise _login_refused(settings.imap_host, credentials, "LOGIN") from None


def _imap_append(
    imap: imaplib.IMAP4,
    settings: SmtpSettings,
    credentials: Credentials,
    data: bytes,
    when: datetime,
) -> None:
    try:
        named = imap_folder_name(settings.imap_folder) if settings.imap_folder else None
        shown = named or _marked_sent(imap) or DEFAULT_SENT
        folder = _imap_quote(shown)
        status, answer = imap.append(folder, r"(\Seen)", when, data)
        if status == "NO" and b"[TRYCREATE]" in b" ".join(_imap_bytes(a) for a in answer):
            log.info("creating the IMAP folder %s", shown)
            imap.create(folder)
            status, answer = imap.append(folder, r"(\Seen)", when, data)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise _imap_unreachable(settings, exc) from None
    if status != "OK":
        raise MailUnreachable(
            _(
                "The IMAP server {host} did not store the copy in the folder {folder} ({reply})."
            ).format(
                host=settings.imap_host,
                folder=shown,
                reply=_scrub(_imap_text(answer[-1] if answer else b""), credentials),
            )
        )


def _marked_sent(imap: imaplib.IMAP4) -> str | None:
    """The folder the server marks \\Sent (RFC 6154), as IMAP spells it: Gmail names it in the
    account's language ("[Gmail]/Thư đã gửi"), Outlook "Sent Items". None when none is."""
    status, lines = imap.list()
    if status != "OK":
        return None
    for line in lines:
        found = _LIST_LINE.match(_imap_text(line))
        if found and "\\sent" in found.group("flags").lower().split():
            name = found.group("name")
            if name.startswith('"'):
                return name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            return name
    return None


def _imap_unreachable(settings: SmtpSettings, exc: BaseException) -> MailUnreachable:
    host, port = settings.imap_host, settings.imap_port
    return _unreachable(host, port, exc, settings.timeout, service="imap")


def _imap_logout(imap: imaplib.IMAP4) -> None:
    # The copy is stored or the error already raised: the goodbye does not matter.
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        imap.logout()


def imap_folder_name(name: str) -> str:
    """A folder name as IMAP spells it: modified UTF-7 (RFC 3501 §5.1.3), "Đã gửi" → "&ARA-…"."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).rstrip(b"=")
            out.append("&" + encoded.replace(b"/", b",").decode("ascii") + "-")
            run.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)


def _imap_quote(text: str) -> str:
    # imaplib sends arguments as they are: a name with a space must be quoted by us.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _imap_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, tuple):
        return b" ".join(_imap_bytes(part) for part in item)
    return str(item).encode()


def _imap_text(item: object) -> str:
    return _imap_bytes(item).decode("utf-8", "replace")
