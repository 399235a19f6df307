"""Text shown on a terminal, made safe: names from the share, a document or an email may hold
control characters (ESC, BEL, …) that a terminal would obey — move the cursor, retitle the
window, hide the rest of a line — or bidi controls that reorder it. Everything hoso and its
plugins print goes through `PrintableStream`, so no command can forget it; the log file gets
the same through the log filter. A name put into a message, a log line or a notification goes
through `printable_name` as well, so that its newlines cannot forge lines of their own. JSON
output keeps the real name (see `printable`).
"""

from __future__ import annotations

import io
import re
from typing import TextIO

# C0 except newline and tab (which the messages themselves use). json.dumps escapes these
# itself, so they only ever reach a terminal raw in text output.
_C0 = re.compile("[\x00-\x08\x0b-\x1f]")
# Every C0, for a name: a newline in a name from the share would start a line of its own.
_C0_IN_NAMES = re.compile("[\x00-\x1f]")
# DEL and C1, which json.dumps leaves raw; and the bidi controls (LRM, RLM, the embeddings
# and overrides, the isolates), which reorder what follows: "Bài 1\u202excod.exe" shows as
# "Bài 1exe.docx". hoso's own messages use none of them.
_WIDE = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab escaped: C0 as ``\\xNN``,
    DEL, C1 and the bidi controls as ``\\uNNNN``. The latter is also JSON's own escape, so a
    JSON document passed through stays valid and decodes to the same names."""
    return _escaped(text, _C0)


def printable_name(name: str) -> str:
    """A name (a path from the share or the records folder) to put into a message, a log
    line or a notification: `printable`, and newline and tab escaped too, so that a name
    never writes lines of its own."""
    return _escaped(name, _C0_IN_NAMES)


def size_text(n: float) -> str:
    """1234567 → "1.2 MB" (decimal units, as file managers show them)."""
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB"):
        n /= 1000
        if n < 999.95:  # what rounds to 1000.0 is shown in the next unit
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} GB"


def _escaped(text: str, c0: re.Pattern[str]) -> str:
    text = c0.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _WIDE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class PrintableStream(io.TextIOBase):
    """A text stream (stdout, stderr) that writes `printable` text to the one it wraps."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._stream.errors

    @property
    def buffer(self) -> object:
        """The raw bytes underneath, for binary output (a document written to stdout)."""
        return self._stream.buffer


def guard_terminal(stdout: TextIO, stderr: TextIO) -> tuple[TextIO, TextIO]:
    """``stdout`` and ``stderr`` wrapped once in `PrintableStream`."""
    return _wrapped(stdout), _wrapped(stderr)


def _wrapped(stream: TextIO) -> TextIO:
    if isinstance(stream, PrintableStream):
        return stream  # type: ignore[unreachable]
    return PrintableStream(stream)  # type: ignore[return-value]


