"""Cutting files into content-defined chunks (FastCDC), a window at a time.

Identical regions of large files give identical chunks even when bytes were inserted before
them, so a backup stores them once. Owns the `fastcdc` library.
"""

from __future__ import annotations

from collections.abc import Iterator
from io import FileIO

from fastcdc import fastcdc

_WINDOW = 16 * 1024 * 1024  # bytes of a large file read at a time for chunking


def cut(handle: FileIO, head: bytes, minimum: int, average: int, maximum: int) -> Iterator[bytes]:
    """FastCDC over a file read a window at a time: the same cuts as over the whole file.

    A cut depends only on the ``maximum`` bytes after the chunk start, so a chunk is taken
    from the window only when that many bytes (or the end of the file) are in it. Reading
    rather than mmap: a file truncated by its owner meanwhile must not kill us with SIGBUS.
    """
    window = bytearray(max(_WINDOW, 2 * maximum))
    view = memoryview(window)
    view[: len(head)] = head
    filled, eof = _fill(handle, view, len(head))
    while filled:
        start = 0
        for chunk in fastcdc(view[:filled], minimum, average, maximum):
            if not eof and chunk.offset + maximum > filled:
                break
            start = chunk.offset + chunk.length
            yield bytes(view[chunk.offset : start])
        if eof and start == filled:
            return
        rest = filled - start
        view[:rest] = view[start:filled]
        filled, eof = _fill(handle, view, rest)


def _fill(handle: FileIO, view: memoryview, filled: int) -> tuple[int, bool]:
    """Read into ``view`` after ``filled`` bytes until full or the end: (filled, at end)."""
    while filled < len(view):
        count = handle.readinto(view[filled:])
        if not count:
            return filled, True
        filled += count
    return filled, False
