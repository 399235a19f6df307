"""Snapshots of the records folder: taking one, finding one, listing and comparing them.

A snapshot is a tree of folders (docs/backup-format.md, "Trees and snapshots"). Invariants:
- Tree blobs are serialised deterministically (entries sorted by NFC name, keys sorted, no
  spaces), so an unchanged folder yields the same tree blob id and is stored once.
- Symlinks are never followed; special files, unreadable files and files that keep changing
  while read are skipped with their reason, never raised: the rest is still backed up.
- hoso's own temp files (``.~hoso-*``) are never backed up; the ``.hoso-root`` marker is,
  since it identifies the records folder.
- A file whose size, mtime_ns and inode match the previous snapshot of the same root and host
  is not read again; its content list is reused once every blob of it is known to be stored.
- ``on_share`` on a file says whether the agent's journal had those very bytes as synced and
  seen on the share when the snapshot was taken; absent when not known (no journal yet, a
  snapshot of another folder, an older hoso). A restore uses it to tell "deleted on the share
  since" and "never sent to the share" apart.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any, Literal

from ..errors import BackupDamaged, UsageError
from ..i18n import _
from ..local import TEMP_PREFIX
from ..model import nfc
from .clock import in_order, snapshot_time
from .repository import Repository

FILE = "file"
DIR = "dir"
SNAPSHOT_VERSION = 2  # 2: numbered in the repository ("seq")
_MIN_PREFIX = 4


@dataclass(frozen=True)
class CreateResult:
    snapshot: str
    seq: int
    files: int
    bytes: int
    bytes_added: int
    skipped: list[tuple[str, str]]  # (NFC relative path, reason)


# --- trees ---------------------------------------------------------------------------


def encode_tree(entries: list[dict[str, Any]]) -> bytes:
    """The one serialisation of a folder listing: equal folders give equal bytes."""
    ordered = sorted(entries, key=lambda entry: entry["name"])
    document = {"entries": ordered}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_tree(repo: Repository, tree_id: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(repo.load_blob(tree_id))["entries"]
    return entries


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def walk_tree(repo: Repository, tree_id: str, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """Every entry below a tree, depth first in name order, as (relative path, entry)."""
    for entry in load_tree(repo, tree_id):
        path = join(prefix, entry["name"])
        yield path, entry
        if entry["type"] == DIR:
            yield from walk_tree(repo, entry["subtree"], path)


def find_entry(repo: Repository, tree_id: str, path: str) -> dict[str, Any] | None:
    """The entry at an NFC relative path, or None; "" is the root (a synthetic folder entry)."""
    entry: dict[str, Any] = {"name": "", "type": DIR, "subtree": tree_id}
    for name in (part for part in nfc(path).strip("/").split("/") if part):
        if entry["type"] != DIR:
            return None
        found = [e for e in load_tree(repo, entry["subtree"]) if e["name"] == name]
        if not found:
            return None
        entry = found[0]
    return entry


# --- taking a snapshot ---------------------------------------------------------------


@dataclass
class _Backup:
    """Mutable accumulator of one create(); frozen into a CreateResult at the end."""

    repo: Repository
    ignore: Callable[[str, bool], bool]
    on_progress: Callable[[str], None]
    on_share: Callable[[str, str], bool | None] = lambda path, sha256: None
    files: int = 0
    total_bytes: int = 0
    bytes_added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, kind: Literal["data", "tree"], plaintext: bytes) -> str:
        blob_id, added = self.repo.add_blob(kind, plaintext)
        self.bytes_added += added
        return blob_id


def create(
    repo: Repository,
    root: Path,
    *,
    host: str,
    tags: Sequence[str] = (),
    ignore: Callable[[str, bool], bool] = lambda p, d: False,
    now: datetime | None = None,
    on_progress: Callable[[str], None] = lambda p: None,
    on_share: Callable[[str, str], bool | None] = lambda p, sha256: None,
) -> CreateResult:
    """Back up ``root`` into a new snapshot. The caller holds the repository lock.
    ``on_share(path, sha256)``: whether the share held these bytes of the file (None: not
    known)."""
    root = _checked_root(root)
    previous = _previous_tree(repo, str(root), host)
    backup = _Backup(repo, ignore, on_progress, on_share)
    tree_id = _backup_dir(backup, str(root), "", previous)
    when = (now or datetime.now()).astimezone()
    seq = repo.next_seq()
    snapshot = {
        "version": SNAPSHOT_VERSION,
        "seq": seq,
        "time": when.isoformat(),
        "host": host,
        "tags": list(tags),
        "root": str(root),
        "tree": tree_id,
        "files": backup.files,
        "bytes": backup.total_bytes,
        "bytes_added": backup.bytes_added,
    }
    snapshot_id = repo.save_snapshot(snapshot)
    return CreateResult(
        snapshot_id,
        seq,
        backup.files,
        backup.total_bytes,
        backup.bytes_added,
        list(backup.skipped),
    )


def _checked_root(root: Path) -> Path:
    # An unreadable root must stop the backup: an empty snapshot would look like a wiped folder.
    try:
        with os.scandir(root):
            return root.resolve()
    except OSError as exc:
        raise UsageError(
            _("The folder {root} cannot be read ({detail}); nothing was backed up.").format(
                root=root, detail=exc.strerror or exc
            )
        ) from None


def _previous_tree(repo: Repository, root: str, host: str) -> str | None:
    same = [snap for _id, snap in repo.snapshots() if snap["root"] == root and snap["host"] == host]
    return same[-1]["tree"] if same else None  # the last one made


def _old_entries(repo: Repository, tree_id: str | None) -> dict[str, dict[str, Any]]:
    if tree_id is None:
        return {}
    try:
        return {entry["name"]: entry for entry in load_tree(repo, tree_id)}
    except BackupDamaged:  # a damaged old tree only costs re-reading the files below it
        return {}


def _backup_dir(backup: _Backup, fs_dir: str, rel: str, old_tree: str | None) -> str:
    """Back up one folder (recursively) and return its tree blob id."""
    old = _old_entries(backup.repo, old_tree)
    entries: dict[str, dict[str, Any]] = {}
    for item in _listing(backup, fs_dir, rel):
        name = nfc(item.name)
        path = join(rel, name)
        if name in entries:
            backup.skipped.append((path, _("another name here differs only in Unicode form")))
            continue
        entry = _backup_item(backup, item, path, old.get(name))
        if entry is not None:
            entries[name] = entry
    return backup.add("tree", encode_tree(list(entries.values())))


def _listing(backup: _Backup, fs_dir: str, rel: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(fs_dir) as it:
            listing = list(it)
    except OSError as exc:
        backup.skipped.append((rel, _reason(exc)))
        return []
    # NFC spellings first, so that of two names equal after NFC the NFC one is kept.
    return sorted(listing, key=lambda e: (nfc(e.name), nfc(e.name) != e.name))


def _backup_item(
    backup: _Backup, item: os.DirEntry[str], path: str, old: dict[str, Any] | None
) -> dict[str, Any] | None:
    if item.name.startswith(TEMP_PREFIX):
        return None
    try:
        is_dir = item.is_dir(follow_symlinks=False)
        if backup.ignore(path, is_dir):
            return None
        info = item.stat(follow_symlinks=False)
    except OSError as exc:  # vanished or unreadable between listing and stat
        backup.skipped.append((path, _reason(exc)))
        return None
    if stat.S_ISLNK(info.st_mode):
        backup.skipped.append((path, _("symlink")))
        return None
    old_type = old["type"] if old is not None else None
    if stat.S_ISDIR(info.st_mode):
        old_tree = old["subtree"] if old is not None and old_type == DIR else None
        return _dir_entry(path, info, _backup_dir(backup, item.path, path, old_tree))
    if not stat.S_ISREG(info.st_mode):
        backup.skipped.append((path, _("not a regular file")))
        return None
    backup.on_progress(path)
    return _file_entry(backup, item.path, path, info, old if old_type == FILE else None)


def _dir_entry(path: str, info: os.stat_result, subtree: str) -> dict[str, Any]:
    return {
        "name": path.rpartition("/")[2],
        "type": DIR,
        "mode": stat.S_IMODE(info.st_mode),
        "mtime_ns": info.st_mtime_ns,
        "subtree": subtree,
    }


def _file_entry(
    backup: _Backup, fs_path: str, path: str, info: os.stat_result, old: dict[str, Any] | None
) -> dict[str, Any] | None:
    if old is not None and _unchanged(backup.repo, old, info):
        entry: dict[str, Any] | None = _new_file_entry(path, info, old["sha256"], old["content"])
    else:
        entry = _read_file(backup, fs_path, path, info)
    if entry is not None and (on_share := backup.on_share(path, entry["sha256"])) is not None:
        entry["on_share"] = on_share
    if entry is not None:
        backup.files += 1
        backup.total_bytes += entry["size"]
    return entry


def _unchanged(repo: Repository, old: dict[str, Any], info: os.stat_result) -> bool:
    same = (old["size"], old["mtime_ns"], old["inode"]) == (
        info.st_size,
        info.st_mtime_ns,
        info.st_ino,
    )
    # A blob lost to damage must be stored again, not referenced again.
    return same and all(repo.has_blob(blob_id) for blob_id in old["content"])


def _new_file_entry(
    path: str, info: os.stat_result, sha256: str, content: list[str]
) -> dict[str, Any]:
    return {
        "name": path.rpartition("/")[2],
        "type": FILE,
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "mode": stat.S_IMODE(info.st_mode),
        "inode": info.st_ino,
        "sha256": sha256,
        "content": content,
    }


def _read_file(
    backup: _Backup, fs_path: str, path: str, before: os.stat_result
) -> dict[str, Any] | None:
    """Store a file's chunks; read it a second time if it changed meanwhile, then give up."""
    for _attempt in range(2):
        try:
            sha256, content, size = _store_chunks(backup, fs_path)
            after = os.stat(fs_path, follow_symlinks=False)
        except OSError as exc:
            backup.skipped.append((path, _reason(exc)))
            return None
        if size == after.st_size and _same_version(before, after):
            return _new_file_entry(path, after, sha256, content)
        before = after
    backup.skipped.append((path, _("changed while reading")))
    return None


def _same_version(before: os.stat_result, after: os.stat_result) -> bool:
    return stat.S_ISREG(after.st_mode) and (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    ) == (after.st_size, after.st_mtime_ns, after.st_ino)


def _store_chunks(backup: _Backup, fs_path: str) -> tuple[str, list[str], int]:
    """(sha256 hex, blob ids, bytes read). OSError only from reading the source file:
    repository errors (a full backup drive) propagate as our own errors."""
    digest = hashlib.sha256()
    content: list[str] = []
    size = 0
    for chunk in backup.repo.chunks(Path(fs_path)):
        digest.update(chunk)
        size += len(chunk)
        content.append(backup.add("data", chunk))
    return digest.hexdigest(), content, size


def _reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return _("permission denied")
    if isinstance(exc, FileNotFoundError):
        return _("removed while being backed up")
    return exc.strerror or str(exc)


# --- finding, listing, comparing -------------------------------------------------------


def find_snapshot(
    repo: Repository, ref: str | None, *, at: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """A snapshot by full id, unique id prefix (≥ 4 hex digits) or "latest" (also None):
    the last one made in the repository, whatever the clocks said.

    With ``at`` (a naive datetime is local time), the last one made among those dated at or
    before that instant ("as it was then"); a snapshot named by id must not be dated after
    ``at``. BackupDamaged when the snapshot named cannot be read.
    """
    limit = at.astimezone() if at is not None else None
    if ref is not None and ref != "latest":
        snapshot_id = _by_prefix(repo.snapshot_ids(), ref.lower())
        snapshot = repo.read_snapshot(snapshot_id)
        if limit is not None and snapshot_time(snapshot) > limit:
            raise UsageError(_no_snapshot_message(at))
        return snapshot_id, snapshot
    candidates = repo.snapshots()
    if limit is not None:
        candidates = [pair for pair in candidates if snapshot_time(pair[1]) <= limit]
    if not candidates:
        raise UsageError(_no_snapshot_message(at))
    return in_order(candidates)[-1]


def find_by_ref(repo: Repository, ref: str) -> tuple[str, dict[str, Any]]:
    """A snapshot as a person names it: an id, a unique id prefix, `latest`, or a date (the
    newest snapshot made on or before that day: "as it was last Tuesday" is `2026-11-24`)."""
    at = _as_date(ref)
    if at is not None:
        return find_snapshot(repo, None, at=at)
    return find_snapshot(repo, ref)


def _as_date(ref: str) -> datetime | None:
    """2026-11-24, 2026-11-24T15:00, or the way Vietnamese write a day: 24/11/2026."""
    try:
        when = datetime.fromisoformat(ref)
    except ValueError:
        try:
            when = datetime.strptime(ref, "%d/%m/%Y")
        except ValueError:
            return None
    if "T" not in ref and " " not in ref:  # a day: the end of it
        when = datetime.combine(when.date(), time.max)
    return when.astimezone()


def _no_snapshot_message(at: datetime | None) -> str:
    if at is None:
        return _("The backup repository has no snapshot yet.")
    return _("No snapshot was taken at or before {time}.").format(time=at.isoformat(" ", "minutes"))


def _by_prefix(snapshot_ids: list[str], ref: str) -> str:
    if len(ref) < _MIN_PREFIX or any(c not in "0123456789abcdef" for c in ref):
        raise UsageError(
            _(
                '"{ref}" is not a snapshot: give "latest", a date such as 2026-11-24, or at least '
                "{n} hex digits of an id (see `hoso backup list`)."
            ).format(ref=ref, n=_MIN_PREFIX)
        )
    matches = [snapshot_id for snapshot_id in snapshot_ids if snapshot_id.startswith(ref)]
    if not matches:
        raise UsageError(_('No snapshot id starts with "{ref}".').format(ref=ref))
    if len(matches) > 1:
        raise UsageError(
            _('{n} snapshot ids start with "{ref}"; give more digits.').format(
                n=len(matches), ref=ref
            )
        )
    return matches[0]


def _snapshot(repo: Repository, snapshot_id: str) -> dict[str, Any]:
    return find_snapshot(repo, snapshot_id)[1]


def ls(repo: Repository, snapshot_id: str, path: str = "") -> list[dict[str, Any]]:
    """Entries at and below ``path`` (a file gives itself), each with its relative ``path``;
    names (in the path), blob ids and inode numbers are left out."""
    tree = _snapshot(repo, snapshot_id)["tree"]
    entry = find_entry(repo, tree, path)
    if entry is None:
        raise UsageError(_('The snapshot has no file or folder "{path}".').format(path=path))
    prefix = nfc(path).strip("/")
    if entry["type"] == FILE:
        return [_listed(prefix, entry)]
    return [_listed(p, e) for p, e in walk_tree(repo, entry["subtree"], prefix)]


def _listed(path: str, entry: dict[str, Any]) -> dict[str, Any]:
    hidden = ("name", "content", "subtree", "inode", "on_share")
    shown = {k: v for k, v in entry.items() if k not in hidden}
    return {"path": path, **shown}


def diff(repo: Repository, a: str, b: str) -> dict[str, list[str]]:
    """What changed from snapshot ``a`` to ``b``: added and removed paths (folders end in
    "/"), and files whose content changed."""
    result: dict[str, list[str]] = {"added": [], "removed": [], "changed": []}
    _diff_trees(repo, _snapshot(repo, a)["tree"], _snapshot(repo, b)["tree"], "", result)
    return {key: sorted(paths) for key, paths in result.items()}


def _diff_trees(repo: Repository, old: str, new: str, prefix: str, out: dict) -> None:
    if old == new:  # identical tree ids: identical folders, nothing to read
        return
    before = {e["name"]: e for e in load_tree(repo, old)}
    after = {e["name"]: e for e in load_tree(repo, new)}
    for name in sorted(before.keys() | after.keys()):
        path = join(prefix, name)
        was, now = before.get(name), after.get(name)
        if was is not None and now is not None and was["type"] == now["type"]:
            if was["type"] == DIR:
                _diff_trees(repo, was["subtree"], now["subtree"], path, out)
            elif was["sha256"] != now["sha256"]:
                out["changed"].append(path)
            continue
        if was is not None:
            out["removed"].extend(_all_paths(repo, path, was))
        if now is not None:
            out["added"].extend(_all_paths(repo, path, now))


def _all_paths(repo: Repository, path: str, entry: dict[str, Any]) -> list[str]:
    if entry["type"] == FILE:
        return [path]
    below = walk_tree(repo, entry["subtree"], path)
    return [path + "/", *(p + "/" if e["type"] == DIR else p for p, e in below)]
