"""Conflict copies and their resolution: the teacher keeps one version of a record, or both.

A conflict copy (agent/conflictname.py) holds the version of a record that lost its name
when two sides changed it; the version that kept the name sits beside it. :func:`find` lists
them from a stat-only scan of the records folder; :func:`resolve` carries out the teacher's
choice there:

- ``mine``: the copy takes the name in one atomic rename, the version that had it kept in
  hoso's trash first (a hard link);
- ``theirs``: the copy goes to hoso's trash; the named version stays;
- ``both``: the copy is renamed to a clear name ("Bài 1 (bản của máy HOST).docx") and kept.

Invariants: nothing is deleted, only moved into the local trash (recorded, `hoso trash
restore` brings it back) or renamed without replacing anything; every step goes through
agent/safepath.py (never through a symlink, never outside the records folder); the files
must still be what the teacher was shown (size and modification time), else nothing moves.
The next pass carries the result to the share like any change of the teacher's (the share's
versions go to the share's trash). :func:`decide` is pure: the steps for a choice.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import local
from .config import Config
from .conflictname import copy_machine, is_conflict_copy, kept_copy_name, original_name
from .display import printable_name
from .errors import HosoError, LocalError, UsageError
from .i18n import _
from .journal import Journal
from .model import Kind, LocalEntry, RelPath, TrashReason, name_of
from .safepath import SafeRoot, rename_no_replace
from .textfold import natural_key
from .trash import LocalTrash

PREVIEW_CHARS = 600  # of a version's text shown beside the other's


class Choice(enum.StrEnum):
    """Which version the teacher keeps."""

    MINE = "mine"  # the conflict copy, under the record's name
    THEIRS = "theirs"  # the version that kept the name
    BOTH = "both"  # both: the copy under a clear name of its own


@dataclass(frozen=True)
class Version:
    """One version of a record in the records folder, as the scan saw it."""

    path: RelPath  # NFC key
    fs_path: str  # as spelled on disk
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, entry: LocalEntry) -> Version:
        return cls(entry.path, entry.fs_path or entry.path, entry.size, entry.mtime_ns)

    @property
    def stamp(self) -> str:
        """What the page sends back to prove it showed this very version."""
        return f"{self.size}:{self.mtime_ns}"


@dataclass(frozen=True)
class Conflict:
    """A conflict copy and the version that kept the name (None: that one is gone, and the
    copy is the only version left)."""

    copy: Version
    original: Version | None
    machine: str | None  # the computer the copy's version comes from, when its name says
    # No version has the record's name, but a folder does: the copy cannot take it.
    name_is_folder: bool = False


@dataclass(frozen=True)
class Trash:
    """Put the file at ``path`` into hoso's trash."""

    path: RelPath


@dataclass(frozen=True)
class Rename:
    """Rename ``source`` to ``target`` (in the same folder), never replacing anything."""

    source: RelPath
    target: RelPath


@dataclass(frozen=True)
class Replace:
    """Put ``source`` in the place of ``target`` (same folder) in one atomic rename, after a
    hard link to ``target`` was kept in hoso's trash: never a moment without the record."""

    source: RelPath
    target: RelPath


Step = Trash | Rename | Replace


def find(config: Config) -> list[Conflict]:
    """Every conflict copy in the records folder, with the version that kept its name."""
    return _conflicts(_scan(config))


def _scan(config: Config) -> dict[RelPath, LocalEntry]:
    return local.scan(
        config.root, {}, local.ignore_rules(config), now_ns=time.time_ns(), settle_seconds=0
    ).entries


def decide(conflict: Conflict, choice: Choice, *, taken: Container[RelPath]) -> list[Step]:
    """The steps that carry out ``choice`` (pure). ``taken``: the names in use, for the
    clear name a copy kept beside its original gets."""
    copy, original = conflict.copy, conflict.original
    named = original_name(copy.path) or copy.path
    if choice is Choice.MINE:
        if original is None:
            return [Rename(copy.path, named)]
        return [Replace(copy.path, original.path)]
    if original is None and choice is Choice.BOTH and conflict.name_is_folder:
        # Nothing is set aside: the copy gets a clear name beside the folder.
        return [Rename(copy.path, kept_copy_name(named, host=conflict.machine, taken=taken))]
    if original is None:
        # With the named version gone the copy is the record: it is never trashed here.
        raise UsageError(
            _("{path} is the only version left; it cannot be set aside.").format(
                path=printable_name(copy.path)
            )
        )
    if choice is Choice.THEIRS:
        return [Trash(copy.path)]
    return [Rename(copy.path, kept_copy_name(original.path, host=conflict.machine, taken=taken))]


@dataclass(frozen=True)
class Request:
    """The teacher's choice as the page sends it: the copy, and the stamps of the versions
    the page showed ("" for a named version that was not there)."""

    copy: RelPath
    choice: Choice
    copy_stamp: str
    original_stamp: str

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Request:
        fields = ("copy", "choice", "copy_stamp", "original_stamp")
        if set(args) != set(fields) or not all(isinstance(args[f], str) for f in fields):
            raise UsageError(_("conflict.resolve takes a copy, a choice and two stamps."))
        try:
            choice = Choice(args["choice"])
        except ValueError:
            raise UsageError(_("Choose mine, theirs or both.")) from None
        return cls(args["copy"], choice, args["copy_stamp"], args["original_stamp"])


class ChangedMeanwhile(LocalError):
    """A version changed (or went) after the page showed it: nothing was moved."""


def resolve(config: Config, journal: Journal, request: Request) -> dict[str, Any]:
    """Carry out the teacher's choice; what became of each file (JSON): ``kept`` the path
    the kept version has now (the copy's new name for ``both``), ``trashed`` the paths put
    into hoso's trash."""
    entries = _scan(config)
    conflict = next((c for c in _conflicts(entries) if c.copy.path == request.copy), None)
    if conflict is None:
        raise ChangedMeanwhile(
            _(
                "{path} is no longer a conflict copy in the records folder; nothing was moved."
            ).format(path=printable_name(request.copy))
        )
    shown = conflict.original.stamp if conflict.original else ""
    if conflict.copy.stamp != request.copy_stamp or shown != request.original_stamp:
        raise ChangedMeanwhile(
            _(
                "{path} or the version beside it changed since the page showed them; nothing "
                "was moved. Look at them again and choose once more."
            ).format(path=printable_name(request.copy))
        )
    steps = decide(conflict, request.choice, taken=entries)
    spelled = {conflict.copy.path: conflict.copy.fs_path}
    if conflict.original is not None:
        spelled[conflict.original.path] = conflict.original.fs_path
    trashed: list[RelPath] = []
    kept = conflict.original.path if conflict.original else conflict.copy.path
    trash = LocalTrash(config.state_dir / "trash", journal, time.strftime("%Y-%m-%dT%H%M%S"))
    safe = SafeRoot(config.root)
    try:
        for step in steps:
            if isinstance(step, Trash):
                _trash(safe, trash, step.path, spelled[step.path])
                trashed.append(step.path)
            elif isinstance(step, Replace):
                _replace(safe, trash, spelled[step.source], step.target, spelled[step.target])
                trashed.append(step.target)
                kept = step.target
            else:
                _rename(safe, spelled[step.source], name_of(step.target))
                kept = step.target
    except FileExistsError:
        raise LocalError(
            _("{path}: another file took the name meanwhile; nothing was replaced.").format(
                path=printable_name(request.copy)
            )
        ) from None
    except OSError as exc:
        raise LocalError(
            _("{path} could not be moved: {detail}").format(
                path=printable_name(request.copy), detail=exc.strerror or exc
            )
        ) from None
    return {"choice": request.choice.value, "kept": kept, "trashed": trashed}


def _conflicts(entries: Mapping[RelPath, LocalEntry]) -> list[Conflict]:
    return [
        Conflict(
            Version.of(entry),
            Version.of(entries[named])
            if (named := original_name(path)) in entries and entries[named].kind is Kind.FILE
            else None,
            copy_machine(path),
            named in entries and entries[named].kind is Kind.DIR,
        )
        for path, entry in sorted(entries.items(), key=lambda item: natural_key(item[0]))
        if entry.kind is Kind.FILE and is_conflict_copy(path)
    ]


def _trash(safe: SafeRoot, trash: LocalTrash, path: RelPath, fs_path: str) -> None:
    with safe.parent(fs_path) as (folder, name):
        st = folder.regular_file(name)
        if st is None:
            raise FileNotFoundError(fs_path)
        entry = LocalEntry(path, Kind.FILE, st.st_size, st.st_mtime_ns, fs_path=fs_path)
        trash.move_in(path, folder, name, entry, reason=TrashReason.CONFLICT_SET_ASIDE)


def _replace(
    safe: SafeRoot, trash: LocalTrash, fs_source: str, target: RelPath, fs_target: str
) -> None:
    with safe.parent(fs_source) as (folder, name):
        target_name = name_of(fs_target)
        if folder.regular_file(name) is None or folder.regular_file(target_name) is None:
            raise FileNotFoundError(fs_source)
        trash.keep_copy(target, folder, target_name, reason=TrashReason.CONFLICT_SET_ASIDE)
        folder.replace(name, target_name)
        folder.fsync()


def _rename(safe: SafeRoot, fs_path: str, target_name: str) -> None:
    with safe.parent(fs_path) as (folder, name):
        if folder.regular_file(name) is None:
            raise FileNotFoundError(fs_path)
        rename_no_replace(folder, name, folder, target_name)


def preview(config: Config, version: Version, *, chars: int = PREVIEW_CHARS) -> str | None:
    """The start of a version's text, read in the document sandbox (agent/documents) under
    tighter limits than the checks' (a page waits for it); None where no reader can make one
    (a format without a reader, a damaged or hostile file)."""
    from .documents.model import READABLE_SUFFIXES, TooComplex, Unreadable
    from .documents.sandbox import MIB, Limits, ReaderUnavailable, shared

    if Path(version.path).suffix.lower() not in READABLE_SUFFIXES:
        return None
    try:
        # Reached through safepath first: the worker gets no path through a symlink.
        with SafeRoot(config.root).parent(version.fs_path) as (folder, name):
            if folder.regular_file(name) is None:
                return None
        limits = Limits(memory_bytes=256 * MIB, cpu_seconds=5, wall_seconds=8.0)
        text = shared(limits).read(config.root / version.fs_path).text
    except (Unreadable, TooComplex, ReaderUnavailable, OSError, HosoError):
        return None
    text = " ".join(text.split())
    return text if len(text) <= chars else text[:chars].rstrip() + "…"
