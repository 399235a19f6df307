"""Handing the memory a pass freed back to the system, so that an idle agent stays small.

A pass over a big records folder builds tens of thousands of short-lived entries (the scan,
the share's listing, the journal's rows). Python frees them at the end of the pass, but the C
library keeps the freed pages for later use: the agent then sat idle for hours at the size of
its busiest moment. glibc's ``malloc_trim`` returns the wholly free pages; elsewhere (no such
function) nothing is done. It never changes what the program sees, only its resident size.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


def release_freed() -> None:
    """Return the freed pages of every malloc arena to the system (a few milliseconds)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)  # the C library this interpreter runs on
    except OSError:
        return None
    return getattr(libc, "malloc_trim", None)
