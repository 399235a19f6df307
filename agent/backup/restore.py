"""Bringing files back from a snapshot, verified, never half-written.

Invariants:
- A file appears under its real name only complete and verified: its blobs are each checked
  by the repository (HMAC id), the whole file against the snapshot's SHA-256; it is written
  to a ``.~hoso-*.restore`` temp in its folder (agent.durable's streamed temp), given its
  mode and mtime, made durable by one sync for all the files, then renamed. The sync agent
  ignores that name and, unlike its own ``.part`` downloads, never deletes it, so a restore
  into the live records folder is safe.
- Existing files that differ from the snapshot are never replaced without ``overwrite``; then
  ``before_overwrite`` sees all of them before the first one is touched. Existing files equal
  to the snapshot's are left alone.
- A damaged blob stops the restore with BackupDamaged naming the file; files restored before
  it stay in place.
- A finished restore made with ``mark`` leaves the restore marker (``agent.restored``) at the
  target's root, naming every file of the snapshot now in place with its SHA-256 and whether
  the snapshot saw it on the share, merged with an earlier one: the first sync lets the
  share's different version of such a file take its name, the restored one going to the local
  trash, instead of making a conflict copy of it; one the snapshot saw on the share and gone
  from it now goes to the trash instead of back to the share.
- Nothing is written through a symbolic link below ``target`` (the target itself is the
  teacher's choice): every folder is opened through :class:`~agent.safepath.SafeRoot`, so a
  link planted in the records folder (``Tuần 12 -> ~/.ssh``) stops the restore before anything
  is written, with UnsafePath naming it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import restored as restored_marker
from ..durable import TempFile
from ..errors import BackupDamaged, LocalError, UsageError
from ..i18n import _
from ..model import RestoredFile, nfc
from ..safepath import Folder, SafeRoot
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
    mark: bool = False,
    wanted: bool = True,
) -> RestoreResult:
    """Restore ``paths`` (files or folders of the snapshot; none = everything) below
    ``target``, keeping their relative paths. ``mark``: leave the restore marker for the
    sync (`hoso backup restore` does). ``wanted``: the files are asked back, so one the
    snapshot saw on the share and missing from it at the first sync goes back there; False
    for a whole records folder brought back onto a new PC, where it was deleted there since."""
    found_id, snapshot = find_snapshot(repo, snapshot_id)
    items = _plan(repo, snapshot["tree"], paths)
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
    result = _write_all(repo, items, target, identical)
    if not mark:
        return result
    # Every file now as in the snapshot, for the first sync: the share's other version of
    # one of them is newer (the teacher's own later edit, a manager's comment).
    as_restored = {
        item.path: RestoredFile(item.entry["sha256"], _on_share(item.entry), wanted=wanted)
        for item in items
        if item.entry["type"] != DIR
    }
    restored_marker.add(target, as_restored, snapshot=found_id, time=snapshot["time"])
    return result


def _on_share(entry: dict[str, Any]) -> bool | None:
    """What the snapshot says of the share's copy (None: nothing, an older snapshot)."""
    said = entry.get("on_share")
    return said if isinstance(said, bool) else None


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
    safe = SafeRoot(target)
    for item in items:
        dest = target / item.path
        info = safe.lstat(item.path)  # UnsafePath when a folder above it is a link
        if info is None:
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
        elif _same_content(safe, item.path, info, item.entry):
            identical.add(item.path)
        else:
            conflicts.append(dest)
    return conflicts, identical


def _same_content(safe: SafeRoot, path: str, info: os.stat_result, entry: dict[str, Any]) -> bool:
    if not stat.S_ISREG(info.st_mode) or info.st_size != entry["size"]:
        return False
    digest = hashlib.sha256()
    with safe.parent(path) as (folder, name), os.fdopen(folder.open_file(name), "rb") as source:
        while block := source.read(_READ):
            digest.update(block)
    return digest.hexdigest() == entry["sha256"]


def _write_all(
    repo: Repository, items: list[_Item], target: Path, identical: set[str]
) -> RestoreResult:
    safe = SafeRoot(target)
    folders = [item for item in items if item.entry["type"] == DIR]
    files = [item for item in items if item.entry["type"] != DIR and item.path not in identical]
    with _local_errors(target):
        target.mkdir(parents=True, exist_ok=True)
    for item in folders:
        with _local_errors(target / item.path):
            _make_folder(safe, item.path)
    for parent in sorted({_parent(item.path) for item in files}):  # chosen files' folders
        if parent:
            with _local_errors(target / parent):
                safe.makedirs(parent)
    written = _restore_files(repo, files, safe)
    # Folder metadata last, deepest first: writing inside a folder changes its mtime, and a
    # read-only folder must still accept its files.
    for item in reversed(folders):
        with _local_errors(target / item.path), safe.parent(item.path) as (folder, name):
            _set_metadata(folder, name, item.entry)
    for changed in {target, *((target / item.path).parent for item in items)}:
        fsync_folder(changed)
    skipped = [(path, _("already as in the backup")) for path in sorted(identical)]
    return RestoreResult(len(files), written, skipped)


def _restore_files(repo: Repository, files: list[_Item], safe: SafeRoot) -> int:
    """Restore files a few at a time, in two steps: every file is written and verified under
    a temp name, one sync makes them all durable at once (a sync per file made restores
    three times slower), then each takes its name. The first error stops the writing; the
    files verified before it still take their names, none is ever half-written under one."""
    repo.index()  # loaded once here, before the threads read it
    ready: list[tuple[str, str, int]] = []  # (temp path, destination path, size), relative
    error: BaseException | None = None
    with ThreadPoolExecutor(_WORKERS) as pool:
        futures = [pool.submit(_restore_one, repo, item, safe) for item in files]
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
            with _local_errors(safe.root / dest), safe.parent(dest) as (folder, name):
                folder.replace(_name(temp), name)
    finally:
        for temp, _dest, _size in ready:
            with contextlib.suppress(OSError), safe.parent(temp) as (folder, name):
                folder.unlink(name, missing_ok=True)
    if error is not None:
        raise error
    return sum(size for _temp, _dest, size in ready)


def _restore_one(repo: Repository, item: _Item, safe: SafeRoot) -> tuple[str, str, int]:
    with _local_errors(safe.root / item.path):
        return _restore_file(repo, item, safe)


def _make_folder(safe: SafeRoot, path: str) -> None:
    """The folder ``path``; a link or file in its place is removed first (the caller saw it
    in before_overwrite), never followed."""
    with safe.parent(path, create=True) as (folder, name):
        info = folder.lstat(name)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            folder.unlink(name)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, dir_fd=folder.fd)


def _restore_file(repo: Repository, item: _Item, safe: SafeRoot) -> tuple[str, str, int]:
    """The file written and verified under a temp name beside it: (temp, path, size). Not
    fsync'd here: _restore_files syncs all the files at once."""
    parent, name = _parent(item.path), _name(item.path)
    with (
        safe.folder(parent) as folder,
        folder.open_temp(name, mode=0o600, suffix=TEMP_SUFFIX, sync=False) as out,
    ):
        size, sha256 = _write_blobs(repo, item, out)
        if (size, sha256) != (item.entry["size"], item.entry["sha256"]):
            raise BackupDamaged(
                _(
                    "{path}: the restored bytes differ from the backup; the file was not "
                    "written. Run hoso backup check."
                ).format(path=item.path)
            )
        out.finish()
        _set_metadata(folder, out.name, item.entry)
        out.keep()
        temp = f"{parent}/{out.name}" if parent else out.name
    return temp, item.path, size


def _write_blobs(repo: Repository, item: _Item, out: TempFile) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
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


def _set_metadata(folder: Folder, name: str, entry: dict[str, Any]) -> None:
    os.chmod(name, entry["mode"], dir_fd=folder.fd, follow_symlinks=False)
    ns = (entry["mtime_ns"], entry["mtime_ns"])
    os.utime(name, ns=ns, dir_fd=folder.fd, follow_symlinks=False)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _name(path: str) -> str:
    return path.rpartition("/")[2]


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
