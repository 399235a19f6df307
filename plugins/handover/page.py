"""The handover's page of the teacher's page (/handover/): how handing over the school
mailbox works, step by step with the commands, and where it stands on this computer.

Read only: the page makes no key and removes no copy (:func:`service.overview`); the steps
themselves stay commands, typed by the keepers, because each asks for a confirmation
(the giver's fingerprint, read out loud) that belongs at the keepers' own terminals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.api import WebPage, WebRequest, WebView, _, printable

from . import service

TEMPLATES = Path(__file__).resolve().parent / "templates"
RECENT = 5  # handovers shown, the latest first


def view(request: WebRequest) -> WebView:
    config = request.config
    found = service.overview(config)
    school = config.roles.school
    keeper = school.mailbox_keeper
    context: dict[str, Any] = {
        "mailbox": printable(school.mailbox),
        "keeper": printable(", ".join(p for p in (keeper.name, keeper.position) if p))
        if keeper
        else "",
        "state": found,
        "recent": [
            {
                "time": printable(h.time),
                "giver": printable(h.giver.label()),
                "receiver": printable(h.receiver.label()),
                "changed": printable(h.password_changed_at or ""),
            }
            for h in reversed(found.handovers[-RECENT:])
        ],
        "reminders": [service.reminder_message(h) for h in found.to_confirm],
    }
    return WebView("handover.html", context)


PAGE = WebPage(
    slug="handover",
    title=lambda: _("Mailbox handover"),
    order=95,
    templates=TEMPLATES,
    view=view,
)
