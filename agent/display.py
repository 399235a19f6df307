"""Text shown on a terminal, made safe: names from the share or a document may hold control
characters (ESC, BEL, …) that a terminal would obey — move the cursor, retitle the window,
hide the rest of a line. Text output shows them escaped; JSON keeps the real name (``json``
escapes C0 itself, and a JSON reader never hands bytes to a terminal unescaped).
"""

from __future__ import annotations

import re

# C0 except newline and tab (which the messages themselves use), DEL, and C1.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
