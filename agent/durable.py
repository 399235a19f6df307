"""Writing a file safely: the one way hoso puts bytes on disk that must survive a crash.

A file is written whole or not at all: a temp file in the target's own folder, the bytes,
fsync of the file, a rename onto the target (or a no-replace link/rename for a new file), and
an fsync of the folder so that the rename itself survives a power cut. A reader sees the old
file or the new one, never a mix, never a truncated file.

Policy when a folder cannot be fsync'd (the one policy of the agent and its plugins):

- ``EINVAL``, ``ENOTSUP``/``EOPNOTSUPP``: the file system cannot fsync a folder at all (some
  FUSE, network (SMB/CIFS, some NFS setups), vfat/exFAT mounts, /proc). Tolerated: the file
  itself was fsync'd and the rename is as durable as that file system allows. Logged once per
  file system (device) and process, as a warning, so that an admin knows.
- Any other error (``EIO``, ``EROFS``, ``ENOSPC``, ``EBADF`` …): raised as the OSError. The
  rename may be lost at a power cut, and a failing drive must not pass for success; callers
  turn it into their own error (a per-file failure, a ``LocalError`` …).

Bytes that come as a stream (a download, a copy, blobs from a backup) go through
:func:`open_temp_at` / :func:`open_temp`: the same temp file, written piece by piece, then
:meth:`TempFile.install` (the rename and folder fsync above) or, for a caller that puts many
files in place at once, :meth:`TempFile.keep`. The whole-``bytes`` functions are that same
temp file written in one go.

Leftover temp files: a process killed mid-write leaves at most one temp file per write,
named ``.~hoso-<target name>.<12 hex>.tmp`` (``temp_prefix`` instead of ``.~hoso-`` where a
caller's format names its temps, as the backup repository's ``.tmp-``; ``temp_suffix``
instead of ``.tmp`` where the name tells who sweeps it: the sync's downloads end in ``.part``,
a restore's in ``.restore``). It never stands in
the way of a later write (every temp gets a fresh random name, created with ``O_EXCL``) and
the target is never touched by it. Who removes it: a writer that holds a lock every writer of
its file takes (the vault) calls :func:`remove_stale_temps` for that target; the backup
repository's prune removes its ``.tmp-*``. In the records folder the sync and the backup
ignore ``.~hoso-*`` names and leave them alone: a plugin may be writing while a pass scans,
so only the sync's own ``.part`` downloads are swept there.

Each function has a ``*_at`` twin that works relative to an open folder descriptor, so that
safepath's :class:`~agent.safepath.Folder` keeps its symlink safety (nothing is reached by
path below the records root) under this same policy. Needs the POSIX ``dir_fd`` calls.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".~hoso-"
TEMP_SUFFIX = ".tmp"
_TOLERATED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NAME_BYTES = 180  # of the target's name inside a temp name: the whole stays under NAME_MAX
_RENAME_NOREPLACE = 1

# The logger hoso.durable (agent.log names every module's logger "hoso.<module>"; this module
# sits below it in the layers).
log = logging.getLogger("hoso.durable")
_warned: set[int] = set()
_warned_lock = threading.Lock()


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o600,
    temp_prefix: str = TEMP_PREFIX,
    parents: bool = True,
) -> None:
    """Replace ``path`` with ``data`` whole or not at all: temp file in the same folder,
    write, fsync, rename over ``path``, fsync the folder. Missing folders above are made
    (``parents=False``: FileNotFoundError instead, e.g. a backup drive not mounted). A
    symlink at ``path`` is replaced itself, never written through."""
    with _parent(path, make=parents) as fd:
        write_atomic_at(fd, path.name, data, mode=mode, temp_prefix=temp_prefix)


def create_new(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Like :func:`write_atomic`, but FileExistsError when ``path`` exists (anything, a
    dangling link too): never replaces. A crash leaves no file or the whole one."""
    with _parent(path) as fd:
        create_new_at(fd, path.name, data, mode=mode)


def rename_no_replace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, FileExistsError when ``dst`` exists; both folders fsync'd.

    renameat2(RENAME_NOREPLACE) where the kernel and file system have it; else, for a file, a
    hard link and the removal of the old name (a crash in between leaves both names, never
    none); else (a folder on a file system with neither) a check then a plain rename."""
    src_fd = os.open(src.parent, _DIR_FLAGS)
    try:
        dst_fd = os.open(dst.parent, _DIR_FLAGS)
        try:
            rename_no_replace_at(src_fd, src.name, dst_fd, dst.name)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def fsync_file(path: Path) -> None:
    """Put the bytes of a finished file on disk (one another program wrote, e.g. LibreOffice's
    PDF) before a rename publishes it under its real name."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames and removals in the folder ``path`` durable, under the policy above."""
    fd = os.open(path, _DIR_FLAGS)
    try:
        fsync_dir_at(fd)
    finally:
        os.close(fd)


# --- the same, relative to an open folder ---------------------------------------------------


def write_atomic_at(
    dir_fd: int, name: str, data: bytes, *, mode: int = 0o600, temp_prefix: str = TEMP_PREFIX
) -> None:
    """:func:`write_atomic` of ``name`` in the folder open as ``dir_fd``."""
    with open_temp_at(dir_fd, name, mode=mode, temp_prefix=temp_prefix) as temp:
        temp.write(data)
        temp.install(replace=True)


def create_new_at(dir_fd: int, name: str, data: bytes, *, mode: int = 0o600) -> None:
    """:func:`create_new` of ``name`` in the folder open as ``dir_fd``."""
    if _lstat(dir_fd, name) is not None:  # spare the write; the rename below still decides
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name)
    with open_temp_at(dir_fd, name, mode=mode) as temp:
        temp.write(data)
        temp.install(replace=False)


def rename_no_replace_at(
    src_fd: int, src_name: str, dst_fd: int, dst_name: str, *, sync: bool = True
) -> None:
    """:func:`rename_no_replace` between two open folders; ``sync=False``: the caller makes
    the folders durable itself, once for many renames (a restore)."""
    _no_replace(src_fd, src_name, dst_fd, dst_name)
    _unlink_quietly(src_fd, src_name, only_if_same_as=(dst_fd, dst_name))
    if not sync:
        return
    fsync_dir_at(dst_fd)
    if not _same_folder(src_fd, dst_fd):
        fsync_dir_at(src_fd)


def fsync_dir_at(dir_fd: int) -> None:
    """:func:`fsync_dir` of an open folder."""
    try:
        os.fsync(dir_fd)
    except OSError as exc:
        if exc.errno not in _TOLERATED:
            raise
        device = os.fstat(dir_fd).st_dev
        with _warned_lock:
            first = device not in _warned
            _warned.add(device)
        if first:
            log.warning(
                "this file system cannot make folder changes durable (fsync of a folder: %s); "
                "a power cut may undo the last renames in it",
                exc.strerror,
            )


def stale_temps(
    path: Path, *, temp_prefix: str = TEMP_PREFIX, temp_suffix: str = TEMP_SUFFIX
) -> Iterator[Path]:
    """The temp files a killed writer of ``path`` left beside it."""
    pattern = re.compile(
        re.escape(_temp_stem(path.name, temp_prefix)) + r"[0-9a-f]{12}" + re.escape(temp_suffix)
    )
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return
    for found in names:
        if pattern.fullmatch(found):
            yield path.parent / found


def remove_stale_temps(
    path: Path, *, temp_prefix: str = TEMP_PREFIX, temp_suffix: str = TEMP_SUFFIX
) -> int:
    """Remove what :func:`stale_temps` finds; returns how many. Only for a caller that holds
    a lock every writer of ``path`` takes (else a live writer's temp could go)."""
    removed = 0
    for temp in stale_temps(path, temp_prefix=temp_prefix, temp_suffix=temp_suffix):
        temp.unlink(missing_ok=True)
        removed += 1
    return removed


# --- streamed writes --------------------------------------------------------------------------


class TempFile:
    """A temp file beside its target being written (see :func:`open_temp_at`); a writable
    binary file (``write``), ``name`` is the temp's own name in the folder ``dir_fd``."""

    def __init__(self, dir_fd: int, target: str, name: str, fd: int, *, sync: bool) -> None:
        self.dir_fd = dir_fd
        self.target = target
        self.name = name
        self._fd: int | None = fd
        self._sync = sync
        self.kept = False

    def write(self, data: Any) -> int:
        """Write all of ``data`` (a bytes-like object); returns its length."""
        if self._fd is None:
            raise ValueError(f"{self.name}: written after it was finished")
        view = memoryview(data).cast("B")
        size = len(view)
        while view:
            view = view[os.write(self._fd, view) :]
        return size

    def finish(self) -> None:
        """The bytes are all written: fsync (unless opened with ``sync=False``) and close.
        Once only; the temp stays until :meth:`install` or the end of the block."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._sync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def install(self, *, replace: bool) -> None:
        """:meth:`finish`, then put the temp at the target name and fsync the folder:
        replacing what is there (``replace=True``, as :func:`write_atomic`; a link is replaced
        itself) or never (FileExistsError when the name is taken, as :func:`create_new`)."""
        self.finish()
        if replace:
            os.replace(self.name, self.target, src_dir_fd=self.dir_fd, dst_dir_fd=self.dir_fd)
            fsync_dir_at(self.dir_fd)
        else:
            rename_no_replace_at(self.dir_fd, self.name, self.dir_fd, self.target)

    def keep(self) -> None:
        """:meth:`finish`, and leave the temp after the block: the caller puts it in place
        (or removes it) itself, e.g. many files made durable by one ``os.sync``."""
        self.finish()
        self.kept = True


def new_temp_at(
    dir_fd: int,
    name: str,
    *,
    mode: int = 0o600,
    temp_prefix: str = TEMP_PREFIX,
    suffix: str = TEMP_SUFFIX,
) -> tuple[str, int]:
    """A new, empty temp file for ``name`` in the folder ``dir_fd``: (its name, a descriptor
    open for writing). The caller closes, renames or removes it itself: for a writer of many
    files at once (a restore), which :func:`open_temp_at`'s one block per file does not fit."""
    return _create_temp(dir_fd, name, mode, temp_prefix, suffix)


@contextlib.contextmanager
def open_temp_at(
    dir_fd: int,
    name: str,
    *,
    mode: int | None = 0o600,
    temp_prefix: str = TEMP_PREFIX,
    temp_suffix: str = TEMP_SUFFIX,
    sync: bool = True,
) -> Iterator[TempFile]:
    """A new temp file for ``name`` in the folder open as ``dir_fd``, to be written as a
    stream. Inside the block the caller writes it and calls :meth:`TempFile.install` (or
    :meth:`TempFile.keep`); at the end of the block, exception or not, a temp neither
    installed nor kept is removed, so the target is never touched by a failed write.
    ``mode``: exactly that, or None for 0o666 through the umask (as ``open`` makes files).
    ``sync=False``: no fsync of the file, for a caller that syncs many at once."""
    temp, fd = _create_temp(dir_fd, name, mode, temp_prefix, temp_suffix)
    stream = TempFile(dir_fd, name, temp, fd, sync=sync)
    try:
        yield stream
    finally:
        if stream._fd is not None:  # not finished: the block failed or gave up on it
            os.close(stream._fd)
            stream._fd = None
        if not stream.kept:
            _unlink_quietly(dir_fd, temp)  # gone already after an install


@contextlib.contextmanager
def open_temp(
    path: Path,
    *,
    mode: int | None = 0o600,
    temp_prefix: str = TEMP_PREFIX,
    temp_suffix: str = TEMP_SUFFIX,
    sync: bool = True,
) -> Iterator[TempFile]:
    """:func:`open_temp_at` for ``path``; its folder must exist (FileNotFoundError)."""
    with (
        _parent(path, make=False) as fd,
        open_temp_at(
            fd, path.name, mode=mode, temp_prefix=temp_prefix, temp_suffix=temp_suffix, sync=sync
        ) as temp,
    ):
        yield temp


# --- pieces -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _parent(path: Path, *, make: bool = True) -> Iterator[int]:
    """The folder holding ``path``, open; missing levels are made, each fsync'd into its own."""
    missing = [p for p in (path.parent, *path.parent.parents) if make and not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir()
        fsync_dir(folder.parent)
    fd = os.open(path.parent, _DIR_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def _temp_stem(name: str, temp_prefix: str) -> str:
    short = name.encode("utf-8", "surrogateescape")[:_NAME_BYTES].decode("utf-8", "ignore")
    return f"{temp_prefix}{short}."


def _create_temp(
    dir_fd: int, name: str, mode: int | None, temp_prefix: str, temp_suffix: str
) -> tuple[str, int]:
    """A new, empty temp file beside ``name``: (its name, a descriptor open for writing)."""
    while True:
        temp = f"{_temp_stem(name, temp_prefix)}{secrets.token_hex(6)}{temp_suffix}"
        try:
            fd = os.open(temp, _NEW_FILE, 0o666 if mode is None else 0o600, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    if mode not in (None, 0o600):
        try:
            os.fchmod(fd, mode)  # not through the umask: the caller's mode, exactly
        except BaseException:
            os.close(fd)
            _unlink_quietly(dir_fd, temp)
            raise
    return temp, fd


def _no_replace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """Put ``src`` at ``dst`` unless ``dst`` exists (FileExistsError). After a hard link the
    old name still exists; the caller removes it."""
    if _renameat2(src_fd, src, dst_fd, dst):
        return
    st = os.stat(src, dir_fd=src_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        try:
            os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            return
        except FileExistsError:
            raise
        except OSError:
            pass  # no hard links here (FAT, some network drives)
    if _lstat(dst_fd, dst) is not None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)


def _renameat2(src_fd: int, src: str, dst_fd: int, dst: str) -> bool:
    """renameat2(RENAME_NOREPLACE); False where the kernel, libc or file system lacks it."""
    if _libc_renameat2 is None:
        return False
    result = _libc_renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), _RENAME_NOREPLACE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise (FileExistsError if code == errno.EEXIST else OSError)(code, os.strerror(code), dst)


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # not Linux/glibc ≥ 2.28: the link fallback serves
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_libc_renameat2 = _load_renameat2()


def _lstat(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _unlink_quietly(
    dir_fd: int, name: str, *, only_if_same_as: tuple[int, str] | None = None
) -> None:
    """Remove ``name`` if it is still there (and, with ``only_if_same_as``, only while it is
    a second name of that file: the old name a hard link left)."""
    there = _lstat(dir_fd, name)
    if there is None:
        return
    if only_if_same_as is not None:
        other = _lstat(*only_if_same_as)
        if other is None or (other.st_dev, other.st_ino) != (there.st_dev, there.st_ino):
            return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


def _same_folder(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
