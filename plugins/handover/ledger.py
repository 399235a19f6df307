"""The handover log: an append-only, hash-chained, signed record of every mailbox handover.

It lives in the records folder (``Bàn giao tài khoản/nhat-ky-ban-giao.jsonl``, a visible name
so that every sync carries it) so the share brings each keeper's entries to the others: that
is how the giver's machine learns that the receiver changed the password.

One JSON line per entry (canonical JSON)::

    {"v": 1, "kind": "prepared" | "accepted" | "password_changed", "time": ISO, "bundle": id,
     "data": {…}, "author": "hoso1:…", "prev": SHA-256 hex of the line before, "signature": b64}

``prepared`` carries giver, receiver, witness (``{name, position}``) and the receiver's key
fingerprint; ``accepted`` and ``password_changed`` count only when signed by that receiver key.

Invariants:
- Each line names the SHA-256 of the line before it (the first names 64 zeros) and is signed by
  its author's Ed25519 key: an edited line fails its signature, an edited or removed line
  breaks the next line's link. Removing the last lines breaks no link, so each computer also
  remembers the length and last hash it saw (``remember``) and reports a log that shrank.
- An append rewrites the whole file atomically (temp file, fsync, rename, fsync of the
  folder) under an flock of the folder: a reader never sees half a line.
- No password ever enters the log: entries carry names, times, ids and fingerprints only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.config import write_durably
from agent.i18n import _

from . import keys as keymod
from .bundle import Party, canonical
from .keys import BadPublicKey, HandoverKeys, PublicKey

FOLDER = "Bàn giao tài khoản"
FILE = "nhat-ky-ban-giao.jsonl"
GENESIS = "0" * 64
VERSION = 1
PREPARED = "prepared"
ACCEPTED = "accepted"
PASSWORD_CHANGED = "password_changed"
KINDS = (PREPARED, ACCEPTED, PASSWORD_CHANGED)


def log_path(root: Path) -> Path:
    return root / FOLDER / FILE


@dataclass(frozen=True)
class Entry:
    line: int  # 1-based
    kind: str
    time: str
    bundle: str
    data: Mapping[str, Any]
    author: PublicKey


@dataclass(frozen=True)
class Handover:
    """One handover as the log tells it: prepared, perhaps accepted and confirmed."""

    bundle: str
    time: str
    giver: Party
    receiver: Party
    witness: Party | None
    giver_fingerprint: str
    receiver_fingerprint: str
    accepted_at: str | None = None
    password_changed_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "giver": self.giver.label(),
            "receiver": self.receiver.label(),
            "witness": self.witness.label() if self.witness else None,
            "password_changed_at": self.password_changed_at,
            "bundle": self.bundle,
            "accepted_at": self.accepted_at,
        }


@dataclass(frozen=True)
class Verification:
    verified: bool
    entries: list[Entry] = field(default_factory=list)  # only those whose signature holds
    problems: list[str] = field(default_factory=list)
    lines: int = 0
    head: str = GENESIS  # SHA-256 of the last line


# --- writing ------------------------------------------------------------------------------------


def append(
    root: Path,
    keys: HandoverKeys,
    kind: str,
    *,
    time: str,
    bundle: str,
    data: Mapping[str, Any] | None = None,
) -> Entry:
    """Add one signed entry after the last line; durable when this returns."""
    path = log_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        lines = _lines(path)
        body = {
            "v": VERSION,
            "kind": kind,
            "time": time,
            "bundle": bundle,
            "data": dict(data or {}),
            "author": keys.public().text(),
            "prev": _hash(lines[-1]) if lines else GENESIS,
        }
        signature = base64.b64encode(keymod.sign(keys, canonical(body))).decode("ascii")
        line = canonical({**body, "signature": signature})
        # 0644: the log is shared and holds no secret.
        write_durably(path, b"".join(item + b"\n" for item in [*lines, line]), mode=0o644)
    return Entry(len(lines) + 1, kind, time, bundle, body["data"], keys.public())


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    # flock on the folder itself: no lock file to travel through the share or go stale.
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- reading and verifying ----------------------------------------------------------------------


def verify(root: Path, seen: Path | None = None) -> Verification:
    """Read the whole log and check every link and signature; with ``seen`` (this computer's
    memory, see :func:`remember`), also that no entry it saw has been removed or changed."""
    lines = _lines(log_path(root))
    entries: list[Entry] = []
    problems: list[str] = []
    prev = GENESIS
    for number, line in enumerate(lines, start=1):
        entry, problem = _entry(number, line, prev)
        if entry is not None:
            entries.append(entry)
        if problem:
            problems.append(problem)
        prev = _hash(line)
    if seen is not None:
        problems.extend(_compare_with_memory(seen, lines))
    return Verification(not problems, entries, problems, len(lines), prev)


def remember(seen: Path, verification: Verification) -> None:
    """Record the length and head of a log that verified, so a later shrink is noticed."""
    if not verification.verified:
        return
    seen.parent.mkdir(parents=True, exist_ok=True)
    tmp = seen.with_name(seen.name + ".tmp")
    tmp.write_text(json.dumps({"lines": verification.lines, "head": verification.head}))
    os.replace(tmp, seen)


def _compare_with_memory(seen: Path, lines: list[bytes]) -> list[str]:
    try:
        memory = json.loads(seen.read_text())
        count, head = int(memory["lines"]), str(memory["head"])
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        return [
            _("This computer's memory of the handover log ({path}) is damaged.").format(path=seen)
        ]
    if count == 0:
        return []
    if len(lines) < count:
        return [
            _(
                "The log has {found} entries but this computer saw {count} before: "
                "entries were removed."
            ).format(found=len(lines), count=count)
        ]
    if _hash(lines[count - 1]) != head:
        return [
            _("Entry {line} differs from what this computer saw before: it was changed.").format(
                line=count
            )
        ]
    return []


def _entry(number: int, line: bytes, prev: str) -> tuple[Entry | None, str]:
    """The entry on ``line`` when its signature holds, and the problem with it (or "")."""
    try:
        document = json.loads(line.decode("utf-8"))
        body = {k: v for k, v in document.items() if k != "signature"}
        author = PublicKey.parse(str(document["author"]))
        signature = base64.b64decode(str(document["signature"]), validate=True)
        fields = (document["kind"], document["time"], document["bundle"], document["data"])
        well_formed = (
            document.get("v") == VERSION
            and document["kind"] in KINDS
            and all(isinstance(v, str) for v in fields[1:3])
            and isinstance(fields[3], dict)
            and isinstance(document["prev"], str)
        )
    except (
        UnicodeDecodeError,
        json.JSONDecodeError,
        AttributeError,
        KeyError,
        TypeError,
        binascii.Error,
        ValueError,
        BadPublicKey,
    ):
        well_formed = False
    if not well_formed:
        return None, _("Entry {line} is not a handover log entry (damaged).").format(line=number)
    if not keymod.verify(author.sign, canonical(body), signature):
        return None, _("Entry {line} was changed after it was signed.").format(line=number)
    entry = Entry(number, *fields, author=author)
    if document["prev"] != prev:
        return entry, _(
            "Entry {line} does not follow the entry before it: an earlier entry was changed "
            "or removed."
        ).format(line=number)
    return entry, ""


def _lines(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [line for line in data.split(b"\n") if line.strip()]


def _hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


# --- what the entries say -----------------------------------------------------------------------


def handovers(entries: list[Entry]) -> list[Handover]:
    """The handovers in log order. "accepted" and "password_changed" count only when signed
    by the receiver's key named in "prepared": nobody else can confirm for the receiver."""
    found: dict[str, Handover] = {}
    for entry in entries:
        if entry.kind == PREPARED and entry.bundle not in found:
            prepared = _prepared(entry)
            if prepared is not None:
                found[entry.bundle] = prepared
            continue
        handover = found.get(entry.bundle)
        if handover is None or entry.author.fingerprint() != handover.receiver_fingerprint:
            continue
        if entry.kind == ACCEPTED and handover.accepted_at is None:
            found[entry.bundle] = replace(handover, accepted_at=entry.time)
        elif entry.kind == PASSWORD_CHANGED and handover.password_changed_at is None:
            found[entry.bundle] = replace(handover, password_changed_at=entry.time)
    return list(found.values())


def _prepared(entry: Entry) -> Handover | None:
    data = entry.data
    try:
        witness = data.get("witness")
        return Handover(
            bundle=entry.bundle,
            time=entry.time,
            giver=Party(**data["giver"]),
            receiver=Party(**data["receiver"]),
            witness=Party(**witness) if witness else None,
            giver_fingerprint=entry.author.fingerprint(),
            receiver_fingerprint=str(data["receiver_fingerprint"]),
        )
    except (KeyError, TypeError):  # signed by its author, but not by a hoso we know
        return None
