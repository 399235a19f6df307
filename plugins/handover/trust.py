"""Which keys may speak in the handover log: the school's keeper keys and the chain from them.

Anyone who can write to the share can add log entries signed with a key of their own; a valid
signature only proves who signed, not that the signer is a keeper. A key is **known** when:

1. the config pins it (``[[school.keepers]]``: name and fingerprint), or
2. it is this computer's own handover key, or
3. this computer accepted a bundle signed by it after the receiver confirmed its fingerprint
   (``hoso handover accept``), or
4. no key is pinned in the config and it is the key this computer trusted on first use: the
   one key from which every entry of the log was reachable when this computer first read it
   (remembered in the state folder; ``hoso handover history`` warns until a key is pinned);
   never with a school folder, whose log any of the staff may write (pin the keepers in the
   school profile), or
5. a ``prepared`` entry signed by a known key names it as the receiver: a keeper hands the
   trust on with the mailbox (the chain of trust from the pinned keys).

Entries signed by any other key are not part of the log: they are reported (the entry and
its key's fingerprint) and the log does not verify.

Invariants:
- The rule reads no time stamp: entries are easily backdated, and travel in any order.
- The memory file (``handover-keys-known.json`` in the state folder, 0600) only grows by a key
  trusted on first use or confirmed at ``accept``, and is replaced whole (temp file, rename).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from agent.api import (
    Config,
    _,
    key_fingerprint,
    school_folder,
    write_atomic,
)

from . import ledger

FILE = "handover-keys-known.json"
PINNED = "pinned"
OWN = "own"
ACCEPTED = "accepted"
FIRST_USE = "first_use"
HANDED_ON = "handed_on"


@dataclass(frozen=True)
class KnownKeys:
    """The keys trusted before the log is read: fingerprint -> how (and by whose name)."""

    roots: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> PINNED, OWN, …
    names: Mapping[str, str] = field(default_factory=dict)  # fingerprint -> keeper's name
    # Whether a reading may still trust a key on first use: nothing pinned, and this computer
    # never read a log with entries before (a later reading must not pick a forger's key).
    first_use_open: bool = False
    damaged: Path | None = None  # this computer's memory, when it could not be read


@dataclass(frozen=True)
class Screened:
    """The log with only the entries of known keys, and how each key is known."""

    log: ledger.Verification  # verified only when intact and every entry's key is known
    known: Mapping[str, str]  # fingerprint -> PINNED, OWN, ACCEPTED, FIRST_USE, HANDED_ON
    names: Mapping[str, str]
    # Every link and signature holds and nothing this computer saw is gone: entries of
    # unknown keys aside, the known keys' entries can be relied on.
    intact: bool = True
    trusted_now: str | None = None  # a key trusted on first use by this very reading

    def to_json(self) -> list[dict[str, str | None]]:
        return [
            {"fingerprint": fp, "how": how, "name": self.names.get(fp)}
            for fp, how in sorted(self.known.items())
        ]


def memory_path(config: Config) -> Path:
    return config.state_dir / FILE


def load(config: Config, own: str | None) -> KnownKeys:
    """The keys this computer trusts before reading the log: pinned, own, remembered."""
    roots: dict[str, str] = {}
    names: dict[str, str] = {}
    for keeper in config.roles.school.keepers:
        roots[keeper.key] = PINNED
        names[keeper.key] = keeper.name
    pinned = bool(roots)
    memory = _read(memory_path(config))
    for fingerprint, how in (memory.keys if memory else {}).items():
        if how == ACCEPTED or (how == FIRST_USE and not pinned):
            roots.setdefault(fingerprint, how)
    if own is not None:
        roots.setdefault(own, OWN)
    # A damaged memory counts as read before: nothing is trusted on use after it. A log in
    # the school folder is written by any of the staff: the first key seen there proves
    # nothing, so the keepers are pinned in the school profile instead.
    first_use_open = (
        not pinned
        and school_folder(config) is None
        and memory is not None
        and not memory.first_read
    )
    damaged = memory_path(config) if memory is None else None
    return KnownKeys(roots, names, first_use_open, damaged)


def remember(config: Config, fingerprint: str | None, how: str) -> None:
    """Add ``fingerprint`` (ACCEPTED or FIRST_USE) to this computer's memory of trusted keys;
    FIRST_USE also closes first use, even without a key (an ambiguous log trusts no one)."""
    path = memory_path(config)
    # A damaged memory is replaced, but first use stays closed.
    memory = _read(path) or _Memory({}, True)
    keys = {**memory.keys, **({fingerprint: how} if fingerprint else {})}
    document = {"keys": keys, "first_read": memory.first_read or how == FIRST_USE}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(document, indent=1, sort_keys=True).encode("utf-8"))


def screen(log: ledger.Verification, known: KnownKeys) -> Screened:
    """``log`` with the entries of unknown keys moved to its problems (each named)."""
    trusted = reach(log.entries, known.roots)
    problems = list(log.problems)
    entries = []
    for entry in log.entries:
        if entry.author.fingerprint() in trusted:
            entries.append(entry)
            continue
        problems.append(
            _(
                "{file}: entry {line} ({kind}, {time}) is signed by the key {fingerprint}, "
                "which is not a known keeper key: it is left out of the log. If the key is the "
                "school's, pin it in the config ([[school.keepers]], see docs/handover.md)."
            ).format(
                file=_shown(entry.file),
                line=entry.line,
                kind=entry.kind,
                time=_shown(entry.time),
                fingerprint=entry.author.fingerprint(),
            )
        )
    if known.damaged is not None:
        problems.append(
            _(
                "This computer's memory of the handover keys it trusts ({path}) is damaged: "
                "only the keys pinned in the config and this computer's own are known."
            ).format(path=known.damaged)
        )
    checked = replace(log, verified=not problems, entries=entries, problems=problems)
    return Screened(checked, trusted, known.names, intact=log.verified)


def first_use_root(entries: Iterable[ledger.Entry]) -> str | None:
    """The one key from which every author of ``entries`` is reachable (the first keeper), or
    None when there is none (no entries, or unrelated keys: one of them may be forged)."""
    entries = list(entries)
    authors = {e.author.fingerprint() for e in entries}
    covering = sorted(a for a in authors if authors <= set(reach(entries, {a: FIRST_USE})))
    # Several only when they handed the mailbox to each other: each reaches the same keys.
    return covering[0] if covering else None


def reach(entries: Iterable[ledger.Entry], roots: Mapping[str, str]) -> dict[str, str]:
    """``roots`` and every key a ``prepared`` entry of a reached key names as its receiver."""
    handed_on = [
        (e.author.fingerprint(), key_fingerprint(str(e.data.get("receiver_fingerprint", ""))))
        for e in entries
        if e.kind == ledger.PREPARED
    ]
    known = dict(roots)
    grew = True
    while grew:
        grew = False
        for giver, receiver in handed_on:
            if giver in known and receiver is not None and receiver not in known:
                known[receiver] = HANDED_ON
                grew = True
    return known


@dataclass(frozen=True)
class _Memory:
    keys: Mapping[str, str]  # fingerprint -> ACCEPTED or FIRST_USE
    first_read: bool  # this computer has read a log with entries


def _read(path: Path) -> _Memory | None:
    """This computer's memory (empty when there is none yet), or None when it is damaged."""
    try:
        stored = json.loads(path.read_text())
        keys = {str(fp): str(how) for fp, how in stored["keys"].items()}
        first_read = stored["first_read"]
    except FileNotFoundError:
        return _Memory({}, False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    valid = all(
        key_fingerprint(fp) == fp and how in (ACCEPTED, FIRST_USE) for fp, how in keys.items()
    )
    return _Memory(keys, first_read) if valid and isinstance(first_read, bool) else None


def _shown(text: str, limit: int = 60) -> str:
    # Anyone wrote this (a file name or time stamp from the share): no terminal control codes.
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])
    return shown + ("…" if len(text) > limit else "")
