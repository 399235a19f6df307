"""What the share's answers mean for the user, and how long to wait before asking again.

This module's one job is turning HTTP statuses and transport failures into our errors, each
with a message that says what is wrong and what to do, and choosing retry delays. It speaks
no HTTP itself (remote.py does). Messages name the server and the path, never credentials.
"""

from __future__ import annotations

import email.utils
import random
import socket
import ssl
import time
from collections.abc import Iterator

from .errors import (
    AuthError,
    Forbidden,
    NotFound,
    NotHttps,
    NotWebDav,
    PreconditionFailed,
    QuotaExceeded,
    RemoteError,
    RemoteLocked,
    UnexpectedAnswer,
    UnreachableError,
    Untrusted,
)
from .i18n import _
from .model import RelPath

# Answers worth asking again after a pause: locked, throttled, or a passing server fault.
RETRY_STATUSES = frozenset({423, 429, 500, 502, 503, 504})
# What OpenSSL says when the server's first bytes are not TLS: plain http on an https:// port.
PLAIN_HTTP_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"})
MAX_RETRY_AFTER = 60.0  # seconds; a server asking for longer is treated as asking for this
# How long the agent waits after a refused login before trying again: retrying every poll
# would trip the server's brute-force guard (Nextcloud throttles, then blocks).
AUTH_RETRY_MINUTES = 10


def retry_delay(attempt: int, retry_after: str | None, backoff: float) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): the server's Retry-After
    (seconds or an HTTP date) when given, else exponential backoff with jitter; capped."""
    delay = _retry_after_seconds(retry_after)
    if delay is None:
        base = backoff * (2**attempt)
        delay = base + random.uniform(0, base)
    return min(delay, MAX_RETRY_AFTER)


def status_error(host: str, user: str, method: str, path: RelPath, status: int) -> RemoteError:
    shown = path or "/"
    if status == 401:
        return AuthError(refused_login(host, user), status=status)
    if status == 403 and path:
        # Below the root the login works: who may write (or read) where is the server's
        # business (a Nextcloud group folder's ACL, a read-only folder): only this path fails.
        return Forbidden(
            _(
                "The share at {host} does not let {user} {action} {path} (HTTP 403): it is kept "
                "here as it is, and tried again only once it changes here. Ask the school's "
                "share administrator if this account should have that right."
            ).format(host=host, user=user or "-", action=_action(method), path=shown),
            method=method,
            path=path,
        )
    if status == 403:
        return AuthError(
            _(
                "The share at {host} refused {user} access to {path} (HTTP 403). Ask the "
                "school's share administrator to give this account access to the folder; if "
                "the password changed, store the new one with `hoso vault set webdav`."
            ).format(host=host, user=user or "-", path=shown),
            status=status,
        )
    if status == 404:
        return NotFound(_("{path} is not on the share.").format(path=shown))
    if status == 409:
        return NotFound(
            _("The folder that should hold {path} is not on the share.").format(path=shown)
        )
    if status == 412:
        return precondition(path)
    if status == 423:
        return RemoteLocked(
            _(
                "{path} is locked on the share (someone has it open); it will be tried again."
            ).format(path=shown)
        )
    if status == 507:
        return QuotaExceeded(
            _(
                "The share at {host} is full. "
                "Ask the school's share administrator for more space; "
                "uploads wait until then."
            ).format(host=host)
        )
    return UnexpectedAnswer(
        _("The share answered HTTP {status} to {method} {path}.").format(
            status=status, method=method, path=shown
        ),
        status=status,
    )


def _action(method: str) -> str:
    """What a request does, in words: "change", "read"…"""
    if method in ("GET", "HEAD", "PROPFIND"):
        return _("read")
    if method == "DELETE":
        return _("delete")
    if method == "MOVE":
        return _("move or rename")
    if method == "MKCOL":
        return _("create the folder")
    return _("change")


def refused_login(host: str, user: str) -> str:
    """What a 401 means once the agent is set up: the password it keeps in the vault (or
    the user name in the config) no longer opens the share."""
    if not user:
        return _(
            "The share at {host} asks for a login, and no user name is set for it. Run "
            "`hoso init --force` again with --user YOUR_LOGIN (and the same --root and --url)."
        ).format(host=host)
    return _(
        "The share at {host} refused the login of {user} (HTTP 401): the password hoso keeps "
        "for it is wrong or was changed. Store the current password with "
        "`hoso vault set webdav` (a running agent tries it within {minutes} minutes); if it "
        "is right, ask the school's share administrator whether the account {user} still "
        "works."
    ).format(host=host, user=user, minutes=AUTH_RETRY_MINUTES)


def precondition(path: RelPath) -> PreconditionFailed:
    return PreconditionFailed(
        _("{path} changed on the share meanwhile; it will be compared again.").format(
            path=path or "/"
        )
    )


def untrusted(host: str) -> Untrusted:
    problem = _(
        "The share at {host} sent a certificate that hoso cannot verify, or the certificate "
        "file named by ca_file cannot be read."
    ).format(host=host)
    return Untrusted(
        problem
        + " "
        + _(
            "If the school's share uses its own certificate authority, set ca_file in the "
            "[remote] section of the config to that authority's certificate file."
        ),
        problem=problem,
    )


def unreachable(
    host: str, port: int, cause: BaseException | None, *, timed_out: bool
) -> UnreachableError:
    """No answer from the share; ``cause`` (the transport's exception, searched down its
    chain) tells a name that does not exist from a computer where nothing listens."""
    causes = list(_causes(cause))
    if any(isinstance(c, socket.gaierror) for c in causes):
        problem = _(
            "Cannot reach the share: the server name {host} cannot be found (a typo in the "
            "address, or this computer is not on the network)."
        ).format(host=host)
    elif any(isinstance(c, ConnectionRefusedError) for c in causes):
        problem = _(
            "Cannot reach the share: nothing answers at {host} on port {port} (the server is "
            "stopped, or the address has the wrong port)."
        ).format(host=host, port=port)
    else:
        reason = _("no answer in time") if timed_out else _("no connection")
        problem = _("Cannot reach the share at {host} ({reason}): check the network.").format(
            host=host, reason=reason
        )
    return UnreachableError(
        _("{problem} hoso will try again.").format(problem=problem), problem=problem
    )


def answers_plain_http(cause: BaseException | None) -> bool:
    """Whether a failed TLS handshake met a server speaking plain http: the first bytes
    back were not a TLS record (OpenSSL's "wrong version number", "record layer failure")."""
    return any(
        isinstance(c, ssl.SSLError) and c.reason in PLAIN_HTTP_REASONS for c in _causes(cause)
    )


def not_https(url: str) -> NotHttps:
    return NotHttps(
        _(
            "The server at {url} answers in plain http, not https://. Check the address with "
            "the school's IT admin (it may be {http_url}); hoso will try again."
        ).format(url=url, http_url=http_variant(url))
    )


def not_webdav(url: str, status: int) -> NotWebDav:
    return NotWebDav(
        _(
            "{url} is not a WebDAV share: the server answered HTTP {status} where a share "
            "lists a folder. It is probably the address of a web page, not of the share "
            "(on Nextcloud the share's address looks like "
            "https://SERVER/remote.php/dav/files/LOGIN/)."
        ).format(url=url, status=status)
    )


def http_variant(url: str) -> str:
    """``url`` with http:// in place of https://."""
    return "http://" + url.removeprefix("https://")


def _causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and what it wraps: its cause, its context, and the exceptions urllib3 and
    requests keep in ``reason`` or ``args``; each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < 32:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [e for e in (*wrapped, *current.args) if isinstance(e, BaseException)]


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - time.time())
