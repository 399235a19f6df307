"""The three-way sync decision: local scan + remote listing + journal → ``Plan``.

One job: decide, as plain data, what one pass should do for every path, the way vdirsyncer
turns (old status, new status) into named actions. Propagate carries the plan out.

Invariants:

- Pure: no I/O, no clock, no hashing (``paths_needing_hash`` tells the caller what to hash
  first). The same inputs give the same plan; the input mappings are never mutated.
- Nothing is lost: a side is deleted only where the other side deleted it and this side is
  unchanged since the journal; an edit beats a delete; edits on both sides become CONFLICT
  (propagate compares bytes, keeps both when they differ); ``merge_only`` never deletes.
  The one exception without a journal entry is the restore marker's (``restored``): a file
  still exactly as a backup restore wrote it gives way to the share's version, or to the
  share's deletion when the snapshot saw it there; propagate keeps it in the local trash.
- Seen before trusted: a journal entry the share never confirmed (``remote_confirmed`` is
  False) that is missing from the listing is uploaded again (NOT_SEEN_ON_SHARE), never
  deleted locally; listed as another version it is a CONFLICT, never a download over the
  local file; once a listing shows it, it is recorded as confirmed (SEEN_ON_SHARE).
- A rename is a MOVE, never a delete plus an upload; a folder delete or move is one action
  whose ``covers`` lists the journaled paths below it.
- Plan order: MOVE_* and what they need first, in the order decided (parents before
  children; a move into a brand-new folder is preceded by the MKDIR of that folder; a
  type change's DELETE/MOVE of the old kind also goes here, since the path must be free
  before the new kind is created there); then MKDIR_* shallow first; then UPLOAD, DOWNLOAD,
  CONFLICT, RECORD by path; then DELETE_* deepest first; then FORGET.

States. Each side of a path is NEW, UNCHANGED, CHANGED, DELETED or ABSENT relative to the
journal (the last state both sides agreed on). A journal entry means the path existed on both
sides, so with one the side can only be UNCHANGED, CHANGED or DELETED; without one, only NEW
or ABSENT. Of the grid {unchanged, changed, new, deleted}², the cells mixing NEW with
UNCHANGED/CHANGED/DELETED are therefore unreachable by construction, and (ABSENT, ABSENT)
never occurs for a path that is in one of the maps. ``REACHABLE`` lists the rest.

Actions carry the states they were decided on (``local``, ``remote``, ``journal``). An
UPLOAD whose ``remote`` is None is a create (the name must still be free on the share);
otherwise the share must still hold ``remote`` (its ETag, or where the listing carries none,
its size and time). A DOWNLOAD whose ``local`` is None
creates the local file. For CONFLICT the local version gets ``conflict_copy`` and the
server's version keeps the real name; propagate uploads the copy in the same action.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from agent.conflictname import DEFAULT_CONFLICT_LABEL, conflict_copy_name
from agent.model import (
    Action,
    ActionKind,
    JournalEntry,
    Kind,
    LocalEntry,
    Plan,
    Reason,
    RelPath,
    RemoteEntry,
    RestoredFile,
    Side,
    Skip,
    SkipReason,
    is_within,
    parent_of,
)


class State(enum.Enum):
    """One side of a path compared with the journal."""

    NEW = "new"
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DELETED = "deleted"
    ABSENT = "absent"


_U, _C, _D = State.UNCHANGED, State.CHANGED, State.DELETED
REACHABLE: frozenset[tuple[State, State]] = frozenset(
    {(loc, rem) for loc in (_U, _C, _D) for rem in (_U, _C, _D)}
    | {(State.NEW, State.NEW), (State.NEW, State.ABSENT), (State.ABSENT, State.NEW)}
)


def local_state(entry: LocalEntry | None, journal: JournalEntry | None) -> State:
    """The local side of one path; a touch that kept the bytes (same sha256) is UNCHANGED."""
    if journal is None:
        return State.ABSENT if entry is None else State.NEW
    if entry is None:
        return State.DELETED
    if journal.matches_local(entry) or _same_bytes_as_journal(entry, journal):
        return State.UNCHANGED
    return State.CHANGED


def remote_state(entry: RemoteEntry | None, journal: JournalEntry | None) -> State:
    """The remote side of one path against the journal: ETag and size, or size and time where
    the listing carries no ETag (``model.same_version``); folders: existence."""
    if journal is None:
        return State.ABSENT if entry is None else State.NEW
    if entry is None:
        return State.DELETED
    return State.UNCHANGED if journal.matches_remote(entry) else State.CHANGED


def _same_bytes_as_journal(entry: LocalEntry, journal: JournalEntry) -> bool:
    return (
        entry.kind is journal.kind and entry.sha256 is not None and entry.sha256 == journal.sha256
    )


def remote_sha256(checksum: str | None) -> str | None:
    """The SHA256 hex digest among a server's space-separated ``ALGO:hex`` checksums."""
    for token in (checksum or "").split():
        algorithm, _, value = token.partition(":")
        if algorithm.upper() == "SHA256" and value:
            return value.lower()
    return None


def _same_content(local: LocalEntry, remote: RemoteEntry) -> bool:
    """Provably identical bytes without I/O: the server's SHA256 equals the local hash."""
    digest = remote_sha256(remote.checksum)
    return local.sha256 is not None and digest is not None and local.sha256.lower() == digest


# --- the scratch state of one call -----------------------------------------------------------

_E = TypeVar("_E", LocalEntry, RemoteEntry, JournalEntry)

_MOVE = {Side.LOCAL: ActionKind.MOVE_LOCAL, Side.REMOTE: ActionKind.MOVE_REMOTE}
_MKDIR = {Side.LOCAL: ActionKind.MKDIR_LOCAL, Side.REMOTE: ActionKind.MKDIR_REMOTE}
_DELETE = {Side.LOCAL: ActionKind.DELETE_LOCAL, Side.REMOTE: ActionKind.DELETE_REMOTE}
_DELETED = {Side.LOCAL: Reason.DELETED_LOCAL, Side.REMOTE: Reason.DELETED_REMOTE}
_NEW = {Side.LOCAL: Reason.NEW_LOCAL, Side.REMOTE: Reason.NEW_REMOTE}
_RENAMED = {Side.LOCAL: Reason.RENAMED_LOCAL, Side.REMOTE: Reason.RENAMED_REMOTE}
# Actions that write over or remove the local file: never while it is open or being written.
_TOUCHES_LOCAL_FILE = {ActionKind.DOWNLOAD, ActionKind.DELETE_LOCAL, ActionKind.CONFLICT}


def _other(side: Side) -> Side:
    return Side.REMOTE if side is Side.LOCAL else Side.LOCAL


@dataclass
class _Pass:
    """Mutable scratch of one ``reconcile`` call; decided moves re-key it, so that the paths
    they touch are decided again as ordinary paths. It never escapes the call."""

    local: dict[RelPath, LocalEntry]
    remote: dict[RelPath, RemoteEntry]
    journal: dict[RelPath, JournalEntry]
    now: datetime
    host: str
    merge_only: bool
    label: str
    restored: Mapping[RelPath, RestoredFile] = field(default_factory=dict)  # see ``reconcile``
    first: list[Action] = field(default_factory=list)  # moves and what they need, in order
    actions: list[Action] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    closed: set[RelPath] = field(default_factory=set)  # subtrees already fully decided
    names: set[RelPath] = field(default_factory=set)  # every name in use or planned

    def side(self, side: Side) -> dict[RelPath, LocalEntry] | dict[RelPath, RemoteEntry]:
        return self.local if side is Side.LOCAL else self.remote

    def is_closed(self, path: RelPath) -> bool:
        while True:
            if path in self.closed:
                return True
            if not path:
                return False
            path = parent_of(path)

    def add(self, action: Action, *, first: bool = False) -> None:
        (self.first if first else self.actions).append(action)
        self.names.update(p for p in (action.path, action.source, action.conflict_copy) if p)

    def skip(self, path: RelPath, reason: SkipReason) -> None:
        self.skipped.append(Skip(path, reason))
        self.closed.add(path)

    def conflict_name(self, path: RelPath) -> RelPath:
        name = conflict_copy_name(
            path, host=self.host, now=self.now, taken=self.names, label=self.label
        )
        self.names.add(name)
        return name

    def entries(
        self, path: RelPath
    ) -> tuple[LocalEntry | None, RemoteEntry | None, JournalEntry | None]:
        return self.local.get(path), self.remote.get(path), self.journal.get(path)


def _below(entries: Mapping[RelPath, _E], folder: RelPath) -> list[_E]:
    prefix = folder + "/"
    return [entry for path, entry in entries.items() if path.startswith(prefix)]


def _subtree_paths(entries: Mapping[RelPath, _E], root: RelPath) -> list[RelPath]:
    item = entries.get(root)
    if item is not None and item.kind is Kind.FILE:
        return [root]
    return [path for path in entries if is_within(path, root)]


def _drop(entries: dict[RelPath, _E], root: RelPath) -> None:
    for path in _subtree_paths(entries, root):
        del entries[path]


def _respell(spelling: str, root_spelling: str, new_path: RelPath, destination: RelPath) -> str:
    """The on-disk / on-server spelling after a move: the moved root takes the NFC name."""
    if not spelling:
        return spelling
    if root_spelling and is_within(spelling, root_spelling):
        return destination + spelling[len(root_spelling) :]
    return new_path


def _spelling(entry: LocalEntry | RemoteEntry | JournalEntry | None) -> str:
    if isinstance(entry, LocalEntry):
        return entry.fs_path
    return entry.href_path if isinstance(entry, RemoteEntry) else ""


def _rekey(entries: dict[RelPath, _E], source: RelPath, destination: RelPath) -> None:
    """Move ``source`` and everything below it to ``destination`` in one map."""
    root_spelling = _spelling(entries.get(source))
    for path in _subtree_paths(entries, source):
        entry = entries.pop(path)
        new_path = destination + path[len(source) :]
        spelled = _respell(_spelling(entry), root_spelling, new_path, destination)
        if isinstance(entry, LocalEntry):
            entries[new_path] = replace(entry, path=new_path, fs_path=spelled)
        elif isinstance(entry, RemoteEntry):
            entries[new_path] = replace(entry, path=new_path, href_path=spelled)
        else:
            entries[new_path] = replace(entry, path=new_path)


def _journaled_below(w: _Pass, folder: RelPath) -> tuple[RelPath, ...]:
    return tuple(sorted(entry.path for entry in _below(w.journal, folder)))


def _busy(entry: LocalEntry) -> SkipReason | None:
    """Why a local file must not be written over or removed now."""
    if entry.kind is Kind.FILE and not entry.settled:
        return SkipReason.UNSETTLED
    if entry.kind is Kind.FILE and entry.open_in_editor:
        return SkipReason.OPEN_IN_EDITOR
    return None


def _unchanged(w: _Pass, entry: LocalEntry | RemoteEntry) -> bool:
    journal = w.journal.get(entry.path)
    if isinstance(entry, LocalEntry):
        return local_state(entry, journal) is State.UNCHANGED
    return remote_state(entry, journal) is State.UNCHANGED


def _deletable(w: _Pass, side: Side, folder: RelPath, *, ignore_busy: bool = False) -> bool:
    """True when ``side`` may lose ``folder`` whole: the other side holds nothing below it and
    everything below it on ``side`` is journaled, unchanged and (locally) not in use."""
    if _below(w.side(_other(side)), folder):
        return False
    if side is Side.LOCAL and any(not j.remote_confirmed for j in _below(w.journal, folder)):
        return False  # an upload the share never confirmed: not "deleted on the share"
    for entry in _below(w.side(side), folder):
        if not _unchanged(w, entry):
            return False
        if isinstance(entry, LocalEntry) and not ignore_busy and _busy(entry):
            return False
    return True


# --- renames ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rename:
    """``source`` → ``target`` renamed on ``side``; carried out on the other side."""

    side: Side
    source: RelPath
    target: RelPath


def _same_local_item(entry: LocalEntry, journal: JournalEntry) -> bool:
    """Is this new local item the journaled one under another name?"""
    if entry.kind is not journal.kind:
        return False
    if entry.kind is Kind.DIR:
        return entry.inode != 0 and entry.inode == journal.local_inode
    if entry.size != journal.local_size:
        return False
    same_inode = entry.inode != 0 and entry.inode == journal.local_inode
    same_stat = same_inode and entry.mtime_ns == journal.local_mtime_ns
    return same_stat or (entry.sha256 is not None and entry.sha256 == journal.sha256)


def _is_rename(w: _Pass, rename: _Rename) -> bool:
    source, target = rename.source, rename.target
    journal = w.journal.get(source)
    if journal is None or target in w.journal or w.is_closed(source) or w.is_closed(target):
        return False
    if is_within(target, source) or is_within(source, target):
        return False
    renamed, carrier = w.side(rename.side), w.side(_other(rename.side))
    new, old = renamed.get(target), carrier.get(source)
    if new is None or old is None or source in renamed or target in carrier:
        return False
    if old.kind is not journal.kind:
        return False
    if isinstance(new, LocalEntry):
        return _same_local_item(new, journal)
    same_fileid = journal.remote_fileid is not None and new.fileid == journal.remote_fileid
    return new.kind is journal.kind and same_fileid


def _rename_candidates(w: _Pass) -> list[_Rename]:
    """Unambiguous renames: each source has one target and each target one source.

    Identities by inode or fileid are settled first; a hash match only pairs what they left
    over, since identical copies (the same blank form in every week) share a hash.
    """
    chosen: list[_Rename] = []
    for strong in (True, False):
        taken = {r.source for r in chosen} | {r.target for r in chosen}
        found = {
            rename
            for side in (Side.LOCAL, Side.REMOTE)
            for rename in _candidates_on(w, side, strong=strong)
            if rename.source not in taken and rename.target not in taken and _is_rename(w, rename)
        }
        sources = Counter(r.source for r in found)
        targets = Counter(r.target for r in found)
        chosen += [r for r in found if sources[r.source] == 1 and targets[r.target] == 1]
    # Folders first, then by target depth, so a moved folder exists before moves into it.
    return sorted(
        chosen, key=lambda r: (w.journal[r.source].kind is Kind.FILE, *_depth_key(r.target))
    )


def _candidates_on(w: _Pass, side: Side, *, strong: bool) -> Iterable[_Rename]:
    """Pairs worth checking, found through an index (identity or hash) instead of n×m."""
    renamed, carrier = w.side(side), w.side(_other(side))
    index: dict[object, list[RelPath]] = {}
    for path, journal in w.journal.items():
        if path not in renamed and path in carrier:
            key = _journal_key(journal, side, strong=strong)
            if key is not None:
                index.setdefault(key, []).append(path)
    if not index:
        return
    for path, entry in renamed.items():
        if path not in w.journal:
            for source in index.get(_entry_key(entry, strong=strong), ()):
                yield _Rename(side, source, path)


def _journal_key(journal: JournalEntry, side: Side, *, strong: bool) -> object:
    if side is Side.REMOTE:
        return ("fileid", journal.remote_fileid) if strong and journal.remote_fileid else None
    if strong:
        return ("inode", journal.kind, journal.local_inode) if journal.local_inode else None
    return (
        ("sha", journal.local_size, journal.sha256)
        if journal.kind is Kind.FILE and journal.sha256
        else None
    )


def _entry_key(entry: LocalEntry | RemoteEntry, *, strong: bool) -> object:
    if isinstance(entry, RemoteEntry):
        return ("fileid", entry.fileid) if strong and entry.fileid else None
    if strong:
        return ("inode", entry.kind, entry.inode) if entry.inode else None
    return ("sha", entry.size, entry.sha256) if entry.kind is Kind.FILE and entry.sha256 else None


def _plan_renames(w: _Pass) -> None:
    """Decide moves until none is left; each round sees the paths earlier moves re-keyed."""
    refused: set[_Rename] = set()
    while True:
        progressed = False
        for rename in _rename_candidates(w):
            if rename not in refused and _is_rename(w, rename):
                if not _apply_rename(w, rename):
                    refused.add(rename)
                progressed = True
        if not progressed:
            return


def _apply_rename(w: _Pass, rename: _Rename) -> bool:
    """Plan one move; False when it cannot be a move (ordinary decisions take over)."""
    source, target, carried_on = rename.source, rename.target, _other(rename.side)
    if carried_on is Side.LOCAL:
        for entry in [w.local[source], *_below(w.local, source)]:
            if reason := _busy(entry):
                w.skip(source, reason)
                w.skip(target, reason)
                return True
    if not _ensure_parents(w, target, carried_on):
        return False
    if carried_on is Side.REMOTE:
        local, remote = w.local[target], w.remote[source]
    else:
        local, remote = w.local[source], w.remote[target]
    action = Action(
        _MOVE[carried_on],
        target,
        _RENAMED[rename.side],
        source=source,
        local=local,
        remote=remote,
        journal=w.journal[source],
        covers=_journaled_below(w, source),
    )
    w.add(action, first=True)
    _rekey(w.journal, source, target)
    _rekey(w.side(carried_on), source, target)
    return True


def _ensure_parents(w: _Pass, path: RelPath, side: Side) -> bool:
    """Plan the MKDIRs a move into a brand-new folder needs, or say it cannot be a move."""
    have, origin = w.side(side), w.side(_other(side))
    missing: list[RelPath] = []
    folder = parent_of(path)
    while folder and folder not in have:
        entry = origin.get(folder)
        if (
            entry is None
            or entry.kind is not Kind.DIR
            or folder in w.journal
            or w.is_closed(folder)
        ):
            return False
        missing.append(folder)
        folder = parent_of(folder)
    if folder and have[folder].kind is not Kind.DIR:
        return False
    for folder in reversed(missing):
        w.add(_with_sides(w, _MKDIR[side], folder, _NEW[_other(side)]), first=True)
        # What the journal will hold once the MKDIR is done, so the folder reads as in sync.
        entry = origin[folder]
        if isinstance(entry, LocalEntry):
            w.remote[folder] = RemoteEntry(folder, Kind.DIR, href_path=folder)
            w.journal[folder] = JournalEntry(folder, Kind.DIR, local_inode=entry.inode)
        else:
            w.local[folder] = LocalEntry(folder, Kind.DIR, fs_path=folder)
            w.journal[folder] = JournalEntry(folder, Kind.DIR, remote_fileid=entry.fileid)
    return True


# --- type changes (file ↔ folder at one journaled path) ------------------------------------


def _plan_type_changes(w: _Pass) -> None:
    changed = [path for path, journal in w.journal.items() if _kind_changed(w, path, journal)]
    for path in sorted(changed, key=_depth_key):
        journal = w.journal.get(path)
        if journal is None or w.is_closed(path):
            continue
        local, remote = w.local.get(path), w.remote.get(path)
        if local is not None and (reason := _busy(local)):
            w.skip(path, reason)
        elif local is None or remote is None or local.kind is remote.kind:
            # The other side is gone, or both changed the kind alike: decide it afresh as new.
            del w.journal[path]
        else:
            new_side = Side.LOCAL if local.kind is not journal.kind else Side.REMOTE
            _replace_kind(w, path, new_side, journal)


def _kind_changed(w: _Pass, path: RelPath, journal: JournalEntry) -> bool:
    return any(
        e is not None and e.kind is not journal.kind
        for e in (w.local.get(path), w.remote.get(path))
    )


def _replace_kind(w: _Pass, path: RelPath, new_side: Side, journal: JournalEntry) -> None:
    """``new_side`` put another kind at ``path``; the other side still has the journal's kind.

    If the old item is unchanged it is deleted (TYPE_CHANGED) and the new kind is created
    later as new. Otherwise both are kept: the FILE, whichever side holds it, moves to a
    conflict-copy name on its side and travels as a new file; the folder keeps the name.
    """
    old_side = _other(new_side)
    old = w.side(old_side)[path]
    if journal.kind is Kind.FILE:
        unchanged = _unchanged(w, old)
    else:
        unchanged = _deletable(w, old_side, path)
    if unchanged and not w.merge_only:
        covers = _journaled_below(w, path)
        w.add(
            _with_sides(w, _DELETE[old_side], path, Reason.TYPE_CHANGED, covers=covers), first=True
        )
        _drop(w.side(old_side), path)
        _drop(w.journal, path)
        return
    file_side = old_side if journal.kind is Kind.FILE else new_side
    copy = w.conflict_name(path)
    w.add(_with_sides(w, _MOVE[file_side], copy, Reason.TYPE_CHANGED, source=path), first=True)
    _rekey(w.side(file_side), path, copy)
    if journal.kind is Kind.FILE:
        del w.journal[path]


def _with_sides(
    w: _Pass,
    kind: ActionKind,
    path: RelPath,
    reason: Reason,
    *,
    source: RelPath | None = None,
    covers: tuple[RelPath, ...] = (),
) -> Action:
    local, remote, journal = w.entries(source or path)
    return Action(
        kind,
        path,
        reason,
        source=source,
        local=local,
        remote=remote,
        journal=journal,
        covers=covers,
    )


# --- ordinary paths --------------------------------------------------------------------------


def _depth_key(path: RelPath) -> tuple[int, RelPath]:
    return path.count("/"), path


def _plan_paths(w: _Pass) -> None:
    for path in sorted(set(w.local) | set(w.remote) | set(w.journal), key=_depth_key):
        if w.is_closed(path):
            continue
        local, remote, journal = w.entries(path)
        kinds = {entry.kind for entry in (local, remote, journal) if entry is not None}
        if len(kinds) > 1:  # after the type changes, only two new items can still differ
            w.skip(path, SkipReason.TYPE_CLASH)
        elif kinds == {Kind.DIR}:
            _decide_folder(w, path, local, remote, journal)
        else:
            _decide_file(w, path, local, remote, journal)


def _decide_folder(
    w: _Pass,
    path: RelPath,
    local: LocalEntry | None,
    remote: RemoteEntry | None,
    journal: JournalEntry | None,
) -> None:
    if journal is None:
        if local is not None and remote is not None:
            w.add(_with_sides(w, ActionKind.RECORD, path, Reason.NEW_BOTH))
        else:
            new_on = Side.LOCAL if local is not None else Side.REMOTE
            w.add(_with_sides(w, _MKDIR[_other(new_on)], path, _NEW[new_on]))
    elif local is None and remote is None:
        w.add(_with_sides(w, ActionKind.FORGET, path, Reason.GONE_BOTH))
    elif local is None or remote is None:
        _decide_folder_deleted(w, path, Side.LOCAL if local is None else Side.REMOTE)


def _decide_folder_deleted(w: _Pass, path: RelPath, gone_on: Side) -> None:
    kept_on = _other(gone_on)
    if w.merge_only:
        w.add(_with_sides(w, _MKDIR[gone_on], path, Reason.MERGE_ONLY))
    elif _deletable(w, kept_on, path):
        w.add(
            _with_sides(
                w, _DELETE[kept_on], path, _DELETED[gone_on], covers=_journaled_below(w, path)
            )
        )
        w.closed.add(path)
    elif not _deletable(w, kept_on, path, ignore_busy=True):
        w.add(_with_sides(w, _MKDIR[gone_on], path, Reason.EDIT_BEATS_DELETE))
    # else: only files in use keep it; it goes once they are closed (they are skipped below).


_FILE_RULES: dict[tuple[State, State], tuple[ActionKind, Reason]] = {
    (_U, _C): (ActionKind.DOWNLOAD, Reason.CHANGED_REMOTE),
    (_U, _D): (ActionKind.DELETE_LOCAL, Reason.DELETED_REMOTE),
    (_C, _U): (ActionKind.UPLOAD, Reason.CHANGED_LOCAL),
    (_C, _C): (ActionKind.CONFLICT, Reason.CHANGED_BOTH),
    (_C, _D): (ActionKind.UPLOAD, Reason.EDIT_BEATS_DELETE),
    (_D, _U): (ActionKind.DELETE_REMOTE, Reason.DELETED_LOCAL),
    (_D, _C): (ActionKind.DOWNLOAD, Reason.EDIT_BEATS_DELETE),
    (_D, _D): (ActionKind.FORGET, Reason.GONE_BOTH),
    (State.NEW, State.ABSENT): (ActionKind.UPLOAD, Reason.NEW_LOCAL),
    (State.ABSENT, State.NEW): (ActionKind.DOWNLOAD, Reason.NEW_REMOTE),
    (State.NEW, State.NEW): (ActionKind.CONFLICT, Reason.NEW_BOTH),
}
# merge_only: what a one-sided deletion becomes instead.
_MERGE_ONLY_RULES = {(_U, _D): ActionKind.UPLOAD, (_D, _U): ActionKind.DOWNLOAD}


def _file_rule(
    w: _Pass, local: LocalEntry | None, remote: RemoteEntry | None, journal: JournalEntry | None
) -> tuple[ActionKind, Reason] | None:
    states = local_state(local, journal), remote_state(remote, journal)
    if journal is not None and not journal.remote_confirmed and states[0] is _U:
        # Seen before trusted: an upload the share never confirmed is not a share deletion.
        if states[1] is _D:
            return ActionKind.UPLOAD, Reason.NOT_SEEN_ON_SHARE
        if states[1] is _U:
            return ActionKind.RECORD, Reason.SEEN_ON_SHARE
        # Another file than the one sent (a cut upload, or someone's edit): compare bytes,
        # keep both if they differ, rather than replace the local file by the share's.
        return ActionKind.CONFLICT, Reason.NOT_SEEN_ON_SHARE
    if states == (_U, _U):
        # A touch that kept the bytes: refresh the journal's stat so it is not hashed again.
        touched = local is not None and journal is not None and not journal.matches_local(local)
        return (ActionKind.RECORD, Reason.SAME_CONTENT) if touched else None
    if w.merge_only and states in _MERGE_ONLY_RULES:
        return _MERGE_ONLY_RULES[states], Reason.MERGE_ONLY
    if local is not None and remote is not None and _same_content(local, remote):
        return ActionKind.RECORD, Reason.SAME_CONTENT
    restored = _as_restored(w, local)
    if states == (State.NEW, State.NEW) and restored and restored.on_share:
        # The snapshot saw these bytes on the share, so its different version is the newer
        # truth (the PC synced until it died): propagate compares the bytes, records identical
        # ones, else downloads over the restored file (kept in the local trash). Not when the
        # share never had them, nor when the snapshot does not say (an older hoso's): possibly
        # an edit the dead PC never sent, kept beside the share's as a conflict copy.
        return ActionKind.DOWNLOAD, Reason.RESTORED_OLDER
    if states == (State.NEW, State.ABSENT) and restored and restored.on_share:
        # The backup saw these bytes on the share; gone now, so deleted there since. Not
        # for a file asked back, nor after a share restore (merge_only): there a missing
        # file is the share's loss.
        if not restored.wanted and not w.merge_only:
            return ActionKind.DELETE_LOCAL, Reason.RESTORED_GONE_FROM_SHARE
    if w.merge_only and states in ((_U, _C), (_C, _C)):
        # An older share copy (a restore) is no edit: the newer one from here replaces it.
        # Any other change of the share's copy is compared and both kept, even where this
        # side did not change.
        assert remote is not None and journal is not None
        if went_back_in_time(remote, journal):
            return ActionKind.UPLOAD, Reason.MERGE_ONLY
        if states[0] is _U:
            return ActionKind.CONFLICT, Reason.MERGE_ONLY
    return _FILE_RULES[states]


def _as_restored(w: _Pass, local: LocalEntry | None) -> RestoredFile | None:
    """The marker's entry when the local file still holds the bytes `hoso backup restore`
    wrote there."""
    if local is None or local.kind is not Kind.FILE or local.sha256 is None:
        return None
    restored = w.restored.get(local.path)
    return restored if restored is not None and restored.sha256 == local.sha256 else None


def _decide_file(
    w: _Pass,
    path: RelPath,
    local: LocalEntry | None,
    remote: RemoteEntry | None,
    journal: JournalEntry | None,
) -> None:
    rule = _file_rule(w, local, remote, journal)
    if rule is None:
        return
    kind, reason = rule
    if local is not None and kind is not ActionKind.FORGET:
        busy = _busy(local)
        if busy is SkipReason.UNSETTLED or (busy and kind in _TOUCHES_LOCAL_FILE):
            w.skip(path, busy)
            return
    action = _with_sides(w, kind, path, reason)
    if kind is ActionKind.CONFLICT:
        action = replace(action, conflict_copy=w.conflict_name(path))
    w.add(action)


# --- the plan --------------------------------------------------------------------------------


def _order_key(action: Action) -> tuple[int, int, RelPath]:
    depth = action.path.count("/")
    if action.kind in (ActionKind.MKDIR_LOCAL, ActionKind.MKDIR_REMOTE):
        return 0, depth, action.path
    if action.kind in (ActionKind.DELETE_LOCAL, ActionKind.DELETE_REMOTE):
        return 2, -depth, action.path
    if action.kind is ActionKind.FORGET:
        return 3, 0, action.path
    return 1, 0, action.path


def reconcile(
    local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
    journal: Mapping[RelPath, JournalEntry],
    *,
    now: datetime,
    host: str,
    merge_only: bool = False,
    conflict_label: str = DEFAULT_CONFLICT_LABEL,
    restored: Mapping[RelPath, RestoredFile] | None = None,
) -> Plan:
    """Decide one pass. ``now`` and ``host`` only name conflict copies.

    ``restored`` (the restore marker: what `hoso backup restore` wrote) turns a file new on
    both sides whose local bytes are still the restored ones into a DOWNLOAD (RESTORED_OLDER)
    instead of a CONFLICT: the share's version is newer than the backup's (unless the snapshot
    says the share never had those bytes). Such a file only here, whose snapshot saw those
    bytes on the share and that was not asked back, is a DELETE_LOCAL
    (RESTORED_GONE_FROM_SHARE) instead of an UPLOAD: deleted on the share since the backup.
    A file edited since the restore, or with a journal entry, follows the ordinary rules.

    ``merge_only`` (first pass after the journal was lost, or a restored server) turns every
    deletion into a copy back, so nothing is deleted on either side, and a changed share copy
    is never downloaded over the local file: one older than the journal's is replaced by the
    local file, any other is a CONFLICT (both kept when the bytes differ).
    """
    w = _Pass(
        dict(local),
        dict(remote),
        dict(journal),
        now,
        host,
        merge_only,
        conflict_label,
        restored or {},
    )
    w.names.update(local, remote, journal)
    _plan_renames(w)
    _plan_type_changes(w)
    _plan_paths(w)
    ordered = w.first + sorted(w.actions, key=_order_key)
    return Plan(actions=tuple(ordered), skipped=tuple(w.skipped))


def paths_needing_hash(
    local: Mapping[RelPath, LocalEntry],
    remote: Mapping[RelPath, RemoteEntry],
    journal: Mapping[RelPath, JournalEntry],
    restored: Container[RelPath] = (),
) -> set[RelPath]:
    """Settled local files, not yet hashed, whose sha256 could change the decision.

    That is NEW or CHANGED files whose remote counterpart is NEW or CHANGED (the same-content
    check), CHANGED files of their journaled size (a touch, a copy, a restore from a backup
    keeps the bytes: no upload then; an upload would hash them anyway), and NEW files of the
    size of a journaled file deleted locally that no stat identity (inode, size, mtime)
    already matched (hash-based rename detection), and NEW files named in ``restored`` (is
    it still as restored?).
    """
    gone = [j for path, j in journal.items() if j.kind is Kind.FILE and path not in local]
    gone_sizes = {j.local_size for j in gone}
    gone_stats = {(j.local_inode, j.local_size, j.local_mtime_ns) for j in gone if j.local_inode}
    wanted: set[RelPath] = set()
    for path, entry in local.items():
        if entry.kind is not Kind.FILE or not entry.settled or entry.sha256 is not None:
            continue
        base, other = journal.get(path), remote.get(path)
        state = local_state(entry, base)
        if state not in (State.NEW, State.CHANGED):
            continue
        other_moved = other is not None and remote_state(other, base) in (State.NEW, State.CHANGED)
        both_changed = other_moved and other.kind is Kind.FILE  # type: ignore[union-attr]
        kept_size = state is State.CHANGED and base is not None and entry.size == base.local_size
        if both_changed or kept_size or (state is State.NEW and path in restored):
            wanted.add(path)
        elif state is State.NEW and entry.size in gone_sizes:
            if (entry.inode, entry.size, entry.mtime_ns) not in gone_stats:
                wanted.add(path)
    return wanted


# --- a share copy that went back in time -------------------------------------------------

# A share copy counts as older only when its modification time is this much before the one
# recorded: the journal may hold the PUT answer's Date, a second or so after the file's own.
MTIME_SLACK_SECONDS = 60


def went_back_in_time(remote: RemoteEntry, journal: JournalEntry) -> bool:
    """The share holds another version than the journal's, older than the journal's."""
    return (
        remote.kind is Kind.FILE
        and not journal.matches_remote(remote)
        and remote.mtime > 0
        and remote.mtime < journal.remote_mtime - MTIME_SLACK_SECONDS
    )
