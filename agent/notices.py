"""What the teacher is told after a pass: one notification per kind, urgent ones alone.

A first pass over an old folder can bring hundreds of findings; one popup (and one log line)
each would bury the teacher. :func:`summarise` turns what one pass (or one round of jobs)
wants to tell into what is shown:

- a notification whose key was told before (``told``), or twice in the pass, is dropped;
- urgent ones (a safety stop, a failed send) stand alone, up to :data:`MAX_ALONE` of a kind
  (a plugin that marks everything urgent still cannot flood);
- the rest of each kind (the key's first word: ``finding`` in ``finding:<path>:<rule>``) is
  one notification: itself when alone, else a summary ("12 records to fix — open the page")
  naming the first few, which opens the page they all point at.

:func:`summarise` is pure (no clock, no I/O; messages in the language of the calling thread);
:func:`tell` hands its result to the channels.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .display import printable_name
from .hooks import Notification
from .i18n import ngettext
from .textfold import natural_key

MAX_ALONE = 3  # urgent notifications of one kind shown one by one; more are summarised
MAX_NAMED = 3  # names a summary's body lists before "and N more"

PROBLEMS_PAGE = "/problems/"
# How long a told key is remembered: past any key that could come again (a reminder's key
# holds its day), so that the memory stays small.
REMEMBER_SECONDS = 60 * 86400.0


@dataclass(frozen=True)
class Telling:
    """What to show, in order (urgent first), and the keys it covers (to remember as told)."""

    shown: tuple[Notification, ...]
    told: frozenset[str]


def kind_of(note: Notification) -> str:
    return note.key.split(":", 1)[0]


def summarise(notes: Iterable[Notification], told: Container[str] = frozenset()) -> Telling:
    fresh: dict[str, Notification] = {}
    for note in notes:
        if note.key not in told and note.key not in fresh:
            fresh[note.key] = note
    urgent: list[Notification] = []
    rest: dict[str, list[Notification]] = {}
    for note in fresh.values():
        if note.urgent and sum(kind_of(u) == kind_of(note) for u in urgent) < MAX_ALONE:
            urgent.append(note)
        else:
            rest.setdefault(kind_of(note), []).append(note)
    summaries = [group[0] if len(group) == 1 else _summary(k, group) for k, group in rest.items()]
    return Telling((*urgent, *summaries), frozenset(fresh))


def remember(told: Mapping[str, float], keys: Iterable[str], now: float) -> dict[str, float]:
    """``told`` (key → when) with ``keys`` told at ``now``, forgetting what is older than
    :data:`REMEMBER_SECONDS`."""
    kept = {key: at for key, at in told.items() if now - at < REMEMBER_SECONDS}
    kept.update(dict.fromkeys(keys, now))
    return kept


def tell(
    notify: Callable[[Notification], object],
    notes: Iterable[Notification],
    told: Container[str] = frozenset(),
) -> Telling:
    """Summarise ``notes`` and offer each result to ``notify`` (the plugins' channels)."""
    telling = summarise(notes, told)
    for note in telling.shown:
        notify(note)
    return telling


def _summary(kind: str, notes: Sequence[Notification]) -> Notification:
    names = _names(notes)
    count = len(names)  # records, not findings: a plan with two findings is one to fix
    if kind == "finding":
        title = ngettext(
            "{n} record to fix — open the page", "{n} records to fix — open the page", count
        )
    elif kind == "held":
        title = ngettext(
            "{n} file not synced — open the page", "{n} files not synced — open the page", count
        )
    else:
        title = ngettext(
            "{n} message from hoso — open the page", "{n} messages from hoso — open the page", count
        )
    pages = {note.page for note in notes}
    return Notification(
        key=f"{kind}:summary",
        title=title.format(n=count),
        body=_listed(names),
        urgent=any(note.urgent for note in notes),
        page=pages.pop() if len(pages) == 1 else "",
    )


def _names(notes: Sequence[Notification]) -> list[str]:
    """What each is about, once (its file, else its title), in the order a teacher counts:
    "Bài 2" before "Bài 10"."""
    names = {printable_name(note.path) if note.path else note.title: None for note in notes}
    return sorted(names, key=natural_key)


def _listed(names: Sequence[str]) -> str:
    """The first few names, and how many more."""
    shown = ", ".join(names[:MAX_NAMED])
    more = len(names) - MAX_NAMED
    if more <= 0:
        return shown + "."
    return ngettext("{names} and {n} more.", "{names} and {n} more.", more).format(
        names=shown, n=more
    )
