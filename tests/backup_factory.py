"""Helpers shared by the backup tests: writing sample files and describing a folder."""

from __future__ import annotations

import hashlib
import os
import stat
import unicodedata
from pathlib import Path


def write(path: Path, data: bytes, *, mtime_ns: int | None = None, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def state(root: Path) -> dict[str, tuple[str, str, int, int]]:
    """Every file and folder below ``root``: (kind, sha256 of the content, mtime_ns, mode)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if kind == "file" else ""
            key = unicodedata.normalize("NFC", path.relative_to(root).as_posix())
            found[key] = (kind, digest, info.st_mtime_ns, stat.S_IMODE(info.st_mode))
    return found
