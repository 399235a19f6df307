"""The "Hồ sơ điện tử" launcher: a freedesktop ``.desktop`` file that opens the teacher's page.

`hoso install-desktop` writes ``<data dir>/applications/hoso.desktop`` (``$XDG_DATA_HOME``, else
``~/.local/share``) and the icon beside the user's icons; the desktop's menu (and its search)
then offers the icon. ``Exec`` runs this installation's own hoso by its absolute path (a menu
knows no virtual environment), with ``--config`` when the config is not the per-user one.

Invariants: the file is written whole or not at all (temp file and rename); ``--uninstall``
removes only the two files this wrote; an argument the Exec line could not carry (a newline in
a path) is refused with a message, nothing written.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.api import UsageError, _, printable_name, user_config_path, write_atomic

FILE_NAME = "hoso.desktop"
ICON_NAME = "hoso.svg"
ICON = Path(__file__).with_name(ICON_NAME)  # shipped as package data
NAME = "Hồ sơ điện tử"  # the teacher's word for their records: the same in every language

# Characters that make a desktop-entry Exec argument need quotes (Desktop Entry Specification,
# "The Exec key"); inside quotes, these four take a backslash.
_RESERVED = frozenset(" \t\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES = '"`$\\'


@dataclass(frozen=True)
class Installed:
    desktop_file: Path
    icon: Path


def data_home() -> Path:
    """``$XDG_DATA_HOME`` when set to an absolute path (the specification ignores others),
    else ``~/.local/share``."""
    value = os.environ.get("XDG_DATA_HOME", "")
    return Path(value) if os.path.isabs(value) else Path.home() / ".local" / "share"


def places(data: Path) -> Installed:
    return Installed(
        data / "applications" / FILE_NAME,
        data / "icons" / "hicolor" / "scalable" / "apps" / ICON_NAME,
    )


def hoso_command() -> list[str]:
    """This installation's hoso by absolute path: the program that is running (the console
    script), else the one on PATH, else this interpreter running the package."""
    running = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if running is not None and running.name == "hoso" and running.is_file():
        return [str(running.absolute())]
    found = shutil.which("hoso")
    if found is not None:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "agent"]


def ui_command(config_path: Path) -> list[str]:
    """The command that opens the teacher's page for this config."""
    config = ["--config", str(config_path.absolute())]
    if config_path.absolute() == user_config_path().absolute():
        config = []  # the desktop session finds it by itself
    return [*hoso_command(), *config, "ui"]


def desktop_entry(command: list[str], icon: Path) -> str:
    """The ``.desktop`` file's text."""
    comment = _("Your records and their sync with the school share: problems, conflicts, backups")
    generic = _("Records sync")
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.4",
            f"Name={NAME}",
            f"GenericName={_value(generic)}",
            f"Comment={_value(comment)}",
            f"Exec={_value(' '.join(map(_exec_argument, command)))}",
            f"Icon={_value(str(icon))}",
            "Terminal=false",
            "Categories=Office;Education;",
            "Keywords=hoso;records;sync;hồ sơ;đồng bộ;",
            "StartupNotify=false",
            "",
        ]
    )


def install(config_path: Path, data: Path) -> Installed:
    where = places(data)
    text = desktop_entry(ui_command(config_path), where.icon)
    write_atomic(where.icon, ICON.read_bytes(), mode=0o644)
    write_atomic(where.desktop_file, text.encode("utf-8"), mode=0o644)
    return where


def uninstall(data: Path) -> list[Path]:
    """Remove the launcher and its icon; the ones that were there."""
    removed = []
    for path in (places(data).desktop_file, places(data).icon):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def _exec_argument(argument: str) -> str:
    if any(ord(c) < 0x20 or c == "\x7f" for c in argument):
        raise UsageError(
            _(
                "The launcher cannot run {argument}: it holds a line break or control character."
            ).format(argument=printable_name(argument))
        )
    argument = argument.replace("%", "%%")  # field codes (%f, %u) start with %
    if argument and not _RESERVED.intersection(argument):
        return argument
    return '"' + "".join("\\" + c if c in _ESCAPED_IN_QUOTES else c for c in argument) + '"'


def _value(text: str) -> str:
    """A string value of the file: backslashes escaped (applied after the Exec quoting, as
    the specification says), line breaks impossible."""
    return text.replace("\\", "\\\\").replace("\n", " ").replace("\r", " ").replace("\t", " ")
