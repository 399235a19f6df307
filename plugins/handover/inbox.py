"""Finding the bundles that wait for this computer in the school folder's
``Bàn giao tài khoản/``, for ``hoso handover accept`` without a BUNDLE.

Anyone who can write to the school folder can drop files there, so the folder is read as
hostile: only names of the form ``ban-giao-….hoso-handover`` directly in it, each opened
without following a symlink (the folder itself neither) and only when it is a regular file of
at most bundle.MAX_BYTES, read through its own descriptor. A file that is not a bundle, or a
bundle sealed for another key, is skipped without a word: it is none of this computer's
business. What is found is only a candidate: ``accept`` checks it whole (signature, seal,
fingerprint) before importing anything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .bundle import MAX_BYTES, SUFFIX, Header, peek

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Waiting:
    """A bundle in the folder addressed to this computer's key, not accepted here yet."""

    path: Path
    data: bytes
    header: Header


def waiting_bundles(
    folder: Path, fingerprint: str, accepted: Callable[[str], bool]
) -> list[Waiting]:
    """The bundles in ``folder`` sealed for ``fingerprint`` whose id ``accepted`` does not
    know, by name."""
    try:
        dir_fd = os.open(folder, _DIR_FLAGS)
    except OSError:  # missing, or a link: nothing waits there
        return []
    found = []
    try:
        names = sorted(entry.name for entry in os.scandir(dir_fd))
        for name in names:
            if not (name.startswith("ban-giao-") and name.endswith(SUFFIX)):
                continue
            data = _read(dir_fd, name)
            header = peek(data) if data is not None else None
            if (
                data is None
                or header is None
                or header.receiver_fingerprint != fingerprint
                or accepted(header.id)
            ):
                continue
            found.append(Waiting(folder / name, data, header))
    finally:
        os.close(dir_fd)
    return found


def _read(dir_fd: int, name: str) -> bytes | None:
    """The bytes of the regular file ``name`` when it is small enough to be a bundle."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:  # a symlink (ELOOP), gone meanwhile, not ours to read
        return None
    try:
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
                return None
            data = file.read(MAX_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_BYTES else None
