"""One sync pass: guard, scan + list, reconcile, safety checks, propagate, record.

Orchestration only: no protocol or SQL details. The guards that keep a broken setup from
destroying data live here, before anything is planned:
- the records folder must exist and carry the marker the agent left in it, whenever the
  journal knows files (a missing, unmounted or replaced folder is not "everything deleted");
- the remote folder must exist whenever the journal knows files;
- a share restored from an older copy stops the pass until confirmed, then is merged without
  deleting or downgrading anything: a server that says so (Nextcloud data-fingerprint, root
  file id), or any share where files synced from here went back in time (guards.py);
- a plan that deletes more than `max_delete_percent` of the tracked files stops the pass;
- the trash expires only on a clock that agrees with the share's (trash.purge_expired).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shlex
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from . import (
    beacon,
    davxml,
    guards,
    heldback,
    local,
    notices,
    reconcile,
    refusals,
    restored,
    serverinfo,
    trash,
    walks,
)
from .config import Config, Secret, default_state_dir
from .display import printable_name
from .errors import (
    AuthError,
    ConfigError,
    Forbidden,
    HosoError,
    NotFound,
    RemoteError,
    SafetyStop,
    Scope,
    UnreachableError,
)
from .heldback import Held
from .hooks import Deletion, Notification, PluginHost, load_plugins
from .i18n import _, ngettext
from .journal import Journal, PassRecord
from .log import get_logger
from .model import (
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
    RestoredFile,
    Side,
    Skip,
    SkipReason,
    Walk,
    is_within,
    name_of,
    nfc,
)
from .propagate import Context, Propagator
from .records import Record, classify
from .remote import CAUTIOUS, Capabilities, Refused, Remote, RemoteTree, is_temp_name
from .safepath import SafeRoot, UnsafePath
from .validation import CheckResult, PassChecks, Validator
from .vault import webdav_password

log = get_logger(__name__)

_E = TypeVar("_E")

RECORDS, SCHOOL = "records", "school"  # the folders a Syncer may keep (Syncer.folder)
MARKER_META = "root_marker"
SERVER_META = "server_identity"
TEMP_UPLOADS_META = "temp_uploads"  # JSON list: temp uploads started and not yet finished
# JSON {folder: what its change beacon held when that folder was last walked}: a token,
# beacon.ABSENT, or null (a beacon found by a walk and not read yet: walked at the next poll).
BEACONS_META = "change_beacons"
# JSON list: beacon folders whose subtree a pass changed, until the share answered the beacon
# write (a write that failed, or an agent killed in between, is written at the next pass).
BEACONS_OWED_META = "change_beacons_owed"
NEXTCLOUD_ROOT_META = "share_root_etag"  # the root's ETag at the last pass that left nothing out
# Plan actions that change the share: after them the change beacons are written.
_SHARE_CHANGES = (
    ActionKind.UPLOAD,
    ActionKind.MKDIR_REMOTE,
    ActionKind.DELETE_REMOTE,
    ActionKind.MOVE_REMOTE,
    ActionKind.CONFLICT,
)


@dataclass(frozen=True)
class Look:
    """What a pass knows about the share before it lists anything (docs/sync.md, "How an
    idle agent finds changes")."""

    walk: Walk
    # Each known change beacon as read before the walk (none on Nextcloud, whose root's ETag
    # tells instead: ``nextcloud``).
    seen: Mapping[RelPath, beacon.Seen] = dataclasses.field(default_factory=dict)
    changed: tuple[RelPath, ...] = ()  # beacon folders whose subtree another agent changed
    nextcloud: bool = False

    @property
    def quiet(self) -> bool:
        """A poll that no beacon calls for: nothing to list."""
        return self.walk is Walk.POLL and not self.nextcloud and not self.changed


@dataclass(frozen=True)
class PreparedPass:
    """A plan and the states it was made from, ready to be carried out."""

    plan: Plan
    caps: Capabilities
    local: dict[RelPath, LocalEntry]
    remote: Mapping[RelPath, RemoteEntry]
    twins: list[RelPath]
    mass_delete: bool = False  # a deletion past the guard, confirmed by the user
    symlinks: tuple[RelPath, ...] = ()  # links in the records folder, left alone on both sides
    clashes: tuple[RelPath, ...] = ()  # one name that is a file and a folder on one side
    refused: tuple[Refused, ...] = ()  # share entries the path gate refused: reported as failed
    misnamed: tuple[Refused, ...] = ()  # local names the gate would refuse: never sent
    allow_clock_jump: bool = False  # the user confirmed the clock: expire the trash anyway
    unlisted: tuple[RelPath, ...] = ()  # names this server never lists: left alone both sides
    unconfirmed: tuple[RelPath, ...] = ()  # missing from the listing, yet there when asked
    twin_sides: tuple[tuple[RelPath, str], ...] = ()  # each twin and where: heldback.HERE…
    unreadable: tuple[tuple[RelPath, str], ...] = ()  # local paths that could not be read, why
    # The restore marker's files (what `hoso backup restore` wrote): a hint for this pass.
    restored: Mapping[RelPath, RestoredFile] = dataclasses.field(default_factory=dict)
    # What the share refused before and is not asked again yet (agent/refusals.py), the
    # refusals no longer in question, and the folders it would not list (403).
    refused_before: tuple[refusals.Refusal, ...] = ()
    stale_refusals: tuple[RelPath, ...] = ()
    forbidden: tuple[Forbidden, ...] = ()


@dataclass
class PassResult:
    report: Report
    plan: Plan
    outcome: str  # "ok" | "partial" | "dry_run"
    retry_soon: bool = False
    duration: float = 0.0
    validation: CheckResult | None = None  # what the plugins found in the changed records
    # What this pass left alone; None when it looked at nothing (the share matched the
    # journal and the watcher saw no change), so the last pass's set still stands.
    held: tuple[Held, ...] | None = None


class Syncer:
    """Runs passes for one config; owns the journal and the connection to the share."""

    def __init__(
        self,
        config: Config,
        *,
        on_local_write: Callable[[RelPath], None] = lambda path: None,
        on_progress: Callable[[int, int, Action], None] = lambda done, total, action: None,
        stop: threading.Event | None = None,
        plugins: bool = False,
        before_mass_delete: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        password: Callable[[Config], Secret] = webdav_password,
        folder: str = RECORDS,
    ) -> None:
        """``plugins=True`` loads the plugins: their hooks run around each pass and the
        records a pass changed are validated after it. ``before_mass_delete`` runs before a
        confirmed deletion past the guard starts (the CLI takes a backup there). ``clock``
        is the wall clock passes are recorded and the trash expires by. ``password`` reads
        the share's password (again after a refused login: it may have been changed).
        ``folder``: RECORDS, or SCHOOL for the school folder (agent/schoolfolder.py), which
        the first pass never creates on the share and whose stops name `hoso school sync`."""
        self.config = config
        self.password = password
        self.folder = folder
        self.command = "hoso school sync" if folder == SCHOOL else "hoso sync"
        self.journal = Journal.open(config.state_dir / "journal.sqlite3")
        self.plugins: PluginHost | None = None
        self.validator: Validator | None = None
        if plugins:
            self.plugins = load_plugins(config, failure_log=self.journal)
            try:
                self.plugins.check_config()
            except ConfigError:
                self.journal.close()
                raise
            self.validator = Validator(config, self.journal, self.plugins)
        self.ignore = local.ignore_rules(config)
        self.on_local_write = on_local_write
        self.on_progress = on_progress
        self.before_mass_delete = before_mass_delete
        self.stop = stop or threading.Event()
        self.clock = clock
        self._remote: Remote | None = None
        self._temp_lock = threading.Lock()
        self._clean = False  # the last pass finished with nothing failed, skipped or pending
        self._looked: Look | None = None  # what this pass read of the beacons, if anything
        # The change beacons the last listing met: (was it a full walk, their folders).
        self._beacons_found: tuple[bool, tuple[RelPath, ...]] | None = None

    @property
    def remote(self) -> Remote:
        if self._remote is None:
            self._remote = Remote.from_config(self.config, self.password(self.config))
            self._remote.on_temp_upload = self._record_temp_upload
        return self._remote

    def _record_temp_upload(self, href: RelPath, started: bool) -> None:
        """Keep the names of temp uploads in flight in the journal, written before the
        upload starts: a crash's leftovers are then removed by name (never from a listing)."""
        with self._temp_lock:
            names = set(self._recorded_temp_uploads())
            names = names | {href} if started else names - {href}
            self.journal.meta_set(TEMP_UPLOADS_META, json.dumps(sorted(names)) if names else None)

    def _recorded_temp_uploads(self) -> list[RelPath]:
        try:
            names = json.loads(self.journal.meta_get(TEMP_UPLOADS_META) or "[]")
        except ValueError:
            return []
        if not isinstance(names, list):
            return []
        return [n for n in names if isinstance(n, str) and is_temp_name(name_of(n))]

    def close(self) -> None:
        self._forget_remote()
        self.journal.close()

    def _forget_remote(self) -> None:
        if self._remote is not None:
            self._remote.close()
            self._remote = None

    # --- one pass --------------------------------------------------------------------------

    def run_pass(
        self,
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        allow_restored_share: bool = False,
        allow_clock_jump: bool = False,
        local_changed: bool = True,
        validate: bool = True,
        walk: Walk = Walk.FULL,
    ) -> PassResult:
        """One pass. ``local_changed=False`` (the daemon's poll, with a live watcher that saw
        nothing) first compares the share with the journal and stops there when nothing
        moved since the last clean pass, without scanning the records folder. ``walk``: how
        much of a plain WebDAV share to list (the daemon's schedule says; a command lists
        everything).
        ``validate=False`` leaves the validation of what changed to the caller (the daemon
        does it off its sync loop). The ``allow_*`` flags are the user's confirmations past
        the guards (see the module docstring)."""
        started = self.clock()
        # The records the pass changes are checked while it transfers (validation.PassChecks).
        checks = None
        if validate and not dry_run and self.validator is not None:
            checks = PassChecks(self.validator)
        try:
            result = self._pass(
                dry_run=dry_run,
                walk=walk,
                local_changed=local_changed,
                confirmed=_Confirmed(allow_mass_delete, allow_restored_share, allow_clock_jump),
                checks=checks,
            )
            self._clean = result.outcome == "ok" and not result.retry_soon
        except Exception as exc:
            if checks is not None:
                checks.abandon()
            self._clean = False
            if isinstance(exc, AuthError):
                # The fix is a new password in the vault (`hoso vault set webdav`): the agent's
                # next pass reads it again instead of sending the refused one.
                self._forget_remote()
            self.journal.record_pass(
                PassRecord(started, self.clock(), _outcome_of(exc), {"error": str(exc)})
            )
            raise
        result.duration = self.clock() - started
        if not dry_run:
            self.journal.record_pass(
                PassRecord(started, self.clock(), result.outcome, result.report.to_json())
            )
            if result.held is not None:
                self._tell_held(result.held)
            if self.plugins is not None:
                self.plugins.after_pass(result.report)
            if checks is not None:
                result.validation = checks.finish(result.report)
        return result

    def _tell_held(self, held: tuple[Held, ...]) -> None:
        """One log line when what the passes hold back changes (not one per pass), and one
        notification for the held paths that newly wait for the teacher (a summary when
        there are several)."""
        change = heldback.remember(self.journal, held)
        if not any(map(heldback.needs_a_person, (*change.appeared, *change.cleared))):
            return
        waits = any(map(heldback.needs_a_person, held))
        log.log(logging.WARNING if waits else logging.INFO, "%s", heldback.log_line(held))
        if self.plugins is None:
            return
        notes = [
            Notification(
                key=f"held:{item.reason}:{item.path}",
                # A name from the share may hold control characters: a popup shows them
                # escaped, as the terminal and the log do.
                title=_("Not synced: {path}").format(path=printable_name(item.path)),
                body=heldback.explain(item.reason),
                path=item.path,
                page=notices.PROBLEMS_PAGE,
            )
            for item in change.appeared
            if heldback.needs_a_person(item) and item.reason not in heldback.TOLD_ELSEWHERE
        ]
        notices.tell(partial(self.plugins.notify, logged=True), notes)  # the line above

    def _pass(
        self,
        *,
        dry_run: bool,
        walk: Walk,
        local_changed: bool,
        confirmed: _Confirmed,
        checks: PassChecks | None = None,
    ) -> PassResult:
        # A poll reads the beacons before anything else (an unchanged one ends it there); a
        # full walk once the share's guards and probe have passed (prepare reads them).
        self._looked = None if dry_run or walk is Walk.FULL else self._look(walk)
        prepared = self.prepare(
            dry_run=dry_run,
            allow_mass_delete=confirmed.mass_delete,
            allow_restored_share=confirmed.restored_share,
            local_changed=local_changed or not self._clean,
            look=self._looked or (None if dry_run else Look(Walk.FULL)),
        )
        look = self._looked
        if prepared is None:
            if look is not None:
                self._settle_beacons(look, touched=[], walked=True)
            return PassResult(Report(), Plan(), "ok")
        if dry_run:
            report = _describe(prepared.plan)
            report.skipped += _left_alone(prepared)
            report.warnings += _unlisted_warnings(prepared, self.remote.identity)
            report.failed += _refused_failures(prepared.refused, prepared.misnamed)
            return PassResult(report, prepared.plan, "dry_run")
        if look is None:  # a full walk on Nextcloud: no beacons there
            return self.execute(
                dataclasses.replace(prepared, allow_clock_jump=confirmed.clock_jump)
            )
        touched = _share_paths(prepared.plan)
        self._owe_beacons(look, touched)  # before the first change: a kill may come at any time
        try:
            result = self.execute(
                dataclasses.replace(prepared, allow_clock_jump=confirmed.clock_jump), checks
            )
        except BaseException:
            # Others must still hear of what changed before the stop; this walk counts for
            # nothing, so the next poll walks again.
            self._settle_beacons(look, touched=touched, walked=False)
            raise
        self._settle_beacons(look, touched=touched, walked=True)
        return result

    # --- change beacons (agent/beacon.py) ----------------------------------------------------

    def _beacon_memory(self) -> dict[RelPath, str | None]:
        try:
            stored = json.loads(self.journal.meta_get(BEACONS_META) or "{}")
        except ValueError:
            return {}
        if not isinstance(stored, dict):
            return {}
        return {
            k: v for k, v in stored.items() if isinstance(k, str) and isinstance(v, str | None)
        }

    def _look(self, walk: Walk, *, beacons: bool = False) -> Look:
        """Read the change beacons before anything is listed: a change written during the
        walk then changes a beacon again, and the next poll walks again. ``beacons``: read
        them even where the last pass found Nextcloud (the probe just said otherwise)."""
        self._beacons_found = None
        if not beacons and self.journal.meta_get(NEXTCLOUD_ROOT_META):
            return Look(walk, nextcloud=True)
        memory = self._beacon_memory()
        folders = ["", *sorted(f for f in memory if f)]
        seen = {folder: self.remote.read_beacon(folder) for folder in folders}
        changed = tuple(
            f for f, read in seen.items() if read.key is None or memory.get(f, None) != read.key
        )
        return Look(walk, seen, changed)

    def _owed_beacons(self) -> set[RelPath]:
        try:
            stored = json.loads(self.journal.meta_get(BEACONS_OWED_META) or "[]")
        except ValueError:
            return set()
        return {f for f in stored if isinstance(f, str)} if isinstance(stored, list) else set()

    def _owe_beacons(self, look: Look, touched: list[RelPath]) -> None:
        owed = self._owed_beacons()
        owed |= {f for f in look.seen if any(is_within(p, f) for p in touched)}
        if owed and not look.nextcloud:
            self.journal.meta_set(BEACONS_OWED_META, json.dumps(sorted(owed)))

    def _settle_beacons(self, look: Look, *, touched: list[RelPath], walked: bool) -> None:
        """After the pass: write new tokens where this pass changed the share, where a
        write is still owed, over garbage at the root, and at the root when a full walk found
        none; then remember what each beacon held before the walk, when the walk ran to its
        end. A beacon written by someone else meanwhile is remembered as nothing, so the next
        poll walks again. A missing one is remembered as missing."""
        if look.nextcloud:
            return
        memory = self._beacon_memory()
        remembered = dict(memory)
        owed = self._owed_beacons()
        still_owed: set[RelPath] = set()
        for folder, before in look.seen.items():
            if folder and not before.present:
                remembered.pop(folder, None)  # another agent's beacon gone: forget it
                continue
            key = before.key
            if walked:
                remembered[folder] = key
            changed_here = folder in owed or any(is_within(p, folder) for p in touched)
            if folder == "" and before.present and key is None:
                changed_here = True  # garbage at the root: written anew, or every poll walks
            if folder == "" and not before.present and walked and look.walk is Walk.FULL:
                # Created: a manager's agent finds it at its walk, and tells this agent of its
                # changes in here at the next poll (a school's records uploaded before beacons).
                changed_here = True
            if not changed_here:
                continue
            try:
                written = self._write_beacon(folder, before)
            except HosoError as exc:
                log.info("the change beacon of /%s was not written: %s", folder, exc)
                still_owed.add(folder)  # no answer to the write: the next pass writes it
                written = None
            if not walked:
                continue
            if written is None:
                remembered.pop(folder, None)
            else:
                remembered[folder] = written
        if walked and self._beacons_found is not None:
            full, found = self._beacons_found
            if full:  # a full walk saw every beacon there is
                remembered = {f: v for f, v in remembered.items() if not f or f in found}
            for folder in found:
                remembered.setdefault(folder, None)  # read first at the next poll
        if remembered != memory:
            self.journal.meta_set(BEACONS_META, json.dumps(remembered, sort_keys=True))
        if still_owed != owed:
            stored = json.dumps(sorted(still_owed)) if still_owed else None
            self.journal.meta_set(BEACONS_OWED_META, stored)

    def _write_beacon(self, folder: RelPath, before: beacon.Seen) -> str | None:
        """Write a new token over the beacon as it is now; what to remember for it: the new
        token when nobody wrote it since ``before`` was read, beacon.ABSENT when it could
        not be created, else None."""
        now = self.remote.read_beacon(folder)
        token = beacon.new_token()
        data = beacon.render(token, self.config.host_name, datetime.now().astimezone())
        if self.remote.write_beacon(folder, data, over=now):
            return token if now.same(before) else None
        if not now.present and not before.present:
            return beacon.ABSENT  # this account may not create it (a read-only folder)
        return None

    def prepare(
        self,
        *,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        allow_restored_share: bool = False,
        local_changed: bool = True,
        look: Look | None = None,
    ) -> PreparedPass | None:
        """Guards, scan + list, hashing and the plan: everything up to the first change.

        None when ``local_changed`` is False and the share still matches the journal (as far
        as ``look`` has it listed: None lists every folder)."""
        if look is not None and look.quiet and not local_changed:
            return None  # no beacon moved: not even the journal is read
        cfg = self.config
        known = self.journal.entries()
        self._check_root(known, allow_mass_delete=allow_mass_delete, dry_run=dry_run)
        caps = self._probe(known, dry_run=dry_run)
        server_restored = self._server_identity_changed(caps, known)
        if look is not None and look.nextcloud and not caps.nextcloud:
            self.journal.meta_set(NEXTCLOUD_ROOT_META, None)  # another server at this address
        if look is not None and look.walk is Walk.FULL and not look.seen and not dry_run:
            # Read before the walk lists anything; none on Nextcloud (its ETags tell).
            look = None if caps.nextcloud else self._look(Walk.FULL, beacons=True)
            self._looked = look
            if look is not None and self.journal.meta_get(NEXTCLOUD_ROOT_META):
                self.journal.meta_set(NEXTCLOUD_ROOT_META, None)  # no Nextcloud any more
        if (
            look is not None
            and look.nextcloud
            and look.walk is Walk.POLL
            and not local_changed
            and caps.nextcloud
            and caps.root_etag == self.journal.meta_get(NEXTCLOUD_ROOT_META)
        ):
            return None  # nothing below the root changed: one Depth 0 PROPFIND
        looked = self._scan_and_list(
            known, caps, look, local_changed=local_changed, dry_run=dry_run
        )
        if looked is None:
            return None
        scan, listing, caps = looked

        if serverinfo.contradicted(caps, listing):
            serverinfo.forget(self.journal)  # the server changed behind its URL: probe again
        if not dry_run:
            self._remove_leftovers(
                scan.leftovers, [*listing.own_temp_files, *self._recorded_temp_uploads()]
            )
        # Names the server never lists (nginx hides dot-names): missing from a listing proves
        # nothing about them, so they are neither uploaded, downloaded nor deleted anywhere.
        unlisted = serverinfo.unlisted_names([*scan.entries, *known], caps)
        # Paths the agent cannot see clearly (two spellings of one name, folders it cannot
        # read, symlinks it never follows) are left alone on both sides with all below them:
        # neither side's absence means "deleted", and nothing is written through a link.
        unclear = [nfc(t[0]) for t in (*scan.twins, *listing.twins)]
        unclear += [path for path, _reason in scan.unreadable]
        unclear += scan.symlinks
        # Names the share's listing may not use (.., a slash, a control character...): never
        # downloaded, and the local file of that name (if any) never looks deleted. An empty
        # claimed path ("/dav//") names no entry: as "" it would hold back the whole tree.
        unclear += [nfc(item.path) for item in listing.refused if item.path]
        # Folders the server would not list (403): what is below them is unknown.
        unclear += [item.path for item in listing.forbidden]
        # Local names the share's gate would refuse (a \ or a control character): never sent,
        # since no listing could show them back; left alone until the teacher renames them.
        misnamed = _misnamed(scan.entries, unclear)
        unclear += [item.path for item in misnamed]
        unclear += unlisted
        entries = _without(scan.entries, unclear)
        remote = _without(listing, unclear)
        known = _without(known, unclear)
        from_backup = restored.read(cfg.root)
        need = reconcile.paths_needing_hash(entries, remote, known, from_backup)
        if need:
            hashed = local.hash_entries(
                cfg.root, (entries[p] for p in need), workers=cfg.sync.transfers
            )
            for path in need:
                if path in hashed:
                    entries[path] = hashed[path]
                else:
                    del entries[path]  # vanished while hashing; the next pass sees it

        # Nextcloud says itself when it was restored (data-fingerprint), and it lists the
        # modification time each client sent, so a colleague's upload of an older file would
        # look like the share going back in time: the listing's evidence is for other servers.
        went_back = (
            guards.RestoreCheck()
            if caps.nextcloud
            else guards.check_restored_share(entries, remote, known)
        )
        merge_only = self._check_restored(server_restored, went_back, allow=allow_restored_share)
        plan = reconcile.reconcile(
            entries,
            remote,
            known,
            now=datetime.now(),
            host=cfg.host_name,
            merge_only=merge_only,
            restored=from_backup,
        )
        plan, unconfirmed = self._confirm_remote_deletions(plan)
        kept = refusals.hold(plan, self._refusals(), now=self.clock())
        plan = kept.plan
        # Restored files the backup saw on the share count as synced ones: a share that
        # lacks most of them (a wrong folder, an emptied share) stops here instead of
        # emptying the restored folder into the trash.
        seen = sum(
            1
            for path, item in from_backup.items()
            if item.on_share and not item.wanted and path not in known
        )
        mass_delete = self._check_mass_delete(plan, len(known) + seen, allow_mass_delete, seen)
        clashes = _type_clashes(cfg.root, scan.twins, listing.twins)
        twins = [nfc(t[0]) for t in (*scan.twins, *listing.twins)]
        twins = [p for p in twins if p not in clashes]
        return PreparedPass(
            plan,
            caps,
            entries,
            remote,
            twins,
            mass_delete,
            scan.symlinks,
            tuple(clashes),
            tuple(listing.refused),
            tuple(misnamed),
            unlisted=tuple(unlisted),
            unconfirmed=tuple(unconfirmed),
            twin_sides=_twin_sides(twins, scan.twins, listing.twins),
            unreadable=scan.unreadable,
            restored=from_backup,
            refused_before=kept.held,
            stale_refusals=kept.stale,
            forbidden=tuple(listing.forbidden),
        )

    def _scan_and_list(
        self,
        known: dict[RelPath, JournalEntry],
        caps: Capabilities,
        look: Look | None,
        *,
        local_changed: bool,
        dry_run: bool,
    ) -> tuple[local.ScanResult, RemoteTree, Capabilities] | None:
        """The records folder's scan and the share's listing (None: a poll found the share
        as the journal has it). On a plain WebDAV share, unless ``look`` asks for a full
        walk, only the due folders are listed (agent/walks.py), and always every folder
        holding a local change: the scan comes first then."""
        cfg = self.config
        partial = look is not None and look.walk is not Walk.FULL and not caps.nextcloud
        folders: set[RelPath] = set()
        subtrees: tuple[RelPath, ...] = ()
        if partial:
            assert look is not None
            subtrees = look.changed
            errors = [e.path for e in self.journal.errors()]
            folders = walks.holding(walks.doubtful(known, errors), known)
            if look.walk is Walk.RECENT:
                folders |= walks.recent_folders(
                    known, now=self.clock(), days=cfg.sync.recent_days
                )

        def list_share(needed: Iterable[RelPath] = ()) -> RemoteTree:
            listing = self.remote.list_tree(
                exclude=self.ignore.is_ignored,
                unchanged_dirs=self.journal.remote_dir_etags() if caps.nextcloud else None,
                known=known,
                due=walks.due(folders.union(needed), subtrees) if partial else None,
            )
            self._beacons_found = (not partial and not caps.nextcloud, tuple(listing.beacons))
            return listing

        def scan_folder() -> local.ScanResult:
            if dry_run and not known and not cfg.root.exists():
                return local.ScanResult({})  # a first dry run: the first pass creates it
            return local.scan(
                cfg.root,
                known,
                self.ignore,
                now_ns=time.time_ns(),
                settle_seconds=cfg.sync.settle_seconds,
            )

        def holding_changes(scan: local.ScanResult) -> set[RelPath]:
            return walks.holding(walks.local_changes(scan.entries, known), known)

        if local_changed and partial:
            scan = scan_folder()
            listing = list_share(holding_changes(scan))
        elif local_changed:
            with ThreadPoolExecutor(1, thread_name_prefix="hoso-list") as pool:
                listing_future = pool.submit(list_share)
                scan = scan_folder()
                listing = listing_future.result()
        else:
            listing = list_share()
            caps = self._learn_refused_probe(caps, listing, dry_run=dry_run)
            if _matches_journal(listing, known):
                self._share_seen(caps)
                return None
            scan = scan_folder()
            needed = holding_changes(scan) if partial else set()
            present = [p for p, e in listing.items() if e.kind is Kind.DIR]
            if walks.unlisted(needed, listing.listed, present):
                # Changed here meanwhile, in a folder taken from the journal: list it too.
                listing = list_share(needed)
        caps = self._learn_refused_probe(caps, listing, dry_run=dry_run)
        return scan, listing, caps

    def _share_seen(self, caps: Capabilities) -> None:
        """The share's root as of this pass's probe, on Nextcloud, once nothing was left out:
        the next poll compares it with one Depth 0 PROPFIND."""
        if caps.nextcloud:
            self.journal.meta_set(NEXTCLOUD_ROOT_META, caps.root_etag or None)

    def _refusals(self) -> list[refusals.Refusal]:
        return [
            refusals.Refusal(e.path, e.refused_version, e.message, e.retry_after)
            for e in self.journal.errors()
            if e.refused_version is not None
        ]

    def _confirm_remote_deletions(self, plan: Plan) -> tuple[Plan, list[RelPath]]:
        """Before a local file is trashed because the share's listing lacks it, ask the share
        for that path itself: a listing can leave out what is there (a server hiding a kind
        of name, a listing cut by a proxy). Paths still there are left alone this pass."""
        there = [
            action.path
            for action in plan.of_kind(ActionKind.DELETE_LOCAL)
            if self._still_on_share(action)
        ]
        if not there:
            return plan, []
        kept = tuple(
            a for a in plan.actions if not (a.kind is ActionKind.DELETE_LOCAL and a.path in there)
        )
        return dataclasses.replace(plan, actions=kept), there

    def _still_on_share(self, action: Action) -> bool:
        try:
            return self.remote.stat(action.path, folder=_kind_of(action) is Kind.DIR) is not None
        except RemoteError as exc:
            if exc.scope is not Scope.FILE:
                raise  # the share as a whole is unreachable or refuses us: the pass stops
            return True  # an answer about this one path that is not "gone": keep the file

    def _remove_leftovers(self, partial: tuple[RelPath, ...], temp: list[RelPath]) -> None:
        """Temp files of transfers a crash interrupted. The instance lock guarantees no
        transfer of ours is in flight, so each one is garbage (never the only copy)."""
        safe = SafeRoot(self.config.root)
        for fs_path in partial:
            with (
                contextlib.suppress(FileNotFoundError, UnsafePath),
                safe.parent(fs_path) as (folder, name),
            ):
                folder.unlink(name, missing_ok=True)
        if temp:
            try:
                self.remote.cleanup_temp_files(sorted(set(temp)))
            except HosoError as exc:
                log.info("stale temp uploads not removed yet: %s", exc)
                return
            with self._temp_lock:
                self.journal.meta_set(TEMP_UPLOADS_META, None)

    def execute(self, prepared: PreparedPass, checks: PassChecks | None = None) -> PassResult:
        """Carry out a prepared plan and record what the share looks like afterwards;
        ``checks`` gets the records to check while the transfers run."""
        cfg = self.config
        if prepared.mass_delete:
            self.before_mass_delete()
        caps, plan = prepared.caps, self._before_changes(prepared)
        on_progress = self.on_progress
        if checks is not None:
            checks.ahead(a.path for a in plan.of_kind(ActionKind.UPLOAD))
            on_progress = checks.following(on_progress)
        ctx = Context(
            root=cfg.root,
            remote=self.remote,
            journal=self.journal,
            host=cfg.host_name,
            local_trash=cfg.state_dir / "trash",
            remote_trash=cfg.remote.trash_dir,
            server_keeps_versions=caps.nextcloud,
            listed_etags=_listed_etags(caps, prepared.remote),
            conditional_writes=caps.conditional_writes,
            transfers=cfg.sync.transfers,
            stop=self.stop,
            on_local_write=self.on_local_write,
            on_progress=on_progress,
            ignore=self.ignore,
            local_names={p: e.fs_path for p, e in prepared.local.items() if e.fs_path != p},
            remote_names={p: e.href_path for p, e in prepared.remote.items() if e.href_path},
        )
        for path in prepared.stale_refusals:
            self.journal.clear_error(path)  # resolved otherwise: the share's version came
        outcome = Propagator(ctx).execute(plan)
        report = outcome.report
        report.skipped += _left_alone(prepared)
        report.failed += _refused_failures(prepared.refused, prepared.misnamed)
        if prepared.restored:
            # A restored file is only a hint until the journal knows the path: then the
            # ordinary rules hold. One that is gone needs no hint either.
            journaled = self.journal.entries()
            gone = set(report.deleted_local)
            restored.prune(
                cfg.root,
                keep={
                    p
                    for p in prepared.restored
                    if p in prepared.local and p not in journaled and p not in gone
                },
            )
        if outcome.fatal is not None:
            raise outcome.fatal
        if caps.nextcloud and not report.failed and not report.skipped:
            self.journal.set_remote_dir_etags(
                {p: e.etag for p, e in prepared.remote.items() if e.kind is Kind.DIR}
            )
            self._share_seen(caps)
        self.journal.meta_set(SERVER_META, _identity(caps))
        report.warnings += _not_seen_warnings(plan, report)
        clock = trash.purge_expired(
            cfg,
            self.journal,
            self.remote,
            now=self.clock(),
            server_now=self._share_clock,
            allow_clock_jump=prepared.allow_clock_jump,
        )
        if not clock.trusted:
            report.warnings.append(trash.clock_warning(clock))
        for warning in report.warnings:
            log.warning("%s", warning)  # `hoso run` has no report on screen: its log has them
        # Names the share never lists stay so pass after pass: the held set's one log line
        # says so when it changes, not this warning on every pass.
        report.warnings += _unlisted_warnings(prepared, self.remote.identity)
        return PassResult(
            report,
            plan,
            "partial" if report.failed else "ok",
            # Only a file still being written is worth a pass right away; the other skips
            # wait for a person (the watcher says when they act), or the daemon would loop.
            retry_soon=outcome.retry_soon
            or any(s.reason is SkipReason.UNSETTLED for s in plan.skipped),
            held=_held(report, prepared),
        )

    def _before_changes(self, prepared: PreparedPass) -> Plan:
        """The plugins' turn before anything changes: what is about to be deleted, each
        settled record about to be uploaded, and holding back records whose findings the
        config says must block the upload."""
        plan = prepared.plan
        if self.plugins is None or self.validator is None:
            return plan
        self.plugins.before_delete(
            [
                Deletion(
                    a.path,
                    Side.LOCAL if a.kind is ActionKind.DELETE_LOCAL else Side.REMOTE,
                    _kind_of(a),
                )
                for a in plan.deletions
            ]
        )
        uploads = [a.path for a in plan.of_kind(ActionKind.UPLOAD)]
        for path in uploads:
            entry = prepared.local[path]
            file = self.config.root / entry.fs_path
            record_type = classify(path, self.validator.types)
            mtime = entry.mtime_ns / 1e9
            self.plugins.record_settled(Record(path, file, record_type, entry.size, mtime))
        blocked = self.validator.blocked(uploads)
        if not blocked:
            return plan
        for path in sorted(blocked):
            log.warning("not uploading %s: a finding blocks it (see `hoso check`)", path)
        return dataclasses.replace(
            plan,
            actions=tuple(
                a for a in plan.actions if not (a.kind is ActionKind.UPLOAD and a.path in blocked)
            ),
            skipped=(
                *plan.skipped,
                *(Skip(p, SkipReason.VALIDATION_BLOCKED) for p in sorted(blocked)),
            ),
        )

    # --- guards ----------------------------------------------------------------------------

    def _check_root(self, known: dict, *, allow_mass_delete: bool, dry_run: bool) -> None:
        root = self.config.root
        expected = self.journal.meta_get(MARKER_META)
        if not root.is_dir():
            if known:
                raise SafetyStop(
                    _(
                        "{folder} {root} is missing or not mounted, but {n} files were "
                        "synced from it. Nothing was deleted. Reconnect the drive or restore the "
                        "folder, then sync again."
                    ).format(folder=self._the_folder(), root=root, n=len(known))
                )
            if dry_run:
                return
            try:
                root.mkdir(parents=True)
            except OSError as exc:
                raise ConfigError(
                    _(
                        "{folder} {root} cannot be created here: {detail}. If hoso runs as a "
                        "service, its sandbox lets it write only the folders its unit lists: "
                        'add `ReadWritePaths="{root}"` with `systemctl --user edit '
                        "hoso-agent.service` (docs/service.md) and restart it."
                    ).format(folder=self._the_folder(), root=root, detail=exc.strerror)
                ) from None
        marker = local.read_marker(root) if root.is_dir() else None
        if known and expected and marker != expected and not allow_mass_delete:
            raise SafetyStop(
                _(
                    "{folder} {root} is not the one the agent synced (its marker file "
                    "is missing or different): it may be empty, replaced or not mounted. Nothing "
                    "was deleted. If you really emptied it on purpose, run "
                    "`{command} --allow-mass-delete`."
                ).format(folder=self._the_folder(), root=root, command=self.command)
            )
        if self.folder == SCHOOL and not expected and marker is None and _holds_anything(root):
            # A folder of the teacher's own (the default name may already be taken): hoso
            # would send everything in it to the whole school's folder.
            raise SafetyStop(
                _(
                    "The folder {root} already holds files, and they are not hoso's copy of the "
                    "school folder: hoso will not send them to the school's folder, which all "
                    "staff can read. Set `folder_root` in the [school] section of the config to "
                    "a new folder (or move those files elsewhere), then `hoso school sync`. "
                    "Nothing was sent."
                ).format(root=root)
            )
        if not dry_run and (marker is None or marker != expected):
            ident = marker or secrets.token_hex(8)
            if marker is None:
                local.write_marker(root, ident)
            self.journal.meta_set(MARKER_META, ident)

    def _the_folder(self) -> str:
        return _("The school folder") if self.folder == SCHOOL else _("The records folder")

    def _probe(self, known: dict, *, dry_run: bool) -> Capabilities:
        """The root's state and the server's behaviour: remembered, else observed (a few
        writes in a probe folder, so never on a dry run, which assumes the cautious one)."""
        learnt = serverinfo.remembered(self.journal, self.remote.identity, now=self.clock())
        if learnt is None and dry_run:
            learnt = CAUTIOUS  # a dry run writes nothing, so it cannot probe: assume the worst
        try:
            caps = self.remote.probe(
                create=not known and not dry_run and self.folder == RECORDS,
                learnt=learnt,
                learn=not dry_run,
            )
        except NotFound:
            if self.folder == SCHOOL:
                raise self._school_folder_gone(len(known)) from None
            if known:
                raise SafetyStop(
                    ngettext(
                        "The records folder on the share, {url}, is gone or was moved: the "
                        "share says it is not there, yet {n} file or folder was synced with it. "
                        "Nothing was deleted, here or on the share. Ask the school's IT admin "
                        "where the folder went. If it has a new address, run `hoso init --force "
                        "--root {root} --url NEW_ADDRESS --user {user}{state}`, then `hoso sync`.",
                        "The records folder on the share, {url}, is gone or was moved: the "
                        "share says it is not there, yet {n} files and folders were synced with "
                        "it. Nothing was deleted, here or on the share. Ask the school's IT admin "
                        "where the folder went. If it has a new address, run `hoso init --force "
                        "--root {root} --url NEW_ADDRESS --user {user}{state}`, then `hoso sync`.",
                        len(known),
                    ).format(
                        url=self.remote.identity.rstrip("/"),
                        n=len(known),
                        root=shlex.quote(str(self.config.root)),
                        user=shlex.quote(self.config.remote.user or "YOUR_LOGIN"),
                        state=self._state_dir_option(),
                    )
                ) from None
            raise
        serverinfo.remember(self.journal, self.remote.identity, caps, now=self.clock())
        return caps

    def _school_folder_gone(self, synced: int) -> HosoError:
        """The school folder is not on the share: never created here (it is the school's)."""
        url = self.remote.identity.rstrip("/")
        if synced:
            return SafetyStop(
                _(
                    "The school folder on the share, {url}, is gone or was moved, yet {n} files "
                    "and folders were synced with it. Nothing was deleted, here or on the share. "
                    "Ask the school's IT admin where it went, and set its new address as "
                    "folder_url in the [school] section of {path}."
                ).format(url=url, n=synced, path=self.config.path)
            )
        return ConfigError(
            _(
                "The school folder {url} is not on the share, or this account cannot see it. "
                "Check folder_url in the [school] section of {path} with the school's IT admin."
            ).format(url=url, path=self.config.path)
        )

    def _learn_refused_probe(
        self, caps: Capabilities, listing: RemoteTree, *, dry_run: bool
    ) -> Capabilities:
        """A share that refused the probe's writes (a read-only folder): what its listing
        shows is remembered as the probe's findings, so that the refused probe is not sent
        again at every pass."""
        if not caps.probe_refused or dry_run:
            return caps
        learnt = self.remote.adopt(serverinfo.seen_in(listing))
        serverinfo.remember(self.journal, self.remote.identity, learnt, now=self.clock())
        return learnt

    def _state_dir_option(self) -> str:
        """The `--state-dir` a new `hoso init` needs to keep this journal ("" by default)."""
        state_dir = self.config.state_dir
        if state_dir == default_state_dir():
            return ""
        return f" --state-dir {shlex.quote(str(state_dir))}"

    def _share_clock(self) -> float | None:
        """The share's time, asked only when trash items are due; None when unknown."""
        try:
            return float(self.remote.server_time()) or None
        except HosoError as exc:
            log.info("the share's clock could not be read: %s", exc)
            return None

    def _server_identity_changed(self, caps, known: dict) -> bool:
        before = self.journal.meta_get(SERVER_META)
        now = _identity(caps)
        return bool(known and before and now and before != now)

    def _check_restored(
        self, server_says: bool, check: guards.RestoreCheck, *, allow: bool
    ) -> bool:
        """SafetyStop for a share that went back in time, unless allowed; True to merge."""
        if not server_says and not check.restored:
            return False
        if server_says:
            why = _(
                "the server says its data was restored or replaced (its data fingerprint or "
                "folder id changed)"
            )
        else:
            evidence = (*check.older, *check.missing)
            why = ngettext(
                "{n} file synced from this computer and unchanged here is older on the share "
                "or gone from it ({examples})",
                "{n} files synced from this computer and unchanged here are older on the share "
                "or gone from it ({examples})",
                len(evidence),
            ).format(n=len(evidence), examples=", ".join(evidence[:3]))
        if not allow:
            raise SafetyStop(
                _(
                    "The share looks restored from an older copy: {why}. Nothing was changed. "
                    "Ask the school's IT admin whether the share was restored. To merge it with "
                    "this computer (what is newer here is uploaded again, files changed on both "
                    "sides are kept both, nothing is deleted), run "
                    "`{command} --allow-restored-share`."
                ).format(why=why, command=self.command)
            )
        log.warning("the share was restored from an older copy (%s): merging only", why)
        return True

    def _check_mass_delete(self, plan: Plan, tracked: int, allow: bool, restored: int) -> bool:
        """SafetyStop past the guard unless allowed; True when allowed past it. ``tracked``:
        the synced files and folders, ``restored`` of them the restored files the backup saw
        on the share."""
        # check_mass_delete counts a folder delete as the folder plus everything it covers.
        check = guards.check_mass_delete(plan, tracked, self.config.sync.max_delete_percent)
        gone = [a.path for a in plan.actions if a.reason is Reason.RESTORED_GONE_FROM_SHARE]
        if check.exceeds and not allow and gone:
            # Not "synced files": a restored folder meeting a share that lacks what the backup
            # saw there, most likely another folder or account than the old PC's.
            raise SafetyStop(
                ngettext(
                    "The share lacks {n} of the {total} restored file the backup saw on it "
                    "({examples}). Nothing was deleted. Check the share address and user given "
                    "to `hoso init`: another folder or account looks like this. Only if they "
                    "were really deleted on the share since the backup, run "
                    "`hoso sync --allow-mass-delete` (they go to hoso's trash here).",
                    "The share lacks {n} of the {total} restored files the backup saw on it "
                    "({examples}). Nothing was deleted. Check the share address and user given "
                    "to `hoso init`: another folder or account looks like this. Only if they "
                    "were really deleted on the share since the backup, run "
                    "`hoso sync --allow-mass-delete` (they go to hoso's trash here).",
                    restored,
                ).format(
                    n=len(gone), total=restored, examples=", ".join(map(printable_name, gone[:3]))
                )
            )
        if check.exceeds and not allow:
            raise SafetyStop(
                ngettext(
                    "This pass would delete {n} of {total} synced file or folder ({pct:.0f}%). "
                    "Nothing was deleted. If that is really intended, run "
                    "`{command} --allow-mass-delete`.",
                    "This pass would delete {n} of {total} synced files and folders ({pct:.0f}%). "
                    "Nothing was deleted. If that is really intended, run "
                    "`{command} --allow-mass-delete`.",
                    tracked,
                ).format(n=check.deletions, total=tracked, pct=check.percent, command=self.command)
            )
        return check.exceeds


@dataclass(frozen=True)
class _Confirmed:
    """What the user confirmed for this pass (the CLI's --allow-* flags)."""

    mass_delete: bool = False
    restored_share: bool = False
    clock_jump: bool = False


def _share_paths(plan: Plan) -> list[RelPath]:
    """The paths a plan changes on the share (moves at both ends): where beacons are due."""
    actions = plan.of_kind(*_SHARE_CHANGES)
    return [*(a.path for a in actions), *(a.source for a in actions if a.source)]


def _holds_anything(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is not None


def _not_seen_warnings(plan: Plan, report: Report) -> list[str]:
    """One line per upload sent again because the share never showed the earlier one."""
    return [
        _(
            "{path}: the share accepted this file earlier but never listed it; it was sent "
            "again. If this repeats, ask the school's IT admin to check the share."
        ).format(path=printable_name(action.path))
        for action in plan.actions
        if action.kind is ActionKind.UPLOAD
        and action.reason is Reason.NOT_SEEN_ON_SHARE
        and action.path in report.uploaded
    ]


def _unlisted_warnings(prepared: PreparedPass, server: str) -> list[str]:
    """One line for all the names the server never lists, one per path missing from the
    listing yet found on the share."""
    warnings = []
    if prepared.unlisted:
        warnings.append(
            ngettext(
                'The share at {server} never lists names that start with "."; {n} such file '
                "({first}) is left alone here and on the share. Rename it without the leading "
                "dot to have it synced.",
                'The share at {server} never lists names that start with "."; {n} such files '
                "(the first: {first}) are left alone here and on the share. Rename them without "
                "the leading dot to have them synced.",
                len(prepared.unlisted),
            ).format(
                server=server, n=len(prepared.unlisted), first=printable_name(prepared.unlisted[0])
            )
        )
    warnings += [
        _(
            "{path}: the share's listing leaves it out, but the share still has it; it was not "
            "deleted here. If this repeats, ask the school's IT admin to check the share."
        ).format(path=printable_name(path))
        for path in prepared.unconfirmed
    ]
    return warnings


def _matches_journal(listing: RemoteTree, known: Mapping[RelPath, JournalEntry]) -> bool:
    """True when the share holds exactly what the journal says it held after our last pass."""
    if listing.twins or listing.refused or len(listing) != len(known):
        return False
    return all((j := known.get(p)) is not None and j.matches_remote(e) for p, e in listing.items())


def _listed_etags(caps: Capabilities, listing: Mapping[RelPath, RemoteEntry]) -> bool:
    """Do this share's listings carry ETags, so that a PUT answer's ETag can be compared with
    them? The probe must say so and no file of this listing contradict it."""
    return caps.etags_in_listings and all(e.etag for e in listing.values() if e.kind is Kind.FILE)


def _refused_failures(
    refused: tuple[Refused, ...], misnamed: tuple[Refused, ...]
) -> list[dict[str, str]]:
    """The `failed` items for the share's entries the path gate refused, and for the local
    names it would refuse."""
    listed = _(
        "The share lists an entry hoso will not use: {reason}. It was neither downloaded "
        "nor deleted anywhere; rename or remove it on the share."
    )
    here = _(
        "This name cannot go to the share: {reason}. It was neither uploaded nor deleted "
        "anywhere; rename it in the records folder."
    )
    return [
        *({"path": item.path, "error": listed.format(reason=item.reason)} for item in refused),
        *({"path": item.path, "error": here.format(reason=item.reason)} for item in misnamed),
    ]


def _misnamed(entries: Mapping[RelPath, LocalEntry], unclear: list[RelPath]) -> list[Refused]:
    """Local paths with a name the share's path gate would refuse, the topmost of each
    subtree only (what is below goes with it); paths already left alone are not repeated."""
    found: list[Refused] = []
    for path in sorted(entries):
        reason = next(filter(None, map(davxml.name_refusal, path.split("/"))), None)
        if reason is None:
            continue
        left = (*unclear, *(item.path for item in found))
        if not any(is_within(path, other) for other in left):
            found.append(Refused(path, reason))
    return found


def _without(entries: Mapping[RelPath, _E], folders: list[RelPath]) -> dict[RelPath, _E]:
    """`entries` minus each path in `folders` and everything below it."""
    if not folders:
        return dict(entries)
    return {p: e for p, e in entries.items() if not any(is_within(p, f) for f in folders)}


def _left_alone(prepared: PreparedPass) -> list[dict[str, str]]:
    """The `skipped` entries of paths left out of the plan: twins, type clashes, symlinks and
    what could not be read here. They ask for no early pass (a person has to act), so they
    are not part of ``plan.skipped``; without them a pass would say "in sync" beside them."""
    return [
        *({"path": p, "reason": SkipReason.NORMALIZATION_TWIN.value} for p in prepared.twins),
        *({"path": p, "reason": SkipReason.TYPE_CLASH.value} for p in prepared.clashes),
        *({"path": p, "reason": SkipReason.SYMLINK.value} for p in prepared.symlinks),
        *({"path": p, "reason": heldback.UNREADABLE} for p, _why in prepared.unreadable),
        *({"path": p, "reason": refusals.REASON} for p in _refused_paths(prepared)),
    ]


def _refused_paths(prepared: PreparedPass) -> list[RelPath]:
    """The paths the share refused, earlier or now in its listing: left alone this pass."""
    return [*(r.path for r in prepared.refused_before), *(f.path for f in prepared.forbidden)]


def _held(report: Report, prepared: PreparedPass) -> tuple[Held, ...]:
    """Everything this pass left alone, with why: its skips, what could not be read here,
    the names the share's gate refused either way, and the names this share never lists."""
    refused = (*prepared.refused, *prepared.misnamed)
    twin = SkipReason.NORMALIZATION_TWIN.value
    with_detail = (twin, heldback.UNREADABLE, refusals.REASON)  # held below, with where or why
    return (
        *(Held(s["path"], s["reason"]) for s in report.skipped if s["reason"] not in with_detail),
        *(Held(path, twin, where=where) for path, where in prepared.twin_sides),
        *(Held(path, heldback.UNREADABLE, why) for path, why in prepared.unreadable),
        *(Held(item.path, heldback.REFUSED_NAME, item.reason) for item in refused if item.path),
        *(Held(path, heldback.UNLISTED) for path in prepared.unlisted),
        *(Held(r.path, refusals.REASON, r.message) for r in prepared.refused_before),
        *(Held(f.path, refusals.REASON, f.message) for f in prepared.forbidden),
    )


def _twin_sides(
    twins: list[RelPath],
    local_twins: tuple[tuple[RelPath, ...], ...],
    remote_twins: tuple[tuple[RelPath, ...], ...],
) -> tuple[tuple[RelPath, str], ...]:
    """Each twin (NFC path) once, with where its two spellings are."""
    here = {nfc(group[0]) for group in local_twins}
    there = {nfc(group[0]) for group in remote_twins}
    return tuple((p, heldback.where(p in here, p in there)) for p in sorted(set(twins)))


def _type_clashes(
    root: Path,
    local_twins: tuple[tuple[RelPath, ...], ...],
    remote_twins: tuple[tuple[RelPath, ...], ...],
) -> list[RelPath]:
    """Twin groups that are a file and a folder of one name rather than two spellings: the
    share listing one name twice (as a file and as a folder), or on disk an NFC file beside an
    NFD folder. Left alone like twins, but named for what they are."""
    clashes = [nfc(group[0]) for group in remote_twins if len(set(group)) == 1]
    for group in local_twins:
        kinds: set[bool] = set()
        for fs_path in group:
            with contextlib.suppress(OSError):
                kinds.add(stat.S_ISDIR(os.lstat(root / fs_path).st_mode))
        if len(kinds) > 1:
            clashes.append(nfc(group[0]))
    return clashes


def _kind_of(action: Action) -> Kind:
    for state in (action.local, action.remote, action.journal):
        if state is not None:
            return state.kind
    return Kind.FILE


def _identity(caps) -> str:
    if caps.data_fingerprint or caps.root_fileid:
        return f"{caps.data_fingerprint or ''}|{caps.root_fileid or ''}"
    return ""


def _describe(plan: Plan) -> Report:
    """What a plan would do, in the shape of a report (for --dry-run)."""
    report = Report()
    for action in plan.actions:
        match action.kind:
            case ActionKind.UPLOAD:
                report.uploaded.append(action.path)
            case ActionKind.DOWNLOAD:
                report.downloaded.append(action.path)
            case ActionKind.DELETE_LOCAL:
                report.deleted_local.append(action.path)
            case ActionKind.DELETE_REMOTE:
                report.deleted_remote.append(action.path)
            case ActionKind.MOVE_LOCAL | ActionKind.MOVE_REMOTE:
                report.moved.append((action.source or "", action.path))
            case ActionKind.CONFLICT:
                report.conflicts.append({"path": action.path, "copy": action.conflict_copy or ""})
    for skip in plan.skipped:
        report.skipped.append({"path": skip.path, "reason": skip.reason.value})
    return report


# The outcomes `hoso status` words for a teacher; a finer class (NotHttps…) counts as its kind.
_OUTCOME_KINDS = (SafetyStop, AuthError, UnreachableError)


def _outcome_of(exc: BaseException) -> str:
    """The recorded outcome of a pass that raised ``exc``: the name of its kind."""
    kind = next((k for k in _OUTCOME_KINDS if isinstance(exc, k)), type(exc))
    return kind.__name__
