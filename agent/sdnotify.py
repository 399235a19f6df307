"""The systemd notify protocol (sd_notify(3)) in a few lines, without a dependency.

The service units use ``Type=notify`` and ``WatchdogSec=``: the daemon calls :func:`ready`
once it watches the folder, :func:`status` with a one-line summary after each pass,
:func:`watchdog_ping` at least every ``watchdog_interval() / 2`` seconds, and
:func:`stopping` on SIGTERM. While it waits for a command holding the instance lock before it
can start, it says so with :func:`still_starting`.

Invariants: every function is a no-op returning False when the agent does not run under
systemd (no ``$NOTIFY_SOCKET``) or the socket cannot be reached; nothing here ever raises,
because a lost status message must not stop a sync.
"""

from __future__ import annotations

import os
import socket

from .log import get_logger

log = get_logger(__name__)

SOCKET_ENV = "NOTIFY_SOCKET"


def notify(state: str) -> bool:
    """Send one datagram of ``KEY=VALUE`` lines to ``$NOTIFY_SOCKET``; True when sent.

    An address starting with ``@`` is in the abstract namespace, as in sd_notify(3).
    """
    address = os.environ.get(SOCKET_ENV, "")
    if not address.startswith(("/", "@")):
        # Unset, or a transport we do not speak (systemd ≥ 254's "vsock:").
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), address)
    except OSError as exc:
        log.debug("systemd notification not sent: %s", exc)
        return False
    return True


def ready() -> bool:
    """Tell systemd start-up is finished (``Type=notify`` waits for this)."""
    return notify("READY=1")


def status(text: str) -> bool:
    """Set the one-line status shown by ``systemctl status``."""
    return notify("STATUS=" + " ".join(text.split()))


def stopping() -> bool:
    """Tell systemd a clean stop has begun."""
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    """Reset the service watchdog timer (``WatchdogSec=``)."""
    return notify("WATCHDOG=1")


def still_starting(text: str, seconds: float) -> bool:
    """Start-up is waiting (for a command that holds the lock): the status, ``seconds`` more
    before systemd's start timeout (``EXTEND_TIMEOUT_USEC``) and a watchdog ping, in one."""
    return notify(
        f"STATUS={' '.join(text.split())}\n"
        f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}\nWATCHDOG=1"
    )


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects a ping, or None when no watchdog is armed.

    Like sd_watchdog_enabled(3): ``$WATCHDOG_USEC`` must be a positive integer and, when
    ``$WATCHDOG_PID`` is set, it must name this process (a child must not ping for us).
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000
