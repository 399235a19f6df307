"""`hoso inspect plan / build / send / history / verify`: records for a periodic inspection,
sent as attachments to the school mailbox and the reviewing manager in one message.

The service functions come first and print nothing; the click commands at the end parse,
call one of them and print text or JSON. Email text is always Vietnamese (package.py: it is
written for the school); what the teacher reads follows their language.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import sys
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from agent.api import (
    Config,
    ConfigError,
    Ctx,
    ExitCode,
    Finding,
    Severity,
    UsageError,
    _,
    nfc,
    open_validator,
    open_vault,
    pass_ctx,
    terminal_prompt,
    write_atomic,
)

from .ledger import Ledger, SentMessage
from .mail import Credentials, refresh_access_token
from .model import Address, Envelope, FileTooLarge, LeftOut, PartPlan, SelectedFile, Selection
from .package import (
    attachment_names,
    build_messages,
    byte_count,
    human_size,
    package_warnings,
    plan_parts,
    read_message,
    too_large_reason,
)
from .selection import Period, file_digest, select
from .send import Progress, Submission, ignore, package_base, sent_completely, submit
from .settings import (
    InspectionSettings,
    SmtpSettings,
    inspection_settings,
    parse_period,
    parse_weeks,
    smtp_settings,
)
from .tree import RecordsTree, walk

SMTP_ENTRY = "smtp"
OAUTH_CLIENT_ENTRY = "smtp-oauth-client"


# --- services -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    selection: Selection
    parts: list[PartPlan]
    envelope: Envelope
    warnings: list[str]
    blocked: bool  # validation errors stop sending ([inspection] block_on_errors)
    max_message_bytes: int
    not_attached: tuple[SelectedFile, ...] = ()  # too large for any message: named in each

    def not_attached_reasons(self) -> list[str]:
        return [too_large_reason(f, self.max_message_bytes) for f in self.not_attached]


def period_of(
    weeks: str | None, month: str | None, types: tuple[str, ...], settings: InspectionSettings
) -> Period:
    if (weeks is None) == (month is None):
        raise UsageError(_("Give either --weeks A-B or --period YYYY-MM. Nothing was done."))
    chosen = tuple(t.upper() for t in types) or settings.types
    if weeks is not None:
        parsed = parse_weeks(weeks)
        if parsed is None:
            raise UsageError(
                _(
                    "--weeks {value}: give school weeks like 10-13 (1 to 35). Nothing was done."
                ).format(value=weeks)
            )
        return Period(parsed, None, chosen)
    assert month is not None
    period = parse_period(month)
    if period is None:
        raise UsageError(
            _("--period {value}: give a month like 2026-11. Nothing was done.").format(value=month)
        )
    return Period(None, period, chosen)


def envelope_of(config: Config, type_names: tuple[str, ...]) -> Envelope:
    """The teacher as sender; the school mailbox and the teacher's reviewers as recipients."""
    roles = config.roles
    if not roles.teacher.email or not roles.teacher.name:
        raise ConfigError(
            _(
                "Config file {path}: set `[teacher] name` and `email` (the sender of the "
                "inspection email)."
            ).format(path=config.path)
        )
    if not roles.school.mailbox:
        raise ConfigError(
            _(
                "Config file {path}: set `[school] mailbox`, the school's official mailbox "
                "(letter 2174: it must receive every submission)."
            ).format(path=config.path)
        )
    reviewers = [r for r in roles.my_reviewers() if r.email]
    if not reviewers:
        raise ConfigError(
            _(
                "Config file {path}: no manager with an email reviews {teacher} (group {group}); "
                "add a `[[school.reviewers]]` table with `email` and `groups` or `teachers`."
            ).format(path=config.path, teacher=roles.teacher.name, group=roles.teacher.group or "-")
        )
    recipients = [Address(roles.school.name or roles.school.mailbox, roles.school.mailbox)]
    recipients += [
        Address(r.name, r.email)
        for r in reviewers
        if r.email.lower() != roles.school.mailbox.lower()
    ]
    return Envelope(
        sender=Address(roles.teacher.name, roles.teacher.email),
        recipients=tuple(recipients),
        school=roles.school.name,
        type_names=type_names,
    )


def make_plan(config: Config, period: Period, *, today: date | None = None) -> Plan:
    settings = inspection_settings(config)
    smtp = smtp_settings(config)
    today = today or date.today()
    with open_validator(config) as validator:
        known = {t.code: t for t in validator.types}
        unknown = [code for code in period.types if code not in known]
        if unknown:
            raise UsageError(
                _("Unknown record type {codes}; known: {known}. Nothing was done.").format(
                    codes=", ".join(unknown), known=", ".join(known)
                )
            )
        selection = select(
            config, validator, period, evidence_folder=settings.evidence_folder, today=today
        )
    if not selection.files:
        raise UsageError(
            _(
                "No records of {types} found for {period} in {root}. Check the week folders "
                '("Tuần 10"…) or the type. Nothing was done.'
            ).format(types=", ".join(period.types), period=selection.label, root=config.root)
        )
    present = tuple(dict.fromkeys(f.record_type for f in selection.files))
    envelope = envelope_of(config, tuple(known[code].name_vi for code in present))
    packing = plan_parts(
        selection,
        envelope,
        max_message_bytes=smtp.max_message_bytes,
        key=package_base(selection, envelope),
    )
    return Plan(
        selection=selection,
        parts=list(packing.parts),
        envelope=envelope,
        warnings=package_warnings(selection),
        blocked=settings.block_on_errors and bool(selection.errors),
        max_message_bytes=smtp.max_message_bytes,
        not_attached=packing.not_attached,
    )


def refuse_if_nothing_fits(plan: Plan) -> None:
    """No file fits in a message: there is no email to send or write."""
    if not plan.parts:
        raise FileTooLarge(
            " ".join(
                [
                    *plan.not_attached_reasons(),
                    _("No file of {period} fits in an email. Nothing was sent.").format(
                        period=plan.selection.label
                    ),
                ]
            )
        )


def refuse_if_blocked(plan: Plan) -> None:
    if plan.blocked:
        raise UsageError(
            _(
                "{n} records fail the school's checks and `[inspection] block_on_errors` is on: "
                "fix them (see `hoso inspect plan`) and send again. Nothing was sent."
            ).format(n=len({f.path for f in plan.selection.errors}))
        )


def left_out_problem(plan: Plan) -> LeftOut | None:
    """What to say when the plan leaves files of the period out, or None when it leaves
    nothing out."""
    skipped = plan.selection.skipped
    if not skipped:
        return None
    return LeftOut(
        _(
            "{n} file(s) of {period} would not be sent (listed above with the reason). Fix "
            "them and run the command again, or confirm that the submission goes without them "
            "with --allow-left-out. Nothing was sent."
        ).format(n=len(skipped), period=plan.selection.label)
    )


def build_offline(plan: Plan, out: Path, *, now: datetime | None = None) -> list[Path]:
    """Write the messages as .eml files for the teacher's own mail program."""
    names = [_eml_name(plan.selection.label, p.part, p.parts) for p in plan.parts]
    taken = [out / name for name in names if (out / name).exists()]
    if taken:
        raise UsageError(
            _(
                "{path} already exists; nothing was written. Choose another folder with --out."
            ).format(path=taken[0])
        )
    written = []
    key = package_base(plan.selection, plan.envelope)
    for built, name in zip(
        build_messages(
            plan.selection,
            plan.envelope,
            max_message_bytes=plan.max_message_bytes,
            now=now or datetime.now().astimezone(),
            key=key,
        ),
        names,
        strict=True,
    ):
        write_atomic(out / name, built.data, mode=0o644)
        written.append(out / name)
    return written


def _eml_name(label: str, part: int, parts: int) -> str:
    return f"{label} - Phần {part}-{parts}.eml"


def credentials_of(config: Config, smtp: SmtpSettings) -> Credentials:
    """The mail login from the vault (`smtp`): an app password, or OAuth2 (XOAUTH2) with an
    access token, or a refresh token plus `refresh_url` and `client_id` fields."""
    vault = open_vault(config, prompt=terminal_prompt())
    entry = vault.get(SMTP_ENTRY)
    if entry is None:
        raise UsageError(
            _(
                "The vault holds no mail login: run `hoso vault set smtp` and type the app "
                "password (or store an OAuth2 token with --field method=xoauth2). Nothing was "
                "sent."
            )
        )
    method = entry.fields.get("method", "password")
    if method not in ("password", "xoauth2"):
        raise UsageError(
            _(
                "The vault entry `smtp` has method={method}; use password or xoauth2. Nothing was "
                "sent."
            ).format(method=method)
        )
    username = entry.fields.get("username") or smtp.username
    secret = entry.secret
    if method == "xoauth2" and entry.fields.get("refresh_url"):
        client = vault.get(OAUTH_CLIENT_ENTRY)
        secret = refresh_access_token(
            entry.fields["refresh_url"],
            entry.fields.get("client_id", ""),
            client.secret if client else None,
            entry.secret,
            ca_file=smtp.ca_file,
            timeout=smtp.timeout,
        )
    return Credentials(username, secret, method)


def send_plan(
    config: Config, plan: Plan, *, resend: bool, progress: Progress = ignore
) -> Submission:
    refuse_if_blocked(plan)
    refuse_if_nothing_fits(plan)
    smtp = smtp_settings(config)
    if not smtp.host:
        raise ConfigError(
            _(
                "Config file {path}: set `[smtp] host` (and port, security) to send mail; or "
                "write the messages with `hoso inspect build --out FOLDER` and send them yourself."
            ).format(path=config.path)
        )
    settings = inspection_settings(config)
    with Ledger.opened(config) as ledger:
        return submit(
            selection=plan.selection,
            envelope=plan.envelope,
            smtp=smtp,
            credentials=functools.cache(lambda: credentials_of(config, smtp)),
            ledger=ledger,
            root=config.root,
            state_dir=config.state_dir,
            evidence_folder=settings.evidence_folder,
            resend=resend,
            progress=progress,
        )


def history(config: Config) -> list[list[SentMessage]]:
    """The submissions, oldest first, each a list of its messages."""
    with Ledger.opened(config) as ledger:
        packages: dict[str, list[SentMessage]] = {}
        for message in ledger.sent_messages():
            packages.setdefault(message.package, []).append(message)
    return list(packages.values())


@dataclass(frozen=True)
class Checked:
    eml: Path
    message_id: str
    date: str
    files: list[dict[str, Any]]  # {"path", "name", "sha256", "status"}

    @property
    def same(self) -> bool:
        return all(f["status"] == "same" for f in self.files)


def _status(tree: RecordsTree, path: str, digest: str, attached: str | None) -> str:
    """What became of one file an .eml carried: same, changed, missing, unreadable, twin
    (two files hold its name in different spellings), symlink (it is, or lies below, a
    symbolic link, never followed), or attachment_altered (the .eml itself was edited)."""
    if attached != digest:
        return "attachment_altered"
    path = nfc(path)
    file = tree.files.get(path)
    if file is None:
        if any(twin.path == path for twin in tree.twins):
            return "twin"
        if tree.link_above(path) is not None:
            return "symlink"
        return "unreadable" if tree.unreadable_above(path) is not None else "missing"
    try:
        _size, now = file_digest(file)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return "symlink" if exc.errno == errno.ELOOP else "unreadable"
    return "same" if now == digest else "changed"


def verify(root: Path, target: Path) -> list[Checked]:
    """Compare what each .eml carried (its manifest, and its attachments' bytes) with the
    records folder now."""
    emls = sorted(target.rglob("*.eml")) if target.is_dir() else [target]
    if not emls:
        raise UsageError(_("No .eml file in {path}. Nothing was checked.").format(path=target))
    tree = walk(root)  # every spelling, nothing ignored: a sent file may not hide
    checked = []
    for eml in emls:
        try:
            message = read_message(eml.read_bytes())
        except OSError as exc:
            raise UsageError(
                _("Cannot read {path}: {detail}").format(path=eml, detail=exc.strerror)
            ) from None
        if message.manifest is None:
            raise UsageError(
                _(
                    "{path} is not an inspection email sent by hoso (it has no manifest.json). "
                    "Nothing was checked."
                ).format(path=eml)
            )
        attached = {name: hashlib.sha256(data).hexdigest() for name, data in message.attachments}
        try:
            items = [
                (str(i["path"]), str(i["name"]), str(i["sha256"]))
                for i in message.manifest["files"]
            ]
        except (KeyError, TypeError):
            raise UsageError(
                _("The manifest.json of {path} is damaged. Nothing was checked.").format(path=eml)
            ) from None
        files = [
            {
                "path": path,
                "name": name,
                "sha256": digest,
                "status": _status(tree, path, digest, attached.get(name)),
            }
            for path, name, digest in items
        ]
        checked.append(Checked(eml, message.message_id, message.date, files))
    return checked


# --- output helpers -------------------------------------------------------------------------


def _finding_json(finding: Finding) -> dict[str, str]:
    return finding.to_json()


def plan_json(plan: Plan) -> dict[str, Any]:
    selection = plan.selection
    names = attachment_names(selection.files)
    name_of = dict(zip((f.path for f in selection.files), names, strict=True))
    return {
        "period": selection.label,
        "weeks": list(selection.weeks) if selection.weeks else None,
        "month": selection.period,
        "types": list(selection.types),
        "from": plan.envelope.sender.email,
        "to": [r.email for r in plan.envelope.recipients],
        "max_message_bytes": plan.max_message_bytes,
        "files": [
            {
                "path": f.path,
                "name": name,
                "size": f.size,
                "sha256": f.sha256,
                "record_type": f.record_type,
                "selected_by": f.selected_by.value,
                "findings": [_finding_json(x) for x in f.findings],
            }
            for f, name in zip(selection.files, names, strict=True)
        ],
        "skipped": [{"path": s.path, "reason": s.reason} for s in selection.skipped],
        "not_attached": [
            {
                "path": f.path,
                "name": name_of[f.path],
                "size": f.size,
                "sha256": f.sha256,
                "record_type": f.record_type,
                "reason": "too_large",
                "message": reason,
            }
            for f, reason in zip(plan.not_attached, plan.not_attached_reasons(), strict=True)
        ],
        "messages": [
            {"part": p.part, "parts": p.parts, "size": p.size, "files": [f.path for f in p.files]}
            for p in plan.parts
        ],
        "errors": len(selection.errors),
        "blocked": plan.blocked,
        "warnings": plan.warnings,
    }


def _selected_by_text(value: str) -> str:
    return {
        "folder": _("by its folder"),
        "lesson_date": _("by its lesson date"),
        "modified_time": _("by when it was last saved"),
    }[value]


def print_plan(plan: Plan) -> None:
    selection = plan.selection
    total = sum(f.size for f in selection.files)
    click.echo(
        _("{period}: {n} records, {size}, in {parts} message(s) to {to}.").format(
            period=selection.label,
            n=len(selection.files),
            size=human_size(total),
            parts=len(plan.parts),
            to=", ".join(r.email for r in plan.envelope.recipients),
        )
    )
    for f in selection.files:
        warnings = sum(x.severity is Severity.WARNING for x in f.findings)
        if f.errors:
            state = _("{n} error(s)").format(n=len(f.errors))
        elif warnings:
            state = _("{n} warning(s)").format(n=warnings)
        else:
            state = "OK"
        how = _selected_by_text(f.selected_by.value)
        click.echo(f"  {f.path}  {human_size(f.size)}  {f.record_type}  ({how})  {state}")
    for part in plan.parts:
        click.echo(
            _("Part {part}/{parts}: {n} files, {size} bytes encoded (limit {limit}).").format(
                part=part.part,
                parts=part.parts,
                n=len(part.files),
                size=byte_count(part.size),
                limit=byte_count(plan.max_message_bytes),
            )
        )
    for f in plan.not_attached:
        click.echo(
            _("Not attached, too large for any message: {path}  {size}").format(
                path=f.path, size=human_size(f.size)
            )
        )
    for warning in plan.warnings:
        click.echo(_("Warning: {warning}").format(warning=warning))
    for finding in selection.errors:
        click.echo(f"  ✗ {finding.path}: {finding.message} {finding.fix}".rstrip())
    if plan.blocked:
        click.echo(
            _("Sending is blocked until these errors are fixed ([inspection] block_on_errors).")
        )


def message_json(message: SentMessage) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "part": message.part,
        "parts": message.parts,
        "date": message.date,
        "subject": message.subject,
        "recipients": list(message.recipients),
        "accepted": dict(message.accepted),
        "refused": dict(message.refused),
        "reply": message.reply,
        "eml": message.eml,
        "sent_copy": message.sent_copy,
        "files": [dict(f) for f in message.files],
    }


def submission_json(messages: list[SentMessage] | tuple[SentMessage, ...]) -> dict[str, Any]:
    first = messages[0]
    return {
        "package": first.package,
        "period": first.label,
        "date": first.date,
        "from": first.sender,
        "recipients": list(first.recipients),
        "parts": first.parts,
        "complete": sent_completely(messages),
        "messages": [message_json(m) for m in messages],
    }


# --- commands -------------------------------------------------------------------------------


def register(cli: Any) -> None:
    cli.add_command(inspect)


@click.group()
def inspect() -> None:
    """Send records for a periodic inspection, as attachments, to the school and the manager."""


def _selection_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--weeks", help='School weeks, e.g. 10-13 (the "Tuần N" folders).'),
            click.option("--period", "month", help="A month, e.g. 2026-11."),
            click.option(
                "--type",
                "types",
                multiple=True,
                help="Record type code (KHBD, SHCM…); repeat for several. "
                "Default: [inspection] types.",
            ),
            click.option(
                "--allow-left-out",
                is_flag=True,
                help="Go on although files of the period are not sent (each is listed).",
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
        ]
    ):
        command = option(command)
    return command


def _plan_from(
    obj: Ctx, weeks: str | None, month: str | None, types: tuple[str, ...]
) -> tuple[Config, Plan]:
    config: Config = obj.load()
    period = period_of(weeks, month, types, inspection_settings(config))
    return config, make_plan(config, period)


def _list_left_out(plan: Plan) -> None:
    for skipped in plan.selection.skipped:
        click.echo(
            _("Not sent: {path}: {reason}").format(path=skipped.path, reason=skipped.reason),
            err=True,
        )


def _confirm_left_out(plan: Plan, *, allowed: bool, interactive: bool) -> None:
    """Go on with a submission that leaves files out only when the teacher says so: with
    --allow-left-out, or by answering yes at a terminal. Raises LeftOut (exit 1) else."""
    _list_left_out(plan)
    problem = left_out_problem(plan)
    if problem is None or allowed:
        return
    if (
        interactive
        and sys.stdin.isatty()
        and sys.stderr.isatty()
        and click.confirm(_("Send without them?"), default=False, err=True)
    ):
        return
    raise problem


@inspect.command()
@_selection_options
@pass_ctx
def plan(
    obj: Ctx,
    weeks: str | None,
    month: str | None,
    types: tuple[str, ...],
    allow_left_out: bool,
    as_json: bool,
) -> None:
    """What would be sent: the records of the period, their checks, and the messages.
    Exit 1 when files of the period would not be sent, unless --allow-left-out, and when a
    file is too large for any message."""
    _config, found = _plan_from(obj, weeks, month, types)
    if as_json:
        click.echo(json.dumps(plan_json(found), ensure_ascii=False))
    else:
        print_plan(found)
    _list_not_attached(found)
    _confirm_left_out(found, allowed=allow_left_out, interactive=False)
    if found.not_attached:
        sys.exit(ExitCode.PARTIAL)


def _list_not_attached(plan: Plan) -> None:
    """Each file too large for any message, with what to do. The rest goes without asking
    (every message names these files, so the school knows), but the command exits 1: the
    submission is not whole until the teacher acts."""
    for reason in plan.not_attached_reasons():
        click.echo(_("Not attached: {reason}").format(reason=reason), err=True)


@inspect.command()
@_selection_options
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the .eml files.",
)
@pass_ctx
def build(
    obj: Ctx,
    weeks: str | None,
    month: str | None,
    types: tuple[str, ...],
    allow_left_out: bool,
    as_json: bool,
    out: Path,
) -> None:
    """Write the messages as .eml files, to send from your own mail program."""
    _config, found = _plan_from(obj, weeks, month, types)
    refuse_if_blocked(found)
    refuse_if_nothing_fits(found)
    _confirm_left_out(found, allowed=allow_left_out, interactive=not as_json)
    written = build_offline(found, out)
    if as_json:
        click.echo(json.dumps({"files": [str(p) for p in written]}, ensure_ascii=False))
    else:
        for path in written:
            click.echo(str(path))
        click.echo(
            _(
                "Send each file to {to} together, with all its attachments; keep them as "
                "attachments, never links."
            ).format(to=", ".join(r.email for r in found.envelope.recipients)),
            err=True,
        )
    _list_not_attached(found)
    if found.not_attached:
        sys.exit(ExitCode.PARTIAL)


@inspect.command()
@_selection_options
@click.option(
    "--resend", is_flag=True, help="Send again a package that was already sent completely."
)
@pass_ctx
def send(
    obj: Ctx,
    weeks: str | None,
    month: str | None,
    types: tuple[str, ...],
    allow_left_out: bool,
    as_json: bool,
    resend: bool,
) -> None:
    """Send the records of the period to the school mailbox and the reviewing manager.
    Files of the period that cannot be sent stop it (exit 1) unless the teacher confirms."""
    config, found = _plan_from(obj, weeks, month, types)
    refuse_if_blocked(found)
    refuse_if_nothing_fits(found)
    _confirm_left_out(found, allowed=allow_left_out, interactive=not as_json)
    for warning in found.warnings:
        click.echo(_("Warning: {warning}").format(warning=warning), err=True)
    submission = send_plan(config, found, resend=resend, progress=_progress)
    if as_json:
        click.echo(
            json.dumps(
                {
                    **submission_json(submission.messages),
                    "already_sent": submission.already_sent,
                    "problems": list(submission.problems),
                    "not_attached": [f.path for f in found.not_attached],
                },
                ensure_ascii=False,
            )
        )
    else:
        _print_submission(submission)
    for problem in (*submission.problems, *submission.copy_problems):
        click.echo(problem, err=True)
    _list_not_attached(found)
    failed = submission.problems or submission.copy_problems or found.not_attached
    if failed or not submission.complete:
        sys.exit(ExitCode.PARTIAL)


def _progress(text: str) -> None:
    """What the sending is doing now, on stderr (stdout stays the result, --json too)."""
    click.echo(text, err=True)


def _print_submission(submission: Submission) -> None:
    first = submission.messages[0]
    if submission.already_sent:
        click.echo(
            _(
                "{period} was already sent on {date} (Message-ID {message_id}); nothing was sent. "
                "Use --resend to send it again."
            ).format(period=first.label, date=first.date, message_id=first.message_id)
        )
        return
    for message in submission.messages:
        state = _("sent") if message.complete else _("NOT complete")
        click.echo(
            _("Part {part}/{parts} {state}: {accepted}; evidence: {eml}").format(
                part=message.part,
                parts=message.parts,
                state=state,
                accepted=", ".join(message.accepted) or "-",
                eml=message.eml or "-",
            )
        )


@inspect.command(name="history")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def history_command(obj: Ctx, as_json: bool) -> None:
    """Submissions sent from this computer: when, to whom, which files."""
    config: Config = obj.load()
    submissions = history(config)
    if as_json:
        click.echo(
            json.dumps(
                {"submissions": [submission_json(s) for s in submissions]}, ensure_ascii=False
            )
        )
        return
    if not submissions:
        click.echo(_("Nothing has been sent for inspection from this computer."))
    for messages in submissions:
        data = submission_json(messages)
        state = _("complete") if data["complete"] else _("NOT complete")
        click.echo(
            _("{date}  {period}  {parts} message(s) to {to}: {state}").format(
                date=data["date"],
                period=data["period"],
                parts=data["parts"],
                to=", ".join(data["recipients"]),
                state=state,
            )
        )
        for message in messages:
            click.echo(f"    {message.message_id}  {len(message.files)}  {message.eml or '-'}")


@inspect.command(name="verify")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def verify_command(obj: Ctx, target: Path, as_json: bool) -> None:
    """Check that the records folder still holds the files an .eml (or a folder of them) carried."""
    config: Config = obj.load()
    checked = verify(config.root, target)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "messages": [
                        {
                            "eml": str(c.eml),
                            "message_id": c.message_id,
                            "date": c.date,
                            "same": c.same,
                            "files": c.files,
                        }
                        for c in checked
                    ],
                    "all_same": all(c.same for c in checked),
                },
                ensure_ascii=False,
            )
        )
    else:
        # An .eml is anyone's file: its headers and manifest may carry terminal controls.
        for c in checked:
            click.echo(f"{c.eml}  {c.message_id}  {c.date}")
            for item in c.files:
                click.echo(f"  {_status_text(item['status'])}  {item['path']}")
    if not all(c.same for c in checked):
        sys.exit(ExitCode.PARTIAL)


def _status_text(status: str) -> str:
    return {
        "same": _("same as sent"),
        "changed": _("CHANGED since it was sent"),
        "missing": _("MISSING from the records folder"),
        "attachment_altered": _("the .eml's attachment does not match its manifest"),
        "unreadable": _("cannot be read now"),
        "twin": _("two files have this name in different Unicode spellings: keep one"),
        "symlink": _("a symbolic link now: not followed, not compared"),
    }[status]
