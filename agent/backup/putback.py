"""One file or folder of a snapshot put back into the records folder (the teacher's page).

Two steps, so that the running agent never needs the backup's passphrase for it and the
records folder is written only between passes:

1. :func:`stage`, by whoever holds the passphrase (the page): the file or folder is restored,
   verified against the snapshot's hashes, into a private staging folder of the state folder
   (``<state dir>/restore-staging/<token>/``), outside the records folder.
2. :func:`put_back`, the ``backup.restore`` request (agent/control.py: the running agent
   carries it out between passes, else the page under the instance lock): the staged copy goes
   **beside** the current one, under a name that says which backup it is ("Bài 3 (bản sao lưu
   2026-12-01).docx"), or **in its place**, after what it replaces has been moved into hoso's
   local trash (listed by `hoso trash list`, brought back by `hoso trash restore`). The next
   pass syncs it like any change.

Invariants: nothing is ever replaced; in place, the copy is first brought in whole under a
hidden temporary name beside what stands there, which then goes to the trash, and a name
taken meanwhile stops the step. Paths are plain relative names (``..``, absolute paths
and hoso's own files refused) opened through SafeRoot, so no link below the records folder is
followed. A token names one staging folder and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..config import Config
from ..conflictname import fit_name
from ..errors import LocalError, UsageError
from ..i18n import _
from ..journal import Journal
from ..local import ignore_rules
from ..model import Kind, LocalEntry, RelPath, TrashReason, nfc, parent_of
from ..safepath import (
    TEMP_PREFIX,
    Folder,
    SafeRoot,
    UnsafePath,
    private_dir,
    rename_no_replace,
    split,
)
from ..trash import LocalTrash, free_name, sha256_at
from .repository import Repository
from .restore import restore

STAGING = "restore-staging"
STAGING_DAYS = 1.0  # a staged copy nobody put back (the agent stopped) is removed after this
BESIDE, IN_PLACE = "beside", "in_place"
_TOKEN = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class Staged:
    """A file or folder of a snapshot, restored and verified into the staging folder."""

    token: str
    path: RelPath
    files: int
    bytes: int


@dataclass(frozen=True)
class PutBack:
    """Where the restored file or folder now is, and where what it replaced went."""

    path: RelPath
    replaced: RelPath | None = None  # the path now in the local trash (in place only)
    unchanged: bool = False  # in place, and the file there already was the backup's

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "replaced": self.replaced, "unchanged": self.unchanged}


def checked_path(config: Config, path: str) -> RelPath:
    """``path`` (from a form, a request) as a records path: NFC, plain parts, not the whole
    records folder and none of hoso's own files; UsageError saying so otherwise."""
    rel = nfc(path).strip("/")
    try:
        parts = split(rel)
    except UnsafePath as exc:
        raise UsageError(str(exc)) from None
    rules = ignore_rules(config)
    if any(rules.is_ignored("/".join(parts[: n + 1]), True) for n in range(len(parts))):
        raise UsageError(
            _("{path} is one of hoso's own files; it is not restored.").format(path=rel)
        )
    return "/".join(parts)


def stage(
    config: Config, repo: Repository, snapshot_id: str, path: str, *, now: float
) -> Staged:
    """Restore ``path`` of the snapshot into a new staging folder, verified."""
    rel = checked_path(config, path)
    folder = private_dir(config.state_dir / STAGING)
    _clear_old(folder, now)
    token = secrets.token_hex(8)
    target = folder / token
    target.mkdir(mode=0o700)
    try:
        done = restore(repo, snapshot_id, [rel], target, mark=False)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return Staged(token, rel, done.files, done.bytes)


def _clear_old(folder: Path, now: float) -> None:
    for old in folder.iterdir():
        with contextlib.suppress(OSError):
            if now - old.lstat().st_mtime > STAGING_DAYS * 86400:
                shutil.rmtree(old)


def discard(config: Config, token: str) -> None:
    """Remove a staged copy that will not be put back."""
    if _TOKEN.fullmatch(token):
        shutil.rmtree(config.state_dir / STAGING / token, ignore_errors=True)


def beside_name(path: RelPath, label: str, *, folder: bool) -> RelPath:
    """``path`` renamed to say which backup it comes from: "Tuần 5/Bài 3 (backup of
    2026-12-01).docx" (the extension kept, so the file still opens)."""
    name = path.rpartition("/")[2]
    stem, dot, ext = ("", "", "") if folder else name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    renamed = fit_name(
        lambda s: _("{name} (backup of {date})").format(name=s, date=label) + f"{dot}{ext}", stem
    )
    parent = parent_of(path)
    return f"{parent}/{renamed}" if parent else renamed


def put_back(
    config: Config, journal: Journal, token: str, path: str, *, how: str, label: str
) -> PutBack:
    """Put the staged copy ``token`` of ``path`` into the records folder, ``how`` =
    "beside" or "in_place"; ``label`` is the backup's day (YYYY-MM-DD) for the new name."""
    if not _TOKEN.fullmatch(token) or how not in (BESIDE, IN_PLACE):
        raise UsageError(_("backup.restore: no such copy taken out of a backup."))
    try:
        day = date.fromisoformat(label).isoformat()
    except ValueError:
        raise UsageError(_("backup.restore: the backup's day is not a date.")) from None
    rel = checked_path(config, path)
    source = (config.state_dir / STAGING / token).joinpath(*rel.split("/"))
    if not os.path.lexists(source):
        raise UsageError(
            _("The copy taken out of the backup is gone; restore {path} again.").format(path=rel)
        )
    is_dir = source.is_dir() and not source.is_symlink()
    safe = SafeRoot(config.root)
    target = rel  # named by the messages below whatever step stops
    try:
        if how == BESIDE:
            target = free_name(
                beside_name(rel, day, folder=is_dir),
                lambda p: safe.lstat(safe.spelled(p)) is not None,
            )
        # As spelled on disk (a Mac's NFD): the NFC key would make a twin beside it.
        with safe.parent(safe.spelled(target), create=True) as (folder, name):
            if how == BESIDE:
                folder.bring_in(source, name)
                done = PutBack(target)
            else:
                done = _swap(config, journal, folder, name, rel, source)
    except FileExistsError:
        raise UsageError(
            _("{path} appeared while restoring; restore it again.").format(path=target)
        ) from None
    except OSError as exc:
        raise LocalError(
            _("The restore stopped at {path}: {detail}.").format(
                path=target, detail=exc.strerror or exc
            )
        ) from None
    discard(config, token)
    return done


def _swap(
    config: Config, journal: Journal, folder: Folder, name: str, rel: RelPath, source: Path
) -> PutBack:
    """Put the staged copy in the place of ``name``, unless that is the backup's very file.

    The copy comes in whole first, beside it under a hidden temporary name (a full disk
    stops the restore there, with nothing moved); only then does what stands there go into
    the local trash, and the copy take its place in one rename."""
    info = folder.lstat(name)
    sha256 = sha256_at(folder, name) if info is not None and stat.S_ISREG(info.st_mode) else None
    if sha256 is not None and sha256 == _staged_sha256(source):
        return PutBack(rel, unchanged=True)
    temp = f"{TEMP_PREFIX}restore-{secrets.token_hex(4)}"
    folder.bring_in(source, temp)
    try:
        if info is not None:
            kind = Kind.DIR if stat.S_ISDIR(info.st_mode) else Kind.FILE
            size = info.st_size if kind is Kind.FILE else 0
            entry = LocalEntry(rel, kind, size=size, sha256=sha256, fs_path=folder.path_of(name))
            stamp = time.strftime("%Y-%m-%dT%H%M%S")
            LocalTrash(config.state_dir / "trash", journal, stamp).move_in(
                rel, folder, name, entry, reason=TrashReason.REPLACED_BY_BACKUP
            )
        rename_no_replace(folder, temp, folder, name)
    except BaseException:
        _take_back(folder, temp, source)
        raise
    return PutBack(rel, replaced=rel if info is not None else None)


def _take_back(folder: Folder, temp: str, source: Path) -> None:
    """The copy a failed swap brought in: back into the staging folder for another try, or
    removed when it was a copy and the staged one is still there."""
    with contextlib.suppress(OSError):
        if not os.path.lexists(source):
            folder.move_out(temp, source)
        elif stat.S_ISDIR(os.stat(temp, dir_fd=folder.fd, follow_symlinks=False).st_mode):
            shutil.rmtree(temp, dir_fd=folder.fd)
        else:
            folder.unlink(temp)


def _staged_sha256(source: Path) -> str | None:
    """The staged file's SHA-256 (None for a folder), read without following a link."""
    with SafeRoot(source.parent).parent(source.name) as (folder, name):
        return sha256_at(folder, name) if folder.regular_file(name) is not None else None
