"""What the index holds of a folder: its files (a walk that never follows a symbolic link)
and each file's metadata (record type, week, subject, teacher folder).

Invariants: every path is relative to the folder walked, NFC, ``/``-separated, built only
from the names a listing gave (never ``..``, never absolute); a symbolic link is neither
followed nor listed; a name that is not valid UTF-8 is left out (it could not be shown or
stored faithfully).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agent.api import RecordType, classify, nfc, week_of_path

Skip = Callable[[str, bool], bool]  # (relative path, is a folder) -> leave it out


@dataclass(frozen=True)
class Stamp:
    size: int
    mtime_ns: int


_INT64 = 2**63 - 1  # SQLite's largest integer


def stamp_of(st: os.stat_result) -> Stamp:
    """``st``'s stamp, its time kept within what SQLite stores: a file dated past 2262 (a
    clock far off, a bogus date from a copy) has a time in nanoseconds past 2**63."""
    return Stamp(st.st_size, max(-_INT64, min(st.st_mtime_ns, _INT64)))


@dataclass(frozen=True)
class Found:
    path: str  # relative, NFC
    file: Path  # on disk, as listed (a Mac's NFD name stays NFD here)
    stamp: Stamp


def walk(root: Path, skip: Skip) -> dict[str, Found]:
    """Every regular file below ``root`` that ``skip`` keeps, by relative NFC path."""
    found: dict[str, Found] = {}
    pending: list[tuple[Path, str]] = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # unreadable folder: what it holds cannot be searched
        for entry in entries:
            if not _valid(entry.name):
                continue
            rel = prefix + nfc(entry.name)
            try:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if not skip(rel, True):
                        pending.append((Path(entry.path), rel + "/"))
                    continue
                if not entry.is_file(follow_symlinks=False) or skip(rel, False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone while listed
            found.setdefault(rel, Found(rel, Path(entry.path), stamp_of(st)))
    return found


def _valid(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def stat_one(root: Path, path: str) -> Found | None:
    """The file at ``path`` (NFC) below ``root`` in any Unicode spelling (a folder made on a
    Mac is NFD on disk, maybe beside an NFC twin), reached without any symbolic link; None
    when it is not there (or not a regular file)."""
    parts = PurePosixPath(path).parts
    if not parts or ".." in parts or PurePosixPath(path).is_absolute():
        return None
    reached = _reach(root, parts)
    if reached is None:
        return None
    file, st = reached
    return Found(nfc(path), file, stamp_of(st))


def _reach(root: Path, parts: tuple[str, ...]) -> tuple[Path, os.stat_result] | None:
    """The regular file at ``parts`` below ``root``: each name as given first, then its other
    spellings (a folder is listed only once the name as given led nowhere: a gone file's
    folders). A loop, not recursion: a path may be a thousand folders deep."""
    # (entry, depth, whether to list the entry's folder for other spellings instead)
    pending: list[tuple[Path, int, bool]] = [(root / parts[0], 0, False)]
    while pending:
        entry, depth, respell = pending.pop()
        if respell:
            try:
                names = [e.name for e in os.scandir(entry.parent) if _valid(e.name)]
            except OSError:
                continue
            others = [n for n in names if n != entry.name and nfc(n) == parts[depth]]
            pending += [(entry.parent / n, depth, False) for n in others]
            continue
        if entry.name == parts[depth]:  # as given: its other spellings after it, if needed
            pending.append((entry, depth, True))
        try:
            st = entry.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        if depth == len(parts) - 1:
            if stat.S_ISREG(st.st_mode):
                return entry, st
        elif stat.S_ISDIR(st.st_mode):
            pending.append((entry / parts[depth + 1], depth + 1, False))
    return None


@dataclass(frozen=True)
class Meta:
    """What a record is, from its path."""

    name: str
    type: str | None
    week: int | None
    subject: str | None
    teacher: str | None  # first folder, the teacher's on a manager's copy


def meta_of(path: str, types: Sequence[RecordType], *, by_teacher: bool) -> Meta:
    """``path``'s metadata. On a manager's copy (``by_teacher``) the first folder is the
    teacher's, and the type is classified on the path inside it."""
    parts = PurePosixPath(path).parts
    own = "/".join(parts[1:]) if by_teacher and len(parts) > 1 else path
    record_type = classify(own, list(types))
    return Meta(
        name=parts[-1],
        type=record_type.code if record_type is not None else None,
        week=week_of_path(path),
        subject=subject_of(parts),
        teacher=parts[0] if by_teacher and len(parts) > 1 else None,
    )


def subject_of(parts: Sequence[str]) -> str | None:
    """The folder right under the nearest week folder ("Tuần 12/Toán/Bài 3.docx" → "Toán")."""
    folders = parts[:-1]
    for index in range(len(folders) - 1, -1, -1):
        # Asked as the folder of a file named "-", which can hold no week of its own.
        if week_of_path(folders[index] + "/-") is not None:
            return folders[index + 1] if index + 1 < len(folders) else None
    return None
