"""`hoso trash`: what the agent removed or replaced, and getting it back.

A restore never overwrites: when the original place is taken, the file comes back beside it
under a name that says it was restored. The restored file is an ordinary new file that the
next pass syncs to the other side.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .config import Config
from .errors import HosoError, NotFound, UsageError
from .i18n import _
from .journal import Journal
from .model import RelPath, Side, TrashItem, TrashReason, name_of, parent_of
from .remote import Remote
from .safepath import SafeRoot
from .vault import webdav_password


def items(journal: Journal) -> list[TrashItem]:
    return journal.trash_items()


def as_json(item: TrashItem) -> dict[str, object]:
    return {
        "id": item.id,
        "side": item.side.value,
        "path": item.path,
        "kind": item.kind.value,
        "deleted_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(item.deleted_at)),
        "size": item.size,
        "reason": item.reason,
        "reason_text": reason_text(item.reason),
    }


def reason_text(reason: str) -> str:
    texts: dict[str, str] = {
        TrashReason.DELETED_ON_SHARE: _("deleted on the share"),
        TrashReason.DELETED_LOCALLY: _("deleted on this computer"),
        TrashReason.REPLACED_BY_SHARE: _("older version, replaced by the share's"),
        TrashReason.REPLACED_BY_LOCAL: _("older version, replaced by this computer's"),
    }
    return texts.get(reason, reason)


def restore(config: Config, journal: Journal, item_id: int) -> RelPath:
    """Bring item back; returns the path it was restored to."""
    item = journal.get_trash(item_id)
    if item is None:
        raise UsageError(
            _("There is no trash item {id}. See `hoso trash list`.").format(id=item_id)
        )
    if item.side is Side.LOCAL:
        restored = _restore_local(config.root, item)
    else:
        restored = _restore_remote(config, item)
    journal.remove_trash(item.id)
    return restored


def _restore_local(root: Path, item: TrashItem) -> RelPath:
    stored = Path(item.stored_as)
    if not stored.exists():
        raise UsageError(
            _("The kept copy of {path} is gone from {stored}.").format(
                path=item.path, stored=stored
            )
        )
    # Through the path gate: a folder on the way that is now a symlink is refused, never
    # followed, and a name taken meanwhile is never replaced.
    safe = SafeRoot(root)
    target = free_name(item.path, lambda p: safe.lstat(p) is not None)
    try:
        with safe.parent(target, create=True) as (folder, name):
            folder.bring_in(stored, name)
    except FileExistsError:
        raise UsageError(
            _("{path} appeared while restoring; run the restore again.").format(path=target)
        ) from None
    return target


def _restore_remote(config: Config, item: TrashItem) -> RelPath:
    if item.stored_as.startswith("nextcloud:"):
        raise UsageError(
            _(
                "{path} was deleted on Nextcloud, which keeps it in its own trash: open the share "
                "in a browser, go to “Deleted files” and restore it there."
            ).format(path=item.path)
        )
    remote = Remote.from_config(config, webdav_password(config))
    try:
        target = free_name(item.path, lambda p: remote.stat(p) is not None)
        if parent_of(target):
            remote.makedirs(parent_of(target))
        remote.move(item.stored_as, target, overwrite=False)
    finally:
        remote.close()
    return target


PURGE_META = "last_trash_purge"
DAY = 86400.0


def purge_expired(config: Config, journal: Journal, remote: Remote, *, now: float) -> int:
    """Drop trash items older than `sync.trash_days` (at most once a day); returns how many.

    Items whose kept copy cannot be removed right now stay listed and are tried again.
    """
    days = config.sync.trash_days
    last = float(journal.meta_get(PURGE_META) or 0)
    if days <= 0 or now - last < DAY:
        return 0
    removed = 0
    for item in journal.trash_items():
        if now - item.deleted_at < days * DAY:
            continue
        try:
            if item.side is Side.LOCAL:
                _remove_local(Path(item.stored_as), config.state_dir / "trash")
            elif not item.stored_as.startswith("nextcloud:"):
                remote.delete(item.stored_as)
        except NotFound:
            pass  # already gone: nothing left to keep
        except (OSError, HosoError):
            continue
        journal.remove_trash(item.id)
        removed += 1
    journal.meta_set(PURGE_META, str(now))
    return removed


def _remove_local(stored: Path, trash_root: Path) -> None:
    if stored.is_dir() and not stored.is_symlink():
        shutil.rmtree(stored)
    else:
        stored.unlink(missing_ok=True)
    # Prune the emptied per-pass folders, never above the trash root.
    folder = stored.parent
    while folder != trash_root and trash_root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            break
        folder = folder.parent


def free_name(path: RelPath, taken) -> RelPath:
    """`path` if free, else the first free "name (restored N).ext" beside it."""
    if not taken(path):
        return path
    folder, name = parent_of(path), name_of(path)
    stem, dot, ext = name.rpartition(".")
    if not stem:
        stem, dot, ext = name, "", ""
    for n in range(1, 1000):
        candidate_name = _("{stem} (restored {n})").format(stem=stem, n=n) + f"{dot}{ext}"
        candidate = f"{folder}/{candidate_name}" if folder else candidate_name
        if not taken(candidate):
            return candidate
    raise UsageError(_("Could not find a free name to restore {path}.").format(path=path))
