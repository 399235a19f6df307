"""Desktop notifications and the "Hồ sơ điện tử" launcher: a built-in plugin of hoso.

Where the teacher's desktop session has a D-Bus session bus and ``notify-send`` (libnotify)
is installed, a notification pops up, and a click on it opens the teacher's page where the
notification points (`hoso ui --page …`, run by popup.py, which waits for the click so that
the agent does not); a `notify-send` too old for actions shows the popup without the click,
saying where to find the page. Elsewhere (a service without a session, a server) this
channel declines and the agent writes the notification to its log.

`hoso install-desktop` puts the launcher in the applications menu (launcher.py).
"""

from __future__ import annotations

import html
import json
import os
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from agent.api import (
    Config,
    _,
    printable,
    printable_name,
)
from agent.hooks import LazyCommand, Notification, hookimpl

from . import launcher

TIMEOUT = 10.0  # seconds; a stuck notification daemon must not hold the agent
POPUP = Path(__file__).with_name("popup.py")


@hookimpl
def hoso_notify(config: Config, notification: Notification) -> bool:
    program = shutil.which("notify-send")
    if program is None or not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    options = [
        "--app-name=hoso",
        f"--urgency={'critical' if notification.urgent else 'normal'}",
        f"--icon={launcher.ICON}",
    ]
    # Whoever made it, a popup never shows a name's control characters raw (a newline would
    # make a title of two lines, U+202E would reverse its end); "--" keeps a title that
    # starts with "-" from being taken for an option.
    title = printable_name(notification.title)
    # The body is markup for the desktop (a server with "body-markup", which every common
    # one is): a name holding "<a href=…>", "<b>" or "&" would become a link, bold, or make
    # the whole body fail to show. The summary is plain text for every server.
    body = html.escape(printable(notification.body), quote=False)
    page = notification.page if notification.page.startswith("/") else "/"
    where = _("Open the teacher's page from the “{name}” icon.").format(name=launcher.NAME)
    where = html.escape(where, quote=False)
    click = "--action=default=" + _("Open the page")
    return _show(
        {
            "popup": [
                program,
                *options,
                "--print-id",
                click,
                "--",
                title,
                body,
            ],
            "plain": [program, *options, "--", title, f"{body}\n{where}"],
            "open": open_command(config.path, page, os.environ, shutil.which("systemd-run")),
        }
    )


# What the page's opener needs of the desktop session (the rest comes from the user manager).
SESSION_ENV = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")


def open_command(
    config_path: Path, page: str, environ: Mapping[str, str], systemd_run: str | None
) -> list[str]:
    """What a click runs: `hoso ui --page PAGE`. Under the service (systemd sets
    INVOCATION_ID) it goes through `systemd-run --user`, so that a browser it starts runs
    outside the service's sandbox (a read-only home would keep it from its profile)."""
    command = [*launcher.hoso_command(), "--config", str(config_path), "ui", "--page", page]
    if not environ.get("INVOCATION_ID") or systemd_run is None:
        return command
    passed = [f"--setenv={name}" for name in SESSION_ENV if environ.get(name)]
    return [systemd_run, "--user", "--quiet", "--collect", *passed, "--", *command]


def _show(spec: dict[str, list[str]]) -> bool:
    """Run popup.py; True once it says the popup is up (it then waits for the click alone)."""
    try:
        helper = subprocess.Popen(
            [sys.executable, "-I", str(POPUP)],  # -I: nothing of the environment is imported
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group: a stuck popup is ended whole
        )
    except OSError:
        return False
    assert helper.stdin is not None and helper.stdout is not None
    answer, stuck = b"", False
    try:
        helper.stdin.write(json.dumps(spec).encode("utf-8"))
        helper.stdin.close()
        stuck = not select.select([helper.stdout], [], [], TIMEOUT)[0]
        if not stuck:
            answer = helper.stdout.readline()  # "shown", or nothing from a helper that ended
    except OSError:
        pass
    finally:
        helper.stdout.close()
    if stuck:
        os.killpg(helper.pid, signal.SIGKILL)
    try:
        helper.wait(TIMEOUT)  # it ends right after answering (the click is waited for by its fork)
    except subprocess.TimeoutExpired:
        os.killpg(helper.pid, signal.SIGKILL)
        helper.wait()
    return answer == b"shown\n"


@hookimpl
def hoso_commands() -> list[LazyCommand]:
    """Named here, imported only when run (`hoso --help` lists them from this)."""
    return [
        LazyCommand(
            "install-desktop",
            "Put the “Hồ sơ điện tử” icon in this account's applications menu: it opens the "
            "teacher's page (`hoso ui`).",
            "plugins.desktop.commands:install_desktop",
        ),
    ]
