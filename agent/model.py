"""Plain data shared by the stages of a sync pass.

Everything here is a frozen dataclass or an enum with no behaviour beyond small derived
properties, so that ``reconcile`` can import it without importing any I/O.

Paths (``RelPath``) are always relative to the records root, Unicode NFC, ``/``-separated,
with no leading or trailing slash; the root itself is ``""``.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any

RelPath = str


def nfc(name: str) -> str:
    """The one spelling of a name that hoso compares and stores."""
    return unicodedata.normalize("NFC", name)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a control character (C0 with NUL, DEL, C1): nothing a person
    types into a name, and what a terminal obeys (ESC, BEL, CSI)."""
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def as_date(value: object) -> date | None:
    """A config date: a TOML date or a "YYYY-MM-DD" string; None for anything else."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, date) else None


def parent_of(path: RelPath) -> RelPath:
    return path.rpartition("/")[0]


def name_of(path: RelPath) -> str:
    return path.rpartition("/")[2]


def is_within(path: RelPath, folder: RelPath) -> bool:
    """True when ``path`` is ``folder`` or lies below it."""
    return folder == "" or path == folder or path.startswith(folder + "/")


class Kind(enum.Enum):
    FILE = "file"
    DIR = "dir"


@dataclass(frozen=True)
class LocalEntry:
    """One file or folder found by the local scan.

    ``fs_name`` is the name as it is spelled on disk (possibly NFD); ``path`` is its NFC key.
    ``sha256`` is filled only when the scan had a reason to hash (new or changed content,
    rename candidates); for a file whose size/mtime/inode match the journal it carries the
    journal's hash. ``settled`` is False while the file was written less than
    ``settle_seconds`` ago. ``open_in_editor`` is True while an office lock file
    (``~$name``, ``.~lock.name#``) sits next to it.
    """

    path: RelPath
    kind: Kind
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    fs_path: RelPath = ""  # relative path as spelled on disk, "/"-separated
    sha256: str | None = None
    settled: bool = True
    open_in_editor: bool = False


@dataclass(frozen=True)
class RemoteEntry:
    """One file or folder listed on the share.

    ``etag`` is stored without quotes and without the weak ``W/`` prefix (Apache sends the
    weak form for about a second after a write, then the strong form of the same value).
    ``href_path`` is the path relative to the remote root as the server spells it
    (possibly NFD), unquoted. ``checksum`` is the server's content checksum when it keeps
    one (Nextcloud ``oc:checksums``), as ``"SHA256:<hex>"``-style text, else None.
    ``mtime`` is whole seconds since the epoch (``getlastmodified``). ``etag`` is empty when
    the server lists none (nginx): then size and ``mtime`` are all a listing says about a file.
    """

    path: RelPath
    kind: Kind
    etag: str = ""
    size: int = 0
    mtime: int = 0
    href_path: RelPath = ""
    checksum: str | None = None
    fileid: str | None = None


@dataclass(frozen=True)
class JournalEntry:
    """The last state of one path that both sides were known to agree on.

    ``remote_confirmed`` is False for an upload the share has not confirmed yet: its PUT
    answer carried no ETag and no listing has shown the file with the size sent. Such an
    entry missing from a listing is uploaded again, never read as deleted on the share.
    """

    path: RelPath
    kind: Kind
    local_size: int = 0
    local_mtime_ns: int = 0
    local_inode: int = 0
    sha256: str | None = None
    remote_etag: str = ""
    remote_size: int = 0
    remote_mtime: int = 0
    remote_checksum: str | None = None
    remote_fileid: str | None = None
    remote_confirmed: bool = True

    def matches_local(self, entry: LocalEntry) -> bool:
        """Stat-level identity: same kind, size, mtime and inode as when last synced."""
        if entry.kind is not self.kind:
            return False
        if entry.kind is Kind.DIR:
            return True
        return (
            entry.size == self.local_size
            and entry.mtime_ns == self.local_mtime_ns
            and entry.inode == self.local_inode
        )

    def matches_remote(self, entry: RemoteEntry) -> bool:
        """The listed entry is the version the journal recorded (see :func:`same_version`)."""
        if entry.kind is not self.kind:
            return False
        if entry.kind is Kind.DIR:
            return True
        return same_version(
            (self.remote_etag, self.remote_size, self.remote_mtime),
            (entry.etag, entry.size, entry.mtime),
        )


def same_version(recorded: tuple[str, int, int], listed: tuple[str, int, int]) -> bool:
    """Two (etag, size, mtime) states of one file on the share: the same version?

    By ETag when the listing carries one. When it carries none (nginx lists no ``getetag``),
    by size and ``getlastmodified``, at the server's resolution: HTTP dates are whole seconds,
    so equal seconds and equal size are "unchanged" (an edit of the same size within the same
    second cannot be seen). A recorded ETag the listing does not carry (an older hoso kept a
    download's) is then not compared. A recorded time of 0 (never learnt from a listing)
    proves nothing: "not the same", so that the bytes are compared before anything is decided.
    """
    (recorded_etag, recorded_size, recorded_mtime), (etag, size, mtime) = recorded, listed
    if size != recorded_size:
        return False
    if etag:
        return etag == recorded_etag
    if not mtime:
        return True  # a share that tells neither ETag nor time: its size is all there is
    return recorded_mtime != 0 and mtime == recorded_mtime


class Walk(enum.Enum):
    """How much of the share a pass lists where it cannot say cheaply what changed (plain
    WebDAV; docs/sync.md, "How an idle agent finds changes")."""

    FULL = "full"  # every folder
    RECENT = "recent"  # the folders with recent activity, and what the beacons point at
    POLL = "poll"  # only what the change beacons point at (nothing, when they are unchanged)


class ActionKind(enum.Enum):
    UPLOAD = "upload"  # local file → share (create or update)
    DOWNLOAD = "download"  # share file → local (create or update)
    MKDIR_REMOTE = "mkdir_remote"
    MKDIR_LOCAL = "mkdir_local"
    DELETE_LOCAL = "delete_local"  # into the local trash, never gone for good
    DELETE_REMOTE = "delete_remote"  # into the share's trash, never gone for good
    MOVE_REMOTE = "move_remote"  # a local rename carried out on the share
    MOVE_LOCAL = "move_local"  # a share rename carried out locally
    CONFLICT = "conflict"  # both sides changed: compare bytes, keep both if they differ
    RECORD = "record"  # both sides already agree: just write the journal
    FORGET = "forget"  # gone on both sides: drop the journal entry


class Reason(enum.Enum):
    """Why an action was planned; shown in --dry-run and logs."""

    NEW_LOCAL = "new_local"
    NEW_REMOTE = "new_remote"
    CHANGED_LOCAL = "changed_local"
    CHANGED_REMOTE = "changed_remote"
    DELETED_LOCAL = "deleted_local"
    DELETED_REMOTE = "deleted_remote"
    CHANGED_BOTH = "changed_both"
    NEW_BOTH = "new_both"
    SAME_CONTENT = "same_content"
    EDIT_BEATS_DELETE = "edit_beats_delete"
    RENAMED_LOCAL = "renamed_local"
    RENAMED_REMOTE = "renamed_remote"
    TYPE_CHANGED = "type_changed"
    MERGE_ONLY = "merge_only"  # first pass or restored server: nothing is deleted
    NOT_SEEN_ON_SHARE = "not_seen_on_share"  # an upload the share never confirmed: sent again
    SEEN_ON_SHARE = "seen_on_share"  # a listing confirmed an upload: recorded as such
    GONE_BOTH = "gone_both"
    # A file as `hoso backup restore` wrote it, never synced, and another version on the
    # share: the share's is the newer one, the backup's goes to the local trash.
    RESTORED_OLDER = "restored_older"
    # Such a file the backup saw on the share, gone from it now: deleted there since.
    RESTORED_GONE_FROM_SHARE = "restored_gone_from_share"


@dataclass(frozen=True)
class Action:
    """One step of a plan.

    ``path`` is the path the action is about (the destination for moves);
    ``source`` is the origin of a move. ``local``/``remote``/``journal`` are the states the
    decision was based on: propagate re-checks them before any destructive step and
    refuses to act when the file changed meanwhile. ``conflict_copy`` is the name the
    local version gets when both sides differ. ``covers`` lists the paths a folder-level
    delete or move carries with it (their journal entries move or go with it).
    """

    kind: ActionKind
    path: RelPath
    reason: Reason
    source: RelPath | None = None
    local: LocalEntry | None = None
    remote: RemoteEntry | None = None
    journal: JournalEntry | None = None
    conflict_copy: RelPath | None = None
    covers: tuple[RelPath, ...] = ()


class SkipReason(enum.Enum):
    UNSETTLED = "unsettled"  # still being written
    OPEN_IN_EDITOR = "open_in_editor"  # server change waits until the document is closed
    NORMALIZATION_TWIN = "normalization_twin"  # NFC and NFD spellings of one name both exist
    TYPE_CLASH = "type_clash"  # a file on one side, a folder on the other, both new
    VALIDATION_BLOCKED = "validation_blocked"  # a finding of a rule in [plugins] block_sync
    SYMLINK = "symlink"  # a symbolic link in the records folder: never followed nor synced


# A skip reason of propagate.py (a side changed after the plan was made), here so that what
# reads the held set (`hoso status`) need not import the transfer machinery.
CHANGED_MEANWHILE = "changed_meanwhile"


@dataclass(frozen=True)
class Skip:
    path: RelPath
    reason: SkipReason


@dataclass(frozen=True)
class Plan:
    """The ordered actions of one pass, plus what was deliberately left for later."""

    actions: tuple[Action, ...] = ()
    skipped: tuple[Skip, ...] = ()

    def of_kind(self, *kinds: ActionKind) -> list[Action]:
        return [a for a in self.actions if a.kind in kinds]

    @property
    def deletions(self) -> list[Action]:
        return self.of_kind(ActionKind.DELETE_LOCAL, ActionKind.DELETE_REMOTE)


@dataclass
class Report:
    """What one pass did; serialised as the `hoso sync --json` object."""

    uploaded: list[RelPath] = field(default_factory=list)
    downloaded: list[RelPath] = field(default_factory=list)
    deleted_local: list[RelPath] = field(default_factory=list)
    deleted_remote: list[RelPath] = field(default_factory=list)
    moved: list[tuple[RelPath, RelPath]] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what the user should know (a guard)

    def to_json(self) -> dict[str, object]:
        return {
            "uploaded": sorted(self.uploaded),
            "downloaded": sorted(self.downloaded),
            "deleted_local": sorted(self.deleted_local),
            "deleted_remote": sorted(self.deleted_remote),
            "moved": [list(m) for m in self.moved],
            "conflicts": self.conflicts,
            "failed": self.failed,
            "skipped": self.skipped,
            "warnings": self.warnings,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        """The report :meth:`to_json` wrote (the running agent sends it to a command)."""
        return cls(
            uploaded=list(data.get("uploaded", [])),
            downloaded=list(data.get("downloaded", [])),
            deleted_local=list(data.get("deleted_local", [])),
            deleted_remote=list(data.get("deleted_remote", [])),
            moved=[(src, dst) for src, dst in data.get("moved", [])],
            conflicts=list(data.get("conflicts", [])),
            failed=list(data.get("failed", [])),
            skipped=list(data.get("skipped", [])),
            warnings=list(data.get("warnings", [])),
        )

    def merge(self, later: Report) -> None:
        """Add what a later pass did; skips are replaced by the later pass's own."""
        self.uploaded += later.uploaded
        self.downloaded += later.downloaded
        self.deleted_local += later.deleted_local
        self.deleted_remote += later.deleted_remote
        self.moved += later.moved
        self.conflicts += later.conflicts
        self.failed += later.failed
        self.skipped = list(later.skipped)
        self.warnings += [w for w in later.warnings if w not in self.warnings]

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.uploaded
            or self.downloaded
            or self.deleted_local
            or self.deleted_remote
            or self.moved
            or self.conflicts
        )


class Side(enum.Enum):
    LOCAL = "local"
    REMOTE = "remote"


class TrashReason(enum.StrEnum):
    """Why the agent put something in a trash (stored in the journal as the value)."""

    DELETED_ON_SHARE = "deleted_on_share"  # local copy removed because the share's went
    DELETED_LOCALLY = "deleted_locally"  # share copy removed because the local one went
    REPLACED_BY_SHARE = "replaced_by_share"  # local version replaced by a newer download
    REPLACED_BY_LOCAL = "replaced_by_local"  # share version replaced by a newer upload
    OLDER_FROM_BACKUP = "older_from_backup"  # a restored file the share had a newer version of
    GONE_SINCE_BACKUP = "gone_since_backup"  # a restored file deleted on the share since
    REPLACED_BY_BACKUP = "replaced_by_backup"  # put aside for a backup's version (the page)
    # a plugin copied the file to the school folder, checked, and took it out of the records
    MOVED_TO_SCHOOL_FOLDER = "moved_to_school_folder"
    # the teacher kept the other version of a conflict on the teacher's page (agent/conflicts.py)
    CONFLICT_SET_ASIDE = "conflict_set_aside"


@dataclass(frozen=True)
class RestoredFile:
    """A file as `hoso backup restore` wrote it (the restore marker): its SHA-256 then;
    whether the snapshot says the share held those very bytes when it was taken (None: it does
    not say, e.g. one made by an older hoso or before anything was synced); and ``wanted``: it
    was asked back (by name, or into a folder already synced), so a share without it is no
    sign of a deletion there."""

    sha256: str
    on_share: bool | None = None
    wanted: bool = False


@dataclass(frozen=True)
class TrashItem:
    """Something the agent removed, kept so that `hoso trash restore ID` can bring it back.

    ``side`` says where the file was removed from. ``stored_as`` is where the preserved copy
    is: an absolute local path in the state dir's trash for LOCAL, a path relative to the
    remote root (inside the share's trash folder) for REMOTE.
    """

    id: int
    side: Side
    path: RelPath
    stored_as: str
    deleted_at: float
    kind: Kind = Kind.FILE
    size: int = 0
    sha256: str | None = None
    reason: str = ""
