"""`hoso school …`: the school folder every agent keeps beside the records folder.

`hoso school sync` runs one pass of it now, by the running agent when one runs (as `hoso
sync` does for the records folder), with the same report and exit codes.
"""

from __future__ import annotations

import json
import sys

import click

from ..context import Ctx, pass_ctx
from ..display import printable_name
from ..errors import ExitCode
from ..i18n import _
from .sync import print_report, show_event


@click.group()
def school() -> None:
    """The school folder: the school-wide folder of the share ([school] folder_url)."""


@school.command("sync")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--allow-mass-delete", is_flag=True, help="Confirm a large deletion.")
@click.option(
    "--allow-restored-share",
    is_flag=True,
    help="Confirm that the share was restored from an older copy: merge, delete nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def school_sync(
    ctx: Ctx, dry_run: bool, allow_mass_delete: bool, allow_restored_share: bool, as_json: bool
) -> None:
    """One pass of the school folder now (by the running agent when one runs)."""
    from ..control import carry_out, no_school_folder, report_of
    from ..log import setup_logging

    cfg = ctx.load()
    if cfg.school_folder is None:
        raise no_school_folder(cfg)
    setup_logging(cfg.state_dir, verbose=False, to_stderr=False)
    args = {
        "dry_run": dry_run,
        "allow_mass_delete": allow_mass_delete,
        "allow_restored_share": allow_restored_share,
    }
    result = carry_out(cfg, "school.sync", args, emit=show_event)
    report = report_of(result)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        root = printable_name(str(cfg.school_folder.root))
        click.echo(_("School folder: {root}").format(root=root))
        print_report(report, dry_run=dry_run)
    for failure in report.failed:
        click.echo(f"{printable_name(failure['path'])}: {failure['error']}", err=True)
    for warning in report.warnings:
        click.echo(_("Warning: {text}").format(text=warning), err=True)
    if report.failed:
        sys.exit(ExitCode.PARTIAL)
