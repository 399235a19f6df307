"""The handover log: an append-only, hash-chained, signed record of every mailbox handover.

It lives in ``Bàn giao tài khoản/`` of the school folder (of the records folder on a computer
without one; a visible name so that every sync carries it), so the share brings each keeper's
entries to the others: that is how the giver's machine learns that the receiver changed the
password. Log files an earlier version kept in the records folder are still read until they
are moved (moving.py): per file name, the school folder's copy, unless the records folder's
continues it (the longer of two copies one of which extends the other: the chains only grow);
two copies that diverged are a problem, and the school folder's counts.

Each key writes a file of its own (``nhat-ky-ban-giao-<key>.jsonl``): two computers never
write the same file, so the share can never make a conflict copy that nothing reads, whatever
order the entries travel in. The log is all those files together (and
``nhat-ky-ban-giao.jsonl`` of hoso versions that kept one file), ordered by time.

One JSON line per entry (canonical JSON)::

    {"v": 1, "kind": "prepared" | "accepted" | "password_changed", "time": ISO, "bundle": id,
     "data": {…}, "author": "hoso1:…", "prev": SHA-256 hex of the line before, "signature": b64}

``prepared`` carries giver, receiver, witness (``{name, position}``) and the receiver's key
fingerprint; ``accepted`` and ``password_changed`` count only when signed by that receiver key.
This module checks links and signatures only; which keys may speak at all is trust.py's job.

Invariants:
- Each line names the SHA-256 of the line before it in its file (the first names 64 zeros) and
  is signed by its author's Ed25519 key: an edited line fails its signature, an edited or
  removed line breaks the next line's link. Removing the last lines (or a whole file) breaks
  no link, so each computer also remembers each file's length and last hash it saw
  (``remember``) and reports a file that shrank or vanished.
- An append rewrites the whole file atomically (agent.durable: temp file, fsync, rename,
  fsync of the folder) under an flock of the folder: a reader never sees half a line.
- No password ever enters the log: entries carry names, times, ids and fingerprints only.
- Anyone who can write to the school folder can put files there: a log file is read only
  when it is a regular file (never through a symlink, never a device or pipe) of at most
  MAX_FILE_BYTES; any other is a problem, read as nothing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.api import (
    UsageError,
    _,
    write_atomic,
)

from . import keys as keymod
from .bundle import Party, canonical
from .keys import BadPublicKey, HandoverKeys, PublicKey
from .names import FILE, FOLDER, STEM, log_files

GENESIS = "0" * 64
VERSION = 1
PREPARED = "prepared"
ACCEPTED = "accepted"
PASSWORD_CHANGED = "password_changed"
KINDS = (PREPARED, ACCEPTED, PASSWORD_CHANGED)
MAX_FILE_BYTES = 16 * 2**20  # an entry is under a kilobyte: thousands of handovers fit
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def log_path(root: Path, author: PublicKey | None = None) -> Path:
    """The file ``author`` appends to (without an author: the older single-file log)."""
    if author is None:
        return root / FOLDER / FILE
    return root / FOLDER / f"{STEM}-{author.fingerprint().replace('-', '').lower()}.jsonl"


class Unreadable(Exception):
    """A log file that is not read: a link, not a regular file, too big, or an I/O error."""


def read_file(path: Path) -> bytes:
    """The bytes of the log file ``path`` (b"" when there is none); Unreadable when it is
    anything but a regular file of at most MAX_FILE_BYTES."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return b""
    except OSError as exc:  # ELOOP: a symlink
        raise Unreadable(
            _("it is a link or cannot be opened ({detail})").format(detail=exc.strerror or exc)
        ) from None
    try:
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Unreadable(_("it is not a regular file"))
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise Unreadable(str(exc.strerror or exc)) from None
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable(_("it is far too big to be a handover log"))
    return data


def lines_of(data: bytes) -> list[bytes]:
    """A log file's entries' lines."""
    return [line for line in data.split(b"\n") if line.strip()]


def read_lines(path: Path) -> list[bytes]:
    """:func:`lines_of` :func:`read_file`."""
    return lines_of(read_file(path))


class Relation(enum.Enum):
    """How two copies of one log file compare, line by line."""

    SAME = "same"
    FIRST_LONGER = "first_longer"  # the first continues the second
    SECOND_LONGER = "second_longer"
    DIVERGED = "diverged"  # neither continues the other


def relation(first: list[bytes], second: list[bytes]) -> Relation:
    if first == second:
        return Relation.SAME
    if first[: len(second)] == second:
        return Relation.FIRST_LONGER
    if second[: len(first)] == first:
        return Relation.SECOND_LONGER
    return Relation.DIVERGED


@dataclass(frozen=True)
class Entry:
    file: str  # the log file's name
    line: int  # 1-based, in its file
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
    # Known only from the receiver's "accepted" entry: the giver's "prepared" entry has not
    # reached this computer yet. Never grounds for removing anything.
    provisional: bool = False

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
    # file name -> (number of lines, SHA-256 of its last line)
    files: dict[str, tuple[int, str]] = field(default_factory=dict)


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
    """Add one signed entry after the last line of the author's file; durable when this
    returns."""
    path = log_path(root, keys.public())
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent):
        try:
            lines = read_lines(path)
        except Unreadable as exc:
            raise UsageError(
                _(
                    "The handover log file {path} cannot be added to: {problem}. Move it "
                    "away (keep it: it may be evidence) and try again. Nothing was written."
                ).format(path=path, problem=exc)
            ) from None
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
        write_atomic(path, b"".join(item + b"\n" for item in [*lines, line]), mode=0o644)
    return Entry(path.name, len(lines) + 1, kind, time, bundle, body["data"], keys.public())


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    # flock on the folder itself: no lock file to travel through the share or go stale.
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# --- reading and verifying ----------------------------------------------------------------------


def verify(root: Path, seen: Path | None = None, *, earlier: Path | None = None) -> Verification:
    """Read every log file under ``root`` (and those under ``earlier``, the records folder,
    not moved from there yet) and check every link and signature; with ``seen`` (this
    computer's memory, see :func:`remember`), also that no entry it saw has been removed or
    changed. Entries come ordered by time."""
    entries: list[Entry] = []
    files: dict[str, tuple[int, str]] = {}
    contents, problems = _contents(root, earlier)
    for name, lines in sorted(contents.items()):
        prev = GENESIS
        for number, line in enumerate(lines, start=1):
            entry, problem = _entry(name, number, line, prev)
            if entry is not None:
                entries.append(entry)
            if problem:
                problems.append(f"{name}: {problem}")
            prev = _hash(line)
        files[name] = (len(lines), prev)
    if seen is not None:
        problems.extend(_compare_with_memory(seen, contents))
    entries.sort(key=lambda e: (_instant(e.time), e.file, e.line))
    return Verification(not problems, entries, problems, files)


def _contents(root: Path, earlier: Path | None) -> tuple[dict[str, list[bytes]], list[str]]:
    """Each log file's lines by name: the copy under ``root``, or the one under ``earlier``
    where there is none or it continues it (see the module's docstring)."""
    contents: dict[str, list[bytes]] = {}
    problems: list[str] = []
    for path in log_files(root):
        try:
            contents[path.name] = read_lines(path)
        except Unreadable as exc:
            problems.append(
                _("{file}: left out of the log: {problem}.").format(file=path.name, problem=exc)
            )
    for path in log_files(earlier) if earlier is not None else []:
        try:
            lines = read_lines(path)
        except Unreadable as exc:
            problems.append(
                _("{file} in the records folder: left out of the log: {problem}.").format(
                    file=path.name, problem=exc
                )
            )
            continue
        found = contents.get(path.name)
        if found is None or relation(lines, found) is Relation.FIRST_LONGER:
            contents[path.name] = lines
        elif relation(lines, found) is Relation.DIVERGED:
            problems.append(diverged_problem(path))
    return contents, problems


def diverged_problem(path: Path) -> str:
    return _(
        "{file}: the copy in the records folder ({path}) and the one in the school folder "
        "differ, and neither continues the other. Both are kept; the school folder's is read "
        "as the log. Show both to the school's admin (keep the records folder's copy: it may "
        "be evidence)."
    ).format(file=path.name, path=path)


def _instant(time: str) -> float:
    try:
        return datetime.fromisoformat(time).timestamp()
    except ValueError:  # signed, but not a time: keep it, last
        return float("inf")


def remember(seen: Path, verification: Verification) -> None:
    """Record the length and head of each file of an intact log (the caller checks that), so
    that a later shrink is noticed."""
    memory = {name: {"lines": n, "head": head} for name, (n, head) in verification.files.items()}
    # Whole or not at all: a torn memory would report the log as damaged. Owner-only, as the
    # state folder's other files.
    write_atomic(seen, json.dumps({"files": memory}).encode("utf-8"), mode=0o600)


def _compare_with_memory(seen: Path, contents: Mapping[str, list[bytes]]) -> list[str]:
    try:
        memory = json.loads(seen.read_text())
        if "files" not in memory:  # an earlier version's memory of the single file
            memory = {"files": {FILE: memory}}
        known = {str(k): (int(v["lines"]), str(v["head"])) for k, v in memory["files"].items()}
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return [
            _("This computer's memory of the handover log ({path}) is damaged.").format(path=seen)
        ]
    problems = []
    for name, (count, head) in sorted(known.items()):
        lines = contents.get(name, [])
        if count == 0:
            continue
        if len(lines) < count:
            problems.append(
                _(
                    "{file}: the log has {found} entries but this computer saw {count} before: "
                    "entries were removed."
                ).format(file=name, found=len(lines), count=count)
            )
        elif _hash(lines[count - 1]) != head:
            problems.append(
                _(
                    "{file}: entry {line} differs from what this computer saw before: it was "
                    "changed."
                ).format(file=name, line=count)
            )
    return problems


def _entry(file: str, number: int, line: bytes, prev: str) -> tuple[Entry | None, str]:
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
    entry = Entry(file, number, *fields, author=author)
    if document["prev"] != prev:
        return entry, _(
            "Entry {line} does not follow the entry before it: an earlier entry was changed "
            "or removed."
        ).format(line=number)
    return entry, ""


def _hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


# --- what the entries say -----------------------------------------------------------------------


def handovers(entries: list[Entry]) -> list[Handover]:
    """The handovers in time order. "accepted" and "password_changed" count only when signed
    by the receiver's key named in "prepared": nobody else can confirm for the receiver. A
    handover is known by its bundle and its giver's key, so a "prepared" entry someone else
    signed for the same bundle (backdated, say) is another handover, never this one. An
    "accepted" entry whose "prepared" has not arrived yet gives a provisional handover (the
    receiver can confirm its password change meanwhile)."""
    found: dict[tuple[str, str], Handover] = {}
    for entry in entries:
        key = (entry.bundle, entry.author.fingerprint())
        if entry.kind == PREPARED and key not in found:
            prepared = _prepared(entry)
            if prepared is not None:
                found[key] = prepared
    for entry in entries:
        if entry.kind == PREPARED:
            continue
        if entry.kind == ACCEPTED:
            provisional = _provisional(entry)
            if provisional is not None:
                found.setdefault((entry.bundle, provisional.giver_fingerprint), provisional)
        author = entry.author.fingerprint()
        for key, handover in found.items():
            if key[0] != entry.bundle or handover.receiver_fingerprint != author:
                continue
            if entry.kind == ACCEPTED and handover.accepted_at is None:
                found[key] = replace(handover, accepted_at=entry.time)
            elif entry.kind == PASSWORD_CHANGED and handover.password_changed_at is None:
                found[key] = replace(handover, password_changed_at=entry.time)
    return sorted(found.values(), key=lambda h: _instant(h.time))


def _provisional(entry: Entry) -> Handover | None:
    data = entry.data
    try:
        return Handover(
            bundle=entry.bundle,
            time=str(data["prepared_at"]),
            giver=Party(**data["giver"]),
            receiver=Party(**data["receiver"]),
            witness=None,
            giver_fingerprint=str(data["giver_fingerprint"]),
            receiver_fingerprint=entry.author.fingerprint(),
            provisional=True,
        )
    except (KeyError, TypeError):  # an "accepted" entry of an earlier version: no details
        return None


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
