"""The teacher's search query, parsed, and the SQLite FTS5 expressions it becomes. Pure.

Syntax: words (all must match), ``"quoted phrases"``, ``nghi*`` (a word beginning), ``-word``
or ``-"a phrase"`` (must not match). Every word is matched folded (:func:`search_fold`: no
accents, one case, đ = d, NFC = NFD, lí = lý, and a letter-digit boundary counts as a space:
"Tuần12" = "tuan 12"), so that ``rut kinh nghiem`` and ``RÚT KINH NGHIỆM`` find the same plans.

Invariant: the user's text never becomes FTS5 syntax. Each word is reduced to letters and
digits and written as an FTS5 string in double quotes, so ``AND``, ``NEAR(``, ``col:`` or a
stray quote are only words to look for.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from agent.api import FIRST_WEEK, LAST_WEEK, UsageError, _, fold, printable_name, strip_accents

DEFAULT_LIMIT = 20  # results shown unless asked for more (`--limit`)

# FTS5's unicode61 tokenizer takes letters and digits as word characters, so does this.
_WORD = re.compile(r"[^\W_]+")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_PIECE = re.compile(r'(-?)"([^"]*)"?|(\S+)')
# Different words in one query, at most: each costs a pass over every hit's text for the
# snippet, so a pasted page would take minutes. A phrase in quotes counts once.
MAX_TERMS = 32


def search_fold(text: str) -> str:
    """``text`` folded for the index and for queries alike: agent.api.fold, plus a space
    between letters and digits, words only (punctuation dropped), one space between them."""
    folded = _LETTER_DIGIT.sub(" ", fold(text))
    return " ".join(_WORD.findall(folded))


def folded_words(text: str) -> tuple[str, ...]:
    return tuple(search_fold(text).split())


def exact_words(text: str) -> tuple[str, ...]:
    """``text``'s words as typed, accents kept (NFC, lower case): for the exact ranking."""
    return tuple(_WORD.findall(unicodedata.normalize("NFC", text).lower()))


@dataclass(frozen=True)
class Term:
    """One thing to look for: a word (maybe several once folded, "Tuần12"), or a phrase."""

    words: tuple[str, ...]  # folded
    exact: tuple[str, ...]  # as typed, accents kept
    prefix: bool = False

    def fts(self, words: tuple[str, ...]) -> str:
        # Only letters and digits ever reach here (see _WORD): quoting cannot be escaped.
        return '"' + " ".join(words) + '"' + (" *" if self.prefix else "")


@dataclass(frozen=True)
class Query:
    text: str
    wanted: tuple[Term, ...]
    excluded: tuple[Term, ...]

    @property
    def accented(self) -> bool:
        """Whether the teacher typed accents (or đ): then exact spellings rank first."""
        typed = " ".join(" ".join(t.exact) for t in self.wanted)
        return strip_accents(typed) != typed

    @property
    def weeks(self) -> tuple[int, ...]:
        """The weeks the teacher named ("tuan 12", "Tuần12"): their records rank first, above
        others that only hold "tuan" and "12" apart (Tuần 1/Bài 12, a date the 12th)."""
        words = [w for t in self.wanted for w in t.words]
        named = (n for w, n in zip(words, words[1:], strict=False) if w == "tuan")
        # Only short ASCII numbers: int() refuses "²" and digits past 4,300.
        weeks = (int(n) for n in named if n.isascii() and n.isdigit() and len(n) <= 2)
        return tuple(n for n in weeks if FIRST_WEEK <= n <= LAST_WEEK)

    def match(self) -> str:
        """The FTS5 MATCH expression over the folded columns."""
        wanted = " AND ".join(t.fts(t.words) for t in self.wanted)
        excluded = "".join(f" NOT {t.fts(t.words)}" for t in self.excluded)
        return "{name_folded body_folded}: (" + wanted + excluded + ")"

    def exact_match(self) -> str:
        """The FTS5 MATCH expression of the wanted terms as typed, over the original text."""
        wanted = " AND ".join(t.fts(t.exact) for t in self.wanted if t.exact)
        return "{name_text body_text}: (" + wanted + ")"


def parse(text: str) -> Query:
    """The query ``text`` parsed; UsageError when it has nothing to look for."""
    text = unicodedata.normalize("NFC", text)
    wanted: list[Term] = []
    excluded: list[Term] = []
    for match in _PIECE.finditer(text):
        minus, phrase, word = match.groups()
        if phrase is not None:
            term = _term(phrase, prefix=False)
            negative = minus == "-"
        else:
            negative = word.startswith("-")
            word = word[1:] if negative else word
            prefix = word.endswith("*")
            term = _term(word.rstrip("*"), prefix=prefix)
        chosen = excluded if negative else wanted
        if term is not None and term not in chosen:  # "hoc hoc hoc" looks for hoc once
            chosen.append(term)
    if len(wanted) + len(excluded) > MAX_TERMS:
        raise UsageError(
            _(
                "The search has more than {max} different words. Type a few words of the "
                'record, or a passage of it in quotes: "..."'
            ).format(max=MAX_TERMS)
        )
    if not wanted:
        if excluded:
            raise UsageError(
                _(
                    'The search "{query}" only says what to leave out. Add a word to look for, '
                    'for example: hoso search "rut kinh nghiem" -nhap'
                ).format(query=printable_name(text))
            )
        raise UsageError(
            _(
                'The search "{query}" has no letters or digits to look for. Type a word of the '
                "record's name or text, for example: hoso search rut kinh nghiem"
            ).format(query=printable_name(text))
        )
    return Query(text, tuple(wanted), tuple(excluded))


def _term(text: str, *, prefix: bool) -> Term | None:
    words = folded_words(text)
    if not words:
        return None
    return Term(words, exact_words(text), prefix)
