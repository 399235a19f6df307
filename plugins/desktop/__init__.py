"""Desktop notifications: a built-in notification channel for hoso.

Where the teacher's desktop session has a D-Bus session bus and ``notify-send`` (libnotify)
is installed, a notification pops up; elsewhere (a service without a session, a server)
this channel declines and the agent writes the notification to its log.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from agent.api import (
    Config,
    printable,
    printable_name,
)
from agent.hooks import Notification, hookimpl

TIMEOUT = 10.0  # seconds; a stuck notification daemon must not hold the agent


@hookimpl
def hoso_notify(config: Config, notification: Notification) -> bool:
    program = shutil.which("notify-send")
    if program is None or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    command = [
        program,
        "--app-name=hoso",
        f"--urgency={'critical' if notification.urgent else 'normal'}",
        # Whoever made it, a popup never shows a name's control characters raw (a
        # newline would make a title of two lines, U+202E would reverse its end).
        printable_name(notification.title),
        printable(notification.body),
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
