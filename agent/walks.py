"""Which folders of the share a pass lists, when it does not list them all: pure.

On a plain WebDAV share a pass lists, besides the root, only the folders that are due
(docs/sync.md, "How an idle agent finds changes"); the others are taken from the journal as
they were. Due are:

* every folder below a change beacon that changed (another hoso agent wrote there);
* on a recent walk, the recent folders: a folder that changed, or one of whose direct
  entries changed, on either side within ``days`` of ``now`` (journal dates);
* always, a folder that holds a local change (a path new, changed or deleted here since
  the journal) or a path the journal has doubts about (an unconfirmed upload, a per-file
  error): a local edit is never reconciled against a folder that was not listed, where a
  change of the share's would then be overwritten on a server without conditional writes.

Everything here takes its inputs as arguments (the time too) and returns sets of paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from .model import JournalEntry, Kind, LocalEntry, RelPath, is_within, parent_of

DAY = 86_400.0


def recent_folders(
    known: Mapping[RelPath, JournalEntry], *, now: float, days: float
) -> set[RelPath]:
    """The folders with activity on either side within ``days`` before ``now``; the root
    always."""
    since = now - days * DAY
    recent: set[RelPath] = {""}
    for path, entry in known.items():
        if max(entry.local_mtime_ns / 1e9, float(entry.remote_mtime)) >= since:
            recent.add(parent_of(path))
            if entry.kind is Kind.DIR:
                recent.add(path)
    return recent


def local_changes(
    entries: Mapping[RelPath, LocalEntry], known: Mapping[RelPath, JournalEntry]
) -> set[RelPath]:
    """The paths new, changed or deleted in the records folder since the journal."""
    changed = {p for p, e in entries.items() if (j := known.get(p)) is None or not j.matches_local(e)}
    return changed | (known.keys() - entries.keys())


def doubtful(known: Mapping[RelPath, JournalEntry], errors: Iterable[RelPath]) -> set[RelPath]:
    """The paths whose share state the journal cannot vouch for: uploads the share never
    confirmed, and paths a pass failed on."""
    return {p for p, e in known.items() if not e.remote_confirmed} | set(errors)


def holding(paths: Iterable[RelPath], known: Mapping[RelPath, JournalEntry]) -> set[RelPath]:
    """The folder that holds each path on the share as far as the journal knows: its parent,
    or the nearest known folder above it (a new local folder is not on the share yet)."""
    folders: set[RelPath] = set()
    for path in paths:
        folder = parent_of(path)
        while folder and (known.get(folder) is None or known[folder].kind is not Kind.DIR):
            folder = parent_of(folder)
        folders.add(folder)
    return folders


def due(folders: Iterable[RelPath], subtrees: Iterable[RelPath]) -> Callable[[RelPath], bool]:
    """The predicate list_tree asks: ``folders`` themselves, and all below ``subtrees``; and
    the folders above each of them, so that each is reached through its parent's listing by
    the share's own spelling (an NFD folder's name built from the journal's NFC one is not
    found, and its files would look deleted on the share)."""
    below = tuple(subtrees)
    named: set[RelPath] = set()
    for folder in (*folders, *below):
        while folder and folder not in named:
            named.add(folder)
            folder = parent_of(folder)
    named.add("")
    return lambda path: path in named or any(is_within(path, top) for top in below)


def unlisted(needed: Iterable[RelPath], listed: set[RelPath], present: Iterable[RelPath]) -> set[RelPath]:
    """The folders of ``needed`` that a listing took from the journal instead of listing
    them (those no longer on the share, not ``present``, cannot be listed)."""
    there = set(present) | {""}
    return {f for f in needed if f not in listed and f in there}
