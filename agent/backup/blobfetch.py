"""The blobs a restore needs, read pack by pack: each pack once, its blobs in pack order.

A restore of 2,000 files needs some 7,000 blobs from a few dozen packs. Loading them one by
one opened a pack file per blob; here the blobs wanted are grouped by the pack holding them
(the first copy, copies in packs that exist first), each pack is read in a few large ranged
reads in offset order, and each blob is decrypted once, however many files, or places in a
file, use it. restic's restorer works the same way.

Invariants:
- Memory stays bounded: a batch spans at most ``BATCH`` bytes of a pack (one blob larger than
  that is a batch of its own) and as many of plaintext; at most ``AHEAD`` batches are read
  ahead of the caller.
- Every blob handed out passed the repository's check (the envelope's authentication binds
  its id). One that fails in the pack chosen is tried in the repository's other copies; one
  without a sound copy is handed out as the BackupDamaged saying why, for the caller to name
  the files that need it. A failing drive (LocalError) stops everything.
- Packs come in the order files first need them, so that files complete early.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import BackupDamaged
from .repository import BlobEntry, Repository

BATCH = 8 * 1024 * 1024
AHEAD = 3
_READERS = 2  # reading and decrypting release the GIL; the caller writes meanwhile

Outcome = bytes | BackupDamaged


@dataclass(frozen=True)
class Plan:
    """The blobs to read, in batches of one pack each in offset order, and those no index
    names (with the BackupDamaged saying so)."""

    batches: list[list[BlobEntry]]
    unknown: list[tuple[str, BackupDamaged]]

    def order(self) -> Iterator[str]:
        """Blob ids in the order :func:`fetch` hands them out."""
        yield from (blob_id for blob_id, _problem in self.unknown)
        yield from (entry.id for batch in self.batches for entry in batch)


def fetch(repo: Repository, plan: Plan) -> Iterator[tuple[str, Outcome]]:
    """Each blob of the plan as (id, plaintext), or (id, BackupDamaged) when no copy of it is
    sound, in the plan's order."""
    yield from plan.unknown
    with ThreadPoolExecutor(_READERS, thread_name_prefix="hoso-restore") as pool:
        pending = iter(plan.batches)
        window: deque[Future[list[tuple[BlobEntry, Outcome]]]] = deque()
        for batch in pending:
            window.append(pool.submit(repo.read_blobs, batch))
            if len(window) >= AHEAD:
                break
        try:
            while window:
                done = window.popleft().result()
                following = next(pending, None)
                if following is not None:
                    window.append(pool.submit(repo.read_blobs, following))
                for entry, outcome in done:
                    if isinstance(outcome, BackupDamaged):
                        outcome = _other_copy(repo, entry, outcome)
                    yield entry.id, outcome
        finally:
            for future in window:  # the caller stopped early: no more reads
                future.cancel()


def plan(repo: Repository, wanted: Iterable[str]) -> Plan:
    """How to read the blobs of ``wanted`` (ids in the order files need them; repeats are
    read once)."""
    packs: dict[str, list[BlobEntry]] = {}  # in the order the packs are first needed
    unknown: list[tuple[str, BackupDamaged]] = []
    seen: set[str] = set()
    for blob_id in wanted:
        if blob_id in seen:
            continue
        seen.add(blob_id)
        try:
            entry = repo.copies(blob_id)[0]
        except BackupDamaged as exc:
            unknown.append((blob_id, exc))
            continue
        packs.setdefault(entry.pack, []).append(entry)
    batches: list[list[BlobEntry]] = []
    for entries in packs.values():
        entries.sort(key=lambda entry: entry.offset)
        batch: list[BlobEntry] = []
        plain = 0
        for entry in entries:
            if batch and (
                entry.offset + entry.length - batch[0].offset > BATCH
                or plain + entry.raw_length > BATCH
            ):
                batches.append(batch)
                batch, plain = [], 0
            batch.append(entry)
            plain += entry.raw_length
        batches.append(batch)
    return Plan(batches, unknown)


def _other_copy(repo: Repository, entry: BlobEntry, problem: BackupDamaged) -> Outcome:
    """The blob from another copy, when the repository has one that is sound."""
    if len(repo.copies(entry.id)) < 2:
        return problem
    try:
        return repo.load_blob(entry.id, rehash=False)
    except BackupDamaged as exc:
        return exc
