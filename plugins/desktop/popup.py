"""One popup whose click opens the teacher's page: run by the desktop plugin as a program of
its own (``python popup.py``, standard library only), so that the agent never waits for a click.

It reads a JSON object on stdin: ``popup``, the `notify-send` command with a default action
(libnotify ≥ 0.7.10 prints the action's name when the popup is clicked); ``plain``, the same
popup without the action, for an older `notify-send` that refuses ``--action``; ``open``, the
command that opens the page (`hoso ui --page …`). It writes ``shown`` on stdout once the popup
is up (exit 0), or exits 1 having written nothing when none could be shown. Then it leaves its
parent (a fork: the agent has nothing left to wait for) and waits for the click, at most
:data:`WAIT_SECONDS`: a popup left in the tray longer than that no longer opens anything.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

WAIT_SECONDS = 12 * 3600.0
SHOWN = b"shown\n"
CLICKED = b"default"
TIMEOUT = 10.0  # seconds for the plain popup, as the plugin allows the whole call


def main() -> int:
    spec = json.loads(sys.stdin.buffer.read())
    # notify-send's output on a terminal of its own: into a pipe, stdio would hold the popup's
    # id (and the click) until notify-send ends.
    try:
        terminal, its_side = pty.openpty()
    except OSError:  # no pseudo-terminals here (a sandbox without /dev/ptmx): no click either
        return _shown() if _plain(spec["plain"]) else 1
    try:
        popup = subprocess.Popen(
            spec["popup"], stdin=subprocess.DEVNULL, stdout=its_side, stderr=subprocess.DEVNULL
        )
    except OSError:
        return 1
    finally:
        os.close(its_side)
    lines = _Lines(terminal)
    shown_as = lines.next(None)  # --print-id: the popup's id comes once it is shown
    if not (shown_as and shown_as.strip().isdigit() and int(shown_as) > 0):  # 0: not shown
        if popup.wait() == 0:
            return _shown()  # shown, though its notify-send printed no id: no click to wait for
        return _shown() if _plain(spec["plain"]) else 1
    _shown()
    if os.fork() != 0:
        return 0  # the plugin reaps this one at once; the child waits for the click
    _wait_for_click(popup, lines, spec["open"])
    return 0


class _Lines:
    """The lines of a terminal, as they come."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float | None) -> bytes | None:
        """The next line, without its end; None at the end or after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.fd], [], [], left)[0]:
                return None
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the other side ended
                chunk = b""
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r")


def _plain(command: list[str]) -> bool:
    try:
        done = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _shown() -> int:
    os.write(1, SHOWN)
    os.close(1)  # the plugin reads up to here
    return 0


def _wait_for_click(popup: subprocess.Popen[bytes], lines: _Lines, command: list[str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        line = lines.next(left)
        if line is None:
            break  # closed without a click, or nobody clicked in time
        if line.strip() == CLICKED:
            subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            break
    if popup.poll() is None:
        popup.kill()  # a popup left in the tray stays, inert
    popup.wait()


if __name__ == "__main__":
    sys.exit(main())
