"""Durable files for the backup repository and restores: written whole or not at all.

Through agent.durable (its folder-fsync policy), with the repository's own temp names
(``.tmp-*``, removed by its prune); an OSError becomes a LocalError whose message says what a
teacher can do (a full, failing or read-only drive). Never makes the repository's top folder:
a backup drive that is not mounted is an error, not a new repository on the system disk.
"""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

from .. import durable
from ..errors import LocalError
from ..i18n import _

TEMP_PREFIX = ".tmp-"


def write_atomic(folder: Path, data: bytes | list[bytes], name: str | None = None) -> str:
    """Write ``data`` (or its parts, in order) durably as ``folder/name``; returns the name.

    The name defaults to the SHA-256 of the bytes. On any error LocalError is raised and the
    final name never holds partial content.
    """
    whole = b"".join(data) if isinstance(data, list) else data
    name = name or hashlib.sha256(whole).hexdigest()
    try:
        durable.write_atomic(folder / name, whole, temp_prefix=TEMP_PREFIX, parents=False)
    except OSError as exc:
        raise local_error(folder / name, exc) from None
    return name


def fsync_folder(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (durable.fsync_dir's policy)."""
    try:
        durable.fsync_dir(folder)
    except OSError as exc:
        raise local_error(folder, exc) from None


def ensure_folder(folder: Path) -> None:
    if folder.is_dir():
        return
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise local_error(folder, exc) from None
    fsync_folder(folder.parent)


def local_error(path: Path, exc: OSError) -> LocalError:
    """Our error for a failed file operation, saying what a teacher can do about it."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        message = _(
            "The backup drive is full: {path} could not be written. Free some space or use "
            "a larger drive; the backup repository is unchanged by the failed write."
        )
    elif exc.errno in (errno.EIO, errno.ENODEV, errno.ENXIO):
        message = _(
            "The backup drive failed while hoso used {path} (input/output error): it may have "
            "been unplugged or be failing. Reconnect it and run `hoso backup check`."
        )
    elif exc.errno == errno.EROFS:
        message = _("The backup drive is read-only: {path} cannot be written.")
    else:
        return LocalError(
            _("Cannot use the backup file {path}: {detail}").format(
                path=path, detail=exc.strerror or exc
            )
        )
    return LocalError(message.format(path=path))
