"""Real mail servers for the tests: an SMTP server with fault switches, dovecot, and a tiny
JSON-over-HTTP endpoint (an OAuth2 token service, dovecot's token introspection).

Every server listens on 127.0.0.1 on a free port, is ready when ``__enter__`` returns and is
gone when ``__exit__`` returns (threads joined, processes reaped). :class:`SmtpServer` is
aiosmtpd in a thread: plain, STARTTLS (required) or implicit TLS with a certificate of
tests/pki.py's CA, AUTH PLAIN/LOGIN and XOAUTH2, and :class:`SmtpFaults` a test flips to get
a refused login, an answer to MAIL FROM, a 550 or 451 recipient, a dropped connection, an
answer to DATA, a server that hangs on DATA or a small SIZE. What it accepted is in
``received``, which tests wait on through a condition. :class:`StallingSmtpServer` (our own
sockets) stops answering at a chosen step, from the greeting to the end of DATA.
:class:`ImapServer` runs Debian's dovecot with a config of its own.
"""

from __future__ import annotations

import asyncio
import base64
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from pki import Pki
from servers import PASSWORD, READY_SECONDS, free_port, wait_until

MAIL_USER = "giaovien@truong.test"
ACCESS_TOKEN = "ya29.hoso-test-access-token-7731"  # distinctive, so leak tests can search it
SERVER_NAME = "mx.truong.test"  # what the SMTP server calls itself (no DNS lookup)
WAIT_SECONDS = 5.0


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


# --- SMTP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP server accepted (it answered 250 to the end of DATA)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # as the client sent it, dot-stuffing undone
    mail_options: tuple[str, ...]  # "SIZE=1234", "BODY=8BITMIME"…
    login: str  # the user logged in on that connection ("" without AUTH)


@dataclass
class SmtpFaults:
    """Switches a test flips, even while a session is open."""

    refuse_auth: bool = False  # every login gets 535
    reject: set[str] = field(default_factory=set)  # these recipients get 550
    defer: set[str] = field(default_factory=set)  # these recipients get 451
    mail_reply: str | None = None  # answer this to MAIL FROM instead of 250
    drop_after: int | None = None  # after N accepted messages, close instead of accepting
    data_reply: str | None = None  # answer this to the end of DATA instead of accepting
    # Hold the end of DATA until release() (for the client's timeout); a held message then
    # goes on as usual even if the client left: a server that accepts late (RFC 1047).
    hang: bool = False


class SmtpServer:
    """aiosmtpd on 127.0.0.1: ``security`` is "plain", "starttls" (required) or "tls".

    ``auth`` lists the mechanisms offered (``()`` = no AUTH at all); PLAIN/LOGIN take
    MAIL_USER with servers.PASSWORD, XOAUTH2 takes MAIL_USER with ACCESS_TOKEN.
    ``size_limit`` is advertised as SIZE (None = no SIZE). ``cert`` overrides the server's
    certificate and key (an expired one, one for another host).
    """

    def __init__(
        self,
        security: str = "plain",
        *,
        pki: Pki | None = None,
        auth: tuple[str, ...] = ("PLAIN", "LOGIN"),
        size_limit: int | None = None,
        cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.security = security
        self.faults = SmtpFaults()
        self.received: list[ReceivedMail] = []
        self.logins: list[tuple[str, str]] = []  # (mechanism, user) of each successful login
        self.auth_attempts = 0
        self.hanging = threading.Event()  # set when a DATA waits for release()
        self._released = threading.Event()
        self._changed = threading.Condition()
        self._accepted = 0
        context = None
        if security != "plain":
            assert pki is not None, "TLS needs the test PKI"
            context = server_context(*(cert or (pki.server_cert, pki.server_key)))
        offered = {"PLAIN", "LOGIN", "XOAUTH2"}
        self._advertise_auth = bool(auth)
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            server_hostname=SERVER_NAME,
            ready_timeout=READY_SECONDS,
            ssl_context=context if security == "tls" else None,
            tls_context=context if security == "starttls" else None,
            require_starttls=security == "starttls",
            # aiosmtpd only counts STARTTLS as TLS: with implicit TLS AUTH is safe all the same.
            auth_require_tls=security == "starttls",
            auth_exclude_mechanism=sorted(offered - set(auth)),
            authenticator=self._authenticate,
            data_size_limit=size_limit,
        )

    def __enter__(self) -> SmtpServer:
        self._controller.start()  # returns once the server answered a connection
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
        self._controller.stop()

    def release(self) -> None:
        """Let a DATA held by ``faults.hang`` go on."""
        self._released.set()

    def wait_for(self, count: int, timeout: float = WAIT_SECONDS) -> list[ReceivedMail]:
        """The accepted messages once there are at least ``count``; fails after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} messages received, expected {count}")
            return list(self.received)

    # --- called on the server's thread ----------------------------------------------------

    def _authenticate(
        self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user = data.login.decode()
        good = user == MAIL_USER and data.password.decode() == PASSWORD
        return self._login_result(mechanism, user, good)

    def _login_result(self, mechanism: str, user: str, good: bool) -> AuthResult:
        with self._changed:
            self.auth_attempts += 1
            if good and not self.faults.refuse_auth:
                self.logins.append((mechanism, user))
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    def _take(self, mail: ReceivedMail) -> bool:
        """Record an accepted message; False when ``drop_after`` says to drop it instead."""
        with self._changed:
            if self.faults.drop_after is not None and self._accepted >= self.faults.drop_after:
                return False
            self._accepted += 1
            self.received.append(mail)
            self._changed.notify_all()
            return True


class _Handler:
    """aiosmtpd's hooks: the fault switches and the XOAUTH2 mechanism (``auth_XOAUTH2``)."""

    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_EHLO(
        self, server: SMTP, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # the 5-argument hook must do what the default did
        if self.owner._advertise_auth:
            return responses
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_MAIL(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.owner.faults.mail_reply:
            return self.owner.faults.mail_reply
        envelope.mail_from = address  # a MAIL hook must do what the default did
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        faults = self.owner.faults
        if address in faults.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address in faults.defer:
            return f"451 4.2.0 <{address}>: Recipient address deferred: mailbox busy"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        owner = self.owner
        if owner.faults.hang:
            owner.hanging.set()
            await asyncio.to_thread(owner._released.wait)
        if owner.faults.data_reply:
            return owner.faults.data_reply
        mail = ReceivedMail(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=envelope.original_content,
            mail_options=tuple(envelope.mail_options),
            login=session.auth_data or "",
        )
        if not owner._take(mail):
            server.transport.close()  # before the reply: the message is not accepted
            return "421 4.4.2 never sent"
        return f"250 2.0.0 Ok: queued as HOSO{len(owner.received):04d}"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) == 2:
            blob = base64.b64decode(args[1])
        else:
            answer = await server.challenge_auth("", encode_to_b64=False)
            blob = answer if isinstance(answer, bytes) else b""
        fields = blob.split(b"\x01")
        user = fields[0].removeprefix(b"user=").decode(errors="replace")
        token = fields[1].removeprefix(b"auth=Bearer ") if len(fields) > 1 else b""
        result = self.owner._login_result("XOAUTH2", user, token == ACCESS_TOKEN.encode())
        if not result.success:
            # Like Gmail: the error details as a challenge, the client answers an empty line.
            details = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
            await server.challenge_auth(json.dumps(details))
        return result


class StallingSmtpServer:
    """An SMTP server in clear of the tests' own that stops answering at one step: it keeps
    the connection open, reads what comes, and says nothing more (a provider's server that
    hangs). ``stall_at`` is one of STEPS; the stall comes once ``after`` messages were
    accepted (it speaks plain SMTP until then: AUTH PLAIN/LOGIN takes any login). What it
    accepted is in ``received``; ``stalled`` is set when it stops answering."""

    # "message": it stops reading the message after its 354, with a small receive buffer, so
    # that a message larger than the client's send buffer (4 MB at most on Linux) blocks.
    STEPS = ("greeting", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "message", "end of DATA")

    def __init__(
        self, stall_at: str | None, *, after: int = 0, read_pause: float | None = None
    ) -> None:
        """``stall_at=None`` never stalls; ``read_pause`` makes it a slow line instead: the
        message is read through a 256 KB buffer with this pause before each read."""
        assert stall_at is None or stall_at in self.STEPS
        self.stall_at = stall_at
        self.after = after
        self.read_pause = read_pause
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        # Accepted sockets take the listener's buffer size: small, so that what the server
        # does not read holds the client back.
        if stall_at == "message" or read_pause:
            buffer = 4096 if stall_at == "message" else 262144
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
        self._listener.settimeout(0.05)  # how often the loop looks at _stop
        self.port = int(self._listener.getsockname()[1])
        self.received: list[bytes] = []
        self.stalled = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> StallingSmtpServer:
        self._thread.start()  # the socket already listens: ready
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _address = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(0.05)
                self._session(_Lines(connection, self._stop))

    def _stalls(self, step: str) -> bool:
        if step == self.stall_at and len(self.received) >= self.after:
            self.stalled.set()
            return True
        return False

    def _session(self, lines: _Lines) -> None:
        if self._stalls("greeting"):
            return lines.drain()
        lines.send(b"220 stall.test ESMTP\r\n")
        replies = {
            b"EHLO": b"250-stall.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
            b"HELO": b"250 stall.test\r\n",
            b"AUTH": b"235 2.7.0 Authentication successful\r\n",
            b"MAIL": b"250 2.1.0 OK\r\n",
            b"RCPT": b"250 2.1.5 OK\r\n",
            b"RSET": b"250 2.0.0 OK\r\n",
        }
        while (line := lines.readline()) is not None:
            verb = line.split(b" ", 1)[0].strip().upper()
            if self._stalls({b"HELO": "EHLO"}.get(verb, verb.decode(errors="replace"))):
                return lines.drain()
            if verb == b"QUIT":
                return lines.send(b"221 2.0.0 Bye\r\n")
            if verb != b"DATA":
                lines.send(replies.get(verb, b"502 5.5.2 Not implemented\r\n"))
                continue
            lines.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            if self._stalls("message"):
                self._stop.wait()  # reads nothing more: the client's sending blocks
                return None
            if self.read_pause:
                lines.pause_reads(self.read_pause)
            content: list[bytes] = []
            while (data_line := lines.readline()) not in (None, b".\r\n"):
                content.append(data_line)
            if data_line is None or self._stalls("end of DATA"):
                return lines.drain()
            self.received.append(b"".join(content))
            lines.send(f"250 2.0.0 Ok: queued as STALL{len(self.received)}\r\n".encode())
        return None


class _Lines:
    """CRLF lines from a socket with a short timeout, given up when ``stop`` is set."""

    def __init__(self, connection: socket.socket, stop: threading.Event) -> None:
        self._connection = connection
        self._stop = stop
        self._buffer = b""
        self._pause = 0.0

    def send(self, data: bytes) -> None:
        self._connection.sendall(data)

    def readline(self) -> bytes | None:
        """The next line with its CRLF; None once the client closed or the server stops."""
        while b"\r\n" not in self._buffer:
            chunk = self._chunk()
            if not chunk:
                return None
            self._buffer += chunk
        line, _crlf, self._buffer = self._buffer.partition(b"\r\n")
        return line + b"\r\n"

    def pause_reads(self, seconds: float) -> None:
        """From now on, wait this long before each read: a slow line."""
        self._pause = seconds

    def drain(self) -> None:
        """Say nothing more: read (and drop) what comes until the client leaves."""
        while self._chunk():
            pass

    def _chunk(self) -> bytes:
        while not self._stop.is_set():
            if self._pause:
                self._stop.wait(self._pause)
            try:
                return self._connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return b""


# --- a JSON endpoint over HTTP(S) ----------------------------------------------------------


Responder = Callable[[dict[str, str]], tuple[int, object]]


class JsonEndpoint:
    """Answers every POST with ``respond(form fields)`` → (status, JSON body); records forms.

    With ``tls`` (a server context) it is HTTPS.
    """

    def __init__(self, respond: Responder, tls: ssl.SSLContext | None = None) -> None:
        self.forms: list[dict[str, str]] = []
        self._respond = respond
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> JsonEndpoint:
        self._thread.start()  # the socket already listens: ready
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _answer(self, body: bytes) -> tuple[int, bytes]:
        form = dict(parse_qsl(body.decode()))
        self.forms.append(form)
        status, document = self._respond(form)
        return status, json.dumps(document).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, body = endpoint._answer(self.rfile.read(length))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


# --- IMAP -----------------------------------------------------------------------------------


DOVECOT = "/usr/sbin/dovecot"

DOVECOT_CONF = """\
# Written by tests/mailservers.py: nothing of the system's dovecot config is read.
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
instance_name = hoso-test-{imaps_port}
protocols = imap
listen = 127.0.0.1
{users}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {base}/oauth2.conf.ext
}}
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u
}}
first_valid_uid = {uid}
mail_location = maildir:~/Maildir
# A Sent folder named as a Vietnamese Gmail names it, marked \\Sent (RFC 6154 SPECIAL-USE).
namespace inbox {{
  inbox = yes
  mailbox "Thư đã gửi" {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""

# dovecot asks this endpoint (ours) whether an XOAUTH2 bearer token is valid.
OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = email
active_attribute = active
active_value = true
"""


def missing_dovecot() -> str | None:
    """Why dovecot cannot run here, or None."""
    if not os.access(DOVECOT, os.X_OK):
        return f"the IMAP tests need Debian's dovecot-imapd ({DOVECOT} is not installed)"
    if os.geteuid() == 0 and _user("dovecot") is None:
        return "dovecot runs as root here but the system has no `dovecot` user"
    return None


def _user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


class ImapServer:
    """Debian's dovecot for one user (MAIL_USER with servers.PASSWORD, or XOAUTH2 with
    ACCESS_TOKEN) with maildir storage: IMAPS on ``port``, STARTTLS on ``starttls_port``.

    As root, dovecot's own rules apply: its login processes run as `dovenull` and mail is
    stored as `dovecot`; otherwise everything runs as the current user.
    """

    def __init__(self, pki: Pki) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.starttls_port = free_port()
        self.user = MAIL_USER
        self.password = PASSWORD
        self.ca_file = pki.ca_cert
        self._pki = pki
        # Not under pytest's 0700 tmp tree: dovecot's unprivileged processes traverse it.
        self.base = Path(tempfile.mkdtemp(prefix="hoso-dovecot-"))
        self.base.chmod(0o755)
        self._introspection = JsonEndpoint(self._introspect)
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ImapServer:
        self._introspection.__enter__()
        try:
            self._prepare()
            self._proc = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.base / "dovecot.conf")],
                stdout=subprocess.DEVNULL,
                stderr=(self.base / "dovecot.err").open("wb"),
                start_new_session=True,  # its children share the group, stopped together
            )
            wait_until(self._answers, READY_SECONDS, "dovecot to answer on IMAPS")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._proc is not None:
            self._proc.terminate()  # the master stops its children before exiting
            try:
                self._proc.wait(timeout=READY_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            self._proc = None
        self._introspection.__exit__()
        shutil.rmtree(self.base, ignore_errors=True)

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace")
            for path in (self.base / "dovecot.err", self.base / "dovecot.log")
            if path.exists()
        )

    def _prepare(self) -> None:
        if os.geteuid() == 0:
            owner = _user("dovecot")
            assert owner is not None
            users = ""  # dovecot's defaults: dovenull for logins, dovecot inside
        else:
            owner = pwd.getpwuid(os.geteuid())
            group = grp.getgrgid(os.getegid()).gr_name
            users = (
                f"default_login_user = {owner.pw_name}\n"
                f"default_internal_user = {owner.pw_name}\n"
                f"default_internal_group = {group}"
            )
        mail = self.base / "mail"
        mail.mkdir()
        if os.geteuid() == 0:
            os.chown(mail, owner.pw_uid, owner.pw_gid)
        (self.base / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        (self.base / "oauth2.conf.ext").write_text(OAUTH2_CONF.format(url=self._introspection.url))
        (self.base / "dovecot.conf").write_text(
            DOVECOT_CONF.format(
                base=self.base,
                users=users,
                cert=self._pki.server_cert,
                key=self._pki.server_key,
                uid=owner.pw_uid,
                gid=owner.pw_gid,
                imap_port=self.starttls_port,
                imaps_port=self.port,
            )
        )

    def _answers(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"dovecot exited with code {self._proc.returncode}:\n{self.log()}")
        context = ssl.create_default_context(cafile=str(self.ca_file))
        try:
            with (
                socket.create_connection((self.host, self.port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname=self.host) as tls,
            ):
                return tls.recv(4).startswith(b"* OK")
        except OSError:
            return False

    def _introspect(self, form: dict[str, str]) -> tuple[int, object]:
        if form.get("token") == ACCESS_TOKEN:
            return 200, {"active": "true", "email": self.user}
        return 401, {"active": "false"}
