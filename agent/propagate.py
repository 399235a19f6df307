"""Carrying out a reconcile plan, safely. Decides nothing.

Invariants:
- Every destructive step is preceded by a preserving one: a local file that is replaced or
  removed goes to the local trash first (a hard link or rename, so it costs no copy); a remote
  file that is replaced or removed is copied or moved into the share's trash folder first
  (Nextcloud keeps its own versions and trash, so there we rely on the server). How things go
  into either trash is agent.trash's job; this module only says when.
- Every local write, rename and delete goes through safepath: the target is reached from the
  records root without following a symlink at any level, or refused as a per-file failure.
- Before touching a local file, its current stat is compared with the one the plan was made
  from; if the file changed meanwhile the action is dropped and the next pass plans again.
- The journal is written only after an action has fully succeeded (in small batches, never one
  transaction around the pass). A crash at any instant leaves a state the next pass recognises:
  an action done but not yet recorded is found again by comparing bytes.
- The journal's share side holds only what a listing would show (its ETag, size and
  getlastmodified), never an ETag or date from another method's answer: a GET's ETag is not the
  listing's on nginx. After a download it is the listed state the plan was based on; after an
  upload, the PUT answer's ETag only where listings carry ETags (else one listing learns it).
- A write the server cannot make conditional (no ETag known, or If-Match/If-None-Match
  ignored) is preceded by a Depth: 0 look at the share's entry; a change since the listing is
  planned again, as after a 412. Moves into the share's trash carry no condition on any server,
  so a file is always looked at before it is deleted.
- Per-file failures are reported and stored for retry; they never stop the pass. Pass-level
  failures (share unreachable, login refused) stop scheduling new actions.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import davstatus, local, refusals
from .durable import TempFile
from .errors import Forbidden, HosoError, LocalError, PreconditionFailed, QuotaExceeded, Scope
from .i18n import _
from .journal import Journal
from .log import get_logger
from .model import (
    CHANGED_MEANWHILE,
    Action,
    ActionKind,
    JournalEntry,
    Kind,
    LocalEntry,
    Plan,
    Reason,
    RelPath,
    RemoteEntry,
    Report,
    TrashReason,
    is_within,
    name_of,
    nfc,
    parent_of,
    same_version,
)
from .remote import Remote
from .safepath import Folder, SafeRoot, UnsafePath, rename_no_replace
from .trash import LocalTrash, ShareTrash

log = get_logger(__name__)

JOURNAL_BATCH = 64
_MOVES = (ActionKind.MOVE_REMOTE, ActionKind.MOVE_LOCAL)
_TRANSFERS = (ActionKind.UPLOAD, ActionKind.DOWNLOAD, ActionKind.CONFLICT, ActionKind.RECORD)


class Changed(Exception):
    """The local file is no longer what the plan saw: drop the action, plan again next pass."""


@dataclass
class Context:
    root: Path
    remote: Remote
    journal: Journal
    host: str
    local_trash: Path  # <state_dir>/trash
    remote_trash: RelPath  # e.g. ".hoso-trash", relative to the remote root
    server_keeps_versions: bool  # Nextcloud: versions and trash are the server's job
    # The share's listings carry ETags, so a PUT answer's ETag can be compared with them.
    listed_etags: bool = True
    # The server honours If-Match / If-None-Match on PUT (nginx ignores them).
    conditional_writes: bool = True
    transfers: int = 4
    stop: threading.Event = field(default_factory=threading.Event)
    on_local_write: Callable[[RelPath], None] = lambda path: None
    # Called after each finished action with (actions done, actions planned, the action).
    on_progress: Callable[[int, int, Action], None] = lambda done, total, action: None
    ignore: local.IgnoreRules = field(default_factory=local.IgnoreRules)
    # How each side spells the paths it has (NFC key → on-disk / on-server spelling).
    local_names: dict[RelPath, RelPath] = field(default_factory=dict)
    remote_names: dict[RelPath, RelPath] = field(default_factory=dict)
    stamp: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H%M%S"))


@dataclass
class Outcome:
    report: Report
    fatal: HosoError | None = None  # a pass-level error that stopped the pass early
    retry_soon: bool = False  # something changed meanwhile: plan again right away


class Propagator:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.report = Report()
        self.outcome = Outcome(self.report)
        self._lock = threading.Lock()
        self._uploads_blocked = False
        self.local_trash = LocalTrash(ctx.local_trash, ctx.journal, ctx.stamp)
        self.share_trash = ShareTrash(
            remote=ctx.remote,
            journal=ctx.journal,
            folder=ctx.remote_trash,
            stamp=ctx.stamp,
            host=ctx.host,
            server_keeps_versions=ctx.server_keeps_versions,
        )
        self._done = 0
        self._total = 0
        # Uploads whose new ETag the server did not say, by folder: learnt with one
        # listing per folder after the transfers instead of one request per file.
        self._unknown_etags: dict[RelPath, dict[RelPath, JournalEntry]] = {}
        # Journal records of finished actions, written in small batches: one transaction
        # per file made the transfer threads queue on the journal. A crash loses at most a
        # batch, which the next pass recognises by comparing bytes.
        self._unwritten: list[JournalEntry] = []
        self._had_errors = {e.path for e in ctx.journal.errors()}
        self.safe = SafeRoot(ctx.root)

    # --- driving -------------------------------------------------------------------------

    def execute(self, plan: Plan) -> Outcome:
        for skip in plan.skipped:
            self.report.skipped.append({"path": skip.path, "reason": skip.reason.value})
        self._total = len(plan.actions)
        try:
            # Moves, and what reconcile put before them (a folder a move goes into, the old
            # item a type change replaces), run one by one in the plan's order.
            moves = [i for i, a in enumerate(plan.actions) if a.kind in _MOVES]
            structural = [
                a for a in plan.actions[: moves[-1] + 1 if moves else 0] if a.kind not in _TRANSFERS
            ]
            self._run_serial(structural)
            done_first = {id(a) for a in structural}
            # Folders of one depth do not depend on each other: create each level in parallel.
            mkdirs = [
                a
                for a in plan.of_kind(ActionKind.MKDIR_REMOTE, ActionKind.MKDIR_LOCAL)
                if id(a) not in done_first
            ]
            for depth in sorted({a.path.count("/") for a in mkdirs}):
                self._run_parallel([a for a in mkdirs if a.path.count("/") == depth])
            self._run_parallel(plan.of_kind(*_TRANSFERS))
            self._flush()
            self._learn_etags()
            self._flush()
            self._run_serial(
                [
                    a
                    for a in plan.of_kind(ActionKind.DELETE_LOCAL, ActionKind.DELETE_REMOTE)
                    if id(a) not in done_first
                ]
            )
            self._run_serial(plan.of_kind(ActionKind.FORGET))
        finally:
            self._flush()
        return self.outcome

    def _record(self, entry: JournalEntry) -> None:
        """Remember a finished action's state; written with the next batch."""
        with self._lock:
            self._unwritten.append(entry)
            full = len(self._unwritten) >= JOURNAL_BATCH
        if full:
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._unwritten = self._unwritten, []
        if batch:
            self.ctx.journal.put_many(batch)

    def _stopped(self) -> bool:
        return self.ctx.stop.is_set() or self.outcome.fatal is not None

    def _run_serial(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if self._stopped():
                return
            self._guarded(action)

    def _run_parallel(self, actions: list[Action]) -> None:
        if not actions:
            return
        pending: set[Future[None]] = set()
        with ThreadPoolExecutor(self.ctx.transfers, thread_name_prefix="hoso-transfer") as pool:
            for action in actions:
                if self._stopped():
                    break
                if len(pending) >= self.ctx.transfers * 2:
                    _, pending = wait(pending, return_when=FIRST_COMPLETED)
                pending.add(pool.submit(self._guarded, action))
            wait(pending)

    def _guarded(self, action: Action) -> None:
        try:
            _HANDLERS[action.kind](self, action)
            if action.path in self._had_errors:
                self.ctx.journal.clear_error(action.path)
            with self._lock:
                self._done += 1
                done = self._done
            self.ctx.on_progress(done, self._total, action)
        except Changed:
            log.info("%s changed while syncing; it will be synced in the next pass", action.path)
            self._changed_meanwhile(action)
        except PreconditionFailed:
            log.info("%s changed on the share meanwhile; planning it again", action.path)
            self._changed_meanwhile(action)
        except QuotaExceeded as exc:
            self._uploads_blocked = True
            self._fail(action, exc)
        except Forbidden as exc:
            # Not this account's to change (or read): kept as it is on both sides, and not
            # asked again until this version changes (agent/refusals.py).
            self._fail(action, exc, refused=refusals.version(action))
        except HosoError as exc:
            if exc.scope is Scope.FILE:
                self._fail(action, exc)
            else:
                with self._lock:
                    if self.outcome.fatal is None:
                        self.outcome.fatal = exc
        except OSError as exc:
            self._fail(action, LocalError(_local_message(exc)))
        except Exception as exc:
            # A bug must not pass for success, nor stop the other files: log it in full,
            # report this file as failed, and let the next pass try again.
            log.exception("unexpected error on %s", action.path)
            self._fail(
                action,
                HosoError(
                    _("Unexpected error ({kind}); details are in the agent's log file.").format(
                        kind=type(exc).__name__
                    )
                ),
            )

    def _changed_meanwhile(self, action: Action) -> None:
        with self._lock:
            self.outcome.retry_soon = True
            self.report.skipped.append({"path": action.path, "reason": CHANGED_MEANWHILE})

    def _fail(self, action: Action, exc: HosoError, *, refused: str | None = None) -> None:
        log.warning("%s: %s", action.path, exc)
        with self._lock:
            self.report.failed.append({"path": action.path, "error": str(exc)})
        now = time.time()
        wait = refusals.RETRY_AFTER if refused is not None else 60
        self.ctx.journal.record_error(
            action.path, str(exc), now=now, retry_after=now + wait, refused_version=refused
        )

    # --- path spelling -------------------------------------------------------------------

    def fs_path(self, path: RelPath) -> RelPath:
        """How `path` is spelled on disk, following the on-disk spelling of its folders."""
        spelled = self.ctx.local_names.get(path)
        if spelled is not None:
            return spelled
        parent = parent_of(path)
        return f"{self.fs_path(parent)}/{name_of(path)}" if parent else path

    def local_path(self, path: RelPath) -> Path:
        """Where `path` lives on disk (for reading; writes go through ``self.safe``)."""
        return self.ctx.root / self.fs_path(path)

    def remote_path(self, path: RelPath) -> RelPath:
        """How the share spells `path` (an existing file's own spelling, or its folder's)."""
        spelled = self.ctx.remote_names.get(path)
        if spelled is not None:
            return spelled
        parent = parent_of(path)
        if not parent:
            return path
        return f"{self.remote_path(parent)}/{name_of(path)}"

    # --- actions -------------------------------------------------------------------------

    def upload(self, action: Action) -> None:
        if self._uploads_blocked:
            raise QuotaExceeded(_("The share is full; upload postponed."))
        entry = self._current_local(action)
        source = self.local_path(action.path)
        sha = entry.sha256 or local.hash_file(source)
        if not self._write_is_conditional(action.remote):
            self._recheck_remote(action.path, action.remote)
        if action.remote is not None:
            self.share_trash.keep_copy(
                action.path,
                self.remote_path(action.path),
                action.remote,
                reason=TrashReason.REPLACED_BY_LOCAL,
            )
        new_remote = self.ctx.remote.upload(
            source,
            self.remote_path(action.path),
            expected_etag=action.remote.etag if action.remote else None,
            sha256=sha,
            mtime_ns=entry.mtime_ns,
            size=entry.size,
            learn_state=False,
        )
        self._remember_remote(action.path, new_remote)
        if not self.ctx.listed_etags:
            # Not comparable with a listing: the listed size and time are learnt instead.
            new_remote = replace(new_remote, etag="")
        # Seen before trusted: without an ETag in the answer, only a listing confirms it.
        # Until then no time is known either (the answer's Date is not getlastmodified).
        recorded = replace(
            _journal_entry(action.path, entry, sha, new_remote),
            remote_mtime=new_remote.mtime if new_remote.etag else 0,
            remote_confirmed=bool(new_remote.etag),
        )
        self._record(recorded)
        with self._lock:
            self.report.uploaded.append(action.path)
            if not new_remote.etag:
                self._unknown_etags.setdefault(parent_of(action.path), {})[action.path] = recorded

    def download(self, action: Action) -> None:
        assert action.remote is not None
        with self.safe.parent(self.fs_path(action.path), create=True) as (folder, name):
            with self._fetch(action.path, action.remote, folder, name) as (temp, new_remote, sha):
                self._check_local_unchanged(action, folder, name)
                known = action.journal or action.local
                if action.local is not None and known is not None and known.sha256 == sha:
                    # The local file (unchanged since the journal, or as restored) already
                    # holds these bytes, e.g. our own upload whose new ETag we never learnt:
                    # remember the share's.
                    self._record(_journal_entry(action.path, action.local, sha, action.remote))
                    return
                restored = action.reason is Reason.RESTORED_OLDER
                kept_as = TrashReason.OLDER_FROM_BACKUP if restored else None
                self._replace_local(action.path, folder, name, temp, new_remote, reason=kept_as)
            placed = _stat_of(folder, name)
        # The listed state the plan saw, not the GET's: if the file changed in between, the
        # next listing differs and the bytes are compared again, never a change missed.
        self._record(
            _journal_entry(action.path, _local_from_stat(action.path, placed), sha, action.remote)
        )
        with self._lock:
            self.report.downloaded.append(action.path)

    def conflict(self, action: Action) -> None:
        """Both sides changed. Identical bytes are just recorded; a share copy that still holds
        the synced bytes is replaced by the edit made here; otherwise both are kept."""
        assert action.remote is not None and action.conflict_copy is not None
        entry = self._current_local(action)
        with self.safe.parent(self.fs_path(action.path)) as (folder, name):
            fetched = self._fetch(action.path, action.remote, folder, name)
            with fetched as (temp, new_remote, remote_sha):
                local_sha = entry.sha256 or _hash_in(folder, name)
                if local_sha == remote_sha:
                    self._record(_journal_entry(action.path, entry, local_sha, action.remote))
                    return
                # Only what the listing says moved (no time learnt yet, an ETag an older hoso
                # kept from a download): the share's bytes are still the synced ones.
                share_unchanged = action.journal is not None and action.journal.sha256 == remote_sha
                if not share_unchanged:
                    copy_stat = self._keep_both(action, folder, name, temp, new_remote)
            if not share_unchanged:
                placed = _stat_of(folder, name)
        if share_unchanged:
            self.upload(replace(action, kind=ActionKind.UPLOAD, local=entry, conflict_copy=None))
            return
        now_local = _local_from_stat(action.path, placed)
        self._record(_journal_entry(action.path, now_local, remote_sha, action.remote))
        with self._lock:
            self.report.conflicts.append({"path": action.path, "copy": action.conflict_copy})
        log.warning("conflict on %s: local version kept as %s", action.path, action.conflict_copy)
        copy_entry = _local_from_stat(action.conflict_copy, copy_stat)
        self.upload(
            Action(ActionKind.UPLOAD, action.conflict_copy, action.reason, local=copy_entry)
        )

    def _keep_both(
        self, action: Action, folder: Folder, name: str, temp: str, remote: RemoteEntry
    ) -> os.stat_result:
        """The local version moves aside under the conflict name (the preserving step, no
        replace), then the share's version takes the real name; returns the copy's stat."""
        assert action.conflict_copy is not None
        copy_fs = self.fs_path(action.conflict_copy)
        with self.safe.parent(copy_fs, create=True) as (copy_folder, copy_name):
            _rename_no_replace(folder, name, copy_folder, copy_name)
            copy_stat = _stat_of(copy_folder, copy_name)
        self.ctx.on_local_write(action.conflict_copy)
        self._replace_local(action.path, folder, name, temp, remote)
        return copy_stat

    def record(self, action: Action) -> None:
        assert action.local is not None and action.remote is not None
        entry = action.local
        if entry.kind is Kind.FILE and entry.sha256 is None:
            entry = self._current_local(action)
        sha = entry.sha256 if entry.kind is Kind.FILE else None
        self._record(_journal_entry(action.path, entry, sha, action.remote))

    def mkdir_remote(self, action: Action) -> None:
        entry = action.local
        assert entry is not None
        new_remote = self.ctx.remote.mkdir(self.remote_path(action.path))
        self._remember_remote(action.path, new_remote)
        self._record(_journal_entry(action.path, entry, None, new_remote))

    def mkdir_local(self, action: Action) -> None:
        assert action.remote is not None
        fs_path = self.fs_path(action.path)
        there = self.safe.lstat(fs_path)
        if there is not None and not stat.S_ISDIR(there.st_mode):
            raise Changed()  # a file (or link) appeared meanwhile: the next pass sees it
        self.ctx.on_local_write(action.path)
        made = self.safe.makedirs(fs_path)
        self.ctx.local_names[action.path] = fs_path
        entry = _local_from_stat(action.path, made, kind=Kind.DIR)
        self._record(_journal_entry(action.path, entry, None, action.remote))

    def delete_local(self, action: Action) -> None:
        try:
            with self.safe.parent(self.fs_path(action.path)) as (folder, name):
                there = folder.lstat(name)
                if action.local is None or there is None:
                    self._forget(action)  # already gone
                    return
                try:
                    if action.local.kind is Kind.FILE:
                        self._check_local_unchanged(action, folder, name)
                    elif not stat.S_ISDIR(there.st_mode):
                        raise Changed()
                    else:
                        self._check_folder_unchanged(action, folder, name)
                    reason = TrashReason.DELETED_ON_SHARE
                    if action.reason is Reason.RESTORED_GONE_FROM_SHARE:
                        reason = TrashReason.GONE_SINCE_BACKUP
                    self.local_trash.move_in(action.path, folder, name, action.local, reason=reason)
                except FileNotFoundError:
                    # Something inside vanished while it was checked or moved: the folder is
                    # still here, so forgetting it would upload it again next pass.
                    raise Changed() from None
        except FileNotFoundError:
            self._forget(action)  # its parent folder is gone, and it with it
            return
        self.ctx.on_local_write(action.path)
        self._forget(action)
        with self._lock:
            self.report.deleted_local.append(action.path)

    def delete_remote(self, action: Action) -> None:
        if action.remote is None:
            self._forget(action)
            return
        if action.remote.kind is Kind.FILE:
            # Neither DELETE nor the MOVE into the trash is sent with If-Match.
            self._recheck_remote(action.path, action.remote)
        self.share_trash.move_in(
            action.path,
            self.remote_path(action.path),
            action.remote,
            action.journal.sha256 if action.journal else None,
            reason=TrashReason.DELETED_LOCALLY,
        )
        self._forget(action)
        with self._lock:
            self.report.deleted_remote.append(action.path)

    def move_remote(self, action: Action) -> None:
        assert action.source is not None
        self.ctx.remote.move(
            self.remote_path(action.source), self.remote_path(action.path), overwrite=False
        )
        self._moved(action, self.ctx.remote_names)

    def move_local(self, action: Action) -> None:
        assert action.source is not None
        with (
            self.safe.parent(self.fs_path(action.source)) as (source, source_name),
            self.safe.parent(self.fs_path(action.path), create=True) as (target, target_name),
        ):
            if action.local is not None and action.local.kind is Kind.FILE:
                self._check_local_unchanged(
                    Action(action.kind, action.source, action.reason, local=action.local),
                    source,
                    source_name,
                )
            _rename_no_replace(source, source_name, target, target_name)
        self.ctx.on_local_write(action.source)
        self.ctx.on_local_write(action.path)
        self._moved(action, self.ctx.local_names)

    def _moved(self, action: Action, names: dict[RelPath, RelPath]) -> None:
        """After a move on either side: spellings, journal and report follow."""
        assert action.source is not None
        _forget_names(names, action.source)
        self._flush()
        self.ctx.journal.move_subtree(action.source, action.path)
        with self._lock:
            self.report.moved.append((action.source, action.path))

    def forget(self, action: Action) -> None:
        self._forget(action)

    # --- helpers -------------------------------------------------------------------------

    def _learn_etags(self) -> None:
        """One listing per folder for the uploads whose new ETag is unknown.

        An entry is completed (and confirmed) only when the listing shows it with the size we
        sent; otherwise it stays unconfirmed, and the next pass compares the bytes before
        deciding anything, or uploads it again if the share still does not list it."""
        folders = self._unknown_etags
        self._unknown_etags = {}

        def learn(folder: RelPath) -> None:
            listed = {e.path: e for e in self.ctx.remote.list_folder(self.remote_path(folder))}
            for path, recorded in folders[folder].items():
                remote = listed.get(path)
                if remote is not None and remote.size == recorded.local_size:
                    self._record(
                        replace(
                            recorded,
                            remote_etag=remote.etag,
                            remote_size=remote.size,
                            remote_mtime=remote.mtime,
                            remote_fileid=remote.fileid,
                            remote_confirmed=True,
                        )
                    )

        # Also when asked to stop: a few listings now spare a byte-compare of every file
        # uploaded in this pass at the next one.
        if not folders or self.outcome.fatal is not None:
            return
        # Listings are small requests: twice the transfer threads keep the server busy.
        with ThreadPoolExecutor(2 * self.ctx.transfers, thread_name_prefix="hoso-etags") as pool:
            for future in [pool.submit(learn, folder) for folder in folders]:
                try:
                    future.result()
                except HosoError as exc:
                    log.info("could not learn new ETags (%s); the next pass checks the bytes", exc)

    def _write_is_conditional(self, expected: RemoteEntry | None) -> bool:
        """Can the PUT itself carry "only if the share still has ``expected``"?"""
        if not self.ctx.conditional_writes:
            return False
        return expected is None or bool(expected.etag)  # If-None-Match: * / If-Match

    def _recheck_remote(self, path: RelPath, expected: RemoteEntry | None) -> None:
        """Right before a write that cannot carry its own condition: the share must still
        hold the version the plan saw (``expected``; None: nothing at all), else the path is
        planned again, as after a 412. A change landing between this look and the write is
        not seen (docs/sync.md)."""
        current = self.ctx.remote.stat(self.remote_path(path))
        if expected is None:
            if current is None:
                return
        elif (
            current is not None
            and current.kind is expected.kind
            and same_version(
                (expected.etag, expected.size, expected.mtime),
                (current.etag, current.size, current.mtime),
            )
        ):
            return
        raise davstatus.precondition(path)

    def _forget(self, action: Action) -> None:
        self._flush()
        self.ctx.journal.delete_subtree(action.path)

    def _current_local(self, action: Action) -> LocalEntry:
        """The local file as it is now, provided it is still what the plan saw."""
        assert action.local is not None
        # Not followed: a file swapped for a link since the scan is "changed".
        there = self.safe.lstat(self.fs_path(action.path))
        if there is None:
            raise Changed()
        now = _local_from_stat(action.path, there)
        seen = action.local
        if (now.size, now.mtime_ns, now.inode) != (seen.size, seen.mtime_ns, seen.inode):
            raise Changed()
        return seen

    def _check_local_unchanged(self, action: Action, folder: Folder, name: str) -> None:
        """Refuse to overwrite or remove a local file that differs from what the plan saw."""
        there = folder.lstat(name)
        if there is None:
            if action.local is None:
                return
            raise Changed()
        if action.local is None:
            raise Changed()  # a new local file appeared where we meant to create one
        seen = action.local
        if (there.st_size, there.st_mtime_ns, there.st_ino) != (
            seen.size,
            seen.mtime_ns,
            seen.inode,
        ):
            raise Changed()

    def _check_folder_unchanged(self, action: Action, folder: Folder, name: str) -> None:
        """A folder is removed only if everything in it is what the journal knows (read
        through descriptors: a link inside is seen as a link, never followed)."""
        known = {p: e for p in (action.path, *action.covers) if (e := self.ctx.journal.get(p))}
        top = folder.path_of(name)
        for dirpath, dirnames, filenames, dir_fd in os.fwalk(name, dir_fd=folder.fd):
            for child in dirnames + filenames:
                st = os.stat(child, dir_fd=dir_fd, follow_symlinks=False)
                rel = f"{top}{dirpath[len(name) :]}/{child}"
                if stat.S_ISLNK(st.st_mode):
                    # Removing the folder would take the link with it: leave it to the user.
                    raise UnsafePath(
                        _(
                            "{path} was deleted on the share, but it holds the symbolic link "
                            "{link}, which hoso leaves alone: it was not removed here."
                        ).format(path=action.path, link=rel)
                    )
                entry = known.get(nfc(rel))
                if entry is None:
                    if not self.ctx.ignore.is_ignored(nfc(rel), stat.S_ISDIR(st.st_mode)):
                        raise Changed()
                    continue
                if entry.kind is Kind.FILE and (st.st_size, st.st_mtime_ns, st.st_ino) != (
                    entry.local_size,
                    entry.local_mtime_ns,
                    entry.local_inode,
                ):
                    raise Changed()

    @contextlib.contextmanager
    def _fetch(
        self, path: RelPath, remote: RemoteEntry, folder: Folder, name: str
    ) -> Iterator[tuple[str, RemoteEntry, str]]:
        """Download into a hidden temp file beside ``name``, fsync'd: (temp, state, sha) for
        the block, which puts the temp in place; what it leaves is removed after it."""
        with folder.open_temp(name) as temp:
            hasher = _HashingWriter(temp)
            new_remote = self.ctx.remote.download(self.remote_path(path), hasher, size=remote.size)
            temp.finish()
            yield temp.name, new_remote, hasher.hexdigest()

    def _replace_local(
        self,
        path: RelPath,
        folder: Folder,
        name: str,
        temp: str,
        remote: RemoteEntry,
        *,
        reason: TrashReason | None = None,
    ) -> None:
        """Put a downloaded temp file in place; the old local version goes to the trash."""
        folder.set_mtime(temp, remote.mtime or int(time.time()))
        if folder.regular_file(name) is not None:
            kept_as = reason or TrashReason.REPLACED_BY_SHARE
            self.local_trash.keep_copy(path, folder, name, reason=kept_as)
        self.ctx.on_local_write(path)
        folder.replace(temp, name)
        folder.fsync()
        self.ctx.local_names.setdefault(path, folder.path_of(name))

    def _remember_remote(self, path: RelPath, entry: RemoteEntry) -> None:
        if entry.href_path:
            self.ctx.remote_names[path] = entry.href_path


_HANDLERS: dict[ActionKind, Callable[[Propagator, Action], None]] = {
    ActionKind.UPLOAD: Propagator.upload,
    ActionKind.DOWNLOAD: Propagator.download,
    ActionKind.CONFLICT: Propagator.conflict,
    ActionKind.RECORD: Propagator.record,
    ActionKind.MKDIR_REMOTE: Propagator.mkdir_remote,
    ActionKind.MKDIR_LOCAL: Propagator.mkdir_local,
    ActionKind.DELETE_LOCAL: Propagator.delete_local,
    ActionKind.DELETE_REMOTE: Propagator.delete_remote,
    ActionKind.MOVE_REMOTE: Propagator.move_remote,
    ActionKind.MOVE_LOCAL: Propagator.move_local,
    ActionKind.FORGET: Propagator.forget,
}


# --- small pieces --------------------------------------------------------------------------


class _HashingWriter:
    """A binary file being written that hashes what passes through."""

    def __init__(self, out: TempFile) -> None:
        self._out = out
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        return self._out.write(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _journal_entry(
    path: RelPath, entry: LocalEntry, sha: str | None, remote: RemoteEntry
) -> JournalEntry:
    return JournalEntry(
        path=path,
        kind=entry.kind,
        local_size=entry.size,
        local_mtime_ns=entry.mtime_ns,
        local_inode=entry.inode,
        sha256=sha,
        remote_etag=remote.etag,
        remote_size=remote.size,
        remote_mtime=remote.mtime,
        remote_checksum=remote.checksum,
        remote_fileid=remote.fileid,
    )


def _local_from_stat(path: RelPath, st: os.stat_result, kind: Kind = Kind.FILE) -> LocalEntry:
    return LocalEntry(
        path=path,
        kind=kind,
        size=st.st_size if kind is Kind.FILE else 0,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
    )


def _forget_names(names: dict[RelPath, RelPath], moved: RelPath) -> None:
    """After a move, the spellings learnt for the old place no longer apply."""
    for key in [k for k in names if is_within(k, moved)]:
        del names[key]


def _rename_no_replace(source: Folder, source_name: str, target: Folder, target_name: str) -> None:
    """A name taken meanwhile means the next pass looks again."""
    try:
        rename_no_replace(source, source_name, target, target_name)
    except FileExistsError:
        raise Changed() from None


def _stat_of(folder: Folder, name: str) -> os.stat_result:
    """The file just placed; gone or swapped already means the next pass must look again."""
    there = folder.regular_file(name)
    if there is None:
        raise Changed()
    return there


def _hash_in(folder: Folder, name: str) -> str:
    with os.fdopen(folder.open_file(name), "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _local_message(exc: OSError) -> str:
    if exc.errno == 28:  # ENOSPC
        return _("The disk is full: free some space, then the agent will finish syncing.")
    return _("Local file error: {detail}").format(detail=exc.strerror or exc)
