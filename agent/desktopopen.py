"""Opening an address or a file the way the teacher's desktop does (xdg-open, open, start).

A low-layer module so that the teacher's page (agent/web/opener.py) and the plugins
(``agent.api.open_on_desktop``) share it.

Only on a desktop session: over SSH (no DISPLAY or WAYLAND_DISPLAY on Linux) nothing is
started, so an admin's terminal never turns into a text browser; the caller prints the
address instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def desktop_session() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def open_target(target: str) -> bool:
    """Open ``target`` (an http://127.0.0.1 address, a file or a folder) with the desktop's
    default program; False when there is no desktop or no opener. Never waits for it."""
    if not desktop_session():
        return False
    if sys.platform == "win32":
        os.startfile(target)  # type: ignore[attr-defined]
        return True
    opener = shutil.which("open" if sys.platform == "darwin" else "xdg-open")
    if opener is None:
        return False
    try:
        subprocess.Popen(
            [opener, target],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return False
    return True
