"""*Khôi phục*, getting a file back: hoso's two trashes (the records folder's and, when there
is one, the school folder's: what `hoso trash list [--school]` shows) and the backups as a
calendar (agent/web/pages/restore_backups.py). Every restore is a request of agent/control.py
(``trash.restore``, ``school.trash.restore``, ``backup.restore``): the running agent carries it
out between passes and syncs right after, as for the commands.

Addresses: ``/restore/`` (trash and calendar, ``?month=YYYY-MM``), ``/restore/day/<YYYY-MM-DD>``
(``?at=<snapshot>&path=<folder>``: the folder as it was), ``/restore/pick`` (the choices for
one file or folder), and the POSTs ``unlock``, ``put`` and ``trash``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ...backup import history, putback
from ...backup.repository import Repository, repository_state
from ...backup.snapshots import DIR
from ...config import Config
from ...control import carry_out
from ...display import printable_name, size_text
from ...errors import HosoError, UsageError
from ...i18n import _, ngettext
from ...journal import Journal
from ...model import Kind, name_of, parent_of
from ...trash import NEXTCLOUD_TRASH, items, reason_text
from ...webpage import (
    Progress,
    WebAnswer,
    WebCard,
    WebPage,
    WebRedirect,
    WebRequest,
    WebTask,
    WebView,
)
from . import restore_backups as backups

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TRASH_SHOWN = 100  # items of each trash on the page; `?trash=all` shows them all


def view(request: WebRequest) -> WebAnswer:
    sub = request.subpath.strip("/")
    if request.method == "POST":
        if sub == "unlock":
            return _unlock(request)
        if sub == "put":
            return _put(request)
        if sub == "trash":
            return _trash_restore(request)
        return WebRedirect("/restore/")
    if sub.startswith("day/"):
        return _day(request, sub.removeprefix("day/"))
    if sub == "pick":
        return _pick(request)
    return _main(request)


# --- the trash -----------------------------------------------------------------------------------


def _lanes(config: Config) -> list[tuple[str, Config]]:
    """("records", config) and, with a school folder, ("school", its lane's config)."""
    from ...schoolfolder import lane_config

    lane = lane_config(config)
    return [("records", config)] + ([("school", lane)] if lane is not None else [])


def _trash(config: Config, lane: str, everything: bool) -> dict[str, Any]:
    journal_path = config.state_dir / "journal.sqlite3"
    found = []
    if journal_path.exists():
        with Journal.open(journal_path) as journal:
            found = items(journal)
    sides = {"local": _("this computer"), "remote": _("the share")}
    rows = [
        {
            "id": item.id,
            "name": printable_name(name_of(item.path)),
            "folder": printable_name(parent_of(item.path)) or _("(the folder itself)"),
            "side": sides[item.side.value],
            "when": time.strftime("%H:%M %d/%m/%Y", time.localtime(item.deleted_at)),
            "size": _("folder") if item.kind is Kind.DIR else size_text(item.size),
            "why": reason_text(item.reason),
            "nextcloud": item.stored_as == NEXTCLOUD_TRASH,
        }
        for item in found
    ]
    shown = rows if everything else rows[:TRASH_SHOWN]
    return {"lane": lane, "rows": shown, "more": len(rows) - len(shown)}


def _trash_restore(request: WebRequest) -> WebAnswer:
    lane = request.arg("lane")
    try:
        item = int(request.arg("item"))
    except ValueError:
        item = -1
    lanes = dict(_lanes(request.config))
    if lane not in lanes or item < 0:
        return WebRedirect("/restore/", _("That trash item is not known."), problem=True)
    name = "school.trash.restore" if lane == "school" else "trash.restore"
    config = request.config

    def run(progress: Progress) -> str:
        progress(_("hoso puts it back where it was (beside it when that name is taken)…"))
        restored = carry_out(config, name, {"item": item}, emit=lambda event: None)["path"]
        return _("Restored as {path}. The next sync carries it to the other side.").format(
            path=printable_name(restored)
        )

    title = _("Getting a file back from the trash")
    return WebTask(kind="restore", title=title, run=run, then="/restore/")


# --- the main page, the unlock, a day, a pick ----------------------------------------------------


def _main(request: WebRequest) -> WebAnswer:
    config = request.config
    everything = request.arg("trash") == "all"
    trashes = [_trash(lane_config, lane, everything) for lane, lane_config in _lanes(config)]
    shelf = backups.open_shelf(config, request.now)
    context: dict[str, Any] = {
        "trashes": trashes,
        "trash_days": int(config.sync.trash_days),
        "shelf": shelf,
        "month": None,
    }
    if shelf.repo is not None:
        try:
            found = backups.moments(shelf.repo)
        except HosoError as exc:  # a damaged snapshot: the trash above still shows
            context["shelf"] = backups.Shelf(problem=str(exc))
        else:
            context["month"] = backups.month_view(found, request.arg("month"))
            context["count"] = len(found)
    return WebView("restore.html", context)


def _unlock(request: WebRequest) -> WebAnswer:
    problem = backups.unlock(request.config, request.arg("passphrase"), request.now)
    if problem:
        return WebRedirect("/restore/#backups", problem, problem=True)
    return WebRedirect("/restore/#backups", _("The backups are open."))


def _opened(request: WebRequest) -> Repository:
    shelf = backups.open_shelf(request.config, request.now)
    if shelf.repo is None:
        raise UsageError(shelf.problem or _("Type the backup passphrase first."))
    return shelf.repo


def _day(request: WebRequest, day_text: str) -> WebAnswer:
    try:
        repo = _opened(request)
    except UsageError as exc:
        return WebRedirect("/restore/#backups", str(exc), problem=True)
    day = backups.day_of(day_text)
    found = backups.moments(repo)
    moment, that_day = backups.pick_moment(found, day, request.arg("at"))
    folder, entry = backups.entry_at(request.config, repo, moment, request.arg("path"))
    if entry["type"] != DIR:  # a file's address: its folder, then the choices
        return WebRedirect(_pick_address(moment, folder))
    context = {
        "day": day,
        "moment": moment,
        "that_day": that_day,
        "folder": folder,
        "crumbs": backups.crumbs(folder),
        "rows": backups.listing(request.config, repo, folder, entry),
        "month": day.strftime("%Y-%m"),
    }
    return WebView("restore_day.html", context)


def _pick_address(moment: backups.Moment, path: str) -> str:
    from urllib.parse import urlencode

    return "/restore/pick?" + urlencode({"at": moment.id, "path": path})


def _moment(repo: Repository, snapshot_id: str) -> backups.Moment:
    found = next((m for m in backups.moments(repo) if m.id == snapshot_id), None)
    if found is None:
        raise UsageError(_("That backup is not in the repository (any more)."))
    return found


def _pick(request: WebRequest) -> WebAnswer:
    try:
        repo = _opened(request)
    except UsageError as exc:
        return WebRedirect("/restore/#backups", str(exc), problem=True)
    moment = _moment(repo, request.arg("at"))
    path, entry = backups.entry_at(request.config, repo, moment, request.arg("path"))
    if not path:
        raise UsageError(_("Choose a file or a folder inside the records folder."))
    is_dir = entry["type"] == DIR
    day = moment.time.date()
    context = {
        "moment": moment,
        "day": day,
        "target": path,  # "path" is the layout's (the address, for the language switch)
        "name": printable_name(name_of(path)),
        "parent": parent_of(path),
        "folder": is_dir,
        "size": "" if is_dir else size_text(entry.get("size", 0)),
        "modified": backups.when_ns(entry.get("mtime_ns", 0)),
        "now": backups.now_on_disk(request.config, path, entry),
        "beside": printable_name(
            putback.beside_name(path, day.isoformat(), folder=is_dir).rpartition("/")[2]
        ),
    }
    return WebView("restore_pick.html", context)


def _put(request: WebRequest) -> WebAnswer:
    how = request.arg("how")
    if how not in (putback.BESIDE, putback.IN_PLACE):
        return WebRedirect("/restore/", _("Choose how to restore it."), problem=True)
    repo = _opened(request)
    moment = _moment(repo, request.arg("at"))
    path, _entry = backups.entry_at(request.config, repo, moment, request.arg("path"))
    if not path:
        raise UsageError(_("Choose a file or a folder inside the records folder."))
    return backups.restore_task(request.config, repo, moment, path, how, request.now)


# --- the overview's card -------------------------------------------------------------------------


def card(request: WebRequest) -> WebCard:
    config = request.config
    state = history.status(config, now=request.now)
    present = repository_state(config.backup.repository_path()) != "absent"
    title = _("Backups")
    link, link_text = "/restore/", _("Get a file back")
    if state is None:
        line = (
            _("No backup yet: hoso makes the first one by itself while it runs.")
            if present
            else _("Backups are not set up on this computer yet.")
        )
        return WebCard(title, [line], "warn", link, link_text)
    if state["damaged"]:
        return WebCard(title, [str(state["damaged"])], "bad", link, link_text)
    hours = state["age_hours"]
    lines = [
        _("Last backup {age} ({when}).").format(age=_age(hours), when=_when(state["last"]))
        if hours is not None
        else _("The last backup is dated in the future: this computer's clock is off.")
    ]
    if not state["stale"]:
        return WebCard(title, lines, "ok", link, link_text)
    if not present:
        lines.append(_("Plug in the backup USB drive: hoso backs up by itself when it finds it."))
    elif hours is not None:
        lines.append(_("That is old: hoso backs up while it runs; keep this computer on a while."))
    return WebCard(title, lines, "warn", link, link_text)


def _age(hours: float) -> str:
    if hours < 1:
        return _("less than an hour ago")
    if hours < 48:
        n = int(hours)
        return ngettext("{n} hour ago", "{n} hours ago", n).format(n=n)
    days = int(hours // 24)
    return ngettext("{n} day ago", "{n} days ago", days).format(n=days)


def _when(iso: str) -> str:
    from datetime import datetime

    return datetime.fromisoformat(iso).strftime("%H:%M %d/%m/%Y")


PAGE = WebPage(
    slug="restore",
    title=lambda: _("Restore"),
    order=50,
    templates=TEMPLATES,
    view=view,
    card=card,
)
