"""Bringing files back from a snapshot, verified, never half-written.

Invariants:
- A file appears under its real name only complete and verified: its blobs are each checked
  by the repository (HMAC id), the whole file against the snapshot's SHA-256; it is written
  to a ``.~hoso-*.restore`` temp name in its folder, fsync'ed, given its mode and mtime,
  then renamed. The sync agent ignores that name and, unlike its own ``.part`` downloads,
  never deletes it, so a restore into the live records folder is safe.
- Existing files that differ from the snapshot are never replaced without ``overwrite``; then
  ``before_overwrite`` sees all of them before the first one is touched. Existing files equal
  to the snapshot's are left alone.
- A damaged blob stops the restore with BackupDamaged naming the file; files restored before
  it stay in place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BackupDamaged, LocalError, UsageError
from ..i18n import _
from ..local import TEMP_PREFIX
from ..model import nfc
from .files import fsync_folder
from .repository import Repository
from .snapshots import DIR, find_entry, find_snapshot, walk_tree

_READ = 1024 * 1024
_WORKERS = 16  # files in flight; each holds at most one blob (≤ 4 MiB) in memory
TEMP_SUFFIX = ".restore"


@dataclass(frozen=True)
class RestoreResult:
    files: int
    bytes: int
    skipped: list[tuple[str, str]]  # (relative path, reason): files already as in the snapshot


@dataclass(frozen=True)
class _Item:
    path: str  # NFC relative path inside the snapshot, and inside the target
    entry: dict[str, Any]


def restore(
    repo: Repository,
    snapshot_id: str,
    paths: Sequence[str],
    target: Path,
    *,
    overwrite: bool = False,
    before_overwrite: Callable[[list[Path]], None] = lambda files: None,
) -> RestoreResult:
    """Restore ``paths`` (files or folders of the snapshot; none = everything) below
    ``target``, keeping their relative paths."""
    tree = find_snapshot(repo, snapshot_id)[1]["tree"]
    items = _plan(repo, tree, paths)
    if target.exists() and not target.is_dir():
        raise UsageError(_("{target} is not a folder; nothing was restored.").format(target=target))
    with _local_errors(target):
        conflicts, identical = _survey(items, target)
    if conflicts and not overwrite:
        raise UsageError(
            _(
                "{n} existing files in {target} differ from the backup and would be replaced; "
                "nothing was restored. Choose an empty target folder, or add --overwrite "
                "(the files replaced are backed up first)."
            ).format(n=len(conflicts), target=target)
        )
    if conflicts:
        before_overwrite(conflicts)
    return _write_all(repo, items, target, identical)


def _plan(repo: Repository, tree: str, paths: Sequence[str]) -> list[_Item]:
    """Every entry to restore, folders before their contents, each once."""
    chosen: dict[str, _Item] = {}
    for requested in paths or [""]:
        path = nfc(requested).strip("/")
        entry = find_entry(repo, tree, path)
        if entry is None:
            raise UsageError(
                _('The snapshot has no file or folder "{path}"; nothing was restored.').format(
                    path=requested
                )
            )
        if path:
            chosen.setdefault(path, _Item(path, entry))
        if entry["type"] == DIR:
            for below, sub in walk_tree(repo, entry["subtree"], path):
                chosen.setdefault(below, _Item(below, sub))
    return sorted(chosen.values(), key=lambda item: item.path.split("/"))


def _survey(items: list[_Item], target: Path) -> tuple[list[Path], set[str]]:
    """(existing paths that would be replaced, paths of files already equal to the backup)."""
    conflicts: list[Path] = []
    identical: set[str] = set()
    for item in items:
        dest = target / item.path
        try:
            info = dest.lstat()
        except FileNotFoundError:
            continue
        if item.entry["type"] == DIR:
            if not stat.S_ISDIR(info.st_mode):
                conflicts.append(dest)
        elif stat.S_ISDIR(info.st_mode):
            raise UsageError(
                _("{path} is a folder where the backup has a file; nothing was restored.").format(
                    path=dest
                )
            )
        elif _same_content(dest, info, item.entry):
            identical.add(item.path)
        else:
            conflicts.append(dest)
    return conflicts, identical


def _same_content(dest: Path, info: os.stat_result, entry: dict[str, Any]) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_size != entry["size"]:
        return False
    digest = hashlib.sha256()
    with dest.open("rb") as source:
        while block := source.read(_READ):
            digest.update(block)
    return digest.hexdigest() == entry["sha256"]


def _write_all(
    repo: Repository, items: list[_Item], target: Path, identical: set[str]
) -> RestoreResult:
    folders = [item for item in items if item.entry["type"] == DIR]
    files = [item for item in items if item.entry["type"] != DIR and item.path not in identical]
    for dest in (target, *(target / item.path for item in folders)):
        with _local_errors(dest):
            _make_folder(dest)
    for parent in sorted({(target / item.path).parent for item in files}):  # chosen files
        with _local_errors(parent):
            parent.mkdir(parents=True, exist_ok=True)
    written = _restore_files(repo, files, target)
    # Folder metadata last, deepest first: writing inside a folder changes its mtime, and a
    # read-only folder must still accept its files.
    for item in reversed(folders):
        with _local_errors(target / item.path):
            _set_metadata(target / item.path, item.entry)
    for folder in {target, *((target / item.path).parent for item in items)}:
        fsync_folder(folder)
    skipped = [(path, _("already as in the backup")) for path in sorted(identical)]
    return RestoreResult(len(files), written, skipped)


def _restore_files(repo: Repository, files: list[_Item], target: Path) -> int:
    """Restore files a few at a time, in two steps: every file is written and verified under
    a temp name, one sync makes them all durable at once (a sync per file made restores
    three times slower), then each takes its name. The first error stops the writing; the
    files verified before it still take their names, none is ever half-written under one."""
    repo.index()  # loaded once here, before the threads read it
    ready: list[tuple[Path, Path, int]] = []  # (temp, destination, size)
    error: BaseException | None = None
    with ThreadPoolExecutor(_WORKERS) as pool:
        futures = [pool.submit(_restore_one, repo, item, target / item.path) for item in files]
        for future in futures:
            try:
                ready.append(future.result())
            except BaseException as exc:  # re-raised below, once the verified files are named
                error = error or exc
                for pending in futures:
                    pending.cancel()
    try:
        os.sync()
        for temp, dest, _size in ready:
            with _local_errors(dest):
                os.replace(temp, dest)
    finally:
        for temp, _dest, _size in ready:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    if error is not None:
        raise error
    return sum(size for _temp, _dest, size in ready)


def _restore_one(repo: Repository, item: _Item, dest: Path) -> tuple[Path, Path, int]:
    with _local_errors(dest):
        return _restore_file(repo, item, dest)


def _make_folder(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        dest.unlink()  # the caller saw it in before_overwrite
    dest.mkdir(parents=True, exist_ok=True)


def _restore_file(repo: Repository, item: _Item, dest: Path) -> tuple[Path, Path, int]:
    """The file written and verified under a temp name beside ``dest``: (temp, dest, size)."""
    temp = dest.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}")
    try:
        size, sha256 = _write_blobs(repo, item, temp)
        if (size, sha256) != (item.entry["size"], item.entry["sha256"]):
            raise BackupDamaged(
                _(
                    "{path}: the restored bytes differ from the backup; the file was not "
                    "written. Run hoso backup check."
                ).format(path=item.path)
            )
        _set_metadata(temp, item.entry)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return temp, dest, size


def _write_blobs(repo: Repository, item: _Item, temp: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        for data in _blobs(repo, item):
            out.write(data)
            digest.update(data)
            size += len(data)
    return size, digest.hexdigest()


def _blobs(repo: Repository, item: _Item) -> Iterator[bytes]:
    for blob_id in item.entry["content"]:
        try:
            yield repo.load_blob(blob_id, rehash=False)  # the whole file's SHA-256 follows
        except BackupDamaged as exc:
            raise BackupDamaged(
                _(
                    "{path} cannot be restored from this snapshot: {problem} Files restored "
                    "before it are in place. Run hoso backup check, or restore the file from "
                    "another snapshot."
                ).format(path=item.path, problem=exc)
            ) from None


def _set_metadata(path: Path, entry: dict[str, Any]) -> None:
    os.chmod(path, entry["mode"], follow_symlinks=False)
    os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]), follow_symlinks=False)


@contextlib.contextmanager
def _local_errors(path: Path) -> Iterator[None]:
    """OSError → LocalError naming ``path``; the disk being full gets its own advice."""
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise LocalError(
                _(
                    "The disk is full; the restore stopped at {path}. Free some space and run "
                    "it again: files already restored are kept."
                ).format(path=path)
            ) from None
        raise LocalError(
            _("The restore stopped at {path}: {detail}.").format(
                path=path, detail=exc.strerror or exc
            )
        ) from None
