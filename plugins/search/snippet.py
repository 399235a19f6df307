"""The snippet of a hit: a few words of the record's own text around what matched, the
matched words marked. Pure.

The window is cut from the original text (accents as the teacher typed them), words found
the way the index finds them (folded). A document's text is hostile: the snippet is one
line, every control character escaped (agent.api.printable_name), before the markers go in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.api import printable_name

from .query import Term, search_fold

BEFORE = 8  # words shown before the first match
WORDS = 30  # words in a snippet
_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")


def snippet(text: str, terms: Sequence[Term], marks: tuple[str, str]) -> str:
    """Up to :data:`WORDS` words of ``text`` around the first match of ``terms``, each
    matched word between ``marks`` (the beginning of the text when nothing matches in it)."""
    tokens = _tokens(text)
    if not tokens:
        return ""
    by_term = [_hits([t for t, _s, _e in tokens], term) for term in terms]
    hits = set().union(*by_term)
    first = _best_window(by_term)
    start = max(0, first - BEFORE)
    end = min(len(tokens), start + WORDS)
    start = max(0, min(start, end - WORDS))
    # The original text from the window's first word to its last: punctuation kept.
    pieces: list[str] = []
    at = tokens[start][1]
    index = start
    while index < end:
        if index not in hits or tokens[index][1] < at:
            index += 1
            continue
        last = index  # a run of matched words is marked as one: «Rút kinh nghiệm»
        while last + 1 < end and last + 1 in hits:
            last += 1
        s, e = tokens[index][1], tokens[last][2]
        pieces.append(_clean(text[at:s]))
        pieces.append(marks[0] + _clean(text[s:e]) + marks[1])
        at = e
        index = last + 1
    pieces.append(_clean(text[at : tokens[end - 1][2]]))
    lead = "…" if start > 0 else ""
    tail = "…" if end < len(tokens) else ""
    return lead + "".join(pieces).strip() + tail


def _clean(text: str) -> str:
    return printable_name(_SPACE.sub(" ", text))


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Each folded word of ``text`` with the span of the original word it comes from (a
    word like "Tuần12" gives two folded words, both spanning it)."""
    tokens = []
    for match in _WORD.finditer(text):
        for word in search_fold(match.group()).split():
            tokens.append((word, match.start(), match.end()))
    return tokens


def _hits(words: list[str], term: Term) -> set[int]:
    """The indexes of the words matched by ``term``."""
    hits: set[int] = set()
    n = len(term.words)
    for i in range(len(words) - n + 1):
        if _matches(words[i : i + n], term):
            hits.update(range(i, i + n))
    return hits


def _best_window(by_term: Sequence[set[int]]) -> int:
    """The first word of the earliest window that shows the most of the terms."""
    best, best_count = 0, 0
    for anchor in sorted(set().union(*by_term)):
        window = range(anchor, anchor + WORDS - BEFORE)
        count = sum(any(i in window for i in hits) for hits in by_term)
        if count > best_count:
            best, best_count = anchor, count
    return best


def _matches(words: list[str], term: Term) -> bool:
    *whole, last = term.words
    if words[:-1] != whole:
        return False
    return words[-1].startswith(last) if term.prefix else words[-1] == last
