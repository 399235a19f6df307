"""`hoso status`: what the agent knows, without touching the network.

Reads the journal (last pass, per-file errors, trash) and compares a stat-only scan of the
records folder with it to count changes waiting for the next pass; what the passes hold back
and why (grouped, each folder once with the files below it); the validation findings and
plugin failures the journal holds; the age of the last good backup.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from . import heldback, local, profilestore, schoolfolder, serverinfo, trash
from .backup import history
from .config import Config
from .display import printable_name
from .heldback import Held
from .hooks import load_plugins
from .i18n import _, ngettext
from .journal import Journal
from .model import JournalEntry, Kind, LocalEntry, SkipReason, is_within
from .conflictname import is_conflict_copy

MAX_LISTED = 20  # paths shown per group; the rest are counted


@dataclass
class Status:
    last_pass: dict[str, Any] | None
    pending: list[str]
    conflicts: list[str]
    errors: list[dict[str, Any]]
    trash_items: int
    backup: dict[str, Any] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    plugin_failures: list[dict[str, Any]] = field(default_factory=list)
    plugin_notes: list[dict[str, str]] = field(default_factory=list)
    symlinks: list[str] = field(default_factory=list)  # left alone, never synced
    insecure_http: bool = False  # the share's login travels in clear (http:// to another host)
    warnings: list[str] = field(default_factory=list)  # a guard holding something back
    server: dict[str, Any] | None = None  # what the last probe saw the share's server do
    unlisted: list[str] = field(default_factory=list)  # names the server never lists: left alone
    # What the passes hold back: {"path", "reason", "detail", "where", "files"} (heldback.Held,
    # and the number of files below a folder).
    held: list[dict[str, Any]] = field(default_factory=list)
    # The school folder's lane (school_summary); None when the config names none.
    school_folder: dict[str, Any] | None = None

    @property
    def waiting(self) -> bool:
        """Anything not synced yet: never "everything synced" then."""
        return bool(self.pending or self.held)

    def to_json(self) -> dict[str, Any]:
        return {
            "last_pass": self.last_pass,
            "pending": self.pending,
            "conflicts": self.conflicts,
            "errors": self.errors,
            "trash_items": self.trash_items,
            "backup": self.backup,
            "findings": self.findings,
            "plugin_failures": self.plugin_failures,
            "plugin_notes": self.plugin_notes,
            "symlinks": self.symlinks,
            "insecure_http": self.insecure_http,
            "warnings": self.warnings,
            "server": self.server,
            "unlisted": self.unlisted,
            "held": self.held,
            "school_folder": self.school_folder,
        }


def collect(config: Config) -> Status:
    """What `hoso status` shows: the journal's view of things and the plugins' notes."""
    with Journal.open(config.state_dir / "journal.sqlite3") as journal:
        found = gather(config, journal)
    found.plugin_notes = [
        {"plugin": name, "text": line} for name, line in load_plugins(config).status_notes()
    ]
    found.school_folder = school_summary(config)
    return found


# The school folder's states, worst first: what `hoso status` says about it.
SCHOOL_STATES = (
    "not_synced_yet",
    "unreachable",
    "login_refused",
    "stopped",
    "refused",
    "waiting",
    "synced",
)
_STOPPED_OUTCOMES = {"UnreachableError": "unreachable", "AuthError": "login_refused"}


def school_summary(config: Config) -> dict[str, Any] | None:
    """The school folder's state from its own journal, without the network: ``state`` (one
    of SCHOOL_STATES), the last pass, the changes waiting, the paths the share refused
    (kept here) and what else its passes hold back. None without a school folder."""
    lane = schoolfolder.lane_config(config)
    if lane is None:
        return None
    summary: dict[str, Any] = {
        "root": str(lane.root),
        "url": lane.remote.url.rstrip("/") + "/" + lane.remote.remote_dir,
        "state": "not_synced_yet",
        "last_pass": None,
        "error": None,
        "pending": 0,
        "refused": [],
        "held": [],
    }
    journal_path = lane.state_dir / "journal.sqlite3"
    if not journal_path.exists():
        return summary  # never synced: and `hoso status` creates nothing
    with Journal.open(journal_path) as journal:
        last = journal.last_pass()
        known = journal.entries()
        refused = [
            {"path": e.path, "error": e.message, "last_seen": _iso(e.last_seen)}
            for e in journal.errors()
            if e.refused_version is not None
        ]
        held = [h for h in heldback.remembered(journal) if h.reason != heldback.REFUSED_BY_SHARE]
    if last is None:
        return summary
    pending = 0
    if lane.root.is_dir():
        scan = local.scan(
            lane.root, known, local.ignore_rules(lane), now_ns=time.time_ns(), settle_seconds=0
        )
        pending = sum(1 for p, e in scan.entries.items() if not _synced(known.get(p), e))
        pending += sum(1 for p in known if p not in scan.entries)
    error = (last.report or {}).get("error")
    if last.outcome in _STOPPED_OUTCOMES:
        state = _STOPPED_OUTCOMES[last.outcome]
    elif error:
        state = "stopped"
    elif refused:
        state = "refused"
    elif pending or held:
        state = "waiting"
    else:
        state = "synced"
    summary.update(
        state=state,
        last_pass={"finished": _iso(last.finished), "outcome": last.outcome},
        error=error,
        pending=pending,
        refused=refused,
        held=[h.to_json() for h in held],
    )
    return summary


def _synced(before: JournalEntry | None, entry: LocalEntry) -> bool:
    return before is not None and before.matches_local(entry)


def gather(config: Config, journal: Journal) -> Status:
    known = journal.entries()
    last = journal.last_pass()
    last_json = None
    if last is not None:
        last_json = {
            "started": _iso(last.started),
            "finished": _iso(last.finished),
            "outcome": last.outcome,
            "report": last.report,
        }
    server = serverinfo.shown(journal)
    pending: list[str] = []
    conflicts: list[str] = []
    symlinks: list[str] = []
    unlisted: list[str] = []
    files: list[str] = []
    if config.root.is_dir():
        scan = local.scan(
            config.root,
            known,
            local.ignore_rules(config),
            now_ns=time.time_ns(),
            settle_seconds=0,
        )
        hides_dots = server is not None and not server["lists_dot_names"]
        files = [p for p, e in scan.entries.items() if e.kind is Kind.FILE]
        for path, entry in scan.entries.items():
            if hides_dots and serverinfo.is_dot_path(path):
                unlisted.append(path)  # never synced with this server: not pending
                continue
            before = known.get(path)
            if before is None or not before.matches_local(entry):
                pending.append(path)
            if is_conflict_copy(path):
                conflicts.append(path)
        # What lies at or below a symlink is left alone by every pass: not pending.
        symlinks = sorted(scan.symlinks)
        pending += [
            p
            for p in known
            if p not in scan.entries and not any(is_within(p, link) for link in symlinks)
        ]
    errors = [
        {"path": e.path, "error": e.message, "attempts": e.attempts, "last_seen": _iso(e.last_seen)}
        for e in journal.errors()
    ]
    return Status(
        last_pass=last_json,
        pending=sorted(pending),
        symlinks=symlinks,
        conflicts=sorted(conflicts),
        errors=errors,
        trash_items=len(journal.trash_items()),
        backup=history.status(config),
        findings=[s.finding.to_json() for s in journal.findings()],
        plugin_failures=[
            {
                "plugin": f.plugin,
                "hook": f.hook,
                "detail": f.detail,
                "count": f.count,
                "last_seen": _iso(f.last_seen),
            }
            for f in journal.plugin_failures()
        ],
        insecure_http=config.remote.insecure_http(),
        warnings=[
            w
            for w in (
                trash.held_expiry(journal),
                profilestore.first_use_warning(config),
                profilestore.refusal_warning(config),
            )
            if w
        ],
        server=server,
        unlisted=sorted(unlisted),
        held=_held(heldback.remembered(journal), symlinks, unlisted, files),
    )


def _held(
    remembered: list[Held], symlinks: list[str], unlisted: list[str], files: list[str]
) -> list[dict[str, Any]]:
    """The last pass's held set, with the symlinks and unlisted names as they are now (seen
    here without the share), each with the number of files below it (0 for a file)."""
    live = {SkipReason.SYMLINK.value, heldback.UNLISTED}
    held = [h for h in remembered if h.reason not in live]
    held += [Held(p, SkipReason.SYMLINK.value) for p in symlinks]
    held += [Held(p, heldback.UNLISTED) for p in unlisted]
    return [
        {**h.to_json(), "files": sum(1 for f in files if f != h.path and is_within(f, h.path))}
        for h in sorted(set(held))
    ]


def held_lines(held: list[dict[str, Any]]) -> list[str]:
    """`hoso status` text for what is held back: one group per reason with the reason and
    the fix in plain words, each path once (a folder with the number of its files)."""
    lines: list[str] = []
    items = [Held(h["path"], h["reason"], h["detail"], h["where"]) for h in held]
    below = {h["path"]: h["files"] for h in held}
    for reason, group in heldback.grouped(items):
        lines.append(_("Not synced — {why} ({n}):").format(why=heldback.why(reason), n=len(group)))
        for item in group[:MAX_LISTED]:
            text = f"  {printable_name(item.path)}"
            count = below.get(item.path, 0)
            if count:  # a folder: the files it holds back
                text += " " + ngettext("({n} file)", "({n} files)", count).format(n=count)
            if item.detail or item.where:
                text += f": {printable_name(item.detail) or heldback.place(item.where)}"
            lines.append(text)
        if len(group) > MAX_LISTED:
            lines.append("  " + _("… and {n} more").format(n=len(group) - MAX_LISTED))
        if fix := heldback.fix(reason):
            lines.append(f"  → {fix}")
    return lines


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts))


def outcome_text(outcome: str, *, waiting: bool) -> str:
    """The last pass's outcome in plain words (`hoso status`, the teacher's page)."""
    texts = {
        # Never "everything synced" beside changes that wait.
        "ok": _("finished, but not everything is synced: see below")
        if waiting
        else _("everything synced"),
        "partial": _("some files failed"),
        "dry_run": _("dry run"),
        "SafetyStop": _("stopped by a safety check, nothing deleted"),
        "UnreachableError": _("the share could not be reached"),
        "AuthError": _("the login was refused"),
    }
    return texts.get(outcome, _("stopped by an error: {name}").format(name=outcome))
