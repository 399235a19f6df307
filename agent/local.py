"""Walking, stat-ing and hashing the records folder (no network).

Invariants:
- Keys are NFC paths relative to the root, ``/``-separated; ``fs_path`` keeps the on-disk
  spelling so that the file can be opened again.
- Symlinks are never followed (listed in ``ScanResult.symlinks``); ignored folders are not
  descended into; folders that cannot be listed are reported, never raised, so a scan of a
  live folder always finishes. Paths below an unreadable folder are unknown, not deleted.
- Two names in one folder that are equal after NFC are both left out and reported as twins:
  neither is ever treated as deleted.
- ``scan`` hashes nothing: a file whose size/mtime/inode match the journal carries the
  journal's hash; ``hash_entries`` hashes the rest and notices files that change meanwhile.
- The agent's own files (marker, partial downloads, the share's trash folder) are ignored in
  a way no user pattern can undo.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import beacon
from .config import Config
from .errors import ConfigError, LocalError, SafetyStop
from .i18n import _
from .model import JournalEntry, Kind, LocalEntry, RelPath, nfc
from .restored import RESTORED_NAME
from .safepath import PARTIAL_SUFFIX, TEMP_PREFIX, SafeRoot

MARKER_NAME = ".hoso-root"
TRASH_DIR_NAME = ".hoso-trash"

# Office and OS litter: lock/owner files, temp saves, thumbnails. Users may re-include these.
_LITTER: tuple[str, ...] = (
    "~$*",
    ".~lock.*#",
    "~WRL*.tmp",
    "*.tmp",
    "Thumbs.db",
    "desktop.ini",
    ".DS_Store",
    ".davfs.tmp*",  # Apache mod_dav_fs leaves these behind when a server dies mid-PUT
)
# The agent's own files. Applied after the user's patterns so that no "!" pattern undoes them.
# The change beacon (agent/beacon.py) at any depth: a manager's copy holds the teachers'.
_OWN: tuple[str, ...] = (
    f"{TEMP_PREFIX}*",
    MARKER_NAME,
    RESTORED_NAME,
    f"{TRASH_DIR_NAME}/",
    beacon.NAME,
)
BUILTIN_IGNORES: tuple[str, ...] = _LITTER + _OWN

_CHUNK = 1024 * 1024


class IgnoreRules:
    """Gitignore-syntax rules: built-in litter, then the user's patterns, then ``extra``,
    then the agent's own files (last match wins, as in git). Immutable once built."""

    def __init__(self, user_patterns: Sequence[str] = (), *, extra: Sequence[str] = ()) -> None:
        user = [nfc(p) for p in user_patterns]
        added = [nfc(p) for p in extra]
        for pattern in (*user, *added):
            _check_pattern(pattern)
        lines = [*_LITTER, *user, *added, *_OWN]
        import pathspec  # here: `import agent.api` (every plugin, `hoso --help`) needs no rules

        self._spec = pathspec.GitIgnoreSpec.from_lines(lines)
        # Rescans ask about the same paths again and again; matching is the costly part.
        self._match = functools.lru_cache(maxsize=1 << 16)(self._match_uncached)

    def is_ignored(self, path: RelPath, is_dir: bool) -> bool:
        return self._match(nfc(path), is_dir)

    def is_ignored_for_watcher(self, path: RelPath, is_dir: bool) -> bool:
        """Like is_ignored, but office lock files are hints worth a pass (a closed document
        may unblock a waiting download)."""
        return self.is_ignored(path, is_dir) and not is_office_lock(path.rpartition("/")[2])

    def _match_uncached(self, key: RelPath, is_dir: bool) -> bool:
        # A trailing slash is how gitignore tells folder patterns ("build/") what is a folder.
        return self._spec.match_file(key + "/" if is_dir else key)


def literal_pattern(path: RelPath, *, folder: bool = False) -> str:
    """A gitignore pattern that matches exactly ``path`` (relative to the records root):
    anchored, its wildcard and escape characters escaped; with ``folder``, all below it."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", nfc(path).strip("/"))
    return f"/{escaped}/" if folder else f"/{escaped}"


def ignore_rules(config: Config) -> IgnoreRules:
    """The rules of one agent: built-ins, the user's `sync.ignore`, the share's trash and the
    encrypted copy of the backups on the share."""
    extra = (f"/{config.remote.trash_dir}/", f"/{config.backup.remote_dir}/")
    return IgnoreRules(config.sync.ignore, extra=extra)


def _check_pattern(pattern: str) -> None:
    import pathspec

    try:
        pathspec.GitIgnoreSpec.from_lines([pattern])
    except ValueError:
        raise ConfigError(
            _(
                'The ignore pattern "{pattern}" is not valid gitignore syntax. '
                "Fix or remove it in the ignore setting of [sync]."
            ).format(pattern=pattern)
        ) from None


@dataclass(frozen=True)
class ScanResult:
    """What one walk of the records folder found.

    ``twins``: groups of on-disk paths whose names are equal after NFC (left out of
    ``entries``). ``symlinks``: skipped, never followed. ``unreadable``: (path, reason) for
    folders and files that could not be listed or stat-ed, and for special files.
    """

    entries: dict[RelPath, LocalEntry]
    twins: tuple[tuple[RelPath, ...], ...] = ()
    symlinks: tuple[RelPath, ...] = ()
    unreadable: tuple[tuple[RelPath, str], ...] = ()
    leftovers: tuple[RelPath, ...] = ()  # on-disk paths of partial downloads a crash left


@dataclass
class _Walk:
    """Mutable accumulator of one scan; frozen into a ScanResult at the end."""

    journal: Mapping[RelPath, JournalEntry]
    ignore: IgnoreRules
    now_ns: int
    settle_ns: int
    entries: dict[RelPath, LocalEntry] = field(default_factory=dict)
    twins: list[tuple[RelPath, ...]] = field(default_factory=list)
    symlinks: list[RelPath] = field(default_factory=list)
    unreadable: list[tuple[RelPath, str]] = field(default_factory=list)
    leftovers: list[RelPath] = field(default_factory=list)
    pending: list[tuple[str, RelPath]] = field(default_factory=list)  # (fs dir, NFC dir)


def scan(
    root: Path,
    journal: Mapping[RelPath, JournalEntry],
    ignore: IgnoreRules,
    *,
    now_ns: int,
    settle_seconds: float,
) -> ScanResult:
    """Walk ``root`` without following symlinks and without hashing.

    Raises SafetyStop when the root itself is missing or cannot be listed: an empty result
    would look like every file had been deleted.
    """
    _check_root(root)
    walk = _Walk(journal, ignore, now_ns, int(settle_seconds * 1_000_000_000))
    walk.pending.append(("", ""))
    while walk.pending:
        fs_dir, key_dir = walk.pending.pop()
        _scan_dir(root, fs_dir, key_dir, walk)
    return ScanResult(
        entries=walk.entries,
        twins=tuple(walk.twins),
        symlinks=tuple(walk.symlinks),
        unreadable=tuple(walk.unreadable),
        leftovers=tuple(walk.leftovers),
    )


def _check_root(root: Path) -> None:
    try:
        with os.scandir(root):
            return
    except OSError as exc:
        raise SafetyStop(
            _(
                "The records folder {root} cannot be read ({detail}). Nothing was synced. "
                "Check that the folder exists (and its drive is connected), then try again."
            ).format(root=root, detail=exc.strerror or exc)
        ) from None


def _join(folder: RelPath, name: str) -> RelPath:
    return f"{folder}/{name}" if folder else name


def _scan_dir(root: Path, fs_dir: str, key_dir: RelPath, walk: _Walk) -> None:
    try:
        with os.scandir(os.path.join(root, fs_dir) if fs_dir else root) as it:
            listing = list(it)
    except OSError as exc:
        walk.unreadable.append((key_dir, exc.strerror or str(exc)))
        return
    keyed = [(_join(key_dir, nfc(e.name)), e) for e in listing]
    locks = _lock_names(key.rpartition("/")[2] for key, _e in keyed)
    by_key: dict[RelPath, list[os.DirEntry[str]]] = {}
    for key, dir_entry in keyed:
        if is_partial_download(dir_entry.name) and not _is_dir(dir_entry):
            walk.leftovers.append(_join(fs_dir, dir_entry.name))
            continue
        if walk.ignore.is_ignored(key, _is_dir(dir_entry)):
            continue
        if dir_entry.is_symlink():
            walk.symlinks.append(key)
            continue
        by_key.setdefault(key, []).append(dir_entry)
    for key, spellings in by_key.items():
        if len(spellings) > 1:
            walk.twins.append(tuple(sorted(_join(fs_dir, e.name) for e in spellings)))
        else:
            _add_entry(spellings[0], _join(fs_dir, spellings[0].name), key, locks, walk)


def _is_dir(dir_entry: os.DirEntry[str]) -> bool:
    try:
        return dir_entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _add_entry(
    dir_entry: os.DirEntry[str], fs_path: str, key: RelPath, locks: frozenset[str], walk: _Walk
) -> None:
    try:
        st = dir_entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return  # removed between listing and stat: the next scan sees the truth
    except OSError as exc:
        walk.unreadable.append((key, exc.strerror or str(exc)))
        return
    if stat.S_ISDIR(st.st_mode):
        walk.entries[key] = LocalEntry(key, Kind.DIR, 0, st.st_mtime_ns, st.st_ino, fs_path=fs_path)
        walk.pending.append((fs_path, key))
    elif stat.S_ISREG(st.st_mode):
        walk.entries[key] = _file_entry(st, fs_path, key, locks, walk)
    else:
        walk.unreadable.append((key, _("not a regular file or folder")))


def _file_entry(
    st: os.stat_result, fs_path: str, key: RelPath, locks: frozenset[str], walk: _Walk
) -> LocalEntry:
    settled = abs(walk.now_ns - st.st_mtime_ns) >= walk.settle_ns
    in_editor = bool(locks) and _has_lock_file(key.rpartition("/")[2], locks)
    known = walk.journal.get(key)

    def build(sha256: str | None) -> LocalEntry:
        return LocalEntry(
            key,
            Kind.FILE,
            st.st_size,
            st.st_mtime_ns,
            st.st_ino,
            fs_path=fs_path,
            sha256=sha256,
            settled=settled,
            open_in_editor=in_editor,
        )

    # Optimistic: most files match the journal, so this usually builds one entry per file.
    entry = build(known.sha256 if known is not None else None)
    if known is None or known.matches_local(entry):
        return entry
    return build(None)


def is_partial_download(name: str) -> bool:
    """Our own temp file for a download in progress (``.~hoso-<name>.<random>.part``)."""
    return name.startswith(TEMP_PREFIX) and name.endswith(PARTIAL_SUFFIX)


def is_office_lock(name: str) -> bool:
    """Word's ``~$…`` owner file or LibreOffice's ``.~lock.…#``: never synced, but their
    coming and going tells when a document was opened or closed."""
    return name.startswith(("~$", ".~lock."))


def _lock_names(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n for n in names if is_office_lock(n))


def _has_lock_file(name: str, locks: frozenset[str]) -> bool:
    """Word's owner file is "~$" + the name, with the first one or two characters dropped
    for longer names; LibreOffice's is ".~lock.<name>#"."""
    return any(
        c in locks for c in (f"~${name}", f"~${name[1:]}", f"~${name[2:]}", f".~lock.{name}#")
    )


# --- hashing --------------------------------------------------------------------------------


def _open_no_follow(path: str, flags: int) -> int:
    # A file swapped for a symlink after the scan must not make us read outside the root.
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(os.fspath(path), "rb", buffering=0, opener=_open_no_follow) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def hash_file(path: Path) -> str:
    """SHA-256 of the file's bytes, hex; raises LocalError when it cannot be read."""
    try:
        return _sha256_of(path)
    except OSError as exc:
        raise LocalError(
            _("Cannot read {path}: {detail}").format(path=path, detail=exc.strerror or exc)
        ) from None


def hash_entries(
    root: Path, entries: Iterable[LocalEntry], *, workers: int = 4
) -> dict[RelPath, LocalEntry]:
    """Hash files in a thread pool; re-stat each afterwards.

    A file whose size, mtime or inode changed since it was scanned comes back with the new
    stat, ``sha256=None`` and ``settled=False``. A file that cannot be read comes back
    unhashed (the transfer that needs it will report the error). A file that vanished, or
    is no longer a regular file, is omitted: the next scan sees what it became.
    """
    files = [e for e in entries if e.kind is Kind.FILE]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(lambda e: _hash_one(root, e), files)
        return {e.path: e for e in results if e is not None}


def _hash_one(root: Path, entry: LocalEntry) -> LocalEntry | None:
    path = absolute(root, entry)
    try:
        digest: str | None = _sha256_of(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.EISDIR, errno.ELOOP):
            return None
        digest = None
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if (st.st_size, st.st_mtime_ns, st.st_ino) == (entry.size, entry.mtime_ns, entry.inode):
        return replace(entry, sha256=digest)
    return replace(
        entry,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
        sha256=None,
        settled=False,
    )


# --- paths and the root marker --------------------------------------------------------------


def absolute(root: Path, entry: LocalEntry) -> Path:
    """Where the entry lives on disk (its on-disk spelling; its key when it has none yet)."""
    return root / (entry.fs_path or entry.path)


def read_marker(root: Path) -> str | None:
    """The identity written in the root marker, or None when there is no marker."""
    try:
        # Not followed: a link planted under the marker's name is no marker.
        with open(root / MARKER_NAME, encoding="utf-8", opener=_open_no_follow) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(
            _("Cannot read the marker file {path}: {detail}").format(
                path=root / MARKER_NAME, detail=getattr(exc, "strerror", None) or exc
            )
        ) from None


def write_marker(root: Path, ident: str) -> None:
    """Write the marker atomically: a temp file (ignored by scans), fsync, rename; a link
    planted under the marker's name is replaced, never written through."""
    try:
        with SafeRoot(root).folder("") as folder:
            folder.write_atomically(MARKER_NAME, (ident + "\n").encode("utf-8"))
    except OSError as exc:
        raise LocalError(
            _("Cannot write the marker file {path}: {detail}").format(
                path=root / MARKER_NAME, detail=exc.strerror or exc
            )
        ) from None
