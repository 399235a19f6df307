"""*Nộp hồ sơ*, the inspection page of the teacher's page: plan a period, see what goes in
how many emails to whom and what is left out, send with progress per part, and the history
with its evidence. Every step calls service.py, as `hoso inspect plan / send / history` do.

The mail login comes from the vault as for the command. Where the command would prompt, the
page asks in a password field: the vault's passphrase when its key is protected by one, or,
when the vault holds no mail login, the mail password for this sending only. What is typed
goes into the sending's closure as a :class:`Secret` and nowhere else: never back into the
page, a progress line, a log or a file.

Sending runs on the page's own thread (as the command runs beside the agent), not between
the agent's passes: it writes only new evidence files, which the agent then syncs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from agent.api import (
    Config,
    ConfigError,
    HosoError,
    Secret,
    UsageError,
    WebCard,
    WebFile,
    WebPage,
    WebRedirect,
    WebRequest,
    WebTask,
    WebView,
    _,
    ngettext,
    open_validator,
    printable_name,
    school_folder,
)

from .ledger import Ledger, SentMessage, history
from .model import SelectedFile
from .package import human_size
from .selection import Period, period_of
from .send import Progress, generations, package_base, sent_completely
from .service import (
    evidence_on_share,
    mail_login_need,
    make_plan,
    refuse_if_blocked,
    refuse_if_nothing_fits,
    send_plan,
)
from .settings import Inspection, InspectionSettings, inspection_settings, smtp_settings
from .webchoice import Choice, default_choice, read_choice, type_options

TEMPLATES = Path(__file__).resolve().parent / "templates"
KINDS = ("weeks", "month")
CARD_SECONDS = 60.0  # the overview asks every few seconds; a plan reads every record


def view(request: WebRequest) -> WebView | WebRedirect | WebTask | WebFile:
    if request.subpath == "send" and request.method == "POST":
        return _send(request)
    if request.subpath == "evidence":
        return _evidence(request)
    if request.subpath:
        return WebRedirect("/inspection/")
    return _page(request)


def _page(request: WebRequest) -> WebView:
    config = request.config
    today = date.fromtimestamp(request.now)
    settings = inspection_settings(config)
    upcoming = next_inspection(settings, today)
    problem = ""
    with open_validator(config) as validator:
        fallback = default_choice(validator, today, settings.types, upcoming)
        try:
            choice = read_choice(request, fallback, KINDS)
        except UsageError as exc:
            choice, problem = None, str(exc)
        shown = choice or fallback
        options = type_options(validator, shown.types, request.language)
    plan = None
    if choice is not None:
        try:
            plan = _plan_view(config, settings, choice, today)
        except HosoError as exc:
            problem = str(exc)
    return WebView(
        "inspection.html",
        {
            "choice": shown,
            "types": options,
            "upcoming": _upcoming_view(upcoming),
            "plan": plan,
            "problem": problem,
            "history": _history_view(config),
        },
    )


def next_inspection(settings: InspectionSettings, today: date) -> Inspection | None:
    """The first inspection of the school calendar from today on."""
    ahead = sorted((i for i in settings.schedule if i.day >= today), key=lambda i: i.day)
    return ahead[0] if ahead else None


def _upcoming_view(upcoming: Inspection | None) -> dict[str, str] | None:
    if upcoming is None:
        return None
    period = Period(upcoming.weeks, upcoming.period, upcoming.types)
    return {"day": f"{upcoming.day:%d/%m/%Y}", "period": period.label}


def _plan_view(
    config: Config, settings: InspectionSettings, choice: Choice, today: date
) -> dict[str, Any]:
    # Names come from the share: shown escaped as on a terminal (no right-to-left override
    # may dress one file up as another).
    period = period_of(choice.weeks, choice.period, choice.types, settings)
    plan = make_plan(config, period, today=today)
    selection = plan.selection
    key = package_base(selection, plan.envelope)
    sent = _sent_before(config, key)
    smtp = smtp_settings(config)
    try:
        need = mail_login_need(config)
    except HosoError:  # a damaged vault: the sending says so in its own words
        need = ""
    by_path: dict[str, list[str]] = {}
    for finding in selection.errors:
        by_path.setdefault(printable_name(finding.path), []).append(
            f"{finding.message} {finding.fix}".strip()
        )
    return {
        "label": selection.label,
        "count": len(selection.files),
        "size": human_size(sum(f.size for f in selection.files)),
        "recipients": [{"name": r.name, "email": r.email} for r in plan.envelope.recipients],
        "sender": plan.envelope.sender.email,
        "parts": [
            {
                "part": p.part,
                "parts": p.parts,
                "files": len(p.files),
                "size": human_size(p.size),
            }
            for p in plan.parts
        ],
        "limit": human_size(plan.max_message_bytes),
        "files": [_file_view(f) for f in selection.files],
        "skipped": [
            {"path": printable_name(s.path), "reason": s.reason} for s in selection.skipped
        ],
        "not_attached": plan.not_attached_reasons(),
        "warnings": list(plan.warnings),
        "failing": [{"path": path, "problems": texts} for path, texts in by_path.items()],
        "blocked": plan.blocked,
        "nothing_fits": not plan.parts,
        "package": key,
        "sent_on": _date_text(sent[-1][0].date) if sent else "",
        "smtp_ready": bool(smtp.host),
        "login_user": smtp.username or plan.envelope.sender.email,
        "login": need,
        "fields": choice.query(),
    }


def _file_view(selected: SelectedFile) -> dict[str, Any]:
    warnings = sum(f.severity.value == "warning" for f in selected.findings)
    if selected.errors:
        state, text = "bad", ngettext("{n} error", "{n} errors", len(selected.errors))
        text = text.format(n=len(selected.errors))
    elif warnings:
        state, text = "warn", ngettext("{n} warning", "{n} warnings", warnings).format(n=warnings)
    else:
        state, text = "ok", _("OK")
    how = {
        "folder": _("by its folder"),
        "lesson_date": _("by its lesson date"),
        "modified_time": _("by when it was last saved"),
    }[selected.selected_by.value]
    return {
        "path": printable_name(selected.path),
        "size": human_size(selected.size),
        "type": selected.record_type,
        "how": how,
        "state": state,
        "state_text": text,
    }


def _sent_before(config: Config, key: str) -> list[list[SentMessage]]:
    """The complete sendings of this very package (same records, same people), oldest first."""
    with Ledger.opened(config) as ledger:
        found = generations(ledger, key)
    return [rows for rows in found.values() if sent_completely(rows)]


def _date_text(header: str) -> str:
    """A Date header as the page shows times ("10:05 29/11/2026")."""
    try:
        return parsedate_to_datetime(header).strftime("%H:%M %d/%m/%Y")
    except (TypeError, ValueError):
        return header


def _history_view(config: Config) -> list[dict[str, Any]]:
    rows = []
    for messages in reversed(history(config)):
        first = messages[0]
        rows.append(
            {
                "date": _date_text(first.date),
                "period": first.label,
                "recipients": list(first.recipients),
                "complete": sent_completely(messages),
                "messages": [_message_view(config, m) for m in messages],
            }
        )
    return rows


def _message_view(config: Config, message: SentMessage) -> dict[str, Any]:
    return {
        "part": message.part,
        "parts": message.parts,
        "message_id": message.message_id,
        "files": len(message.files),
        "accepted": sorted(message.accepted),
        "missing": [r for r in message.recipients if r not in message.accepted],
        "refused": dict(message.refused),
        "eml": printable_name(message.eml),
        "on_share": evidence_on_share(config, message),
        "link": "/inspection/evidence?" + urlencode({"id": message.message_id})
        if message.eml
        else "",
    }


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Order:
    """What the teacher confirmed with "Gửi": the period, the package they looked at, and
    what they typed where the command would prompt (held as Secrets)."""

    period: Period
    package: str
    allow_left_out: bool
    resend: bool
    mail_password: Secret | None
    passphrase: Secret | None


def _send(request: WebRequest) -> WebTask | WebRedirect:
    config = request.config
    settings = inspection_settings(config)
    blank = Choice("weeks", 1, 1, "", "", ())
    choice = read_choice(request, blank, KINDS)
    if choice is None:
        return WebRedirect("/inspection/")
    period = period_of(choice.weeks, choice.period, choice.types, settings)
    order = _Order(
        period=period,
        package=request.arg("package"),
        allow_left_out=request.arg("allow_left_out") == "1",
        resend=request.arg("resend") == "1",
        mail_password=_typed(request, "mail_password"),
        passphrase=_typed(request, "vault_passphrase"),
    )
    today = date.fromtimestamp(request.now)
    back = "/inspection/?" + urlencode(choice.query()) + "#history"
    return WebTask(
        kind="inspection-send",
        title=_("Sending {period}").format(period=period.label),
        run=lambda progress: _run_send(config, order, today, progress),
        then=back,
    )


def _typed(request: WebRequest, name: str) -> Secret | None:
    value = request.form.get(name)
    return Secret(value[0]) if value and value[0] else None


def _run_send(config: Config, order: _Order, today: date, progress: Progress) -> str:
    label = order.period.label
    progress(_("Looking at the records of {period} again…").format(period=label))
    plan = make_plan(config, order.period, today=today)
    if package_base(plan.selection, plan.envelope) != order.package:
        raise UsageError(
            _(
                "The records of {period} changed since you looked at them: look at the plan "
                "again, then send. Nothing was sent."
            ).format(period=label)
        )
    refuse_if_blocked(plan)
    refuse_if_nothing_fits(plan)
    if plan.selection.skipped and not order.allow_left_out:
        raise UsageError(
            ngettext(
                "{n} file of {period} would not be sent: tick that it may go without it, or "
                "fix it first. Nothing was sent.",
                "{n} files of {period} would not be sent: tick that it may go without them, "
                "or fix them first. Nothing was sent.",
                len(plan.selection.skipped),
            ).format(n=len(plan.selection.skipped), period=label)
        )
    passphrase = order.passphrase
    submission = send_plan(
        config,
        plan,
        resend=order.resend,
        prompt=(lambda _question: passphrase.reveal()) if passphrase is not None else None,
        progress=progress,
        typed=order.mail_password,
    )
    forget_card()
    for problem in submission.copy_problems:
        progress(problem)
    for reason in plan.not_attached_reasons():
        progress(_("Not attached: {reason}").format(reason=reason))
    if submission.already_sent:
        first = submission.messages[0]
        return _(
            "{period} was already sent at {date}; nothing was sent. To send it once more, tick "
            "“Send again”."
        ).format(period=label, date=_date_text(first.date))
    if submission.problems or not submission.complete:
        raise HosoError(
            " ".join(
                [
                    *submission.problems,
                    _(
                        "Not every email reached everyone. Send again later: what was "
                        "delivered is not sent twice."
                    ),
                ]
            )
        )
    to = ", ".join(submission.messages[0].recipients)
    count = len(submission.messages)
    return ngettext(
        "{period} was sent in {n} email to {to}.",
        "{period} was sent in {n} emails to {to}.",
        count,
    ).format(period=label, n=count, to=to)


# --- the evidence ---------------------------------------------------------------------------


def _evidence(request: WebRequest) -> WebFile | WebRedirect:
    """The evidence copy (.eml) of one sent message, to open in a mail program."""
    config = request.config
    wanted = request.arg("id")
    with Ledger.opened(config) as ledger:
        message = next((m for m in ledger.sent_messages() if m.message_id == wanted), None)
    if message is None or not message.eml:
        return WebRedirect("/inspection/", _("This evidence copy is not known."), problem=True)
    path = evidence_file(config, message.eml)
    if path is None:
        return WebRedirect(
            "/inspection/",
            _("The evidence copy {path} is no longer there.").format(path=message.eml),
            problem=True,
        )
    return WebFile(path, path.name, "message/rfc822", inline=False)


def evidence_file(config: Config, eml: str) -> Path | None:
    """The evidence copy on disk: a regular file inside the records folder or the school
    folder (a symbolic link may not lead out of them); None else."""
    places = [config.root] + [p for p in (school_folder(config),) if p is not None]
    path = Path(eml) if Path(eml).is_absolute() else config.root / eml
    try:
        real = path.resolve(strict=True)
        inside = any(real.is_relative_to(place.resolve()) for place in places)
    except (OSError, RuntimeError):  # gone, or a loop of symbolic links
        return None
    return real if inside and real.is_file() else None


# --- the overview's card --------------------------------------------------------------------

_cards: dict[tuple[str, int, date], tuple[float, WebCard]] = {}
_cards_lock = threading.Lock()


def forget_card() -> None:
    """A sending changes what the card says: make it again at the next look."""
    with _cards_lock:
        _cards.clear()


def card(request: WebRequest) -> WebCard:
    """The next inspection and what is missing for it (reminders.py); made again at most
    once a minute, since it reads every record of the period."""
    config = request.config
    today = date.fromtimestamp(request.now)
    key = (str(config.path), id(config), today)
    with _cards_lock:
        kept = _cards.get(key)
    if kept is not None and request.now - kept[0] < CARD_SECONDS:
        return kept[1]
    made = _make_card(config, today)
    with _cards_lock:
        _cards.clear()
        _cards[key] = (request.now, made)
    return made


def _make_card(config: Config, today: date) -> WebCard:
    from .reminders import reminders

    title, link, link_text = _("Inspection"), "/inspection/", _("Send records")
    try:
        upcoming = next_inspection(inspection_settings(config), today)
        due = reminders(config, today)
    except ConfigError as exc:
        return WebCard(title, [str(exc)], "bad", link, link_text)
    except HosoError as exc:
        return WebCard(title, [str(exc)], "warn", link, link_text)
    if due:
        lines = [line for reminder in due for line in reminder.facts]
        state = "bad" if any(r.days_left <= 1 for r in due) else "warn"
        return WebCard(title, lines, state, link, link_text)
    if upcoming is None:
        return WebCard(title, [_("No inspection on the school calendar.")], "ok", link, link_text)
    period = Period(upcoming.weeks, upcoming.period, upcoming.types)
    lines = [
        _("Next inspection: {day}, {period}.").format(
            day=f"{upcoming.day:%d/%m/%Y}", period=period.label
        )
    ]
    if _period_sent(config, period.label):
        lines.append(_("Already sent."))
    return WebCard(title, lines, "ok", link, link_text)


def _period_sent(config: Config, label: str) -> bool:
    return any(
        messages[0].label == label and sent_completely(messages) for messages in history(config)
    )


PAGE = WebPage(
    slug="inspection",
    title=lambda: _("Submit records"),
    order=60,
    templates=TEMPLATES,
    view=view,
    card=card,
)
