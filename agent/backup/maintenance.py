"""Keeping a backup repository small and sound: retention, prune and check.

Invariants:
- forget_plan is pure: snapshots in, (keep, forget) out; it reads no clock and no file.
- prune never deletes before everything still needed is durable elsewhere, in the order of
  docs/backup-format.md: new packs, a new index superseding the old ones, then deleting the
  superseded indexes, then the packs no index names. At every instant the index files on
  disk name every reachable blob in a pack that exists, so a prune killed anywhere leaves a
  repository that checks clean. It refuses to run (deleting nothing) when a snapshot or tree
  cannot be read or a used blob is in no index: the data it would judge unused is unknown.
- check reports every problem as a Damage naming the repository file and, where blobs are
  concerned, the snapshots and paths that use them. Packs no index names are leftovers of an
  interrupted backup, not damage. A snapshot or key slot is missing when the manifest lists
  it, or when this computer made it (ledger.Written) and no manifest at least as new as this
  computer's last write says it was forgotten.
- The caller holds the repository lock for prune (and for check, to avoid reading a
  repository while a prune rewrites it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import BackupDamaged
from ..i18n import _
from . import crypto
from .clock import in_order, snapshot_time
from .ledger import Written
from .manifest import Manifest
from .repository import BlobEntry, Repository
from .snapshots import DIR, load_tree

# --- retention -------------------------------------------------------------------------


def forget_plan(
    snapshots: list[tuple[str, dict[str, Any]]],
    *,
    keep_last: int = 0,
    keep_daily: int = 0,
    keep_weekly: int = 0,
    keep_monthly: int = 0,
) -> tuple[list[str], list[str]]:
    """(ids to keep, ids to forget), both in the order given.

    restic's semantics, per (host, root) group, "newest" meaning the last made in the
    repository (clock.in_order), never the latest dated: keep_last keeps the newest N;
    keep_daily keeps the newest snapshot of each of the newest N days that have snapshots
    (weekly: ISO weeks, monthly: months), days taken in each snapshot's own recorded time
    zone. A snapshot any rule keeps is kept. A policy of all zeros keeps everything. Whether
    the dates can be trusted for the day rules is the caller's question (clock.assess).
    """
    if not any((keep_last, keep_daily, keep_weekly, keep_monthly)):
        return [snapshot_id for snapshot_id, _snap in snapshots], []
    rules: list[tuple[int, Callable[[datetime], object]]] = [
        (keep_daily, lambda t: t.date()),
        (keep_weekly, lambda t: t.isocalendar()[:2]),
        (keep_monthly, lambda t: (t.year, t.month)),
    ]
    keep: set[str] = set()
    for group in _groups(snapshots).values():
        newest_first = in_order(group)[::-1]
        keep.update(snapshot_id for snapshot_id, _snap in newest_first[:keep_last])
        for count, bucket in rules:
            keep |= _keep_by_bucket(newest_first, count, bucket)
    kept = [snapshot_id for snapshot_id, _snap in snapshots if snapshot_id in keep]
    forgotten = [snapshot_id for snapshot_id, _snap in snapshots if snapshot_id not in keep]
    return kept, forgotten


def _groups(
    snapshots: list[tuple[str, dict[str, Any]]],
) -> dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]:
    groups: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for pair in snapshots:
        groups.setdefault((pair[1]["host"], pair[1]["root"]), []).append(pair)
    return groups


def _keep_by_bucket(
    newest_first: list[tuple[str, dict[str, Any]]],
    count: int,
    bucket: Callable[[datetime], object],
) -> set[str]:
    kept: set[str] = set()
    last: object = None
    for snapshot_id, snapshot in newest_first:
        if len(kept) == count:
            break
        key = bucket(snapshot_time(snapshot))
        if key != last:
            kept.add(snapshot_id)
            last = key
    return kept


# --- what snapshots use ----------------------------------------------------------------


def used_blobs(repo: Repository) -> set[str]:
    """Every tree and data blob id reachable from a snapshot; BackupDamaged when a snapshot
    or a tree cannot be read (then what is used is unknown)."""
    used: set[str] = set()
    # read_snapshot, not snapshots(): a damaged snapshot must stop us, not be skipped.
    pending = [repo.read_snapshot(snapshot_id)["tree"] for snapshot_id in repo.snapshot_ids()]
    while pending:
        tree_id = pending.pop()
        if tree_id in used:
            continue
        used.add(tree_id)
        for entry in load_tree(repo, tree_id):
            if entry["type"] == DIR:
                pending.append(entry["subtree"])
            else:
                used.update(entry["content"])
    return used


# --- prune -----------------------------------------------------------------------------


MAX_UNUSED = 0.05  # share of unused bytes prune tolerates in partly used packs


@dataclass(frozen=True)
class PruneResult:
    packs_removed: int
    bytes_freed: int
    blobs_repacked: int


def prune(repo: Repository) -> PruneResult:
    """Remove what no snapshot uses, crash-safely (the caller holds the lock)."""
    repo.remove_temp_files()
    by_pack = _packs_of(repo.index().values())
    used = _used_or_stop(repo, by_pack)
    drop = _packs_to_drop(by_pack, used)
    keep = by_pack.keys() - drop
    leftovers = set(repo.packs()) - by_pack.keys()
    indexes = repo.index_files()
    if not drop and not leftovers and len(indexes) <= 1:
        return PruneResult(0, 0, 0)
    still_there = {entry.id for pack in keep for entry in by_pack[pack]}
    to_copy = sorted(used - still_there)
    new_packs = repo.repack(to_copy) if to_copy else {}
    repo.write_index({**{pack: by_pack[pack] for pack in keep}, **new_packs}, indexes)
    for index_id in indexes:
        repo.delete_index(index_id)
    removed = set(repo.packs()) - keep - new_packs.keys()
    freed = sum(_size(repo, pack) for pack in removed) - sum(_size(repo, p) for p in new_packs)
    for pack in sorted(removed):
        repo.delete_pack(pack)
    return PruneResult(len(removed), max(0, freed), len(to_copy))


def _used_or_stop(repo: Repository, by_pack: dict[str, list[BlobEntry]]) -> set[str]:
    """The blobs snapshots use; BackupDamaged (nothing deleted yet) when that is unknown or
    some of them are in no index."""
    try:
        used = used_blobs(repo)
    except BackupDamaged as exc:
        raise BackupDamaged(_stopped(str(exc))) from None
    missing = used - {entry.id for entries in by_pack.values() for entry in entries}
    if missing:
        raise BackupDamaged(
            _stopped(_("{n} pieces of backed-up data are in no index file.").format(n=len(missing)))
        )
    return used


def _stopped(problem: str) -> str:
    return _("{problem} Prune stopped without deleting anything; run hoso backup check.").format(
        problem=problem
    )


def _packs_to_drop(by_pack: dict[str, list[BlobEntry]], used: set[str]) -> set[str]:
    """Packs nothing uses, plus the partly used packs with the largest unused share until
    the unused bytes left are at most MAX_UNUSED of the used ones (restic's default):
    rewriting a 16 MiB pack to drop one old folder listing costs more than it saves."""
    unused = {p: sum(e.length for e in es if e.id not in used) for p, es in by_pack.items()}
    total = {p: sum(e.length for e in es) for p, es in by_pack.items()}
    drop = {pack for pack in by_pack if unused[pack] == total[pack]}
    partial = sorted(
        (pack for pack in by_pack if 0 < unused[pack] < total[pack]),
        key=lambda pack: unused[pack] / total[pack],
        reverse=True,
    )
    allowed = MAX_UNUSED * sum(total[p] - unused[p] for p in by_pack)
    left = sum(unused[pack] for pack in partial)
    for pack in partial:
        if left <= allowed:
            break
        drop.add(pack)
        left -= unused[pack]
    return drop


def _packs_of(locations: Iterable[list[BlobEntry]]) -> dict[str, list[BlobEntry]]:
    by_pack: dict[str, dict[tuple[str, int], BlobEntry]] = {}
    for entries in locations:
        for entry in entries:
            by_pack.setdefault(entry.pack, {})[(entry.id, entry.offset)] = entry
    return {pack: sorted(found.values(), key=lambda e: e.offset) for pack, found in by_pack.items()}


def _size(repo: Repository, pack: str) -> int:
    try:
        return repo.pack_path(pack).stat().st_size
    except FileNotFoundError:
        return 0


# --- check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    """One problem in one repository file (path relative to the repository), with the
    snapshots and the paths in them whose data it makes unrecoverable."""

    file: str
    problem: str
    snapshots: tuple[str, ...]
    paths: tuple[str, ...]  # folders end in "/"; "/" is a snapshot's whole tree


@dataclass
class _Findings:
    """Mutable accumulator of one check: each (file, problem) with the blob ids it concerns,
    and the (pack, blob) places known bad."""

    problems: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    bad: set[tuple[str, str]] = field(default_factory=set)

    def add(self, file: str, problem: str, blobs: Iterable[str] = ()) -> None:
        self.problems.setdefault((file, problem), set()).update(blobs)

    def bad_blobs(self, pack: str, blobs: Iterable[str], problem: str) -> None:
        ids = list(blobs)
        self.bad.update((pack, blob_id) for blob_id in ids)
        self.add(pack_file(pack), problem, ids)


def pack_file(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


def check(repo: Repository, *, read_data: bool, written: Written | None = None) -> list[Damage]:
    """Every problem found, [] for a sound repository. Structure always; with ``read_data``
    also every byte of every indexed pack; ``written``: what this computer wrote into it.
    The caller holds the lock."""
    found = _Findings()
    _check_listed(repo, written or Written(), found)
    _check_key_slots(repo, found)
    _check_index_files(repo, found)
    snapshots = _readable_snapshots(repo, found)
    index = repo.index()
    by_pack = _packs_of(index.values())
    for pack, entries in by_pack.items():
        _check_pack(repo, pack, entries, found)
        if read_data:
            _read_pack(repo, pack, entries, found)
    used = _check_trees(repo, [snap["tree"] for _id, snap in snapshots], index, found)
    missing = used - index.keys()
    if missing:
        found.add("index", _("data used by snapshots is listed in no index file"), missing)
    lost = missing | {
        blob_id
        for blob_id in used - missing
        if all((entry.pack, blob_id) in found.bad for entry in index[blob_id])
    }
    return _damages(found, _usage(repo, snapshots, lost) if lost else {})


def _blob_problem() -> str:
    return _("data in it cannot be decrypted or does not match its id")


def _check_listed(repo: Repository, written: Written, found: _Findings) -> None:
    """Snapshots and key slots that the manifest, or this computer's record, says exist."""
    manifest = _manifest(repo, found)
    if manifest is not None and manifest.generation < written.generation:
        found.add(
            "manifest",
            _(
                "it is older than what this computer last wrote into the repository: an old "
                "copy was put back, or the repository was rolled back"
            ),
        )
    # A manifest at least as new as our last write knows what was forgotten since.
    current = manifest is not None and manifest.generation >= written.generation
    listed = manifest or Manifest()
    snapshots = set(repo.snapshot_ids())
    for snapshot_id, seq in sorted({**written.snapshots, **listed.snapshots}.items()):
        if snapshot_id in snapshots or (current and snapshot_id not in listed.snapshots):
            continue
        where = (
            _("the repository lists it")
            if snapshot_id in listed.snapshots
            else _("this computer made it")
        )
        found.add(
            f"snapshots/{snapshot_id}",
            _("the snapshot file is missing (snapshot number {seq}; {where})").format(
                seq=seq if seq is not None else "?", where=where
            ),
        )
    slots = {slot["id"] for slot in repo.key_slots()}
    for slot_id, label in sorted({**written.keys, **listed.keys}.items()):
        if slot_id in slots or (current and slot_id not in listed.keys):
            continue
        found.add(f"keys/{slot_id}", _missing_slot(label))


def _manifest(repo: Repository, found: _Findings) -> Manifest | None:
    try:
        manifest = repo.read_manifest()
    except BackupDamaged as exc:
        found.add("manifest", str(exc))
        return None
    if manifest is None and repo.version >= 2:
        found.add("manifest", _("the file is missing"))
    return manifest


def _missing_slot(label: str) -> str:
    if label == "recovery":
        return _(
            "the recovery key's slot is missing: the printed recovery key no longer opens the "
            "repository. Copy the file back from another copy of the repository, or make a "
            "new recovery key (`hoso backup key add --recovery`) for the safe"
        )
    return _(
        'the key slot "{label}" is missing: its passphrase no longer opens the repository'
    ).format(label=label)


def _check_key_slots(repo: Repository, found: _Findings) -> None:
    for slot in repo.key_slots():
        if slot["damaged"]:
            found.add(
                f"keys/{slot['id']}",
                _("the key slot is damaged: its checksum does not match or it is not valid JSON"),
            )


def _check_index_files(repo: Repository, found: _Findings) -> None:
    for index_id in repo.index_files():
        try:
            repo.read_index(index_id)
        except BackupDamaged as exc:
            found.add(f"index/{index_id}", str(exc))


def _readable_snapshots(repo: Repository, found: _Findings) -> list[tuple[str, dict[str, Any]]]:
    readable = []
    for snapshot_id in repo.snapshot_ids():
        try:
            readable.append((snapshot_id, repo.read_snapshot(snapshot_id)))
        except BackupDamaged as exc:
            found.add(f"snapshots/{snapshot_id}", str(exc))
    return readable


def _check_pack(repo: Repository, pack: str, entries: list[BlobEntry], found: _Findings) -> None:
    """The pack exists, holds every blob the index places in it, and its header agrees."""
    try:
        size = repo.pack_path(pack).stat().st_size
    except FileNotFoundError:
        found.bad_blobs(pack, (e.id for e in entries), _("the pack file is missing"))
        return
    short = [entry.id for entry in entries if entry.offset + entry.length > size]
    if short:
        found.bad_blobs(pack, short, _("the pack file is truncated"))
        return
    try:
        header = repo.read_pack_header(pack)
    except BackupDamaged as exc:
        found.add(pack_file(pack), str(exc))
        return
    if _places(header) != _places(entries):
        found.add(pack_file(pack), _("its header does not match the index"))


def _places(entries: list[BlobEntry]) -> set[tuple[str, int, int]]:
    return {(entry.id, entry.offset, entry.length) for entry in entries}


def _read_pack(repo: Repository, pack: str, entries: list[BlobEntry], found: _Findings) -> None:
    """Every byte: the pack hashes to its name, every blob decrypts and matches its id."""
    try:
        data = repo.pack_path(pack).read_bytes()
    except FileNotFoundError:
        return  # reported by _check_pack
    if hashlib.sha256(data).hexdigest() != pack:
        found.add(pack_file(pack), _("its content does not match its name"))
    bad = [entry.id for entry in entries if not _blob_sound(repo, data, entry)]
    if bad:
        found.bad_blobs(pack, bad, _blob_problem())


def _blob_sound(repo: Repository, pack_data: bytes, entry: BlobEntry) -> bool:
    envelope = pack_data[entry.offset : entry.offset + entry.length]
    try:
        plain = crypto.open_envelope(
            repo.keys, bytes.fromhex(repo.id), crypto.KIND_BLOB, entry.id, envelope
        )
    except BackupDamaged:
        return False
    return len(plain) == entry.raw_length and repo.keys.blob_id(plain) == entry.id


def _check_trees(
    repo: Repository, roots: list[str], index: dict[str, list[BlobEntry]], found: _Findings
) -> set[str]:
    """Load every reachable tree; returns every blob id reachable from the roots."""
    used: set[str] = set()
    pending = list(roots)
    while pending:
        tree_id = pending.pop()
        if tree_id in used:
            continue
        used.add(tree_id)
        places = [e.pack for e in index.get(tree_id, []) if (e.pack, tree_id) not in found.bad]
        if not places:
            continue  # in no index, or every copy already known bad: reported elsewhere
        try:
            entries = load_tree(repo, tree_id)
        except BackupDamaged:  # every copy failed
            for pack in places:
                found.bad_blobs(pack, [tree_id], _blob_problem())
            continue
        for entry in entries:
            if entry["type"] == DIR:
                pending.append(entry["subtree"])
            else:
                used.update(entry["content"])
    return used


def _usage(
    repo: Repository, snapshots: list[tuple[str, dict[str, Any]]], lost: set[str]
) -> dict[str, tuple[set[str], set[str]]]:
    """Lost blob id → (snapshot ids, paths) that use it."""
    usage: dict[str, tuple[set[str], set[str]]] = {}
    memo: dict[str, list[tuple[str, str]]] = {}
    for snapshot_id, snapshot in snapshots:
        root = snapshot["tree"]
        hits = [("/", root)] if root in lost else _hits(repo, root, lost, memo)
        for path, blob_id in hits:
            snaps, paths = usage.setdefault(blob_id, (set(), set()))
            snaps.add(snapshot_id)
            paths.add(path)
    return usage


def _hits(
    repo: Repository, tree_id: str, lost: set[str], memo: dict[str, list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """(path below the tree, lost blob id) for every use of a lost blob below a sound tree;
    memoised, since snapshots share most of their trees."""
    if tree_id not in memo:
        hits: list[tuple[str, str]] = []
        for entry in load_tree(repo, tree_id):
            name = entry["name"]
            if entry["type"] != DIR:
                hits.extend((name, blob_id) for blob_id in entry["content"] if blob_id in lost)
            elif entry["subtree"] in lost:
                hits.append((name + "/", entry["subtree"]))
            else:
                below = _hits(repo, entry["subtree"], lost, memo)
                hits.extend((f"{name}/{path}", blob_id) for path, blob_id in below)
        memo[tree_id] = hits
    return memo[tree_id]


def _damages(found: _Findings, usage: dict[str, tuple[set[str], set[str]]]) -> list[Damage]:
    damages = []
    for (file, problem), blobs in sorted(found.problems.items()):
        snapshots: set[str] = set()
        paths: set[str] = set()
        for blob_id in blobs & usage.keys():
            snapshots |= usage[blob_id][0]
            paths |= usage[blob_id][1]
        damages.append(Damage(file, problem, tuple(sorted(snapshots)), tuple(sorted(paths))))
    return damages
