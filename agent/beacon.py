"""The change beacon: a small file hoso agents write at their folder's root on the share.

After a pass that changed anything on the share, an agent writes a new random token into
``.hoso-changes`` at its folder's root (and into the beacons of other agents' folders its
changes fell in). An idle agent then learns whether another hoso agent changed something with
one GET per beacon instead of listing every folder (docs/sync.md, "How an idle agent finds
changes"). The beacon is a hint and hostile like anything from the share: only a well-formed
token counts; anything else (missing, garbage, too long) means "walk that folder", never
"deleted". This module is pure: the format and the comparison; agent/remote.py reads and
writes it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from .model import RelPath, name_of, parent_of

NAME = ".hoso-changes"
MAX_BYTES = 4096  # a beacon is ~100 bytes: a longer answer is garbage and is not read further
_MAGIC = "hoso-changes 1"
_TOKEN = re.compile(r"token = ([0-9a-f]{32})")
ABSENT = ""  # remembered for a beacon that was missing when its folder was walked


@dataclass(frozen=True)
class Seen:
    """What one read of a beacon found."""

    present: bool  # the share has a file by that name (garbage included)
    token: str | None = None  # the well-formed token; None: missing or garbage
    etag: str = ""  # the answer's ETag, for a conditional write over it

    @property
    def key(self) -> str | None:
        """What is remembered for it: the token, ABSENT when missing, None for garbage
        (never equal to anything remembered, so garbage always means a walk)."""
        if not self.present:
            return ABSENT
        return self.token

    def same(self, other: Seen) -> bool:
        """Nobody wrote the beacon between the two reads: the same token and ETag (garbage
        is told apart by its ETag only, so without one it is never "the same")."""
        if (self.present, self.token, self.etag) != (other.present, other.token, other.etag):
            return False
        return self.token is not None or not self.present or bool(self.etag)


def new_token() -> str:
    return secrets.token_hex(16)


def render(token: str, host: str, now: datetime) -> bytes:
    """The beacon's bytes: the token, and for a person who opens it, who wrote it when."""
    when = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = (_MAGIC, f"token = {token}", f"host = {host[:64]!r}", f"time = {when}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def parse(data: bytes) -> str | None:
    """The token of a beacon's bytes, or None for anything else."""
    if len(data) > MAX_BYTES:
        return None
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        return None
    if len(lines) < 2 or lines[0] != _MAGIC:
        return None
    match = _TOKEN.fullmatch(lines[1])
    return match.group(1) if match else None


def is_beacon(path: RelPath) -> bool:
    """A beacon, at any depth: never a record, never synced."""
    return name_of(path) == NAME


def path_in(folder: RelPath) -> RelPath:
    return f"{folder}/{NAME}" if folder else NAME


def folder_of(path: RelPath) -> RelPath:
    return parent_of(path)
