"""Restored files put together from blobs that arrive in pack order, not file order.

A restore reads each pack once (:mod:`agent.backup.blobfetch`), so a file's blobs come in
the order the packs hold them: a file stored in pieces over several backups gets its pieces
out of order, and a blob several files share comes once for all of them.

Invariants:
- Each file is written under a temp name beside its real name (``.~hoso-<name>.<random>
  .restore``, mode 0600), each blob straight at its offset. Only :meth:`Assembly.complete`
  files are handed to the caller, who renames them once they are durable; :meth:`discard`
  removes every other temp this assembly made.
- A file's SHA-256 is computed as its bytes are produced, in file order, once: a blob that
  arrives in order is hashed from memory; one that arrives ahead of a gap is hashed when the
  gap fills, read back from the temp (the page cache), so no blob is held for it. A file is
  complete only when every piece is written and its size and SHA-256 are the snapshot's;
  it then gets its mode and modification time.
- At most ``_OPEN`` temps (and ``_MADE_AHEAD`` made ahead) and ``_FOLDERS`` folders are open
  at once per writer, whatever the tree: a desktop's limit of 1,024 descriptors is far.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import durable
from ..errors import BackupDamaged, LocalError
from ..i18n import _
from ..safepath import Folder, SafeRoot

TEMP_SUFFIX = ".restore"
_OPEN = 32  # temps open at once; a file whose pieces are in many packs is reopened
# Making a file takes 0.6 ms on some file systems (ext4 on a loaded disk), more than writing
# 120 KB into it: several are made at once, ahead of their first blob.
_MAKERS = 1  # per writer: more only wait longer for the file system's locks
_MADE_AHEAD = 16  # temps made (and open) ahead of their first blob, per writer
_WRITERS = 4
_QUEUED = 32 * 1024 * 1024  # bytes of blobs waiting for the writers
_FOLDERS = 16
_WRITE = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Piece:
    """Blob ``blob`` is the file's bytes at ``offset`` (``length`` bytes)."""

    blob: str
    offset: int
    length: int


class _File:
    """One file being restored: its temp, the pieces still to come, its SHA-256 so far."""

    def __init__(self, path: str, entry: dict[str, Any], pieces: list[Piece]) -> None:
        self.path = path
        self.entry = entry
        self.pieces = pieces
        self.left = len(pieces)
        self.temp: str | None = None  # the temp's name in the file's folder, once made
        self.digest = hashlib.sha256()
        self.hashed = 0  # bytes hashed, all from the start of the file
        self.ahead: dict[int, int] = {}  # offset → length written beyond ``hashed``
        self.problem: BackupDamaged | None = None


class Assembly:
    """The files of one restore: :meth:`put` each blob where it goes, :meth:`fail` a file a
    damaged blob spoils; :attr:`complete` lists (temp, path, size) of the verified ones."""

    def __init__(self, safe: SafeRoot) -> None:
        self._safe = safe
        self._files: list[_File] = []
        self._open: OrderedDict[int, int] = OrderedDict()  # file number → descriptor
        self._folders: OrderedDict[str, tuple[ExitStack, Folder]] = OrderedDict()
        self._makers: ThreadPoolExecutor | None = None
        self._making: dict[int, Future[tuple[str, int]]] = {}  # number → (temp, descriptor)
        self._to_make: deque[int] = deque()
        self.complete: list[tuple[str, str, int]] = []  # relative paths

    def add(self, path: str, entry: dict[str, Any], pieces: list[Piece] | BackupDamaged) -> int:
        """A file to restore, made of ``pieces`` (or failed already: why); its number. One
        without pieces (empty) is complete at once."""
        number = len(self._files)
        if isinstance(pieces, BackupDamaged):
            self._files.append(_File(path, entry, []))
            self._files[number].problem = pieces
            return number
        self._files.append(_File(path, entry, pieces))
        if not pieces:
            self._open_temp(number)
            self._finish(number)
        return number

    def prepare(self, order: list[int]) -> None:
        """Start making the temps of the files ``order`` names, in that order (the order
        their first blobs will come in)."""
        self._makers = ThreadPoolExecutor(_MAKERS, thread_name_prefix="hoso-restore")
        self._to_make.extend(order)
        self._make_more()

    def put(self, number: int, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` of file ``number`` (ignored once the file failed)."""
        file = self._files[number]
        if file.problem is not None:
            return
        fd = self._descriptor(number)
        view, at = memoryview(data), offset
        while view:
            written = os.pwrite(fd, view, at)
            view, at = view[written:], at + written
        if offset == file.hashed:
            file.digest.update(data)
            file.hashed += len(data)
            self._hash_ahead(file)
        else:
            file.ahead[offset] = len(data)
        file.left -= 1
        if file.left == 0:
            self._finish(number)

    def fail(self, number: int, problem: BackupDamaged) -> None:
        """File ``number`` cannot be restored: its temp goes, the rest of its blobs are
        ignored; :attr:`failed` names it."""
        file = self._files[number]
        if file.problem is None:
            file.problem = problem
            self._close(number)
            self._take_made(number)
            self._close(number)
            self._remove_temp(file)

    def pieces(self, number: int) -> list[Piece]:
        return self._files[number].pieces

    def path(self, number: int) -> str:
        return self._files[number].path

    @property
    def failed(self) -> list[tuple[str, BackupDamaged]]:
        return [(f.path, f.problem) for f in self._files if f.problem is not None]

    def discard(self) -> None:
        """Close everything, and remove every temp not listed in :attr:`complete`."""
        if self._makers is not None:
            self._makers.shutdown(wait=True, cancel_futures=True)
        self._to_make.clear()
        for number in list(self._making):
            with suppress(OSError, LocalError):  # a maker that failed made no temp
                self._take_made(number)
        for number in list(self._open):
            self._close(number)
        for file in self._files:
            if file.problem is None and file.left > 0:
                self._remove_temp(file)
        for stack, _folder in self._folders.values():
            stack.close()
        self._folders.clear()

    # --- internals ----------------------------------------------------------------------

    def _hash_ahead(self, file: _File) -> None:
        """Hash the pieces written ahead that now follow on, read back from the temp."""
        if file.hashed not in file.ahead:
            return
        with os.fdopen(self._reader(file), "rb") as source:
            while file.hashed in file.ahead:
                length = file.ahead.pop(file.hashed)
                data = os.pread(source.fileno(), length, file.hashed)
                file.digest.update(data)
                file.hashed += len(data)

    def _reader(self, file: _File) -> int:
        assert file.temp is not None
        return self._folder(_parent(file.path)).open_file(file.temp)

    def _finish(self, number: int) -> None:
        file = self._files[number]
        self._close(number)
        if (file.hashed, file.digest.hexdigest()) != (file.entry["size"], file.entry["sha256"]):
            self.fail(
                number,
                BackupDamaged(
                    _(
                        "{path}: the restored bytes differ from the backup; the file was not "
                        "written. Run hoso backup check."
                    ).format(path=file.path)
                ),
            )
            return
        folder = self._folder(_parent(file.path))
        assert file.temp is not None
        set_metadata(folder, file.temp, file.entry)
        parent = _parent(file.path)
        temp = f"{parent}/{file.temp}" if parent else file.temp
        self.complete.append((temp, file.path, file.hashed))

    def _descriptor(self, number: int) -> int:
        fd = self._open.get(number)
        if fd is not None:
            self._open.move_to_end(number)
            return fd
        file = self._files[number]
        made = self._take_made(number)
        if made is not None:
            return made
        if file.temp is None:
            return self._open_temp(number)
        fd = os.open(file.temp, _WRITE, dir_fd=self._folder(_parent(file.path)).fd)
        self._keep_open(number, fd)
        return fd

    def _open_temp(self, number: int) -> int:
        file = self._files[number]
        folder = self._folder(_parent(file.path))
        file.temp, fd = durable.new_temp_at(folder.fd, _name(file.path), suffix=TEMP_SUFFIX)
        self._keep_open(number, fd)
        return fd

    def _make_more(self) -> None:
        """Keep ``_MADE_AHEAD`` temps being made for the files next in line."""
        while self._to_make and len(self._making) < _MADE_AHEAD and self._makers is not None:
            number = self._to_make.popleft()
            file = self._files[number]
            if file.problem is None and file.temp is None and number not in self._making:
                self._making[number] = self._makers.submit(self._make_temp, file.path)

    def _take_made(self, number: int) -> int | None:
        """The descriptor of file ``number``'s temp if a maker made it (None if not asked,
        or cancelled); the maker's error, if it failed."""
        making = self._making.pop(number, None)
        if making is None or making.cancelled():
            return None
        try:
            self._files[number].temp, fd = making.result()
        finally:
            self._make_more()
        self._keep_open(number, fd)
        return fd

    def _make_temp(self, path: str) -> tuple[str, int]:
        """A new empty temp for ``path``, open (in a maker thread: its own folder descriptors)."""
        with self._safe.folder(_parent(path)) as folder:
            return durable.new_temp_at(folder.fd, _name(path), suffix=TEMP_SUFFIX)

    def _keep_open(self, number: int, fd: int) -> None:
        self._open[number] = fd
        while len(self._open) > _OPEN:
            self._close(next(iter(self._open)))

    def _close(self, number: int) -> None:
        fd = self._open.pop(number, None)
        if fd is not None:
            os.close(fd)

    def _remove_temp(self, file: _File) -> None:
        if file.temp is None:
            return
        with suppress(OSError):
            os.unlink(file.temp, dir_fd=self._folder(_parent(file.path)).fd)
        file.temp = None

    def _folder(self, rel: str) -> Folder:
        """The folder ``rel``, opened without following links (SafeRoot), kept open a while."""
        found = self._folders.get(rel)
        if found is not None:
            self._folders.move_to_end(rel)
            return found[1]
        stack = ExitStack()
        folder = stack.enter_context(self._safe.folder(rel))
        self._folders[rel] = (stack, folder)
        while len(self._folders) > _FOLDERS:
            _rel, (old, _folder) = self._folders.popitem(last=False)
            old.close()
        return folder


class Writers:
    """Several assemblies, each in a thread of its own, the files spread over them: writing
    and hashing (which let go of the GIL) run on every core, as restic's do. The calls of
    :class:`Assembly`; ``put`` and ``fail`` return at once (at most ``_QUEUED`` bytes wait for
    a writer), and an error a writer met is raised by a later call or by :meth:`finish`.
    ``errors(path)`` turns the OSError of writing the file ``path`` into ours."""

    def __init__(self, safe: SafeRoot, errors: Callable[[Path], AbstractContextManager[None]]):
        self._root = safe.root
        self._errors = errors
        self._shards = [Assembly(safe) for _ in range(_WRITERS)]
        self._threads = [
            ThreadPoolExecutor(1, thread_name_prefix="hoso-restore") for _ in self._shards
        ]
        self._where: list[tuple[Assembly, int, ThreadPoolExecutor]] = []
        self._queued: deque[tuple[Future[None], int]] = deque()
        self._bytes = 0

    def add(self, path: str, entry: dict[str, Any], pieces: list[Piece] | BackupDamaged) -> int:
        number = len(self._where)
        shard = number % len(self._shards)
        local = self._shards[shard].add(path, entry, pieces)
        self._where.append((self._shards[shard], local, self._threads[shard]))
        return number

    def pieces(self, number: int) -> list[Piece]:
        assembly, local, _thread = self._where[number]
        return assembly.pieces(local)

    def prepare(self, order: list[int]) -> None:
        for assembly in self._shards:
            assembly.prepare(
                [local for shard, local, _t in (self._where[n] for n in order) if shard is assembly]
            )

    def put(self, number: int, offset: int, data: bytes) -> None:
        assembly, local, thread = self._where[number]
        self._queue(thread.submit(self._put, assembly, local, offset, data), len(data))

    def fail(self, number: int, problem: BackupDamaged) -> None:
        assembly, local, thread = self._where[number]
        self._queue(thread.submit(self._fail, assembly, local, problem), 0)

    def finish(self) -> None:
        """Wait for every write; the first error a writer met is raised."""
        while self._queued:
            self._queued.popleft()[0].result()

    def close(self) -> None:
        """Stop the writers (what is queued is dropped); :attr:`complete` is final then."""
        for thread in self._threads:
            thread.shutdown(wait=True, cancel_futures=True)

    @property
    def complete(self) -> list[tuple[str, str, int]]:
        return [done for assembly in self._shards for done in assembly.complete]

    @property
    def failed(self) -> list[tuple[str, BackupDamaged]]:
        return sorted(failed for assembly in self._shards for failed in assembly.failed)

    def discard(self) -> None:
        for assembly in self._shards:
            assembly.discard()

    def _put(self, assembly: Assembly, local: int, offset: int, data: bytes) -> None:
        with self._errors(self._root / assembly.path(local)):
            assembly.put(local, offset, data)

    def _fail(self, assembly: Assembly, local: int, problem: BackupDamaged) -> None:
        with self._errors(self._root / assembly.path(local)):
            assembly.fail(local, problem)

    def _queue(self, future: Future[None], size: int) -> None:
        self._queued.append((future, size))
        self._bytes += size
        while self._bytes > _QUEUED or (self._queued and self._queued[0][0].done()):
            done, size = self._queued.popleft()
            self._bytes -= size
            done.result()


def set_metadata(folder: Folder, name: str, entry: dict[str, Any]) -> None:
    """The snapshot's mode and modification time on ``name`` (never through a link)."""
    os.chmod(name, entry["mode"], dir_fd=folder.fd, follow_symlinks=False)
    ns = (entry["mtime_ns"], entry["mtime_ns"])
    os.utime(name, ns=ns, dir_fd=folder.fd, follow_symlinks=False)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _name(path: str) -> str:
    return path.rpartition("/")[2]
