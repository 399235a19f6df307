"""`hoso sync` and `hoso run`: one pass now, or the agent in the foreground.

A pass is carried out by the running agent when one runs (agent.control); what it reports
while it runs and when it is done is rendered here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from ..context import Ctx, pass_ctx
from ..display import printable_name
from ..errors import ExitCode
from ..i18n import _
from ..model import Report
from ..vault import terminal_prompt


def pass_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a pass both `hoso sync` and `hoso school sync` take."""
    options = (
        click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing."),
        click.option("--allow-mass-delete", is_flag=True, help="Confirm a large deletion."),
        click.option(
            "--allow-restored-share",
            is_flag=True,
            help="Confirm that the share was restored from an older copy: merge, delete nothing.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


@click.command()
@pass_options
@click.option(
    "--allow-clock-jump",
    is_flag=True,
    help="Confirm this computer's clock: expire old trash items though the share's clock differs.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def sync(
    ctx: Ctx,
    dry_run: bool,
    allow_mass_delete: bool,
    allow_restored_share: bool,
    allow_clock_jump: bool,
    as_json: bool,
) -> None:
    """One full two-way pass (by the running agent when one runs)."""
    from ..control import carry_out, report_of
    from ..log import setup_logging

    cfg = ctx.load()
    setup_logging(cfg.state_dir, verbose=False, to_stderr=False)
    args = {
        "dry_run": dry_run,
        "allow_mass_delete": allow_mass_delete,
        "allow_restored_share": allow_restored_share,
        "allow_clock_jump": allow_clock_jump,
        "progress": sys.stderr.isatty() and not as_json,
    }
    result = carry_out(cfg, "sync", args, emit=show_event, prompt=terminal_prompt())
    report = report_of(result)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print_report(report, dry_run=dry_run)
        if result["records_to_fix"]:
            click.echo(
                _("Records with problems to fix: {n}. Run `hoso check` to see them.").format(
                    n=result["records_to_fix"]
                )
            )
    end_report(report)


def end_report(report: Report) -> None:
    """The failures and warnings of a pass on stderr; exit 1 when anything failed."""
    for failure in report.failed:
        click.echo(f"{printable_name(failure['path'])}: {failure['error']}", err=True)
    for warning in report.warnings:
        click.echo(_("Warning: {text}").format(text=warning), err=True)
    if report.failed:
        sys.exit(ExitCode.PARTIAL)


def show_event(event: dict[str, Any]) -> None:
    """What a request reports while it runs (here or in the running agent), on stderr."""
    kind = event.get("event")
    if kind == "waiting":
        click.echo(_("Waiting for the agent's sync pass in progress to finish…"), err=True)
    elif kind == "progress":
        arrow = _ARROWS.get(str(event.get("kind")))
        if arrow:
            click.echo(
                f"[{event['done']}/{event['total']}] {arrow} {printable_name(event['path'])}",
                err=True,
            )
    elif kind == "backup" and event.get("snapshot") is None:
        click.echo(
            _("No backup repository: the deleted files are kept in the trash only."), err=True
        )
    elif kind == "backup":
        click.echo(
            _("Backed up first: snapshot {id} ({files} files).").format(
                id=str(event["snapshot"])[:8], files=event.get("files", 0)
            ),
            err=True,
        )


_ARROWS = {
    "upload": "↑",
    "download": "↓",
    "delete_local": "✗",
    "delete_remote": "✗",
    "move_local": "→",
    "move_remote": "→",
    "conflict": "!",
}


def print_report(report: Report, *, dry_run: bool) -> None:
    lines = [
        (_("uploaded"), report.uploaded),
        (_("downloaded"), report.downloaded),
        (_("deleted here (kept in trash)"), report.deleted_local),
        (_("deleted on the share (kept in trash)"), report.deleted_remote),
    ]
    if dry_run:
        click.echo(_("Dry run: nothing was changed."))
    for label, paths in lines:
        for path in paths:
            click.echo(f"{label}: {printable_name(path)}")
    for source, dest in report.moved:
        click.echo(
            _("moved: {source} → {dest}").format(
                source=printable_name(source), dest=printable_name(dest)
            )
        )
    for conflict in report.conflicts:
        click.echo(
            _("conflict: {path} — your version was kept as {copy}").format(
                path=printable_name(conflict["path"]), copy=printable_name(conflict["copy"])
            )
        )
    waiting = {
        "unsettled": _("waiting, still being written"),
        "changed_meanwhile": _("waiting, changed while it was being synced"),
        "open_in_editor": _("waiting, open in Word or LibreOffice"),
        "normalization_twin": _("not synced: two names differ only in how accents are encoded"),
        "type_clash": _("not synced: a file on one side and a folder on the other"),
        "symlink": _("not synced: a symbolic link (hoso never follows or syncs links)"),
        "validation_blocked": _("not uploaded until fixed (see `hoso check`)"),
        "unreadable": _("not synced: hoso cannot read it here (see `hoso status`)"),
        "refused_by_share": _("kept here: the share does not let this account change it"),
    }
    for skip in report.skipped:
        click.echo(f"{waiting.get(skip['reason'], skip['reason'])}: {printable_name(skip['path'])}")
    # Never "in sync" while anything waits: a skip, a failure or a warning.
    if not (report.changed_anything or report.failed or report.skipped or report.warnings):
        click.echo(_("Everything is in sync."))


@click.command()
@click.option("-v", "--verbose", is_flag=True)
@pass_ctx
def run(ctx: Ctx, verbose: bool) -> None:
    """Run the agent in the foreground (what the service runs). SIGTERM stops it cleanly."""
    import os

    from ..daemon import run_forever, wait_for_setup

    # A service enabled before the teacher set hoso up waits for the setup, not exit 2
    # (which systemd never restarts from). systemd sets INVOCATION_ID for its services.
    if not ctx.config_path.exists() and not wait_for_setup(
        ctx.config_path,
        under_service="INVOCATION_ID" in os.environ,
        say=lambda line: click.echo(line, err=True),
    ):
        return
    cfg = ctx.load()
    run_forever(cfg, verbose=verbose)
