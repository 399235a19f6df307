"""The records folder as an inspection reads it: every file once, by its NFC path.

A folder copied from a Mac can sit beside the same name in the other Unicode spelling
("Kế hoạch bài dạy" composed, NFC, and decomposed, NFD). The sync leaves both spellings out
until someone decides; an inspection must not drop them: the folders are read as one, and
each file below them is listed once, by its NFC path, with the real path that holds it.

Invariants:
- Symbolic links are never followed (neither folders nor files): they are listed apart.
- Nothing is dropped silently: two real files with one NFC path (``twins``, or a file and a
  folder), symbolic links, and what cannot be listed or is not a regular file
  (``unreadable``) are reported, for the caller to say what is not sent.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.api import (
    RelPath,
    _,
    is_within,
    nfc,
)

Ignored = Callable[[RelPath, bool], bool]  # (NFC path, is a folder) → not a record


@dataclass(frozen=True)
class Twin:
    """One NFC path held by several real entries (names differing only in spelling)."""

    path: RelPath
    spellings: tuple[str, ...]  # on-disk paths relative to the root, sorted
    folders: tuple[str, ...]  # those of ``spellings`` that are folders

    def reason(self, root: Path) -> str:
        """Why the file is not sent, naming each spelling, and what to do."""
        named = "; ".join(_spelling(root, fs) for fs in self.spellings)
        if self.folders:
            return _(
                "a file and a folder have this name in different Unicode spellings ({named}): "
                "rename the file, then send"
            ).format(named=named)
        return _(
            "two files have this name in different Unicode spellings ({named}), as happens "
            "when a file is copied from a Mac: keep one (delete or rename the other), then send"
        ).format(named=named)


def _spelling(root: Path, fs_path: str) -> str:
    """An on-disk path the teacher can tell from its twin: the two look the same on screen,
    so say which Unicode form it is and how large it is."""
    form = next((f for f in ("NFC", "NFD") if unicodedata.is_normalized(f, fs_path)), "mixed")
    try:
        info = os.stat(root / fs_path, follow_symlinks=False)
    except OSError:
        return f'"{fs_path}" ({form})'
    size = _("folder") if stat.S_ISDIR(info.st_mode) else _("{n} bytes").format(n=info.st_size)
    return f'"{fs_path}" ({form}, {size})'


@dataclass(frozen=True)
class RecordsTree:
    files: dict[RelPath, Path]  # NFC path → the real file
    twins: tuple[Twin, ...] = ()
    symlinks: tuple[RelPath, ...] = ()  # NFC paths; never followed
    unreadable: tuple[tuple[RelPath, str], ...] = ()  # (NFC path, why)

    def link_above(self, path: RelPath) -> RelPath | None:
        """The symbolic link that ``path`` is, or lies below, if any."""
        return next((link for link in self.symlinks if is_within(path, link)), None)

    def unreadable_above(self, path: RelPath) -> tuple[RelPath, str] | None:
        return next((item for item in self.unreadable if is_within(path, item[0])), None)


def _never(path: RelPath, is_dir: bool) -> bool:
    return False


def walk(root: Path, ignored: Ignored = _never) -> RecordsTree:
    """Every regular file below ``root`` by NFC path, folders of the same NFC name merged;
    symbolic links are not followed."""
    files: dict[RelPath, Path] = {}
    twins: list[Twin] = []
    symlinks: list[RelPath] = []
    unreadable: list[tuple[RelPath, str]] = []
    pending: list[tuple[RelPath, tuple[str, ...]]] = [("", ("",))]  # (NFC folder, spellings)
    while pending:
        folder, spellings = pending.pop()
        found: dict[RelPath, list[tuple[str, os.DirEntry[str]]]] = {}
        for fs_folder in spellings:
            try:
                with os.scandir(root / fs_folder) as listing:
                    entries = list(listing)
            except OSError as exc:
                unreadable.append((folder, exc.strerror or str(exc)))
                continue
            for entry in entries:
                key = _join(folder, nfc(entry.name))
                if entry.is_symlink():
                    if not ignored(key, False):
                        symlinks.append(key)
                    continue
                if not ignored(key, _is_dir(entry)):
                    found.setdefault(key, []).append((_join(fs_folder, entry.name), entry))
        for key, held in found.items():
            folders = tuple(fs for fs, entry in held if _is_dir(entry))
            if folders:
                pending.append((key, folders))
            if len(held) > 1 and len(folders) < len(held):
                twins.append(Twin(key, tuple(sorted(fs for fs, _e in held)), folders))
            elif not folders:
                fs_path, entry = held[0]
                if _is_file(entry):
                    files[key] = root / fs_path
                else:
                    unreadable.append((key, _("not a regular file")))
    return RecordsTree(
        files=files,
        twins=tuple(sorted(twins, key=lambda t: t.path)),
        symlinks=tuple(sorted(symlinks)),
        unreadable=tuple(sorted(unreadable)),
    )


def _join(folder: RelPath, name: str) -> RelPath:
    return f"{folder}/{name}" if folder else name


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False
