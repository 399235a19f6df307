"""Both trashes: putting what the agent removes or replaces into them, listing them
(`hoso trash list`), getting things back (`hoso trash restore`) and expiring them.

- The local trash (``<state_dir>/trash/<pass stamp>-<random>/<path>``): a local file a pass
  replaces is hard-linked there first (:meth:`LocalTrash.keep_copy`), one it deletes is moved
  there (:meth:`LocalTrash.move_in`); both through safepath's folder descriptors.
- The share's trash (``<remote trash_dir>/<pass stamp>-<host>-<random>/``, one flat folder a
  pass): a share file a pass replaces is copied there first (:meth:`ShareTrash.keep_copy`),
  one it deletes is moved there (:meth:`ShareTrash.move_in`). On Nextcloud, which keeps its
  own versions and trash, the server's are used instead.
- Every item is recorded in the journal's trash table when it is in place.

A restore never overwrites: when the original place is taken, the file comes back beside it
under a name that says it was restored. The restored file is an ordinary new file that the
next pass syncs to the other side.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import guards
from .config import Config
from .conflictname import fit_name
from .errors import HosoError, LocalError, NotFound, UsageError
from .guards import DAY
from .i18n import _, ngettext
from .journal import Journal
from .model import (
    Kind,
    LocalEntry,
    RelPath,
    RemoteEntry,
    Side,
    TrashItem,
    TrashReason,
    name_of,
    nfc,
    parent_of,
)
from .safepath import Folder, SafeRoot, private_dir, split

if TYPE_CHECKING:  # `hoso status` reads the trash without loading the network stack
    from .remote import Remote


TRASH_SEPARATOR = " \u2215 "  # stands for "/" in the flat names of the share's trash
NEXTCLOUD_TRASH = "nextcloud:trashbin"  # stored_as of an item Nextcloud's own trash holds


# --- putting things in ------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTrash:
    """This pass's slots in the local trash (``folder`` is ``<state_dir>/trash``)."""

    folder: Path
    journal: Journal
    stamp: str  # the pass's start, e.g. 2026-03-02T101500

    def keep_copy(self, path: RelPath, folder: Folder, name: str, *, reason: str) -> None:
        """Before a local file is replaced: a hard link to it (a copy where links are
        impossible) in the trash, recorded."""
        stored = self._slot(path)
        folder.link_out(name, stored)
        size = stored.lstat().st_size
        _record(self.journal, Side.LOCAL, path, str(stored), Kind.FILE, size, None, reason)

    def move_in(
        self, path: RelPath, folder: Folder, name: str, entry: LocalEntry, *, reason: str
    ) -> None:
        """Instead of deleting a local file or folder: move it into the trash, recorded."""
        stored = self._slot(path)
        folder.move_out(name, stored)
        _record(
            self.journal,
            Side.LOCAL,
            path,
            str(stored),
            entry.kind,
            entry.size,
            entry.sha256,
            reason,
        )

    def _slot(self, path: RelPath) -> Path:
        # split() refuses ".." and the like: the slot stays inside the trash.
        slot = self.folder / f"{self.stamp}-{secrets.token_hex(3)}"
        slot = slot.joinpath(*split(path))
        private_dir(self.folder)  # also when an older agent made it 0755
        private_dir(slot.parent)
        return slot


@dataclass
class ShareTrash:
    """This pass's folder in the share's trash (``folder`` is ``[remote] trash_dir``),
    made on first use; safe to use from the transfer threads."""

    remote: Remote
    journal: Journal
    folder: RelPath  # e.g. ".hoso-trash", relative to the remote root
    stamp: str
    host: str
    server_keeps_versions: bool  # Nextcloud: versions and trash are the server's job
    _pass_folder: RelPath | None = None
    _names: set[str] = field(default_factory=set)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def keep_copy(
        self, path: RelPath, server_path: RelPath, remote: RemoteEntry, *, reason: str
    ) -> None:
        """Before the share's file ``path`` (spelled ``server_path`` there) is replaced: a
        copy of it in the share's trash, recorded."""
        if self.server_keeps_versions:
            return
        stored_as = self._fresh_name(path)
        self.remote.copy(server_path, stored_as)
        _record(self.journal, Side.REMOTE, path, stored_as, Kind.FILE, remote.size, None, reason)

    def move_in(
        self,
        path: RelPath,
        server_path: RelPath,
        remote: RemoteEntry,
        sha256: str | None,
        *,
        reason: str,
    ) -> None:
        """Instead of deleting the share's ``path``: move it into the share's trash (on
        Nextcloud, delete it into the server's own), recorded."""
        if self.server_keeps_versions:
            self.remote.delete(server_path)
            stored_as = NEXTCLOUD_TRASH
        else:
            stored_as = self._fresh_name(path)
            self.remote.move(server_path, stored_as, overwrite=False)
        _record(
            self.journal, Side.REMOTE, path, stored_as, remote.kind, remote.size, sha256, reason
        )

    def _fresh_name(self, path: RelPath) -> RelPath:
        """A fresh name for ``path`` in this pass's folder of the share's trash.

        Flat, so that one MKCOL per pass serves every item: the original folders are kept
        in the name ("Tuần 5 ∕ Toán ∕ Bài 3.docx", with a division slash U+2215)."""
        with self._lock:
            if self._pass_folder is None:
                self._pass_folder = f"{self.folder}/{self.stamp}-{self.host}-{secrets.token_hex(3)}"
                self.remote.makedirs(self._pass_folder)
            self._count += 1
            flat = path.replace("/", TRASH_SEPARATOR)
            if flat in self._names:
                flat = f"{self._count} {flat}"
            self._names.add(flat)
            return f"{self._pass_folder}/{flat}"


def _record(
    journal: Journal,
    side: Side,
    path: RelPath,
    stored_as: str,
    kind: Kind,
    size: int,
    sha256: str | None,
    reason: str,
) -> None:
    journal.add_trash(
        side=side,
        path=path,
        stored_as=stored_as,
        kind=kind,
        size=size,
        sha256=sha256,
        reason=reason,
        deleted_at=time.time(),
    )


def trash_moved_file(config: Config, journal: Journal, path: Path, *, sha256: str) -> RelPath:
    """Move the records-folder file ``path``, which a plugin has copied to the school folder
    and checked, into the local trash (recorded: `hoso trash list` shows it, `hoso trash
    restore` brings it back); its records path. The copy was the preserving step: this is
    the destructive one, and it still loses nothing.

    Refused (a LocalError, nothing moved) when ``path`` is not a regular file inside the
    records folder reached without a symlink, is gone, or no longer hashes to ``sha256`` (it
    changed after it was copied)."""
    try:
        relative = path.relative_to(config.root)
    except ValueError:
        relative = None
    if relative is None or not relative.parts:
        raise LocalError(
            _("{path} is not in the records folder; nothing was moved.").format(path=path)
        )
    rel = "/".join(relative.parts)  # as spelled on disk; the journal keeps it in NFC
    try:
        with SafeRoot(config.root).parent(rel) as (folder, name):
            st = folder.regular_file(name)
            if st is None:
                raise FileNotFoundError(rel)
            if sha256_at(folder, name) != sha256:
                raise LocalError(
                    _("{path} changed after it was copied; it was left where it is.").format(
                        path=path
                    )
                )
            entry = LocalEntry(nfc(rel), Kind.FILE, size=st.st_size, fs_path=rel, sha256=sha256)
            stamp = time.strftime("%Y-%m-%dT%H%M%S")
            LocalTrash(config.state_dir / "trash", journal, stamp).move_in(
                entry.path, folder, name, entry, reason=TrashReason.MOVED_TO_SCHOOL_FOLDER
            )
    except FileNotFoundError:
        raise LocalError(_("{path} is gone; nothing was moved.").format(path=path)) from None
    except OSError as exc:
        raise LocalError(
            _("Cannot move {path} into the trash: {detail}").format(
                path=path, detail=exc.strerror or exc
            )
        ) from None
    return entry.path


def sha256_at(folder: Folder, name: str) -> str:
    digest = hashlib.sha256()
    with os.fdopen(folder.open_file(name), "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- listing, restoring, expiring -------------------------------------------------------------


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
        TrashReason.OLDER_FROM_BACKUP: _("older copy from the backup, the share had a newer one"),
        TrashReason.GONE_SINCE_BACKUP: _("from the backup, deleted on the share since"),
        TrashReason.REPLACED_BY_BACKUP: _("replaced by its version from a backup"),
        TrashReason.MOVED_TO_SCHOOL_FOLDER: _(
            "moved to the school folder (a checked copy is there)"
        ),
        TrashReason.CONFLICT_SET_ASIDE: _("the other version of a conflict, set aside by you"),
    }
    return texts.get(reason, reason)


def restore(
    config: Config,
    journal: Journal,
    item_id: int,
    *,
    connection: Callable[[], Remote] | None = None,
) -> RelPath:
    """Bring item back; returns the path it was restored to. ``connection`` gives the open
    connection to restore a share item with, asked only for one (the school folder's, with
    its own login); by default one of the share's is opened and closed."""
    item = journal.get_trash(item_id)
    if item is None:
        raise UsageError(
            _("There is no trash item {id}. See `hoso trash list`.").format(id=item_id)
        )
    if item.side is Side.LOCAL:
        restored = _restore_local(config.root, item)
    else:
        restored = _restore_remote(config, item, connection)
    journal.remove_trash(item.id)
    if item.side is Side.LOCAL:
        # A file comes back as a hard link (or a copy): the trash's own name goes now, else
        # it stayed there unlisted, never shown and never expired.
        with contextlib.suppress(OSError):
            _remove_local(Path(item.stored_as), config.state_dir / "trash")
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
    # Folders and names as spelled on disk (a Mac's NFD): the NFC key would make twins.
    safe = SafeRoot(root)
    target = free_name(item.path, lambda p: safe.lstat(safe.spelled(p)) is not None)
    try:
        with safe.parent(safe.spelled(target), create=True) as (folder, name):
            folder.bring_in(stored, name)
    except FileExistsError:
        raise UsageError(
            _("{path} appeared while restoring; run the restore again.").format(path=target)
        ) from None
    except OSError as exc:  # a full disk, a read-only folder: the item stays in the trash
        raise LocalError(
            _("{path} could not be put back ({detail}); it is still in the trash.").format(
                path=target, detail=exc.strerror or exc
            )
        ) from None
    return target


def _restore_remote(
    config: Config, item: TrashItem, connection: Callable[[], Remote] | None
) -> RelPath:
    if item.stored_as.startswith("nextcloud:"):
        raise UsageError(
            _(
                "{path} was deleted on Nextcloud, which keeps it in its own trash: open the share "
                "in a browser, go to “Deleted files” and restore it there."
            ).format(path=item.path)
        )
    if connection is not None:
        return _move_back(connection(), item)
    from .remote import Remote
    from .vault import webdav_password

    remote = Remote.from_config(config, webdav_password(config))
    try:
        return _move_back(remote, item)
    finally:
        remote.close()


def _move_back(remote: Remote, item: TrashItem) -> RelPath:
    target = free_name(item.path, lambda p: remote.stat(p) is not None)
    if parent_of(target):
        remote.makedirs(parent_of(target))
    remote.move(item.stored_as, target, overwrite=False)
    return target


PURGE_META = "last_trash_purge"
CLOCK_META = "trash_clock_held"  # why the last due expiry was refused (JSON), for `hoso status`


def purge_expired(
    config: Config,
    journal: Journal,
    remote: Remote,
    *,
    now: float,
    server_now: Callable[[], float | None],
    allow_clock_jump: bool = False,
) -> guards.ClockCheck:
    """Drop trash items older than `sync.trash_days` (at most once a day).

    Only on a clock that agrees with the share's (``server_now()``, asked only when items
    are due) and did not go back since the last pass, unless ``allow_clock_jump``: a clock
    a month ahead would make the whole trash look expired. Returns the clock's verdict
    (trusted when nothing is due); a refusal is remembered for `hoso status` until it no
    longer holds. Items whose kept copy cannot be removed right now stay listed and are
    tried again.
    """
    days = config.sync.trash_days
    last = float(journal.meta_get(PURGE_META) or 0)
    if days <= 0 or 0 <= now - last < DAY:
        return guards.ClockCheck()
    due = [item for item in journal.trash_items() if now - item.deleted_at >= days * DAY]
    clock = guards.ClockCheck()
    if due and not allow_clock_jump:
        last_pass = journal.last_pass()
        clock = guards.check_clock(
            now, server_now=server_now(), last_pass=last_pass.started if last_pass else None
        )
    if clock.problem is not None:
        held = {"problem": clock.problem.value, "days": clock.days}
        journal.meta_set(CLOCK_META, json.dumps(held))
        return clock
    if journal.meta_get(CLOCK_META) is not None:
        journal.meta_set(CLOCK_META, None)
    if not due:
        return guards.ClockCheck()  # nothing at stake: the once-a-day mark waits for a purge
    for item in due:
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
    journal.meta_set(PURGE_META, str(now))
    return guards.ClockCheck()


def held_expiry(journal: Journal) -> str | None:
    """The warning of the last refused expiry, or None when the trash expires normally."""
    held = journal.meta_get(CLOCK_META)
    if held is None:
        return None
    data = json.loads(held)
    return clock_warning(guards.ClockCheck(guards.ClockProblem(data["problem"]), data["days"]))


def clock_warning(clock: guards.ClockCheck) -> str:
    """Why nothing expired from the trash, and what to do about it."""
    days = round(clock.days)
    match clock.problem:
        case guards.ClockProblem.AHEAD:
            why = ngettext(
                "This computer's clock is {n} day ahead of the share's.",
                "This computer's clock is {n} days ahead of the share's.",
                days,
            ).format(n=days)
        case guards.ClockProblem.BEHIND:
            why = ngettext(
                "This computer's clock is {n} day behind the share's.",
                "This computer's clock is {n} days behind the share's.",
                days,
            ).format(n=days)
        case guards.ClockProblem.WENT_BACK:
            why = ngettext(
                "This computer's clock went back {n} day since the last sync.",
                "This computer's clock went back {n} days since the last sync.",
                days,
            ).format(n=days)
        case _:
            why = _(
                "The share did not say what time it is, so this computer's clock cannot be checked."
            )
    return (
        why
        + " "
        + _(
            "Nothing was removed from the trash for good. Set the date and time right; if they "
            "are right, run `hoso sync --allow-clock-jump` to remove old trash items by this "
            "computer's clock."
        )
    )


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
        candidate_name = fit_name(
            lambda s, n=n: _("{stem} (restored {n})").format(stem=s, n=n) + f"{dot}{ext}", stem
        )
        candidate = f"{folder}/{candidate_name}" if folder else candidate_name
        if not taken(candidate):
            return candidate
    raise UsageError(_("Could not find a free name to restore {path}.").format(path=path))
