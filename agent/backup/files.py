"""Durable files for the backup repository and restores: written whole or not at all.

Temp name in the same folder, fsync, rename, fsync of the folder; an OSError becomes a
LocalError whose message says what a teacher can do (a full, failing or read-only drive).
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
from contextlib import suppress
from pathlib import Path

from ..errors import LocalError
from ..i18n import _

TEMP_PREFIX = ".tmp-"
_IOV_MAX = 1024  # buffers per writev on Linux


def write_atomic(folder: Path, data: bytes | list[bytes], name: str | None = None) -> str:
    """Write ``data`` (or its parts, in order) durably as ``folder/name``; returns the name.

    The name defaults to the SHA-256 of the bytes.

    Temp file, fsync, rename, fsync of the folder. On any error the temp file is removed and
    LocalError raised: the final name never holds partial content.
    """
    parts = data if isinstance(data, list) else [data]
    name = name or hashlib.sha256(b"".join(parts)).hexdigest()
    temp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, parts)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, folder / name)
    except OSError as exc:
        with suppress(OSError):  # e.g. never created; the next prune removes it otherwise
            temp.unlink()
        raise local_error(folder / name, exc) from None
    fsync_folder(folder)
    return name


def _write_all(fd: int, parts: list[bytes]) -> None:
    """All of ``parts`` with as few system calls as the kernel allows (writev)."""
    views = [memoryview(part) for part in parts if part]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _IOV_MAX])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


def fsync_folder(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (where the file system supports it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise local_error(folder, exc) from None
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # some network file systems
            raise local_error(folder, exc) from None
    finally:
        os.close(fd)


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
