"""Who may use the teacher's page: the teacher who can read this install's secret, no one else.

The page listens on 127.0.0.1, which every local user and every web page the browser opens
can reach. So:

- **The secret** is 32 random bytes in ``<state dir>/ui-secret`` (0600), made on first use.
  Only the teacher's processes read it. It never travels: `hoso ui` mints a **ticket** from
  it (a random id, an expiry, an HMAC over both) and opens ``/login?ticket=…``; the page
  checks the HMAC, takes each ticket once, and answers with a session cookie (HttpOnly,
  SameSite=Strict, signed with a key derived from the secret). A ticket in the browser's
  history or a shell's is useless a minute later and after its first use.
- **Host**: every request must name ``127.0.0.1:<port>`` or ``localhost:<port>``; a page of
  another site that points its own name at 127.0.0.1 (DNS rebinding) is refused.
- **Changes** (every POST) carry the session's CSRF token and, when the browser says where
  the request comes from (Origin), that origin must be this page's.
- **Another local user** is refused whatever they hold (a cookie their own server received
  from the teacher's browser, a ticket read in a process list): on Linux the kernel's TCP
  table says whose socket asks.

Decisions here are pure functions of their inputs (``now`` is an argument).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import os
import secrets
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..display import printable_name
from ..durable import create_new, write_atomic
from ..errors import UsageError
from ..i18n import _

SECRET_FILE = "ui-secret"
TICKET_SECONDS = 120.0  # a ticket opens the page within two minutes or not at all
LOCAL_NAMES = ("127.0.0.1", "localhost")


def install_secret(state_dir: Path) -> bytes:
    """This install's secret, made (0600) when there is none yet. A file that cannot be
    trusted (cut, not hex, a link, not the teacher's own, readable by others who may then
    know it) is made anew: the sessions and tickets of the old one end, nothing else."""
    path = state_dir / SECRET_FILE
    secret = _read(path)
    if secret is not None:
        return secret
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        create_new(path, secrets.token_bytes(32).hex().encode("ascii"))
    except FileExistsError:  # made meanwhile by the agent or another `hoso ui`, or broken
        secret = _read(path)
        if secret is not None:
            return secret
        try:
            write_atomic(path, secrets.token_bytes(32).hex().encode("ascii"))
        except OSError as exc:
            raise UsageError(_unusable(state_dir, exc)) from exc
    secret = _read(path)
    if secret is None:
        raise UsageError(_unusable(state_dir, None))
    return secret


def _unusable(state_dir: Path, exc: OSError | None) -> str:
    reason = f" ({exc.strerror})" if exc is not None and exc.strerror else ""
    return _(
        "The teacher's page cannot keep its secret in {folder}{reason}: that folder must "
        "belong to you alone."
    ).format(folder=printable_name(str(state_dir)), reason=reason)


def _read(path: Path) -> bytes | None:
    """The secret in ``path``; None when there is none or it cannot be trusted."""
    try:
        # Not through a link, and never blocking on a FIFO put in its place.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or info.st_mode & 0o077
        ):
            return None
        data = os.read(fd, 200).strip()
    finally:
        os.close(fd)
    try:
        secret = bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return secret if len(secret) == 32 else None


def _derive(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, b"hoso-ui:" + purpose.encode("ascii"), hashlib.sha256).digest()


def session_key(secret: bytes) -> bytes:
    """The key that signs session cookies: derived, so a leaked cookie key is not the secret."""
    return _derive(secret, "session")


def mint_ticket(secret: bytes, now: float) -> str:
    """A one-use ticket that opens a session until ``now + TICKET_SECONDS``."""
    nonce = secrets.token_urlsafe(16)
    expires = int(now + TICKET_SECONDS)
    body = f"{nonce}.{expires}"
    return f"{body}.{_mac(secret, body)}"


def _mac(secret: bytes, body: str) -> str:
    digest = hmac.new(_derive(secret, "ticket"), body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


@dataclass
class Tickets:
    """The tickets already taken (until they expire): each opens one session.

    A ticket travels in xdg-open's argv, which every local user may read in the process
    list: another user may take it before the teacher's browser does. When a taken ticket
    comes again, the session it opened is closed (:meth:`replayed`), so a ticket read on its
    way gives seconds, not a school day."""

    secret: bytes
    _taken: dict[str, float] = field(default_factory=dict)
    _opened: dict[str, str] = field(default_factory=dict)  # nonce → the session it opened
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, ticket: str, now: float) -> bool:
        """Whether ``ticket`` is genuine, unexpired and unused; it is used up by this call."""
        nonce = self._genuine(ticket, now)
        if nonce is None:
            return False
        with self._lock:
            for old in [n for n, until in self._taken.items() if until < now]:
                del self._taken[old]
                self._opened.pop(old, None)
            if nonce in self._taken:
                return False
            self._taken[nonce] = now + TICKET_SECONDS
        return True

    def opened(self, ticket: str, sid: str) -> None:
        """Remember the session ``ticket`` (just taken) opened."""
        with self._lock:
            self._opened[ticket.split(".", 1)[0]] = sid

    def replayed(self, ticket: str, now: float) -> str | None:
        """The session a genuine, unexpired, already taken ``ticket`` opened (once)."""
        nonce = self._genuine(ticket, now)
        if nonce is None:
            return None
        with self._lock:
            return self._opened.pop(nonce, None)

    def _genuine(self, ticket: str, now: float) -> str | None:
        """The nonce of ``ticket`` when its HMAC holds and it is in time, else None."""
        try:
            nonce, expires_text, mac = ticket.split(".")
            expires = int(expires_text)
            body = f"{nonce}.{expires_text}"
            body.encode("ascii")
        except (ValueError, UnicodeEncodeError):
            return None
        if not hmac.compare_digest(mac, _mac(self.secret, body)):
            return None
        # A ticket from a clock far ahead is no longer than TICKET_SECONDS either.
        if not now <= expires <= now + TICKET_SECONDS:
            return None
        return nonce


def health_proof(secret: bytes, port: int, challenge: str) -> str:
    """What the page on ``port`` answers to ``/health?challenge=…``: only a server holding
    this install's secret can make it, so `hoso ui` never opens a ticket on another local
    user's server squatting the port a stale ui.json names. Bound to the port, so a proof
    relayed from this install's page on another port does not pass either."""
    key = _derive(secret, "health")
    digest = hmac.new(key, f"{port}:{challenge}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


PROC_TCP = Path("/proc/net/tcp")
LOOPBACK_HEX = ("0100007F", "7F000001")  # 127.0.0.1 as the kernel writes it (either byte order)


def peer_uid(client_port: int, server_port: int, table: str) -> int | None:
    """Who owns the socket that connected from ``client_port`` to ``server_port`` on the
    loopback, from the kernel's TCP table (Linux's /proc/net/tcp); None when not listed."""
    ours = {f"{address}:{server_port:04X}" for address in LOOPBACK_HEX}
    theirs = {f"{address}:{client_port:04X}" for address in LOOPBACK_HEX}
    for line in table.splitlines()[1:]:
        fields = line.split()
        # A TIME_WAIT entry (state 06) of an earlier connection owns nobody (its uid is 0).
        if len(fields) > 7 and fields[1] in theirs and fields[2] in ours and fields[3] != "06":
            try:
                return int(fields[7])
            except ValueError:
                return None
    return None


def peer_allowed(client_port: object, server_port: int) -> bool:
    """Whether the connection comes from a process of the teacher (this process's user).

    Cookies ignore ports, so another local user's web server visited in the teacher's
    browser receives the page's cookie, and a ticket shows in xdg-open's argv: with either,
    another user could ask the page directly. The kernel says whose socket asks; where it
    cannot (not Linux), the secret, the ticket and the cookie decide alone."""
    try:
        table = PROC_TCP.read_text(encoding="ascii", errors="replace")
        port = int(str(client_port))
    except (OSError, ValueError):
        return True
    uid = peer_uid(port, server_port, table)
    return uid is None or uid == os.geteuid()


def host_allowed(host: str | None, port: int) -> bool:
    """Whether the Host header names this page on the loopback (DNS rebinding is refused)."""
    if not host:
        return False
    return host.lower() in {f"{name}:{port}" for name in LOCAL_NAMES}


def origin_allowed(origin: str | None, port: int) -> bool:
    """Whether a POST's Origin header (when the browser sends one) is this page."""
    if origin is None:
        return True  # older browsers send none on same-origin posts; the CSRF token decides
    return origin.lower() in {f"http://{name}:{port}" for name in LOCAL_NAMES}


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(str(given), str(expected))
