"""The snippet of a hit: a stretch of the record's own text around what matched, the matched
words marked. Pure.

The stretch is cut from the original text (accents as the teacher typed them). Matches are
found in it directly, the way the index finds them: each folded letter of a query word stands
for every letter that folds to it (``d`` for d and đ, ``e`` for e, ê, ệ…, either case), so no
folded copy of a long text is made for a snippet. A document's text is hostile:
the snippet is one line, every control character escaped (agent.api.printable_name), before
the markers go in.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence

from agent.api import fold, printable_name, strip_accents

from .query import Term

BEFORE = 60  # characters shown before the first match
WIDTH = 240  # characters in a snippet, about 40 words
MAX_SPANS = 64  # matches of one word looked at: enough to place the snippet, fast on long texts
_SPACE = re.compile(r"\s+")
_SEPARATOR = r"[\W_]*"  # between the words of a phrase, and at a letter-digit boundary


def _letter_classes() -> dict[str, str]:
    """Each bare letter → a regular-expression class of the letters that fold to it."""
    groups: dict[str, set[str]] = {}
    for code in (*range(0x41, 0x7B), *range(0xC0, 0x250), *range(0x1E00, 0x1F00)):
        letter = chr(code).lower()
        bare = strip_accents(letter)
        if len(letter) == 1 and len(bare) == 1 and bare.isascii() and bare.isalpha():
            groups.setdefault(bare, {bare}).add(letter)
    return {bare: "[" + "".join(sorted(letters)) + "]" for bare, letters in groups.items()}


_LETTERS = _letter_classes()


def snippet(text: str, terms: Sequence[Term], marks: tuple[str, str]) -> str:
    """About :data:`WIDTH` characters of ``text`` around the place that shows most of
    ``terms``, each match between ``marks`` (the beginning of the text when none is there)."""
    if not text.strip():
        return ""
    lowered = text.lower()
    if len(lowered) != len(text):  # a letter that lower-cases to two: no places to mark
        lowered = ""
    spans = [_spans(text, lowered, term) for term in terms]
    anchor = _best_window(spans)
    start = 0 if anchor < 0 else max(0, anchor - BEFORE)
    if start > 0:  # begin at a word
        space = text.find(" ", start, anchor if anchor > start else start + BEFORE)
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + WIDTH)
    if end < len(text):  # end at a word
        space = text.rfind(" ", max(start, anchor + 1), end)
        end = space if space > 0 else end
    pieces: list[str] = []
    at = start
    shown = sorted(span for found in spans for span in found if start <= span[0] < end)
    for s, e in _merged(shown, text):
        if s < at or e > end:
            continue
        pieces += [_clean(text[at:s]), marks[0] + _clean(text[s:e]) + marks[1]]
        at = e
    pieces.append(_clean(text[at:end]))
    lead = "…" if start > 0 else ""
    tail = "…" if end < len(text) else ""
    return lead + "".join(pieces).strip() + tail


def _spans(text: str, lowered: str, term: Term) -> list[tuple[int, int]]:
    """Where ``term`` is in ``text`` (``lowered``: it in lower case, as long), as (start,
    end) character offsets. A match must begin a word: no letter before a word starting with
    a letter, no digit before a number (checked here: a look-behind would slow the scan)."""
    head, last = term.words[0], term.words[-1]
    kind = str.isdigit if head[0].isdigit() else _is_letter
    after = "" if term.prefix else r"(?!\d)" if last[-1].isdigit() else r"(?![^\W\d_])"
    pattern = _SEPARATOR.join(_word(w) for w in term.words) + after
    if term.prefix:
        pattern += r"[^\W_]*"
    found = (
        (m.start(), m.end())
        for m in re.finditer(pattern, lowered)
        if m.start() == 0 or not kind(lowered[m.start() - 1])
    )
    return list(itertools.islice(found, MAX_SPANS))


def _is_letter(char: str) -> bool:
    return char.isalpha()


def _word(folded: str) -> str:
    """A pattern for the words of a text that fold to ``folded``."""
    letters = [_LETTERS.get(c, re.escape(c)) for c in folded]
    if len(folded) == 2 and folded[1] == "i" and fold(folded[0] + "y") == folded:
        letters[1] = letters[1][:-1] + _LETTERS["y"][1:]  # "li" is also "lý"
    return "".join(letters)


def _best_window(spans: Sequence[list[tuple[int, int]]]) -> int:
    """The earliest match that has most of the terms within the snippet after it; -1 when
    nothing matched."""
    starts = [[s for s, _e in found] for found in spans]
    best, best_count = -1, 0
    for anchor in sorted({s for found in starts for s in found}):
        end = anchor + WIDTH - BEFORE
        count = 0
        for found in starts:
            at = bisect.bisect_left(found, anchor)
            count += at < len(found) and found[at] < end
        if count > best_count:
            best, best_count = anchor, count
            if count == len(starts):
                break  # the earliest place with every term
    return best


def _merged(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Matches next to each other (only spaces between) marked as one: «Rút kinh nghiệm»."""
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s >= merged[-1][0] and not text[merged[-1][1] : s].strip():
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        elif not merged or s >= merged[-1][1]:
            merged.append((s, e))
    return merged


def _clean(text: str) -> str:
    return printable_name(_SPACE.sub(" ", text))
