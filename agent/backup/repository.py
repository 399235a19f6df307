"""A backup repository on disk: files, packs, the index, snapshots and key slots.

The layout and every byte are specified in docs/backup-format.md; the cryptography is in
:mod:`agent.backup.crypto`, the lock protocol in :mod:`agent.backup.locks`.

Invariants:
- Every file is written through agent.durable with a ``.tmp-`` temp name in its folder
  (fsync'd, renamed, the folder fsync'd); a failed write raises LocalError (ENOSPC: "drive
  full"), and ``.tmp-*`` files a killed writer left are removed by ``remove_temp_files``.
- Content files are named by the SHA-256 of their bytes, so anyone can check them without keys.
- A blob is referenced by an index file only after the pack holding it is durable, and a
  snapshot is written only after the index naming everything it references (``flush``).
- ``load_blob`` returns only bytes whose keyed id matches: damage raises BackupDamaged.
- The in-memory index knows blobs not yet flushed, so identical content inside one backup
  is stored once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from io import FileIO
from pathlib import Path
from typing import Any, Literal

from ..envelope import KdfParams
from ..errors import BackupDamaged, LocalError, RepositoryNewer, UsageError, WrongPassphrase
from ..i18n import _
from ..log import get_logger
from . import chunker, crypto, files, locks
from .clock import in_order, snapshot_seq
from .crypto import Keys
from .files import TEMP_PREFIX
from .folderstate import config_missing, repository_state  # re-exported
from .manifest import Manifest, parse

# 2: the manifest and numbered snapshots; a hoso that knows only 1 must not write, since it
# would not keep the manifest (docs/backup-format.md, "Format versions").
FORMAT_VERSION = 2
MANIFEST = "manifest"
FOLDERS = ("keys", "data", "index", "snapshots", "locks")
PACK_TARGET = 16 * 1024 * 1024
# min, avg, max: ~1 MiB chunks keep the index small while sharing most of a large file
# after an insertion (docs/backup-format.md, config).
DEFAULT_CHUNKER = (256 * 1024, 1024 * 1024, 4 * 1024 * 1024)
_LENGTH = struct.Struct("<I")
PRODUCTION_KDF = KdfParams()

logger = get_logger(__name__)


@dataclass(frozen=True)
class BlobEntry:
    """Where a blob is stored: its envelope at ``offset`` (``length`` bytes) in ``pack``."""

    id: str
    type: str
    pack: str
    offset: int
    length: int
    raw_length: int

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "offset": self.offset,
            "length": self.length,
            "raw_length": self.raw_length,
        }


class Repository:
    """An open repository: ``Repository.init`` creates one, ``Repository.open`` opens one."""

    def __init__(self, path: Path, repo_id: bytes, master: bytes, config: dict[str, Any]) -> None:
        self.path = path
        self.id = repo_id.hex()
        self.keys = Keys.from_master(master)
        self.chunker = _chunker(config)
        self.version: int = config["version"]
        # The manifest generation this object last wrote (what this computer remembers).
        self.generation: int | None = None
        self._config = config
        self._repo_id = repo_id
        self._master = master
        self._index: dict[str, list[BlobEntry]] | None = None
        self._present: set[str] = set()
        self._open_pack = _PackBuffer()
        self._writing: list[tuple[_PackBuffer, Future[str]]] = []  # oldest first
        self._writer: ThreadPoolExecutor | None = None
        self._unindexed: dict[str, list[BlobEntry]] = {}
        self._failure: LocalError | None = None

    def __repr__(self) -> str:
        return f"Repository({str(self.path)!r}, id={self.id})"

    # --- creating and opening ----------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: Path,
        passphrase: str,
        *,
        label: str = "",
        kdf: KdfParams = PRODUCTION_KDF,
        now: datetime | None = None,
    ) -> Repository:
        """Create a repository in ``path`` (absent or empty) with one key slot."""
        state = repository_state(path)
        if state == "damaged":
            raise config_missing(path)
        if state == "repository":  # the drive of a PC that died: use it, never start anew
            raise UsageError(
                _(
                    "{path} already holds a backup repository; nothing was changed. To use it "
                    "(its passphrase or the recovery key opens it): `hoso backup connect {path}`."
                ).format(path=path)
            )
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise UsageError(
                _("{path} is not an empty folder; choose an empty folder for the backups.").format(
                    path=path
                )
            )
        now = now or datetime.now().astimezone()
        config = {
            "version": FORMAT_VERSION,
            "id": "",
            "created": now.isoformat(timespec="seconds"),
            "chunker": dict(zip(("min", "avg", "max"), DEFAULT_CHUNKER, strict=True)),
        }
        repo = cls(path, crypto.new_repository_id(), crypto.new_master(), config)
        config["id"] = repo.id
        try:
            path.mkdir(parents=True, exist_ok=True)
            for folder in FOLDERS:
                (path / folder).mkdir(exist_ok=True)
        except OSError as exc:
            raise files.local_error(path, exc) from None
        slot = crypto.make_slot(repo._master, repo.id, passphrase, label, kdf, now)
        repo._write_slot(slot)
        repo._write_manifest(Manifest(generation=1, keys={slot["id"]: label}))
        # The config comes last: its presence is what makes the folder a repository.
        repo._write_config(config)
        return repo

    @classmethod
    def open(cls, path: Path, passphrase: str) -> Repository:
        """Open the repository in ``path`` with any of its key slots' passphrases."""
        try:
            data = (path / "config").read_bytes()
        except FileNotFoundError:
            if repository_state(path) == "damaged":
                raise config_missing(path) from None
            raise UsageError(
                _("There is no backup repository at {path}; run `hoso backup init`.").format(
                    path=path
                )
            ) from None
        except OSError as exc:
            raise files.local_error(path / "config", exc) from None
        repo_id = crypto.config_repository_id(data)
        master = _unlock(path, repo_id.hex(), passphrase)
        keys = Keys.from_master(master)
        config = _parse_json(crypto.open_config(keys, data), "config")
        version = config.get("version")
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise RepositoryNewer(
                _(
                    "The backup repository at {path} was written by a newer version of hoso. "
                    "Update hoso to use it."
                ).format(path=path)
            )
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _malformed("config")
        return cls(path, repo_id, master, config)

    # --- the lock ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The exclusive lock: ``with repo.lock(): …``; RepositoryInUse when held elsewhere.
        A pack write still in flight when the block ends early (an error, the agent stopping)
        is finished before the lock is let go: nobody else's prune may meet it half-written."""
        with locks.exclusive(_LockFiles(self), locks.Holder.current(), datetime.now().astimezone()):
            try:
                yield
            finally:
                self._finish_writes()

    # --- blobs -------------------------------------------------------------------------------

    def has_blob(self, blob_id: str) -> bool:
        return self._pending(blob_id) is not None or self._stored(blob_id)

    def add_blob(self, kind: Literal["data", "tree"], plaintext: bytes) -> tuple[str, int]:
        """Store ``plaintext`` unless already there: (blob id, bytes added to the repository).

        Buffered: the blob is durable after :meth:`flush`. Once a pack write has failed, this
        and ``flush`` raise that LocalError again, so that no snapshot can name a lost blob.
        """
        self._raise_failure()
        blob_id = self.keys.blob_id(plaintext)
        if self.has_blob(blob_id):
            return blob_id, 0
        envelope = crypto.seal(self.keys, self._repo_id, crypto.KIND_BLOB, blob_id, plaintext)
        if self._open_pack.size and self._open_pack.size + len(envelope) > PACK_TARGET:
            self._write_open_pack()
        self._open_pack.add(blob_id, kind, envelope, len(plaintext))
        return blob_id, len(envelope)

    def load_blob(self, blob_id: str, *, rehash: bool = True) -> bytes:
        """The plaintext of a blob, verified against its id; BackupDamaged naming what failed.

        The envelope's authentication already binds the id (a blob from elsewhere does not
        open); ``rehash`` also recomputes the keyed id from the plaintext, which only a writer
        bug could make differ. A restore, which checks each whole file against its SHA-256
        anyway, skips that second pass over every byte."""
        pending = self._pending(blob_id)
        if pending is not None:
            pack, entry = pending
            return self._verified(
                pack.envelope(entry), entry, _("a pack not yet written"), rehash=rehash
            )
        failure: BackupDamaged | None = None
        for entry in self.copies(blob_id):  # a blob may be stored twice: any good copy will do
            try:
                envelope = self._read_envelope(entry)
                return self._verified(envelope, entry, _pack_name(entry.pack), rehash=rehash)
            except BackupDamaged as exc:
                failure = exc
        assert failure is not None
        raise failure

    def copies(self, blob_id: str) -> list[BlobEntry]:
        """Where a blob is stored, copies in packs that exist first; BackupDamaged when no
        index names it."""
        entries = self._located(blob_id)
        if not entries:
            raise BackupDamaged(
                _("The blob {blob} is in no index of the backup repository.").format(blob=blob_id)
            )
        return entries

    def read_blobs(self, entries: list[BlobEntry]) -> list[tuple[BlobEntry, bytes | BackupDamaged]]:
        """The plaintext of each of ``entries`` (blobs of one pack, in offset order) from one
        ranged read of the pack, each checked as by ``load_blob(rehash=False)``, or the
        BackupDamaged saying why it failed. LocalError when the drive fails."""
        pack, start = entries[0].pack, entries[0].offset
        where = _pack_name(pack)
        try:
            span = self._read_span(pack, start, max(e.offset + e.length for e in entries) - start)
        except BackupDamaged as exc:
            return [(entry, exc) for entry in entries]
        view = memoryview(span)
        found: list[tuple[BlobEntry, bytes | BackupDamaged]] = []
        for entry in entries:
            envelope = view[entry.offset - start : entry.offset - start + entry.length]
            try:
                if len(envelope) != entry.length:
                    raise _damaged(where, _("it is truncated"))
                found.append((entry, self._verified(envelope, entry, where, rehash=False)))
            except BackupDamaged as exc:
                found.append((entry, exc))
        return found

    def flush(self) -> None:
        """Write the open pack, then one index file naming every pack written since the last."""
        self._raise_failure()
        if self._open_pack.size:
            self._write_open_pack()
        self._collect(wait_for=len(self._writing))
        self._finish_writes()
        if self._unindexed:
            # The in-memory index already holds these entries: no need to reread the files.
            self._write_index_file(self._unindexed, [])
            self._unindexed = {}

    def _finish_writes(self) -> None:
        """Wait for the pack writer's work and let its thread go (the packs it wrote are
        complete; one that failed is raised by the next :meth:`flush`)."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def chunks(self, file: Path) -> Iterator[bytes]:
        """The content of ``file`` cut as the config says; OSError as the file system raises it."""
        minimum, average, maximum = self.chunker
        with open(file, "rb", buffering=0) as handle:
            head = handle.read(minimum + 1)
            if len(head) <= minimum:
                if head:
                    yield head
                return
            yield from chunker.cut(handle, head, minimum, average, maximum)

    # --- snapshots ---------------------------------------------------------------------------

    def save_snapshot(self, snapshot: dict[str, Any]) -> str:
        """Make everything durable, then write the snapshot (numbered ``next_seq()`` unless it
        has a ``seq``), then list it in the manifest; returns its id. The caller holds the
        lock."""
        self.flush()
        if snapshot_seq(snapshot) is None:
            snapshot = {**snapshot, "seq": self.next_seq()}
        sealed = crypto.seal(
            self.keys, self._repo_id, crypto.KIND_SNAPSHOT, "snapshots", _json(snapshot)
        )
        snapshot_id = files.write_atomic(self.path / "snapshots", sealed)
        self._change_manifest(lambda m: m.with_snapshot(snapshot_id, snapshot_seq(snapshot)))
        return snapshot_id

    def next_seq(self) -> int:
        """The number of the next snapshot: above every number given, even to a snapshot
        since forgotten, or written by a backup that died before updating the manifest."""
        manifest = self.manifest_or_none()
        listed = manifest.snapshots if manifest is not None else {}
        highest = manifest.seq if manifest is not None else 0
        for snapshot_id in self.snapshot_ids():
            if snapshot_id in listed:
                continue
            try:
                highest = max(highest, snapshot_seq(self.read_snapshot(snapshot_id)) or 0)
            except BackupDamaged:
                continue  # check reports it
        return highest + 1

    def snapshot_ids(self) -> list[str]:
        return self._names("snapshots")

    def read_snapshot(self, snapshot_id: str) -> dict[str, Any]:
        """One snapshot's JSON; BackupDamaged when its file is missing or damaged."""
        what = f"snapshots/{snapshot_id}"
        data = self._read_content("snapshots", snapshot_id)
        plain = crypto.open_envelope(
            self.keys, self._repo_id, crypto.KIND_SNAPSHOT, "snapshots", data, what=what
        )
        return _parse_json(plain, what)

    def snapshots(self) -> list[tuple[str, dict[str, Any]]]:
        """(id, snapshot) oldest first in the order they were made (clock.in_order); damaged
        snapshot files are skipped with a warning."""
        found: list[tuple[str, dict[str, Any]]] = []
        for snapshot_id in self.snapshot_ids():
            try:
                found.append((snapshot_id, self.read_snapshot(snapshot_id)))
            except BackupDamaged as exc:
                logger.warning("%s", exc)
        return in_order(found)

    def remove_snapshot(self, snapshot_id: str) -> None:
        """Forget a snapshot: out of the manifest first, then off the disk (the caller holds
        the lock)."""
        if snapshot_id not in self.snapshot_ids():
            raise UsageError(
                _("There is no snapshot {id} in the backup repository.").format(id=snapshot_id)
            )
        self._change_manifest(lambda m: m.without_snapshots({snapshot_id}))
        self._unlink(self.path / "snapshots" / snapshot_id)

    # --- key slots ---------------------------------------------------------------------------

    def key_slots(self) -> list[dict[str, Any]]:
        """Every key slot without its wrapped key; damaged ones as ``{"id", "damaged": True}``."""
        listed = []
        for slot_id, slot in _read_slots(self.path):
            if slot is None or slot.get("checksum") != crypto.slot_checksum(slot):
                listed.append({"id": slot_id, "damaged": True})
                continue
            kdf = slot["kdf"] if isinstance(slot.get("kdf"), dict) else {}
            kdf = {k: v for k, v in kdf.items() if k != "salt"}
            listed.append(
                {
                    "id": slot_id,
                    "label": slot.get("label", ""),
                    "created": slot.get("created", ""),
                    "kdf": kdf,
                    "damaged": False,
                }
            )
        return listed

    def add_key(self, passphrase: str, label: str, kdf: KdfParams = PRODUCTION_KDF) -> str:
        """A new key slot opening this repository with ``passphrase``, listed in the
        manifest; returns its id. The caller holds the lock."""
        now = datetime.now().astimezone()
        slot = crypto.make_slot(self._master, self.id, passphrase, label, kdf, now)
        self._write_slot(slot)
        self._change_manifest(lambda m: m.with_key(slot["id"], label))
        return str(slot["id"])

    def remove_key(self, slot_id: str) -> None:
        """Remove a key slot; the last sound slot is never removed (UsageError)."""
        slots = self.key_slots()
        if slot_id not in {slot["id"] for slot in slots}:
            raise UsageError(_("There is no key {id} in the backup repository.").format(id=slot_id))
        if not any(not slot["damaged"] and slot["id"] != slot_id for slot in slots):
            raise UsageError(
                _(
                    "The key {id} is the last one that opens the repository; add another first."
                ).format(id=slot_id)
            )
        self._change_manifest(lambda m: m.without_key(slot_id))
        self._unlink(self.path / "keys" / slot_id)

    # --- the manifest --------------------------------------------------------------------------

    def read_manifest(self) -> Manifest | None:
        """The manifest; None when there is none (format 1); BackupDamaged when damaged."""
        try:
            data = (self.path / MANIFEST).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise files.local_error(self.path / MANIFEST, exc) from None
        plain = crypto.open_envelope(self.keys, self._repo_id, crypto.KIND_MANIFEST, MANIFEST, data)
        try:
            return parse(_parse_json(plain, MANIFEST))
        except ValueError:
            raise _malformed(MANIFEST) from None

    def manifest_or_none(self) -> Manifest | None:
        """The manifest, or None when it is missing or damaged (`check` says which)."""
        try:
            return self.read_manifest()
        except BackupDamaged:
            return None

    def _change_manifest(self, change: Callable[[Manifest], Manifest]) -> None:
        """Write ``change(manifest)``; a format 1 repository gets its first manifest (from
        what is on disk) and then its config says format 2. A missing or damaged manifest of
        format 2 is left as it is, for `check` to report: it is evidence, and the write that
        called us (a backup) matters more than the list."""
        try:
            current = self.read_manifest()
        except BackupDamaged as exc:
            logger.warning("%s; run `hoso backup check`", exc)
            return
        if current is None:
            if self.version >= 2:
                logger.warning(
                    "the backup repository's manifest is missing; run `hoso backup check`"
                )
                return
            current = self._manifest_from_disk()
        self._write_manifest(change(current))
        if self.version < FORMAT_VERSION:
            self._write_config({**self._config, "version": FORMAT_VERSION})

    def rebuild_manifest(self, after_generation: int = 0, seq_given: int = 0) -> Manifest:
        """A manifest of what is on disk now, newer than the current one and than
        ``after_generation``, numbering on above ``seq_given``: what it no longer lists is
        accepted as gone (the caller holds the lock, and has reported what is missing)."""
        found = self._manifest_from_disk()
        old = self.manifest_or_none() or Manifest()
        generation = max(old.generation, after_generation) + 1
        seq = max(found.seq, old.seq, seq_given)
        rebuilt = Manifest(generation, seq, found.snapshots, found.keys)
        self._write_manifest(rebuilt)
        if self.version < FORMAT_VERSION:
            self._write_config({**self._config, "version": FORMAT_VERSION})
        return rebuilt

    def _manifest_from_disk(self) -> Manifest:
        """What a format 1 repository holds, for its first manifest."""
        snapshots: dict[str, int | None] = {}
        for snapshot_id in self.snapshot_ids():
            try:
                snapshots[snapshot_id] = snapshot_seq(self.read_snapshot(snapshot_id))
            except BackupDamaged:
                snapshots[snapshot_id] = None
        keys = {slot["id"]: slot.get("label", "") for slot in self.key_slots()}
        seq = max((n for n in snapshots.values() if n is not None), default=0)
        return Manifest(generation=0, seq=seq, snapshots=snapshots, keys=keys)

    def _write_manifest(self, manifest: Manifest) -> None:
        sealed = crypto.seal(
            self.keys, self._repo_id, crypto.KIND_MANIFEST, MANIFEST, _json(manifest.json())
        )
        files.write_atomic(self.path, sealed, MANIFEST)
        self.generation = manifest.generation

    def _write_config(self, config: dict[str, Any]) -> None:
        sealed = crypto.seal_config(self.keys, self._repo_id, _json(config))
        files.write_atomic(self.path, sealed, "config")
        self._config, self.version = config, config["version"]

    # --- maintenance -------------------------------------------------------------------------

    def packs(self) -> list[str]:
        """Pack ids present in ``data/``."""
        data = self.path / "data"
        try:
            folders = [entry for entry in os.scandir(data) if _is_hex(entry.name, 2)]
        except OSError as exc:
            raise files.local_error(data, exc) from None
        found: list[str] = []
        for folder in folders:
            found.extend(name for name in os.listdir(folder.path) if _is_content_id(name))
        return sorted(found)

    def index(self) -> dict[str, list[BlobEntry]]:
        """Blob id → every place the index files (not superseded) say it is stored."""
        return dict(self._loaded_index())

    def index_files(self) -> list[str]:
        return self._names("index")

    def read_index(self, index_id: str) -> tuple[dict[str, list[BlobEntry]], list[str]]:
        """One index file: (pack id → its blobs, index ids it supersedes); BackupDamaged."""
        what = f"index/{index_id}"
        data = self._read_content("index", index_id)
        plain = crypto.open_envelope(
            self.keys, self._repo_id, crypto.KIND_INDEX, "index", data, what=what
        )
        content = _parse_json(plain, what)
        try:
            packs = {
                pack["id"]: [_entry(blob, pack["id"]) for blob in pack["blobs"]]
                for pack in content["packs"]
            }
            supersedes = [str(index) for index in content.get("supersedes", [])]
        except (KeyError, TypeError, ValueError):
            raise _malformed(what) from None
        return packs, supersedes

    def read_pack_header(self, pack_id: str) -> list[BlobEntry]:
        """The blobs a pack's own header lists; BackupDamaged when the pack is damaged."""
        what = _pack_name(pack_id)
        try:
            with open(self.pack_path(pack_id), "rb", buffering=0) as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < _LENGTH.size:
                    raise _damaged(what, _("it is truncated"))
                (length,) = _LENGTH.unpack(_pread(handle, _LENGTH.size, size - _LENGTH.size))
                if length > size - _LENGTH.size:
                    raise _damaged(what, _("its header length is impossible"))
                envelope = _pread(handle, length, size - _LENGTH.size - length)
        except FileNotFoundError:
            raise _damaged(what, _("the file is missing")) from None
        except OSError as exc:
            raise files.local_error(self.pack_path(pack_id), exc) from None
        plain = crypto.open_envelope(
            self.keys, self._repo_id, crypto.KIND_PACK_HEADER, "pack", envelope, what=what
        )
        try:
            entries = [_entry(blob, pack_id) for blob in _parse_json(plain, what)["blobs"]]
        except (KeyError, TypeError, ValueError):
            raise _malformed(what) from None
        if any(entry.offset + entry.length > size - _LENGTH.size - length for entry in entries):
            raise _damaged(what, _("its header points past its blobs"))
        return entries

    def pack_path(self, pack_id: str) -> Path:
        return self.path / "data" / pack_id[:2] / pack_id

    def write_index(self, packs: dict[str, list[BlobEntry]], supersedes: list[str]) -> str:
        """Write an index file naming ``packs`` (all durable) and superseding ``supersedes``."""
        index_id = self._write_index_file(packs, supersedes)
        self._index = None  # reread at next use: supersedes may hide other index files
        return index_id

    def _write_index_file(self, packs: dict[str, list[BlobEntry]], supersedes: list[str]) -> str:
        content = {
            "packs": [
                {"id": pack, "blobs": [entry.json() for entry in entries]}
                for pack, entries in packs.items()
            ],
            "supersedes": list(supersedes),
        }
        sealed = crypto.seal(self.keys, self._repo_id, crypto.KIND_INDEX, "index", _json(content))
        return files.write_atomic(self.path / "index", sealed)

    def delete_index(self, index_id: str) -> None:
        self._unlink(self.path / "index" / index_id)
        self._index = None

    def delete_pack(self, pack_id: str) -> None:
        self._unlink(self.pack_path(pack_id))
        self._present.discard(pack_id)

    def repack(self, blob_ids: Iterable[str]) -> dict[str, list[BlobEntry]]:
        """Copy the given blobs (verified) into new durable packs; the caller indexes them."""
        written: dict[str, list[BlobEntry]] = {}
        pack = _PackBuffer()
        for blob_id in blob_ids:
            entry, envelope = self._good_copy(blob_id)
            if pack.size and pack.size + len(envelope) > PACK_TARGET:
                written.update([self._write_pack(pack)])
                pack = _PackBuffer()
            pack.add(blob_id, entry.type, envelope, entry.raw_length)
        if pack.size:
            written.update([self._write_pack(pack)])
        return written

    def remove_temp_files(self) -> int:
        """Delete every ``.tmp-`` file a crashed writer left; returns how many."""
        removed = 0
        for folder, _dirs, names in os.walk(self.path):
            for name in names:
                if name.startswith(TEMP_PREFIX):
                    self._unlink(Path(folder) / name)
                    removed += 1
        return removed

    # --- internals: blobs --------------------------------------------------------------------

    def _loaded_index(self) -> dict[str, list[BlobEntry]]:
        if self._index is None:
            self._index, self._present = self._load_index(), set(self.packs())
        return self._index

    def _load_index(self) -> dict[str, list[BlobEntry]]:
        contents = {}
        for index_id in self.index_files():
            try:
                contents[index_id] = self.read_index(index_id)
            except BackupDamaged as exc:
                logger.warning("%s", exc)
        superseded = {old for _packs, supersedes in contents.values() for old in supersedes}
        merged: dict[str, list[BlobEntry]] = {}
        for index_id, (packs, _supersedes) in contents.items():
            if index_id in superseded:
                continue
            for entries in packs.values():
                for entry in entries:
                    merged.setdefault(entry.id, []).append(entry)
        return merged

    def _located(self, blob_id: str) -> list[BlobEntry]:
        """Where a blob is, copies in present packs first."""
        entries = self._loaded_index().get(blob_id, [])
        return sorted(entries, key=lambda entry: entry.pack not in self._present)

    def _stored(self, blob_id: str) -> bool:
        # A blob whose packs are all gone is not "there": the next backup stores it again.
        return any(entry.pack in self._present for entry in self._loaded_index().get(blob_id, []))

    def _pending(self, blob_id: str) -> tuple[_PackBuffer, BlobEntry] | None:
        """The unwritten pack holding ``blob_id`` and its entry there, if any."""
        for pack in (self._open_pack, *(pack for pack, _future in self._writing)):
            entry = pack.entries.get(blob_id)
            if entry is not None:
                return pack, entry
        return None

    def _write_open_pack(self) -> None:
        """Hand the open pack to the writer thread, so that the disk works while we encrypt."""
        pack, self._open_pack = self._open_pack, _PackBuffer()
        pack.seal_header(self.keys, self._repo_id)
        # At most two packs wait for the disk: memory stays bounded on a slow USB drive.
        self._collect(wait_for=max(0, len(self._writing) - 1))
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hoso-pack")
        self._writing.append((pack, self._writer.submit(self._store_pack, pack.parts)))

    def _collect(self, wait_for: int) -> None:
        """Take in finished pack writes, waiting for the ``wait_for`` oldest ones."""
        failure: LocalError | None = None
        while self._writing and (wait_for > 0 or self._writing[0][1].done()):
            pack, future = self._writing.pop(0)
            wait_for -= 1
            try:
                self._written(pack, future.result())
            except LocalError as exc:
                failure = failure or exc
                wait_for = len(self._writing)  # keep what the other writes made durable
        if failure is not None:
            self._failure = failure
            self._open_pack = _PackBuffer()
            raise failure

    def _written(self, pack: _PackBuffer, pack_id: str) -> None:
        entries = [_with_pack(entry, pack_id) for entry in pack.entries.values()]
        self._unindexed[pack_id] = entries
        index = self._loaded_index()
        for entry in entries:
            index.setdefault(entry.id, []).append(entry)
        self._present.add(pack_id)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _write_pack(self, pack: _PackBuffer) -> tuple[str, list[BlobEntry]]:
        pack.seal_header(self.keys, self._repo_id)
        pack_id = self._store_pack(pack.parts)
        return pack_id, [_with_pack(entry, pack_id) for entry in pack.entries.values()]

    def _store_pack(self, parts: list[bytes]) -> str:
        """Write a complete pack durably under its hash (called in the writer thread too)."""
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part)
        pack_id = digest.hexdigest()
        folder = self.path / "data" / pack_id[:2]
        files.ensure_folder(folder)
        return files.write_atomic(folder, parts, pack_id)

    def _read_envelope(self, entry: BlobEntry) -> bytes:
        envelope = self._read_span(entry.pack, entry.offset, entry.length)
        if len(envelope) != entry.length:
            raise _damaged(_pack_name(entry.pack), _("it is truncated"))
        return envelope

    def _read_span(self, pack_id: str, offset: int, length: int) -> bytes:
        """``length`` bytes of a pack from ``offset``, fewer where the file ends."""
        try:
            with open(self.pack_path(pack_id), "rb", buffering=0) as handle:
                return _pread(handle, length, offset)
        except FileNotFoundError:
            raise _damaged(_pack_name(pack_id), _("the file is missing")) from None
        except OSError as exc:
            raise files.local_error(self.pack_path(pack_id), exc) from None

    def _verified(
        self, envelope: bytes | memoryview, entry: BlobEntry, where: str, *, rehash: bool = True
    ) -> bytes:
        what = _("blob {blob} in {where}").format(blob=entry.id, where=where)
        plain = crypto.open_envelope(
            self.keys, self._repo_id, crypto.KIND_BLOB, entry.id, envelope, what=what
        )
        if len(plain) != entry.raw_length or (rehash and self.keys.blob_id(plain) != entry.id):
            raise _damaged(what, _("its content does not match its id"))
        return plain

    def _good_copy(self, blob_id: str) -> tuple[BlobEntry, bytes]:
        failure: BackupDamaged | None = None
        for entry in self._located(blob_id):
            try:
                envelope = self._read_envelope(entry)
                self._verified(envelope, entry, _pack_name(entry.pack))
                return entry, envelope
            except BackupDamaged as exc:
                failure = exc
        raise failure or BackupDamaged(
            _("The blob {blob} is in no index of the backup repository.").format(blob=blob_id)
        )

    # --- internals: files --------------------------------------------------------------------

    def _names(self, folder: str) -> list[str]:
        try:
            names = os.listdir(self.path / folder)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise files.local_error(self.path / folder, exc) from None
        return sorted(name for name in names if _is_content_id(name))

    def _read_content(self, folder: str, name: str) -> bytes:
        """A content-named file's bytes, checked against its name."""
        what = f"{folder}/{name}"
        try:
            data = (self.path / folder / name).read_bytes()
        except FileNotFoundError:
            raise _damaged(what, _("the file is missing")) from None
        except OSError as exc:
            raise files.local_error(self.path / folder / name, exc) from None
        if hashlib.sha256(data).hexdigest() != name:
            raise _damaged(what, _("its content does not match its name"))
        return data

    def _write_slot(self, slot: dict[str, Any]) -> None:
        text = json.dumps(slot, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        files.write_atomic(self.path / "keys", text.encode("utf-8"), slot["id"])

    def _unlink(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise files.local_error(path, exc) from None
        files.fsync_folder(path.parent)


class _PackBuffer:
    """The pack being filled: blob envelopes kept as they are, written with one writev.

    Not one growing bytearray: copying every blob into it cost as much as encrypting it.
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.entries: dict[str, BlobEntry] = {}
        self._part_of: dict[str, int] = {}

    def add(self, blob_id: str, kind: str, envelope: bytes, raw_length: int) -> None:
        self.entries[blob_id] = BlobEntry(blob_id, kind, "", self.size, len(envelope), raw_length)
        self._part_of[blob_id] = len(self.parts)
        self.parts.append(envelope)
        self.size += len(envelope)

    def envelope(self, entry: BlobEntry) -> bytes:
        return self.parts[self._part_of[entry.id]]

    def seal_header(self, keys: Keys, repo_id: bytes) -> None:
        """Close the pack: its encrypted header, then the header's length."""
        header = {"blobs": [entry.json() for entry in self.entries.values()]}
        sealed = crypto.seal(keys, repo_id, crypto.KIND_PACK_HEADER, "pack", _json(header))
        self.parts += [sealed, _LENGTH.pack(len(sealed))]


class _LockFiles:
    """``locks/`` of a repository, as :class:`locks.LockFolder`."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.folder = repo.path / "locks"

    def create(self, plaintext: bytes) -> str:
        files.ensure_folder(self.folder)
        sealed = crypto.seal(
            self.repo.keys, self.repo._repo_id, crypto.KIND_LOCK, "locks", plaintext
        )
        return files.write_atomic(self.folder, sealed)

    def names(self) -> list[str]:
        return self.repo._names("locks")

    def read(self, name: str) -> bytes:
        try:
            data = (self.folder / name).read_bytes()
        except FileNotFoundError:
            raise  # released meanwhile: the lock protocol expects it
        except OSError as exc:
            raise files.local_error(self.folder / name, exc) from None
        return crypto.open_envelope(
            self.repo.keys,
            self.repo._repo_id,
            crypto.KIND_LOCK,
            "locks",
            data,
            what=f"locks/{name}",
        )

    def modified(self, name: str) -> datetime:
        return datetime.fromtimestamp((self.folder / name).stat().st_mtime).astimezone()

    def remove(self, name: str) -> None:
        self.repo._unlink(self.folder / name)


# --- what a folder is ------------------------------------------------------------------------


# --- opening: key slots ----------------------------------------------------------------------


def _unlock(path: Path, repo_id: str, passphrase: str) -> bytes:
    """The master key from the first slot ``passphrase`` opens (a recovery key in any case)."""
    slots = _read_slots(path)
    _check_config_id(slots, repo_id)
    candidates = [passphrase]
    recovery = crypto.canonical_recovery(passphrase)
    if recovery and recovery != passphrase:
        candidates.append(recovery)
    damaged: list[str] = []
    # Each try costs a key derivation: try the slots the passphrase most likely opens first
    # (recovery slots first only for what looks like a recovery key).
    looks_like_recovery = recovery is not None
    slots = sorted(
        slots,
        key=lambda item: ((item[1] or {}).get("label") == "recovery") != looks_like_recovery,
    )
    for slot_id, slot in slots:
        what = f"keys/{slot_id}"
        if slot is None or slot.get("id") != slot_id:
            damaged.append(what)
            continue
        try:
            for candidate in candidates:
                master = crypto.unwrap_slot(slot, repo_id, candidate, what=what)
                if master is not None:
                    return master
        except BackupDamaged as exc:
            logger.warning("%s", exc)
            damaged.append(what)
    if damaged:
        raise BackupDamaged(
            _(
                "The passphrase opens no intact key slot, and these key slots are damaged: "
                "{slots}. If the passphrase belonged to one of them, use another passphrase or "
                "the recovery key."
            ).format(slots=", ".join(damaged))
        )
    if not slots:
        message = _("The backup repository at {path} has no key slots.")
        raise BackupDamaged(message.format(path=path))
    raise WrongPassphrase(
        _("Wrong passphrase for the backup repository at {path}.").format(path=path)
    )


def _check_config_id(slots: list[tuple[str, dict[str, Any] | None]], repo_id: str) -> None:
    """The config names the repository its intact key slots name; if not, it is damaged."""
    named = {
        slot.get("repository")
        for _slot_id, slot in slots
        if slot is not None and slot.get("checksum") == crypto.slot_checksum(slot)
    }
    if named and repo_id not in named:
        raise _damaged("config", _("its repository id is not the one its key slots name"))


def _read_slots(path: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """(slot id, parsed JSON or None when unreadable) for each file in ``keys/``."""
    folder = path / "keys"
    try:
        names = sorted(n for n in os.listdir(folder) if _is_hex(n, 32))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise files.local_error(folder, exc) from None
    slots: list[tuple[str, dict[str, Any] | None]] = []
    for name in names:
        try:
            slot = json.loads((folder / name).read_bytes())
        except (OSError, ValueError):
            slot = None
        slots.append((name, slot if isinstance(slot, dict) else None))
    return slots


def _chunker(config: dict[str, Any]) -> tuple[int, int, int]:
    try:
        chunker = config["chunker"]
        sizes = (int(chunker["min"]), int(chunker["avg"]), int(chunker["max"]))
    except (KeyError, TypeError, ValueError):
        raise _malformed("config") from None
    if not 64 <= sizes[0] <= sizes[1] <= sizes[2]:
        raise _malformed("config")
    return sizes


def _pread(handle: FileIO, length: int, offset: int) -> bytes:
    return os.pread(handle.fileno(), length, offset)


# --- small helpers ---------------------------------------------------------------------------


def _json(content: dict[str, Any]) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _parse_json(plain: bytes, what: str) -> dict[str, Any]:
    try:
        content = json.loads(plain)
    except ValueError:
        raise _malformed(what) from None
    if not isinstance(content, dict):
        raise _malformed(what)
    return content


def _entry(blob: dict[str, Any], pack_id: str) -> BlobEntry:
    entry = BlobEntry(
        id=str(blob["id"]),
        type=str(blob["type"]),
        pack=pack_id,
        offset=int(blob["offset"]),
        length=int(blob["length"]),
        raw_length=int(blob["raw_length"]),
    )
    if entry.offset < 0 or entry.length < crypto.ENVELOPE_OVERHEAD or entry.raw_length < 0:
        raise ValueError(entry)
    return entry


def _with_pack(entry: BlobEntry, pack_id: str) -> BlobEntry:
    return BlobEntry(entry.id, entry.type, pack_id, entry.offset, entry.length, entry.raw_length)


def _is_hex(name: str, length: int) -> bool:
    return len(name) == length and all(c in "0123456789abcdef" for c in name)


def _is_content_id(name: str) -> bool:
    """Whether a file name is a SHA-256 (hex): not a temp file, nor a ``desktop.ini`` or a
    ``.DS_Store`` that another operating system left on the USB drive."""
    return _is_hex(name, 64)


def _pack_name(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


def _damaged(what: str, problem: str) -> BackupDamaged:
    return BackupDamaged(
        _("The backup file {what} is damaged: {problem}.").format(what=what, problem=problem)
    )


def _malformed(what: str) -> BackupDamaged:
    return _damaged(what, _("its content is malformed"))
