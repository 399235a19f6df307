"""The desktop plugin: a popup whose click opens the teacher's page, and the launcher.

Real parts: Debian's `notify-send` (libnotify-bin) on a session bus of the test's own with a
notification server of its own (tests/notifyserver.py) that a test clicks; the page served in
the test's process; the real `hoso install-desktop` and the Exec line it writes, run as the
desktop would; `desktop-file-validate` (desktop-file-utils) when installed. The desktop's
browser is the one stand-in: an `xdg-open` that writes down the address it was given.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from agents import Agent, hoso_env, stop_agent
from conftest import Share
from notifyserver import session_bus
from servers import wait_until
from webui import Client, served

from agent.hooks import Notification
from plugins import desktop
from plugins.desktop import launcher

NOTIFY_SEND = shutil.which("notify-send")
NEEDS_NOTIFY_SEND = pytest.mark.skipif(
    NOTIFY_SEND is None, reason="notify-send (Debian package libnotify-bin) is missing"
)
HOSO = Path(sys.executable).with_name("hoso")  # the console script of this environment


def offline_agent(tmp_path: Path) -> Agent:
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    return Agent(tmp_path, share)  # type: ignore[arg-type]


def recording_program(folder: Path, name: str, script: str) -> Path:
    """A program on PATH for the test: ``script`` (sh) writes what it was given to
    ``folder/name.out``."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text('#!/bin/sh\nout="$(dirname "$0")/' + name + '.out"\n' + script)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return folder / f"{name}.out"


SUMMARY = Notification(
    "finding:summary",
    "3 records to fix — open the page",
    "Bài 1.docx, Bài 2.docx, Bài 3.docx.",
    page="/problems/",
)


@NEEDS_NOTIFY_SEND
def test_a_click_on_the_popup_opens_the_teachers_page_where_it_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = offline_agent(tmp_path)
    opened = recording_program(tmp_path / "bin", "xdg-open", 'printf "%s\\n" "$1" >> "$out"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":0")  # a desktop session: `hoso ui` opens the browser
    with (
        session_bus(tmp_path) as (address, server),
        served(agent.config_path, agent.state_dir) as page,
    ):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        assert desktop.hoso_notify(agent.config, SUMMARY)
        (popup,) = server.wait_for(1)
        assert (popup.app_name, popup.summary, popup.body) == ("hoso", SUMMARY.title, SUMMARY.body)
        assert popup.actions == ("default", "Open the page")  # a click on it, and a button
        assert popup.icon == str(launcher.ICON) and popup.urgency == 1  # normal
        assert not opened.exists()  # nothing opens before the click
        server.click(popup)
        wait_until(opened.exists, 30, "the page to be opened")
        (url,) = opened.read_text().splitlines()
        prefix = f"http://127.0.0.1:{page.port}/login?ticket="
        assert url.startswith(prefix) and url.endswith("&next=/problems/"), url
        status, headers, _ = Client(page.port).request("GET", url.split(str(page.port), 1)[1])
    assert status == 303 and headers["location"].endswith("/problems/")  # a session, there


@NEEDS_NOTIFY_SEND
@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_the_running_agent_pops_one_summary_whose_click_opens_its_page(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, language="vi", plugins={"handover": {"enabled": False}})
    for n in range(1, 13):  # twelve lesson plans whose bytes are no .docx
        agent.write(f"Kế hoạch bài dạy/Tuần 2/Bài {n}.docx", b"PK\x03\x04 broken %d" % n)
    opened = recording_program(tmp_path / "bin", "xdg-open", 'printf "%s\\n" "$1" >> "$out"\n')
    with session_bus(tmp_path) as (address, server):
        env = {
            "DBUS_SESSION_BUS_ADDRESS": address,
            "DISPLAY": ":0",
            "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        }
        proc = agent.popen("run", env=env)
        try:
            (popup,) = server.wait_for(1, timeout=60)
            assert popup.summary == "12 hồ sơ cần sửa — mở trang"
            assert popup.body.endswith("và 9 mục khác.") and "Bài 1.docx" in popup.body
            assert popup.actions == ("default", "Mở trang")
            server.click(popup)
            wait_until(opened.exists, 30, "the page to be opened")
            port = json.loads((agent.state_dir / "ui.json").read_text())["port"]
            (url,) = opened.read_text().splitlines()
            assert url.startswith(f"http://127.0.0.1:{port}/login?ticket="), url
            assert url.endswith("&next=/problems/")
        finally:
            stop_agent(proc)
    assert len(server.popups) == 1  # one for the twelve, not twelve


def test_an_older_notify_send_without_actions_shows_where_the_page_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libnotify before 0.7.10 (Ubuntu 22.04) refuses --action and --print-id.
    shown = recording_program(
        tmp_path / "bin",
        "notify-send",
        'case "$*" in *--action*|*--print-id*) echo "Unknown option" >&2; exit 1;; esac\n'
        'for a in "$@"; do printf "%s\\n" "$a"; done >> "$out"\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    assert desktop.hoso_notify(offline_agent(tmp_path).config, SUMMARY)
    lines = shown.read_text().splitlines()
    assert lines[-3:] == [
        SUMMARY.title,
        SUMMARY.body,
        "Open the teacher's page from the “Hồ sơ điện tử” icon.",
    ]
    assert "--" in lines and not any(a.startswith("--action") for a in lines)


@NEEDS_NOTIFY_SEND
def test_no_notification_server_means_not_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    assert not desktop.hoso_notify(offline_agent(tmp_path).config, SUMMARY)  # the agent logs it


def test_under_the_service_the_click_opens_the_page_outside_its_sandbox() -> None:
    config = Path("/home/lan/.config/hoso/agent.toml")
    ui = [*launcher.hoso_command(), "--config", str(config), "ui", "--page", "/problems/"]
    session = {"DISPLAY": ":0", "XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/lan"}
    assert desktop.open_command(config, "/problems/", session, "/usr/bin/systemd-run") == ui
    service = {**session, "INVOCATION_ID": "0123abcd"}  # what systemd sets for a service
    assert desktop.open_command(config, "/problems/", service, "/usr/bin/systemd-run") == [
        "/usr/bin/systemd-run",
        "--user",
        "--quiet",
        "--collect",
        "--setenv=DISPLAY",
        "--setenv=XDG_RUNTIME_DIR",
        "--",
        *ui,
    ]
    assert desktop.open_command(config, "/problems/", service, None) == ui  # none: as it can


# --- the launcher -----------------------------------------------------------------------------


def exec_argv(entry: str) -> list[str]:
    """The Exec line as the desktop runs it (Desktop Entry Specification): a string value's
    escapes first (a doubled backslash is one), then the quoting rules: an argument in double
    quotes may hold anything, a double quote, backquote, dollar or backslash taking a
    backslash before it; a doubled percent sign is one."""
    (line,) = [x for x in entry.splitlines() if x.startswith("Exec=")]
    value, k = "", 0
    raw = line.removeprefix("Exec=")
    while k < len(raw):
        pair = raw[k : k + 2]
        escaped = {"\\\\": "\\", "\\s": " ", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
        value += escaped.get(pair, raw[k])
        k += 2 if pair in escaped else 1
    args: list[str] = []
    current, quoted, started, k = "", False, False, 0
    while k < len(value):
        c = value[k]
        if quoted and c == "\\" and value[k + 1 : k + 2] in ('"', "`", "$", "\\"):
            current, k = current + value[k + 1], k + 2
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c == " " and not quoted:
            if started:
                args.append(current)
            current, started = "", False
        else:
            current, started = current + c, True
        k += 1
    if started:
        args.append(current)
    assert not quoted, line
    return [arg.replace("%%", "%") for arg in args]


def install(data: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [str(HOSO), *args],
        capture_output=True,
        text=True,
        env=hoso_env({"XDG_DATA_HOME": str(data), **(env or {})}),
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_install_desktop_writes_a_launcher_that_opens_the_page_and_uninstall_removes_it(
    tmp_path: Path,
) -> None:
    agent = offline_agent(tmp_path / "cô Lan's $HOME")  # a path the Exec line must quote
    data = tmp_path / "data"
    done = install(data, "--config", str(agent.config_path), "install-desktop")
    assert done.returncode == 0, done.stderr
    entry_file = data / "applications" / "hoso.desktop"
    icon = data / "icons" / "hicolor" / "scalable" / "apps" / "hoso.svg"
    assert str(entry_file) in done.stdout
    entry = entry_file.read_text(encoding="utf-8")
    assert "Name=Hồ sơ điện tử\n" in entry and "Categories=Office;Education;\n" in entry
    assert f"Icon={icon}\n" in entry and icon.read_bytes() == launcher.ICON.read_bytes()
    assert stat.S_IMODE(entry_file.stat().st_mode) == 0o644
    argv = exec_argv(entry)
    assert argv == [str(HOSO), "--config", str(agent.config_path), "ui"]
    validator = shutil.which("desktop-file-validate")
    if validator is not None:
        checked = subprocess.run([validator, str(entry_file)], capture_output=True, text=True)
        assert checked.returncode == 0 and "error" not in checked.stdout, checked.stdout

    # What a click on the icon runs (here without a browser): the page's address.
    page = subprocess.Popen(
        [*argv, "--no-browser", "--print-url"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hoso_env(),
    )
    try:
        url = page.stdout.readline().strip() if page.stdout else ""
        assert url.startswith("http://127.0.0.1:") and "/login?ticket=" in url, url
        port = int(url.split(":")[2].split("/")[0])
        status, headers, _ = Client(port).request("GET", url.split(str(port), 1)[1])
        assert status == 303 and headers["location"] == "/"
    finally:
        page.send_signal(signal.SIGTERM)
        page.communicate(timeout=30)

    again = install(data, "install-desktop", "--uninstall")
    assert again.returncode == 0, again.stderr
    assert not entry_file.exists() and not icon.exists()
    assert str(entry_file) in again.stdout
    gone = install(data, "install-desktop", "--uninstall")
    assert gone.returncode == 0 and "was not installed" in gone.stdout


def test_the_per_user_config_needs_no_config_option(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = install(data, "install-desktop", env={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert done.returncode == 0, done.stderr
    entry = (data / "applications" / "hoso.desktop").read_text(encoding="utf-8")
    assert exec_argv(entry) == [str(HOSO), "ui"]


def test_a_config_path_the_exec_line_cannot_hold_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = install(data, "--config", str(tmp_path / "a\nb.toml"), "install-desktop")
    assert done.returncode == 2
    assert "line break or control character" in done.stderr
    assert not data.exists()  # nothing written


@NEEDS_NOTIFY_SEND
def test_a_name_from_the_share_is_never_markup_in_the_popup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The body of a notification is markup for the desktop (Desktop Notifications
    # Specification, "body-markup": <b>, <a href>, &entities;): a record's name from the share
    # must come out as the very characters of the name, never a link nor bold text.
    hostile = '<a href="https://evil.example/">Bài 1</a> & <b>Bài 2</b>.docx'
    note = Notification("finding:summary", "2 records to fix — open the page", hostile + ".")
    with session_bus(tmp_path, ("actions", "body", "body-markup")) as (address, server):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        assert desktop.hoso_notify(offline_agent(tmp_path).config, note)
        (popup,) = server.wait_for(1)
    assert popup.body == (
        '&lt;a href="https://evil.example/"&gt;Bài 1&lt;/a&gt; &amp; &lt;b&gt;Bài 2&lt;/b&gt;.docx.'
    )
    assert popup.summary == note.title  # the summary is plain text for every server


@pytest.mark.skipif(shutil.which("gio") is None, reason="gio (Debian libglib2.0-bin) is missing")
def test_the_desktops_own_parser_gives_back_every_character_of_the_config_path(
    tmp_path: Path,
) -> None:
    # GLib's desktop-entry launcher (what GNOME and most menus run), not the test's reading.
    weird = tmp_path / 'cô Lan\'s "hồ sơ" $HOME `id` 100% %f \\x;a=b' / "agent.toml"
    recorded = recording_program(
        tmp_path / "bin", "hoso", 'for a in "$@"; do printf "[%s]\\n" "$a"; done > "$out"\n'
    )
    entry = tmp_path / "hoso.desktop"
    command = [str(tmp_path / "bin" / "hoso"), "--config", str(weird), "ui"]
    entry.write_text(launcher.desktop_entry(command, launcher.ICON), encoding="utf-8")
    subprocess.run(["gio", "launch", str(entry)], check=True, timeout=30, env=hoso_env())
    wait_until(recorded.exists, 30, "the launcher to run")
    wait_until(lambda: recorded.read_text().endswith("[ui]\n"), 30, "the whole command line")
    assert recorded.read_text(encoding="utf-8") == f"[--config]\n[{weird}]\n[ui]\n"
