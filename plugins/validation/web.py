"""*Tổ trưởng / Ban giám hiệu*: the managers' page of the teacher's page (``hoso_web_pages``).

Shown only on a manager's computer (``config.roles.manager()``: this computer's ``[teacher]``
is a reviewer or the principal), whose agent keeps a copy of the teachers' folders (the whole
school share, or the groups they review) as its records folder. The page is `hoso report`
over that copy, live: the same report (service.completeness), for a range of weeks (the last
few up to the current one by default), rebuilt every few seconds without a reload as the
agent brings the teachers' files. The checks' verdicts are remembered per file version, so a
refresh only reads what changed. Names come from the share: the template escapes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from agent.api import (
    FIRST_WEEK,
    LAST_WEEK,
    Config,
    HosoError,
    UsageError,
    WebCard,
    WebPage,
    WebRequest,
    WebView,
    _,
    ngettext,
    printable_name,
    school_week,
)

from .report import Cell, CompletenessReport, TeacherReport
from .service import Verdicts, completeness
from .settings import settings_of

SLUG = "managers"
TEMPLATES = Path(__file__).resolve().parent / "templates"
SHOWN_WEEKS = 6  # weeks shown by default: the current one and the five before it
REFRESH_SECONDS = 10
_VERDICTS: Verdicts = {}  # the checks' findings by file version, kept between refreshes


def page() -> WebPage:
    return WebPage(
        slug=SLUG,
        title=lambda: _("Group leaders / Principal"),
        order=70,
        templates=TEMPLATES,
        view=view,
        shown=is_manager,
        card=card,
    )


def is_manager(config: Config) -> bool:
    return config.roles.manager() is not None


@dataclass(frozen=True)
class Span:
    first: int
    last: int

    @property
    def weeks(self) -> list[int]:
        return list(range(self.first, self.last + 1))


def span_of(request: WebRequest, today: date) -> Span:
    """The weeks asked for (``from``, ``to``), or the last few up to the current one; kept
    within the school year and in order, whatever the address says."""
    current = school_week(today, settings_of(request.config).start_of_year(today))
    default = Span(max(FIRST_WEEK, current - SHOWN_WEEKS + 1), current)
    first = _week(request.arg("from"), default.first)
    last = _week(request.arg("to"), default.last)
    return Span(min(first, last), max(first, last))


def _week(text: str, default: int) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 2):
        return default
    return min(max(int(text), FIRST_WEEK), LAST_WEEK)


@dataclass(frozen=True)
class Row:
    """One teacher as the page shows them."""

    name: str
    group: str
    folder: str  # the search page's teacher filter: the first folder level
    teacher: TeacherReport
    cells: tuple[Cell, ...]


def rows(report: CompletenessReport) -> list[Row]:
    return [
        Row(
            name=printable_name(t.name),
            group=printable_name(t.group),
            folder=t.folder.partition("/")[0],
            teacher=t,
            cells=t.weeks,
        )
        for t in report.teachers
    ]


def build(config: Config, span: Span, today: date) -> CompletenessReport:
    if not config.root.is_dir():
        raise UsageError(
            _(
                "The copy of the teachers' folders, {root}, is missing or not mounted. Reconnect "
                "the drive, or wait for hoso's first sync to bring it."
            ).format(root=printable_name(str(config.root)))
        )
    return completeness(
        config,
        config.root,
        weeks=span.weeks,
        teacher_depth=settings_of(config).teacher_depth,
        today=today,
        remembered=_VERDICTS,
    )


def card(request: WebRequest) -> WebCard:
    """The overview's box: how many teachers have handed in this week's lesson plans."""
    today = datetime.fromtimestamp(request.now).date()
    week = school_week(today, settings_of(request.config).start_of_year(today))
    title = _("Group leaders / Principal")
    link = f"/{SLUG}/"
    try:
        report = build(request.config, Span(week, week), today)
    except HosoError as exc:
        return WebCard(title, [str(exc)], "bad", link)
    done = sum(1 for t in report.teachers if t.weeks_present)
    lines = [
        _("Week {week}: {done} of {total} teachers have handed in their lesson plans.").format(
            week=week, done=done, total=len(report.teachers)
        )
    ]
    failing = sum(len(t.failing) for t in report.teachers)
    if failing:
        lines.append(
            ngettext(
                "{n} lesson plan has errors.", "{n} lesson plans have errors.", failing
            ).format(n=failing)
        )
    state = "ok" if done == len(report.teachers) and not failing else "warn"
    return WebCard(title, lines, state, link, _("See the report"))


def view(request: WebRequest) -> WebView:
    config = request.config
    now = datetime.fromtimestamp(request.now)
    today = now.date()
    span = span_of(request, today)
    live = request.arg("part") == "live"
    try:
        report = build(config, span, today)
    except HosoError as exc:
        # Also for the live part: a message in its place, not a whole page inside the page.
        return WebView("managers_live.html" if live else "managers.html", {"problem": str(exc)})
    address = f"/{SLUG}/?" + urlencode({"part": "live", "from": span.first, "to": span.last})
    context: dict[str, Any] = {
        "report": report,
        "rows": rows(report),
        "span": span,
        "weeks": range(FIRST_WEEK, LAST_WEEK + 1),
        "folder": printable_name(str(config.root)),
        "checked": now.strftime("%H:%M:%S"),
        "live": address,
        "every": REFRESH_SECONDS,
        # The search page's teacher is the first folder level: only then is a link right.
        "searchable": settings_of(config).teacher_depth == 1,
    }
    if live:
        return WebView("managers_live.html", context)
    return WebView("managers.html", context)
