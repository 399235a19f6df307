"""Text reduced for matching names the way schools write them: no accents, one case, one
space, lí/lý alike. Pure (standard library only), below everything that compares names:
record types (agent.records), conflict and restored copies (agent.conflictname), plugins.
"""

from __future__ import annotations

import re
import unicodedata

_SPACING = re.compile(r"[\s_\-–—.]+")
# Vietnamese writes these syllables with y or i interchangeably (Địa lý / Địa lí, Mỹ / Mĩ).
_Y_AS_I = re.compile(r"\b([bcdghklmnpqrstvx])y\b")


def _accent_table() -> dict[int, str]:
    """Each precomposed Latin letter with marks → its bare letter (ệ → e, Đ → D)."""
    table = {ord("đ"): "d", ord("Đ"): "D"}
    for code in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        decomposed = unicodedata.normalize("NFD", chr(code))
        bare = "".join(c for c in decomposed if not unicodedata.combining(c))
        if bare and bare != chr(code):
            table[code] = bare
    return table


_ACCENTS = _accent_table()
_COMBINING = re.compile("[\u0300-\u036f]")


def strip_accents(text: str) -> str:
    """The text without accents or tone marks (NFC or NFD alike), đ→d."""
    # translate() on NFC text is C-fast; lesson-plan checks strip every paragraph.
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _COMBINING.sub("", text.translate(_ACCENTS))


def fold(text: str) -> str:
    """Text reduced for matching: no accents, đ→d, lower case, one space between words,
    and a lone consonant + y spelt with i."""
    bare = _SPACING.sub(" ", strip_accents(text).lower()).strip()
    return _Y_AS_I.sub(r"\1i", bare)


_BRACKETS = re.compile(r"(\[[^\]]*\])")


def fold_pattern(pattern: str) -> str:
    """A glob pattern folded like the names it is matched against, its ``[...]`` sets
    (``[0-9]``) left as they are."""

    def fold_part(part: str) -> str:
        if _BRACKETS.fullmatch(part) or not part:
            return part
        # fold() trims; a space next to a [set] is part of the pattern ("bai [0-9]").
        lead = " " if _SPACING.match(part) else ""
        trail = " " if _SPACING.search(part[-1]) else ""
        return (lead + fold(part) + trail).replace("  ", " ")

    return "".join(fold_part(part) for part in _BRACKETS.split(pattern))


def natural_key(text: str) -> tuple[tuple[int, str], ...]:
    """Sort key: folded, numbers by value ("Tuần 2" before "Tuần 10", "Bài 9" before "Bài 10")."""
    pieces = re.split(r"(\d+)", fold(text))  # odd indexes hold the numbers
    numbered = tuple((int(p), "") if i % 2 else (-1, p) for i, p in enumerate(pieces))
    return (*numbered, (0, text))
