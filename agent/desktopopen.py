"""Opening an address or a file the way the teacher's desktop does (xdg-open, open, start).

A low-layer module so that the teacher's page (its problems page, `hoso ui`) and the plugins
(``agent.api.open_on_desktop``, ``agent.api.open_record``) share it: a record is opened only
when it is a document reached inside the records folder without a link.

Only on a desktop session: over SSH (no DISPLAY or WAYLAND_DISPLAY on Linux) nothing is
started, so an admin's terminal never turns into a text browser; the caller prints the
address instead.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from .display import printable_name
from .errors import LocalError
from .i18n import _
from .model import RelPath, nfc
from .safepath import SafeRoot, UnsafePath, split


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


# Records a click on the page may open in their program: documents, never anything a desktop
# would run (a .desktop file, a script, an executable a hostile share could have served).
OPENABLE_SUFFIXES = frozenset(
    {".docx", ".doc", ".odt", ".rtf", ".xlsx", ".xls", ".ods", ".pptx", ".ppt", ".odp"}
    | {".ppsx", ".pdf", ".txt", ".jpg", ".jpeg", ".png"}
)


def record_location(root: Path, rel: RelPath) -> Path:
    """Where the records-folder file ``rel`` (an NFC key, as the journal holds it) is on
    disk, reached level by level without following any symlink. LocalError when it is not a
    regular file there, is reached through a link, or its name is spelled twice (NFC/NFD)."""
    outside = LocalError(
        _("{path} is outside the records folder.").format(path=printable_name(rel))
    )
    try:
        parts = split(rel)  # "..", an absolute path, a NUL: never a record
    except UnsafePath:
        raise outside from None
    spelled: list[str] = []
    try:
        for part in parts:
            with os.scandir(root.joinpath(*spelled)) as listing:
                names = [e.name for e in listing if nfc(e.name) == part]
            if len(names) != 1:
                raise FileNotFoundError(rel)
            spelled.append(names[0])
        with SafeRoot(root).parent("/".join(spelled)) as (folder, name):
            found = folder.lstat(name)
        if found is None:
            raise FileNotFoundError(rel)
        if stat.S_ISLNK(found.st_mode):
            raise UnsafePath(rel)
        if not stat.S_ISREG(found.st_mode):  # a folder now, or a device: no record to open
            raise FileNotFoundError(rel)
    except UnsafePath:
        raise LocalError(
            _(
                "{path} is reached through a symbolic link; hoso opens nothing through links."
            ).format(path=printable_name(rel))
        ) from None
    except OSError:
        raise LocalError(
            _("{path} is no longer in the records folder.").format(path=printable_name(rel))
        ) from None
    target = root.joinpath(*spelled)
    if not target.resolve().is_relative_to(root.resolve()):  # belt and braces
        raise outside
    return target


def open_record(root: Path, rel: RelPath, *, folder: bool) -> str:
    """Open the records-folder file ``rel`` in its program (``folder``: the folder holding
    it, in the file manager); the sentence to show the teacher. Only a document is opened as
    a file (OPENABLE_SUFFIXES); a LocalError as by :func:`record_location`."""
    target = record_location(root, rel)
    if not folder and target.suffix.lower() not in OPENABLE_SUFFIXES:
        raise LocalError(_("hoso opens only documents from this page; open the folder instead."))
    shown = target.parent if folder else target
    if open_target(str(shown)):
        return _("Opened {path} on this computer.").format(path=printable_name(str(shown)))
    return _(
        "This computer shows no desktop to hoso, so nothing was opened. It is here: {path}"
    ).format(path=printable_name(str(shown)))
