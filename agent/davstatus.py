"""What the share's answers mean for the user, and how long to wait before asking again.

This module's one job is turning HTTP statuses and transport failures into our errors, each
with a message that says what is wrong and what to do, and choosing retry delays. It speaks
no HTTP itself (remote.py does). Messages name the server and the path, never credentials.
"""

from __future__ import annotations

import email.utils
import random
import time

from .errors import (
    AuthError,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    RemoteError,
    RemoteLocked,
    UnreachableError,
)
from .i18n import _
from .model import RelPath

# Answers worth asking again after a pause: locked, throttled, or a passing server fault.
RETRY_STATUSES = frozenset({423, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0  # seconds; a server asking for longer is treated as asking for this


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
    if status in (401, 403):
        return AuthError(
            _(
                "The share at {host} refused the login of {user} (HTTP {status}). "
                "Check the account "
                "(user and password) in the config file."
            ).format(host=host, user=user, status=status)
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
    return RemoteError(
        _("The share answered HTTP {status} to {method} {path}.").format(
            status=status, method=method, path=shown
        )
    )


def precondition(path: RelPath) -> PreconditionFailed:
    return PreconditionFailed(
        _("{path} changed on the share meanwhile; it will be compared again.").format(
            path=path or "/"
        )
    )


def untrusted(host: str) -> UnreachableError:
    return UnreachableError(
        _(
            "The share at {host} sent a certificate that hoso cannot verify, or the "
            "certificate file named by ca_file cannot be read. If the school's share uses "
            "its own certificate authority, set ca_file in the [remote] section of the "
            "config to that authority's certificate file."
        ).format(host=host)
    )


def unreachable(host: str, *, timed_out: bool) -> UnreachableError:
    reason = _("no answer in time") if timed_out else _("no connection")
    return UnreachableError(
        _(
            "Cannot reach the share at {host} ({reason}). Check the network; hoso will try again."
        ).format(host=host, reason=reason)
    )


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
