"""*Tổng quan*, the overview: how the sync stands in plain words, then each page's card
(problems, conflicts, backups, the next inspection…). It refreshes itself every few
seconds (``?part=live``), so a teacher watching it sees a save reach the share."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from ... import status as statusmod
from ...i18n import _, ngettext
from ...lock import held_elsewhere
from ...webpage import WebAnswer, WebCard, WebPage, WebRequest, WebView

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def sync_card(request: WebRequest, status: statusmod.Status) -> WebCard:
    """The sync's state in a sentence a teacher reads at a glance, and what to do."""
    config = request.config
    title = _("Sync with the school share")
    running = held_elsewhere(config.state_dir)
    lines: list[str] = []
    link = ""  # where the teacher acts on what the card says
    last = status.last_pass
    if last is None:
        state, lines = "warn", [_("Not synced yet.")]
    else:
        outcome = last["outcome"]
        when = _when(last["finished"])
        if outcome == "ok" and not status.waiting:
            state, lines = "ok", [_("All records are synced (last checked {when}).").format(when=when)]
        elif outcome == "UnreachableError":
            state = "warn"
            lines = [
                _("The school share could not be reached (last try {when}).").format(when=when),
                _("Your records are safe on this computer; hoso keeps trying by itself."),
            ]
        elif outcome == "AuthError":
            state = "bad"
            lines = [_("The share refused the login: the password may have changed. Open Setup.")]
            link = "/setup/"
        elif outcome == "SafetyStop":
            state = "bad"
            lines = [_("hoso stopped itself to protect your records; nothing was deleted.")]
            stopped_by = (last.get("report") or {}).get("error")
            if stopped_by:
                lines.append(str(stopped_by))
        else:
            state = "warn" if outcome in ("ok", "partial") else "bad"
            lines = [
                _("Last sync {when}: {outcome}.").format(
                    when=when, outcome=statusmod.outcome_text(outcome, waiting=status.waiting)
                )
            ]
    if status.pending:
        lines.append(
            ngettext(
                "{n} change waits to be synced.", "{n} changes wait to be synced.", len(status.pending)
            ).format(n=len(status.pending))
        )
    if status.errors:
        state = "bad" if state == "bad" else "warn"
        lines.append(
            ngettext(
                "{n} file could not be synced.", "{n} files could not be synced.", len(status.errors)
            ).format(n=len(status.errors))
        )
    if not running:
        state = "bad" if state == "bad" else "warn"
        lines.append(
            _("hoso is not running on this computer: new changes are not synced until it runs.")
        )
    return WebCard(title=title, lines=lines, state=state, link=link, link_text=_("Setup") if link else "")


def _when(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%H:%M %d/%m/%Y")


def cards(request: WebRequest) -> list[WebCard]:
    """The sync card, then the card of every page that offers one, in menu order."""
    status = statusmod.collect(request.config)
    found = [sync_card(request, status)]
    for page in request.pages:
        if page.card is not None and page.shown(request.config):
            card = page.card(request)
            if card is not None:
                found.append(card)
    return found


def view(request: WebRequest) -> WebAnswer:
    context: dict[str, Any] = {"cards": cards(request)}
    if request.arg("part") == "live":
        return WebView("home_live.html", context)
    return WebView("home.html", context)


PAGE = WebPage(
    slug="home",
    title=lambda: _("Overview"),
    order=0,
    templates=TEMPLATES,
    view=view,
)
