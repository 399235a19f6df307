"""*Cần sửa*, the records to fix: the validation findings the journal holds, grouped by
record, each with what is wrong and what to do, and buttons that open the record or its
folder on this computer. A record leaves the page by itself once the agent has checked it
again and found it fixed (the list refreshes every few seconds, ``?part=live``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...display import printable_name
from ...errors import LocalError
from ...i18n import _, ngettext
from ...journal import Journal
from ...model import RelPath, name_of, parent_of
from ...records import Finding, Severity
from ...textfold import natural_key
from ...webpage import WebAnswer, WebCard, WebPage, WebRedirect, WebRequest, WebView
from ...desktopopen import OPENABLE_SUFFIXES, open_record
from .home import TEMPLATES

SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class RecordToFix:
    """One record and what the checks found in it, worst first."""

    path: RelPath
    findings: tuple[Finding, ...]

    @property
    def name(self) -> str:
        return printable_name(name_of(self.path))

    @property
    def folder(self) -> str:
        return printable_name(parent_of(self.path))

    @property
    def openable(self) -> bool:
        suffix = self.name.rpartition(".")[2].lower()
        return "." in self.name and f".{suffix}" in OPENABLE_SUFFIXES


def records_to_fix(request: WebRequest) -> list[RecordToFix]:
    """The journal's findings by record, the records with an error first, then in the
    order of the folders ("Tuần 2" before "Tuần 10")."""
    with Journal.open(request.config.state_dir / "journal.sqlite3") as journal:
        stored = journal.findings()
    by_path: dict[RelPath, list[Finding]] = {}
    for item in stored:
        by_path.setdefault(item.finding.path, []).append(item.finding)
    found = [
        RecordToFix(path, tuple(sorted(findings, key=lambda f: SEVERITY_ORDER[f.severity])))
        for path, findings in by_path.items()
    ]
    return sorted(
        found, key=lambda r: (SEVERITY_ORDER[r.findings[0].severity], natural_key(r.path))
    )


def severity_text(severity: Severity) -> str:
    return {
        Severity.ERROR: _("Must be fixed"),
        Severity.WARNING: _("Should be fixed"),
        Severity.INFO: _("Good to know"),
    }[severity]


def view(request: WebRequest) -> WebAnswer:
    if request.method == "POST":
        return open_one(request)
    context: dict[str, Any] = {"records": records_to_fix(request), "severity_text": severity_text}
    if request.arg("part") == "live":
        return WebView("problems_live.html", context)
    return WebView("problems.html", context)


def open_one(request: WebRequest) -> WebRedirect:
    """Open a record the page lists (its file or its folder) on the desktop. Only a path
    the journal holds findings for is opened: a path made up in a form opens nothing."""
    path = request.arg("path")
    listed = {r.path for r in records_to_fix(request)}
    if path not in listed:
        return WebRedirect(
            "/problems/", _("This record is no longer on the list: it may be fixed."), problem=True
        )
    try:
        said = open_record(request.config.root, path, folder=request.arg("open") != "file")
    except LocalError as exc:
        return WebRedirect("/problems/", str(exc), problem=True)
    return WebRedirect("/problems/", said)


def card(request: WebRequest) -> WebCard:
    records = records_to_fix(request)
    if not records:
        return WebCard(title=_("Records to fix"), lines=[_("No record needs fixing.")], state="ok")
    return WebCard(
        title=_("Records to fix"),
        lines=[
            ngettext("{n} record needs fixing.", "{n} records need fixing.", len(records)).format(
                n=len(records)
            ),
            _("Each one says what is wrong and how to fix it."),
        ],
        state="warn",
        link="/problems/",
        link_text=_("See what to fix"),
    )


PAGE = WebPage(
    slug="problems",
    title=lambda: _("To fix"),
    order=10,
    templates=TEMPLATES,
    view=view,
    card=card,
)
