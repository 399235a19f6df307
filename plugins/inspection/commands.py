"""`hoso inspect plan / build / send / history / verify`: the click wiring of the inspection
plugin. Each command parses its options, calls service.py and prints its result as text or
JSON; what the teacher reads follows their language (the email itself is always Vietnamese).
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from agent.api import Config, Ctx, ExitCode, Severity, _, pass_ctx, terminal_prompt

from .ledger import history
from .package import byte_count, human_size
from .selection import period_of
from .send import Submission
from .service import (
    Plan,
    build_offline,
    evidence_on_share,
    left_out_problem,
    make_plan,
    refuse_if_blocked,
    refuse_if_nothing_fits,
    send_plan,
    submission_json,
    verify,
)
from .settings import inspection_settings


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
    return config, make_plan(config, period, today=date.today())


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
        click.echo(json.dumps(found.to_json(), ensure_ascii=False))
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
    written = build_offline(found, out, now=datetime.now().astimezone())
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
    submission = send_plan(
        config, found, resend=resend, prompt=terminal_prompt(), progress=_progress
    )
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
        rows = []
        for messages in submissions:
            row = submission_json(messages)
            for shown, message in zip(row["messages"], messages, strict=True):
                shown["eml_on_share"] = evidence_on_share(config, message)
            rows.append(row)
        click.echo(json.dumps({"submissions": rows}, ensure_ascii=False))
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
            eml = message.eml or "-"
            if evidence_on_share(config, message) is False:
                eml = _("{path} (on this computer only: not on the school share yet)").format(
                    path=eml
                )
            click.echo(f"    {message.message_id}  {len(message.files)}  {eml}")


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
                    "messages": [c.to_json() for c in checked],
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
