"""Bringing files back from a snapshot, verified, never half-written.

Invariants:
- A file appears under its real name only complete and verified: its blobs are each checked
  by the repository (the envelope's authentication binds the blob id), the whole file against
  the snapshot's SHA-256, hashed as its bytes are written; it is written to a
  ``.~hoso-*.restore`` temp in its folder (agent.backup.assemble), given its mode and mtime,
  made durable by one sync for all the files, then renamed. The sync agent ignores that name
  and, unlike its own ``.part`` downloads, never deletes it, so a restore into the live
  records folder is safe.
- Each pack is read once, in a few large ranged reads, its blobs in pack order, each blob
  decrypted once for every file and place that uses it (agent.backup.blobfetch); memory
  holds a few batches of at most 8 MiB, never the repository.
- Existing files that differ from the snapshot are never replaced without ``overwrite``; then
  ``before_overwrite`` sees all of them before the first one is touched. Existing files equal
  to the snapshot's are left alone. A file that appears under a restored name while the
  restore runs (the teacher saves it, the sync brings it) is never replaced: the restored
  copy takes its name only where nothing is, and LocalError names the files kept out so.
- A blob no copy of which is sound keeps out the files that use it, and only those: the
  others are restored (and marked), then BackupDamaged names every file kept out and why
  (exit 1). A local error (a full disk) stops the restore; the files verified before it take
  their names, the others' temps are removed.
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

from .. import durable
from .. import restored as restored_marker
from ..errors import BackupDamaged, LocalError, UsageError
from ..i18n import _, ngettext
from ..model import RestoredFile, nfc
from ..safepath import SafeRoot
from .assemble import Piece, Writers, set_metadata
from .blobfetch import Plan, fetch, plan
from .files import fsync_folder
from .repository import Repository
from .snapshots import DIR, find_entry, find_snapshot, walk_tree

_READ = 1024 * 1024
_FOLDER_SYNCS = 8


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
    replace = {dest.relative_to(target).as_posix() for dest in conflicts}
    result, failed, appeared = _write_all(repo, items, target, identical, replace)
    if mark:
        # Every file now as in the snapshot, for the first sync: the share's other version
        # of one of them is newer (the teacher's own later edit, a manager's comment).
        left_out = {path for path, _problem in failed} | set(appeared)
        as_restored = {
            item.path: RestoredFile(item.entry["sha256"], _on_share(item.entry), wanted=wanted)
            for item in items
            if item.entry["type"] != DIR and item.path not in left_out
        }
        restored_marker.add(target, as_restored, snapshot=found_id, time=snapshot["time"])
    if appeared:
        raise _appeared(appeared, target, failed)
    if failed:
        raise _not_restored(failed)
    return result


def _appeared(
    appeared: list[str], target: Path, failed: list[tuple[str, BackupDamaged]]
) -> LocalError:
    """One error naming every file saved under a restored name during the restore."""
    message = ngettext(
        "{n} file appeared in {target} while the restore ran and was kept as it is; the "
        "backup's version of it was not written. Restore it again, adding --overwrite to "
        "replace it:\n{files}",
        "{n} files appeared in {target} while the restore ran and were kept as they are; the "
        "backup's versions of them were not written. Restore them again, adding --overwrite "
        "to replace them:\n{files}",
        len(appeared),
    ).format(n=len(appeared), target=target, files="\n".join(f"  {p}" for p in appeared))
    return LocalError(f"{message}\n{_not_restored(failed)}" if failed else message)


def _not_restored(failed: list[tuple[str, BackupDamaged]]) -> BackupDamaged:
    """One error naming every file a damaged blob kept out, and why."""
    return BackupDamaged(
        ngettext(
            "{n} file cannot be restored from this snapshot; the other files are in place. "
            "Run hoso backup check, or restore it from another snapshot:\n{files}",
            "{n} files cannot be restored from this snapshot; the other files are in place. "
            "Run hoso backup check, or restore them from another snapshot:\n{files}",
            len(failed),
        ).format(
            n=len(failed),
            files="\n".join(f"  {path}: {problem}" for path, problem in failed),
        )
    )


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
    repo: Repository, items: list[_Item], target: Path, identical: set[str], replace: set[str]
) -> tuple[RestoreResult, list[tuple[str, BackupDamaged]], list[str]]:
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
    written, failed, appeared = _restore_files(repo, files, safe, replace)
    # Folder metadata last, deepest first: writing inside a folder changes its mtime, and a
    # read-only folder must still accept its files.
    for item in reversed(folders):
        with _local_errors(target / item.path), safe.parent(item.path) as (folder, name):
            set_metadata(folder, name, item.entry)
    # Each folder's fsync waits for a journal commit; made together, they share commits.
    changed = {target, *((target / item.path).parent for item in items)}
    with ThreadPoolExecutor(_FOLDER_SYNCS, thread_name_prefix="hoso-restore") as pool:
        list(pool.map(fsync_folder, changed))
    skipped = [(path, _("already as in the backup")) for path in sorted(identical)]
    restored = len(files) - len(failed) - len(appeared)
    return RestoreResult(restored, written, skipped), failed, appeared


def _restore_files(
    repo: Repository, files: list[_Item], safe: SafeRoot, replace: set[str]
) -> tuple[int, list[tuple[str, BackupDamaged]], list[str]]:
    """Restore the files in two steps: every file is written and verified under a temp name,
    its blobs read pack by pack (blobfetch) and written where they go (assemble); one sync
    makes them all durable at once (a sync per file made restores three times slower), then
    each takes its name. A file a damaged blob spoils is left out, the others go on: (bytes
    restored, the files left out and why, the files that appeared meanwhile). A local error
    stops the writing; the files verified before it still take their names, none is ever
    half-written under one. Only the paths of ``replace`` may replace an existing file."""
    writers = Writers(safe, _local_errors)
    appeared: list[str] = []
    places: dict[str, list[tuple[int, int]]] = {}  # blob → (file number, offset) it goes to
    try:
        for item in files:
            with _local_errors(safe.root / item.path):
                number = writers.add(item.path, item.entry, _pieces(repo, item))
            for piece in writers.pieces(number):
                places.setdefault(piece.blob, []).append((number, piece.offset))
        reading = plan(repo, places)
        writers.prepare(_first_needs(reading, places))
        for blob_id, outcome in fetch(repo, reading):
            for number, offset in places[blob_id]:
                if isinstance(outcome, BackupDamaged):
                    writers.fail(number, outcome)
                else:
                    writers.put(number, offset, outcome)
        writers.finish()
    finally:
        writers.close()
        try:
            appeared = _install(writers.complete, safe, replace)
        finally:
            writers.discard()
    written = sum(size for _temp, dest, size in writers.complete if dest not in appeared)
    return written, writers.failed, appeared


def _first_needs(reading: Plan, places: dict[str, list[tuple[int, int]]]) -> list[int]:
    """File numbers in the order the fetch will first need each file."""
    order: dict[int, None] = {}
    for blob_id in reading.order():
        for number, _offset in places[blob_id]:
            order.setdefault(number)
    return list(order)


def _install(ready: list[tuple[str, str, int]], safe: SafeRoot, replace: set[str]) -> list[str]:
    """Make the verified temps durable with one sync, then give each its name, folder by
    folder; those that could not take it are removed. A name outside ``replace`` is taken
    only where nothing is: the paths found taken are returned."""
    appeared: list[str] = []
    by_folder: dict[str, list[tuple[str, str]]] = {}
    for temp, dest, _size in ready:
        by_folder.setdefault(_parent(dest), []).append((_name(temp), _name(dest)))
    try:
        os.sync()
        for parent in list(by_folder):
            with _local_errors(safe.root / parent), safe.folder(parent) as folder:
                names = by_folder[parent]
                while names:
                    temp, name = names[-1]
                    dest = f"{parent}/{name}" if parent else name
                    with _local_errors(safe.root / dest):
                        if dest in replace:
                            folder.replace(temp, name)
                        else:
                            try:
                                durable.rename_no_replace_at(
                                    folder.fd, temp, folder.fd, name, sync=False
                                )
                            except FileExistsError:
                                folder.unlink(temp, missing_ok=True)
                                appeared.append(dest)
                    names.pop()
            del by_folder[parent]
        return sorted(appeared)
    finally:
        for parent, names in by_folder.items():  # not renamed: an error stopped us
            with contextlib.suppress(OSError), safe.folder(parent) as folder:
                for temp, _dest in names:
                    folder.unlink(temp, missing_ok=True)


def _pieces(repo: Repository, item: _Item) -> list[Piece] | BackupDamaged:
    """Where each blob of a file goes in it (from the index's lengths), or why it cannot be
    restored: a blob no index names, lengths that do not add up to the file's size."""
    pieces: list[Piece] = []
    offset = 0
    for blob_id in item.entry["content"]:
        try:
            length = repo.copies(blob_id)[0].raw_length
        except BackupDamaged as exc:
            return exc
        pieces.append(Piece(blob_id, offset, length))
        offset += length
    if offset != item.entry["size"]:
        return BackupDamaged(
            _(
                "{path}: the restored bytes differ from the backup; the file was not "
                "written. Run hoso backup check."
            ).format(path=item.path)
        )
    return pieces


def _make_folder(safe: SafeRoot, path: str) -> None:
    """The folder ``path``; a link or file in its place is removed first (the caller saw it
    in before_overwrite), never followed."""
    with safe.parent(path, create=True) as (folder, name):
        info = folder.lstat(name)
        if info is not None and not stat.S_ISDIR(info.st_mode):
            folder.unlink(name)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, dir_fd=folder.fd)


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
