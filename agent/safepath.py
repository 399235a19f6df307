"""The one gate for the agent's own writes inside the records folder.

Every write, rename, mkdir and delete the agent makes in the records folder goes through a
:class:`SafeRoot`. It walks from the root, opening each folder with ``O_DIRECTORY|O_NOFOLLOW``,
and then works relative to that folder's descriptor (``dir_fd`` calls), so:

- a symlink at any level below the root (to a file or a folder, dangling or not) is refused,
  never followed: nothing the share serves can be written through ``link -> ~/.ssh``;
- a folder swapped for a symlink after the scan is refused when it is opened, and a folder
  swapped after it was opened keeps receiving the write (the descriptor names the folder,
  not the path), so the write can never land outside it;
- a path with an empty, ``.``, ``..`` or absolute part is refused before anything is opened.

A refusal is an :class:`UnsafePath`, a per-file error that names the path and says why. The
root itself is the teacher's choice and may be reached through a symlink. Needs the POSIX
``dir_fd`` calls (Linux, macOS, BSD).

Writes, no-replace renames and folder fsyncs go through :mod:`agent.durable`'s descriptor
functions, so they follow its one policy (a folder fsync a file system cannot do is
tolerated and logged once; EIO and the like are raised).

The agent's private folders outside the records folder (state, trash, logs) are made with
:func:`private_dir`: mode 0700 at every level the agent creates.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from . import durable
from .durable import TEMP_PREFIX as TEMP_PREFIX  # re-exported: local.py's ignore rules
from .errors import LocalError
from .i18n import _
from .model import nfc

# The agent's temp files start with TEMP_PREFIX: hidden, and ignored by every scan; those of
# downloads end in PARTIAL_SUFFIX and are swept by the next scan (see local.py).
PARTIAL_SUFFIX = ".part"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1024 * 1024


class UnsafePath(LocalError):
    """A path inside the records folder that the agent refuses to write through."""


def split(rel: str) -> list[str]:
    """The parts of a relative, ``/``-separated path; UnsafePath for any part that could
    leave the folder or name it twice (empty, ``.``, ``..``, NUL, an absolute path)."""
    if rel.startswith("/"):
        raise UnsafePath(_("{path}: refused, the path is absolute.").format(path=rel))
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", "..") or "\0" in part:
            raise UnsafePath(
                _("{path}: refused, the path has an empty, “.” or “..” part.").format(path=rel)
            )
    return parts


class Folder:
    """An open folder inside the records folder; ``rel`` is its path from the root ("" for
    the root). Names given to its methods are single names in this folder."""

    def __init__(self, fd: int, rel: str) -> None:
        self.fd = fd
        self.rel = rel

    def close(self) -> None:
        os.close(self.fd)

    def path_of(self, name: str) -> str:
        return f"{self.rel}/{name}" if self.rel else name

    def lstat(self, name: str) -> os.stat_result | None:
        """The entry itself (a symlink is not followed); None when there is none."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def regular_file(self, name: str) -> os.stat_result | None:
        """The stat of a regular file ``name``; None when missing; UnsafePath when ``name``
        is a symlink or something else than a file."""
        st = self.lstat(name)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise _refusal(self.path_of(name), st)
        return st

    def open_temp(
        self,
        name: str,
        *,
        mode: int | None = None,
        suffix: str = PARTIAL_SUFFIX,
        sync: bool = True,
    ) -> contextlib.AbstractContextManager[durable.TempFile]:
        """A new hidden temp file for ``name`` in this folder, written as a stream
        (durable.open_temp_at: removed at the end of the block unless installed or kept).
        ``mode`` None: as ``open`` makes files (0o666 through the umask), like downloads."""
        return durable.open_temp_at(self.fd, name, mode=mode, temp_suffix=suffix, sync=sync)

    def write_atomically(self, name: str, data: bytes, mode: int = 0o600) -> None:
        """Put a file of hoso's own at ``name`` whole or not at all: a temp file, fsync,
        rename, fsync of the folder; a link planted under ``name`` is replaced, never
        written through."""
        durable.write_atomic_at(self.fd, name, data, mode=mode)

    def open_file(self, name: str) -> int:
        """A descriptor open for reading on the regular file ``name`` (never a link)."""
        return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)

    def replace(self, source: str, target: str) -> None:
        """Atomically put ``source`` in place of ``target`` (both in this folder); a symlink
        named ``target`` is replaced itself, never written through."""
        os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def unlink(self, name: str, *, missing_ok: bool = False) -> None:
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def set_mtime(self, name: str, seconds: int) -> None:
        os.utime(name, (seconds, seconds), dir_fd=self.fd, follow_symlinks=False)

    def fsync(self) -> None:
        """Make renames and removals in this folder durable (durable.py's policy)."""
        durable.fsync_dir_at(self.fd)

    def link_out(self, name: str, destination: Path) -> None:
        """Hard-link the file ``name`` to ``destination`` (outside the records folder); a
        copy where hard links are impossible."""
        try:
            os.link(name, destination, src_dir_fd=self.fd, follow_symlinks=False)
        except OSError:
            self.copy_out(name, destination)

    def move_out(self, name: str, destination: Path) -> None:
        """Move ``name`` (a file or a whole folder) to ``destination`` outside the records
        folder: a rename, or across file systems a durable copy and then the removal."""
        try:
            os.rename(name, destination, src_dir_fd=self.fd)
            return
        except OSError:
            pass
        self.copy_out(name, destination)
        if stat.S_ISDIR(os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_mode):
            shutil.rmtree(name, dir_fd=self.fd)
        else:
            os.unlink(name, dir_fd=self.fd)

    def copy_out(self, name: str, destination: Path) -> None:
        """Copy ``name`` to ``destination`` without following any link below this folder
        (links inside a copied folder are copied as links). A file arrives whole or not at
        all and never replaces: FileExistsError when ``destination`` is taken."""
        st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=self.fd), destination)
        elif stat.S_ISDIR(st.st_mode):
            destination.mkdir()
            with self.subfolder(name) as sub:
                for entry in os.listdir(sub.fd):
                    sub.copy_out(entry, destination / entry)
        else:
            with (
                os.fdopen(self.open_file(name), "rb") as src,
                durable.open_temp(destination, mode=None) as dst,
            ):
                shutil.copyfileobj(src, dst, _CHUNK)
                dst.finish()
                os.utime(dst.name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst.dir_fd)
                dst.install(replace=False)

    def bring_in(self, source: Path, name: str) -> None:
        """Put ``source`` (a file or folder outside the records folder, e.g. in the trash) at
        the new name ``name``: a hard link or rename, a copy across file systems. Never
        replaces: FileExistsError when ``name`` is taken."""
        if source.is_symlink():
            raise UnsafePath(
                _(
                    "{path} is a symbolic link; hoso does not put links into the records folder."
                ).format(path=source)
            )
        if self.lstat(name) is not None:
            raise FileExistsError(self.path_of(name))
        try:
            if source.is_dir():
                os.rename(source, name, dst_dir_fd=self.fd)
            else:
                os.link(source, name, dst_dir_fd=self.fd, follow_symlinks=False)
            return
        except FileExistsError:
            raise
        except OSError:
            pass  # another file system, or no hard links: copy
        if not source.is_dir():
            self.copy_in(source, name)  # a file arrives whole: a temp file, then a rename
            return
        # A folder is copied under a hidden temp name and renamed whole: a copy that stops
        # (a full disk) never leaves half a folder that the next pass would carry to the share.
        temp = f"{TEMP_PREFIX}in-{secrets.token_hex(4)}"
        try:
            self.copy_in(source, temp)
            rename_no_replace(self, temp, self, name)
        except BaseException:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp, dir_fd=self.fd)
            raise

    def copy_in(self, source: Path, name: str) -> None:
        """Copy ``source`` (from outside the records folder) to the new entry ``name``."""
        st = source.lstat()
        if stat.S_ISLNK(st.st_mode):
            return  # a link kept in the trash is not brought back into the records folder
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, dir_fd=self.fd)
            with self.subfolder(name) as sub:
                for child in source.iterdir():
                    sub.copy_in(child, child.name)
            return
        with open(source, "rb") as src, self.open_temp(name) as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
            dst.finish()
            os.utime(dst.name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=self.fd)
            dst.install(replace=False)

    @contextlib.contextmanager
    def subfolder(self, name: str, *, create: bool = False) -> Iterator[Folder]:
        sub = Folder(_open_child(self, name, create=create), self.path_of(name))
        try:
            yield sub
        finally:
            sub.close()


def rename_no_replace(source: Folder, source_name: str, target: Folder, target_name: str) -> None:
    """Rename without ever replacing an existing target (durable.rename_no_replace_at):
    FileExistsError when the target name is taken (by anything, a dangling link too)."""
    durable.rename_no_replace_at(source.fd, source_name, target.fd, target_name)


class SafeRoot:
    """The records folder, for writes that never follow a symlink below it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextlib.contextmanager
    def folder(self, rel: str, *, create: bool = False) -> Iterator[Folder]:
        """The folder ``rel`` ("" for the root), opened level by level without following
        links; with ``create``, missing folders are made on the way.

        FileNotFoundError when a folder is missing (and not created); UnsafePath when a part
        is a symlink, not a folder, or a part of ``rel`` is not a plain name."""
        parts = split(rel) if rel else []
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        current = Folder(fd, "")
        try:
            for part in parts:
                child = Folder(_open_child(current, part, create=create), current.path_of(part))
                current.close()
                current = child
            yield current
        finally:
            current.close()

    @contextlib.contextmanager
    def parent(self, rel: str, *, create: bool = False) -> Iterator[tuple[Folder, str]]:
        """The folder holding ``rel``, opened as by :meth:`folder`, and ``rel``'s own name."""
        parts = split(rel)
        with self.folder("/".join(parts[:-1]), create=create) as folder:
            yield folder, parts[-1]

    def spelled(self, rel: str) -> str:
        """``rel``, a records path in NFC (a form's, the journal's), as spelled on disk: at
        each level the one name equal to its part after NFC (a Mac writes NFD), the part
        itself where nothing is there yet. Writing by the NFC key instead would put a twin
        beside the teacher's file. UnsafePath when a level holds two such names."""
        spelled: list[str] = []
        for part in split(rel):
            try:
                with self.folder("/".join(spelled)) as folder:
                    names = [n for n in os.listdir(folder.fd) if nfc(n) == nfc(part)]
            except FileNotFoundError:
                names = []
            if len(names) > 1:
                raise UnsafePath(
                    _(
                        "{path} is spelled twice in the records folder (two names that look "
                        "the same); rename one of them first."
                    ).format(path="/".join([*spelled, part]))
                )
            spelled.append(names[0] if names else part)
        return "/".join(spelled)

    def lstat(self, rel: str) -> os.stat_result | None:
        """``rel`` itself (never followed); None when it or a folder above it is missing."""
        try:
            with self.parent(rel) as (folder, name):
                return folder.lstat(name)
        except FileNotFoundError:
            return None

    def makedirs(self, rel: str) -> os.stat_result:
        """Make the folder ``rel`` and the missing ones above it; returns its stat."""
        with self.folder(rel, create=True) as folder:
            return os.fstat(folder.fd)


def _open_child(folder: Folder, name: str, *, create: bool) -> int:
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, dir_fd=folder.fd)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=folder.fd)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        st = folder.lstat(name)
        if st is None:
            raise FileNotFoundError(folder.path_of(name)) from None
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise _refusal(folder.path_of(name), st) from None
        raise


def _refusal(part: str, st: os.stat_result) -> UnsafePath:
    if stat.S_ISLNK(st.st_mode):
        return UnsafePath(
            _(
                "Not written: {part} in the records folder is a symbolic link, and hoso never "
                "writes through links. Replace the link by a real folder or file to sync it."
            ).format(part=part)
        )
    return UnsafePath(
        _(
            "Not written: {part} in the records folder is not what the agent expected (a "
            "folder replaced by a file, or the reverse). The next pass looks again."
        ).format(part=part)
    )


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner can enter: every level created here is 0700
    (mkdir's own mode would apply to the last level only, and through the umask)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        os.chmod(folder, 0o700)
    # An older agent made it 0755: the trash and journal in it are the teacher's records. A
    # folder an admin prepared for us (owned by someone else) is theirs to set.
    with contextlib.suppress(PermissionError):
        os.chmod(path, 0o700)
    return path
