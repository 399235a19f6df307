"""The backups' side of *Khôi phục*: the snapshots as a calendar, a day's records folder as it
was, and a file or folder of it put back (agent/backup/putback.py).

The repository opens with what the agent holds (HOSO_BACKUP_PASSPHRASE, the vault, the key
file); when it holds nothing, the teacher types the passphrase once into the page, where the
command line would prompt. It is kept in this process's memory only, for
:data:`HOLD_SECONDS` after its last use: never written, logged, or sent back to the browser.
Everything from the address or a form (a snapshot id, a day, a path) is checked against the
repository before it is used.
"""

from __future__ import annotations

import calendar
import os
import stat
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ...backup import putback, service
from ...backup.clock import snapshot_time
from ...backup.repository import Repository, config_missing, repository_state
from ...backup.snapshots import DIR, find_entry, load_tree
from ...config import Config, Secret
from ...control import carry_out
from ...display import printable_name, size_text
from ...errors import ConfigError, HosoError, UsageError, WrongPassphrase
from ...i18n import _, ngettext
from ...local import ignore_rules
from ...lock import held_elsewhere
from ...safepath import SafeRoot, UnsafePath
from ...textfold import natural_key
from ...trash import sha256_at
from ...webpage import Progress, WebTask

HOLD_SECONDS = 15 * 60.0


class _Held:
    """Passphrases typed into the page, per repository folder, until unused for a while."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Secret, float]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, now: float) -> Secret | None:
        with self._lock:
            kept = self._kept.get(str(path))
            if kept is None or now - kept[1] > HOLD_SECONDS:
                self._kept.pop(str(path), None)
                return None
            self._kept[str(path)] = (kept[0], now)
            return kept[0]

    def keep(self, path: Path, secret: Secret, now: float) -> None:
        with self._lock:
            self._kept[str(path)] = (secret, now)


HELD = _Held()


@dataclass(frozen=True)
class Shelf:
    """How the backups can be reached: ``repo`` when open, else what stands in the way
    (``problem``) or that a passphrase is needed (``ask``)."""

    repo: Repository | None = None
    problem: str = ""
    ask: bool = False


def open_shelf(config: Config, now: float) -> Shelf:
    path = config.backup.repository_path()
    state = repository_state(path)
    if state == "damaged":
        return Shelf(problem=str(config_missing(path)))
    if state == "absent":
        if config.backup.repository:
            return Shelf(
                problem=_(
                    "The backups are not found at {path}. Plug in the backup USB drive, then "
                    "open this page again."
                ).format(path=path)
            )
        return Shelf(problem=_("Backups are not set up on this computer yet."))
    secret = HELD.get(path, now)
    if secret is None:
        try:
            secret = service.passphrase(config)
        except ConfigError:
            return Shelf(ask=True)
    try:
        return Shelf(repo=service.open_repository(config, secret))
    except WrongPassphrase:
        return Shelf(ask=True, problem=_("The backup passphrase hoso holds does not open them."))
    except HosoError as exc:  # damaged, written by a newer hoso, unreadable: said, not raised
        return Shelf(problem=str(exc))


def unlock(config: Config, typed: str, now: float) -> str:
    """Open the repository with the passphrase typed into the page and hold it; the message
    to show (empty when it opened)."""
    if not typed:
        return _("Type the backup passphrase.")
    path = config.backup.repository_path()
    secret = Secret(typed)
    try:
        service.open_existing(path, lambda: secret)
    except WrongPassphrase:
        return _("This is not the backup passphrase; try again (or type the recovery key).")
    except HosoError as exc:
        return str(exc)
    HELD.keep(path, secret, now)
    return ""


# --- the calendar --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    id: str
    time: datetime
    files: int


def moments(repo: Repository) -> list[Moment]:
    """The snapshots, oldest first by their dates."""
    found = [
        Moment(snapshot_id, snapshot_time(snapshot).astimezone(), int(snapshot.get("files", 0)))
        for snapshot_id, snapshot in repo.snapshots()
    ]
    return sorted(found, key=lambda m: m.time)


def month_view(found: list[Moment], month: str) -> dict[str, Any]:
    """The month grid (weeks from Monday) of ``month`` (YYYY-MM; default: the last backup's),
    with the days that have backups, and the months before and after that have some."""
    by_day: dict[date, list[Moment]] = {}
    for moment in found:
        by_day.setdefault(moment.time.date(), []).append(moment)
    shown = _month(month) or (found[-1].time.date().replace(day=1) if found else None)
    if shown is None:
        return {"weeks": [], "title": "", "before": "", "after": "", "days": 0}
    weeks = [
        [
            {
                "day": d.day,
                "iso": d.isoformat(),
                "inside": d.month == shown.month,
                "count": len(by_day.get(d, [])) if d.month == shown.month else 0,
            }
            for d in week
        ]
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(shown.year, shown.month)
    ]
    months = sorted({d.replace(day=1) for d in by_day})
    before = [m for m in months if m < shown]
    after = [m for m in months if m > shown]
    return {
        "weeks": weeks,
        "title": _("{month}/{year}").format(month=shown.month, year=shown.year),
        "before": before[-1].strftime("%Y-%m") if before else "",
        "after": after[0].strftime("%Y-%m") if after else "",
        "days": sum(1 for d in by_day if (d.year, d.month) == (shown.year, shown.month)),
        "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
    }


def _month(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y-%m").date() if len(text) == 7 else None
    except ValueError:
        return None


def day_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(_("“{day}” is not a day.").format(day=text[:40])) from None


# --- a day's folder ------------------------------------------------------------------------------


def pick_moment(found: list[Moment], day: date, wanted: str) -> tuple[Moment, list[Moment]]:
    """The snapshot shown for ``day`` (``wanted`` when it is one of that day's, else its last
    one) and all of that day's."""
    that_day = [m for m in found if m.time.date() == day]
    if not that_day:
        raise UsageError(
            _("There is no backup of {day}: choose a day marked in the calendar.").format(
                day=day.strftime("%d/%m/%Y")
            )
        )
    chosen = next((m for m in that_day if m.id == wanted), that_day[-1])
    return chosen, that_day


def entry_at(config: Config, repo: Repository, moment: Moment, path: str) -> tuple[str, dict]:
    """(the checked records path, its entry in the snapshot); "" is the records folder."""
    rel = putback.checked_path(config, path) if path.strip("/") else ""
    entry = find_entry(repo, repo.read_snapshot(moment.id)["tree"], rel)
    if entry is None:
        raise UsageError(
            _("The backup of {when} has no “{path}”.").format(
                when=moment.time.strftime("%H:%M %d/%m/%Y"), path=printable_name(rel)
            )
        )
    return rel, entry


def listing(config: Config, repo: Repository, folder: str, entry: dict) -> list[dict[str, Any]]:
    """The folder's entries in the snapshot, folders first, with whether each is on this
    computer now ("missing", "there")."""
    rules = ignore_rules(config)
    safe = SafeRoot(config.root)
    rows = []
    for item in load_tree(repo, entry["subtree"]):
        path = f"{folder}/{item['name']}" if folder else item["name"]
        is_dir = item["type"] == DIR
        if rules.is_ignored(path, is_dir):
            continue
        rows.append(
            {
                "name": printable_name(item["name"]),
                "path": path,
                "folder": is_dir,
                "size": "" if is_dir else size_text(item.get("size", 0)),
                "modified": when_ns(item.get("mtime_ns", 0)),
                "here": _here(safe, path),
            }
        )
    rows.sort(key=lambda row: (not row["folder"], natural_key(row["name"])))
    return rows


def _here(safe: SafeRoot, path: str) -> bool:
    try:
        return safe.lstat(safe.spelled(path)) is not None
    except UnsafePath:
        return True  # something is there (a link): not "missing"


def when_ns(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9).strftime("%H:%M %d/%m/%Y") if mtime_ns else ""


def now_on_disk(config: Config, path: str, entry: dict) -> dict[str, Any]:
    """What stands at ``path`` in the records folder now, beside the backup's entry."""
    safe = SafeRoot(config.root)
    try:
        path = safe.spelled(path)  # a Mac's NFD name is the file the teacher has
        info = safe.lstat(path)
    except UnsafePath:
        info = None
    if info is None:
        return {"exists": False}
    folder = stat.S_ISDIR(info.st_mode)
    return {
        "exists": True,
        "folder": folder,
        "size": "" if folder else size_text(info.st_size),
        "modified": when_ns(info.st_mtime_ns),
        "same": not folder and entry["type"] != DIR and _same(config, path, info, entry),
    }


def _same(config: Config, path: str, info: os.stat_result, entry: dict) -> bool:
    """Whether the file now holds the backup's very bytes."""
    if not stat.S_ISREG(info.st_mode) or info.st_size != entry.get("size"):
        return False
    try:
        with SafeRoot(config.root).parent(path) as (folder, name):
            return sha256_at(folder, name) == entry.get("sha256")
    except OSError:
        return False


def crumbs(path: str) -> list[dict[str, str]]:
    parts = path.split("/") if path else []
    return [
        {"name": printable_name(part), "path": "/".join(parts[: n + 1])}
        for n, part in enumerate(parts)
    ]


# --- putting one back ----------------------------------------------------------------------------


def restore_task(
    config: Config,
    repo: Repository,
    moment: Moment,
    path: str,
    how: str,
    now: float,
) -> WebTask:
    """Take ``path`` out of the snapshot (here, with the open repository), then have the
    agent, or this page under the instance lock, put it in the records folder."""
    day = moment.time.date()
    name = printable_name(path.rpartition("/")[2])

    def run(progress: Progress) -> str:
        progress(
            _("Taking “{name}” out of the backup of {when}…").format(
                name=name, when=moment.time.strftime("%H:%M %d/%m/%Y")
            )
        )
        staged = putback.stage(config, repo, moment.id, path, now=now)
        progress(
            ngettext(
                "{n} file checked against the backup ({size}).",
                "{n} files checked against the backup ({size}).",
                staged.files,
            ).format(n=staged.files, size=size_text(staged.bytes))
        )
        running = held_elsewhere(config.state_dir)
        if running:
            progress(_("hoso puts it into the records folder between two syncs…"))
        args = {"staged": staged.token, "path": staged.path, "how": how, "day": day.isoformat()}
        done = carry_out(config, "backup.restore", args, emit=_quiet)
        return _outcome(done, day, running=running)

    title = _("Getting “{name}” back").format(name=name)
    return WebTask(kind="restore", title=title, run=run, then="/restore/")


def _quiet(event: dict[str, Any]) -> None:
    """The request's events: nothing to show for a put-back."""


def _outcome(done: dict[str, Any], day: date, *, running: bool) -> str:
    path = printable_name(str(done["path"]))
    if done.get("unchanged"):
        return _(
            "“{path}” on this computer is already as in the backup; nothing was changed."
        ).format(path=path)
    if done.get("replaced"):
        said = _(
            "“{path}” is back as it was on {day}. The version it replaced is in hoso's trash "
            "(listed on this page)."
        ).format(path=path, day=day.strftime("%d/%m/%Y"))
    else:
        said = _("Restored as “{path}”.").format(path=path)
    if running:
        return said + " " + _("hoso is sending it to the share now.")
    return said + " " + _("hoso is not running on this computer: the share gets it when it runs.")

