"""*Xung đột*, conflicts: each conflict copy beside the version that kept the record's
name (size, date, the computer it came from, the start of its text), and the teacher's
three choices: keep the copy, keep the named version, keep both. The version not kept goes
to hoso's trash (agent/conflicts.py); the change is carried out by the running agent, or
here under the lock when none runs (agent/control.py ``conflict.resolve``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ... import conflicts as service
from ...control import carry_out
from ...display import printable_name, size_text
from ...errors import HosoError
from ...i18n import _, ngettext
from ...lock import held_elsewhere
from ...model import name_of, parent_of
from ...webpage import WebAnswer, WebCard, WebPage, WebRedirect, WebRequest, WebView
from .home import TEMPLATES


@dataclass(frozen=True)
class Shown:
    """A version as the page shows it."""

    name: str
    size: str
    modified: str
    preview: str | None


@dataclass(frozen=True)
class ShownConflict:
    conflict: service.Conflict
    folder: str
    machine: str  # where the copy's version comes from, in words
    copy: Shown
    original: Shown | None


MAX_PREVIEWS = 20  # conflicts shown with their text: each costs two document reads


def _shown(request: WebRequest, version: service.Version, *, read: bool) -> Shown:
    return Shown(
        name=printable_name(name_of(version.path)),
        size=size_text(version.size),
        modified=datetime.fromtimestamp(version.mtime_ns / 1e9).strftime("%H:%M %d/%m/%Y"),
        preview=service.preview(request.config, version) if read else None,
    )


def machine_text(request: WebRequest, machine: str | None) -> str:
    if machine is None:
        return _("another computer (its name does not say which)")
    if machine == request.config.host_name:
        return _("this computer ({name})").format(name=printable_name(machine))
    return _("the computer {name}").format(name=printable_name(machine))


def shown_conflicts(request: WebRequest) -> list[ShownConflict]:
    return [
        ShownConflict(
            conflict=c,
            folder=printable_name(parent_of(c.copy.path)),
            machine=machine_text(request, c.machine),
            copy=_shown(request, c.copy, read=number < MAX_PREVIEWS),
            original=_shown(request, c.original, read=number < MAX_PREVIEWS)
            if c.original
            else None,
        )
        for number, c in enumerate(service.find(request.config))
    ]


def view(request: WebRequest) -> WebAnswer:
    if request.method == "POST":
        return resolve(request)
    context: dict[str, Any] = {"conflicts": shown_conflicts(request)}
    return WebView("conflicts.html", context)


def resolve(request: WebRequest) -> WebRedirect:
    """Carry out the teacher's choice through the agent (or here, under the lock); the
    form's stamps make sure the files are still those the page showed."""
    wanted = {
        field: request.arg(field) for field in ("copy", "choice", "copy_stamp", "original_stamp")
    }
    try:
        done = carry_out(request.config, "conflict.resolve", wanted, emit=lambda event: None)
    except HosoError as exc:
        return WebRedirect("/conflicts/", str(exc), problem=True)
    kept = printable_name(str(done.get("kept", "")))
    said = {
        "mine": _("The copy now has the record's name: {path}. The other version is in the trash."),
        "theirs": _("{path} is kept; the copy is in the trash."),
        "both": _("Both are kept; the copy is now {path}."),
    }.get(str(done.get("choice")), "{path}")
    message = said.format(path=kept)
    if not held_elsewhere(request.config.state_dir):
        message += " " + _("hoso is not running: the share gets this change when it runs again.")
    return WebRedirect("/conflicts/", message)


def card(request: WebRequest) -> WebCard | None:
    if not request.config.root.is_dir():
        return None  # the sync's card says the records folder is missing, and what to do
    found = service.find(request.config)
    if not found:
        return WebCard(title=_("Conflicts"), lines=[_("No conflict copies.")], state="ok")
    return WebCard(
        title=_("Conflicts"),
        lines=[
            ngettext(
                "{n} record was changed in two places: choose the version to keep.",
                "{n} records were changed in two places: choose the versions to keep.",
                len(found),
            ).format(n=len(found)),
        ],
        state="warn",
        link="/conflicts/",
        link_text=_("Choose versions"),
    )


PAGE = WebPage(
    slug="conflicts",
    title=lambda: _("Conflicts"),
    order=20,
    templates=TEMPLATES,
    view=view,
    card=card,
)
