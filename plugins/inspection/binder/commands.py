"""`hoso print`: the click wiring of the print binder. Parses the options, calls
service.make_binder and prints the result as text or JSON."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.api import (
    Config,
    Ctx,
    ExitCode,
    UsageError,
    _,
    pass_ctx,
    printable_name,
    terminate_as_interrupt,
)

if TYPE_CHECKING:
    from .service import Binder


@click.command(name="print")
@click.option("--weeks", help='School weeks, e.g. 1-18 (the "Tuần N" folders).')
@click.option("--period", "month", help="A month, e.g. 2026-11.")
@click.option("--year", help="A school year, e.g. 2026-2027 (weeks 1–35).")
@click.option(
    "--type",
    "types",
    multiple=True,
    help="Record type code (KHBD, SHCM…); repeat for several. Default: KHBD (lesson plans).",
)
@click.option(
    "--folder",
    type=click.Path(path_type=Path),
    help="Print from this folder (a manager's copy of the school share) instead of your records.",
)
@click.option(
    "--teacher-folder",
    type=click.Path(path_type=Path),
    help="On a manager's copy of the school share: the teacher's folder to print.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The PDF to write (must not exist). Default: a new file in the current folder.",
)
@click.option(
    "--include-failing",
    is_flag=True,
    help="Put records that fail a check in the binder, marked, instead of leaving them out.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def print_binder(
    obj: Ctx,
    weeks: str | None,
    month: str | None,
    year: str | None,
    types: tuple[str, ...],
    folder: Path | None,
    teacher_folder: Path | None,
    out: Path | None,
    include_failing: bool,
    as_json: bool,
) -> None:
    """One PDF of the period's records, ready to print and bind: cover, contents, every
    record with page numbers, and what was left out. Exit 1 when something was left out."""
    config = _config_for(obj, folder)
    # LibreOffice's runner, fpdf and pypdf load only now: `hoso --help` lists this without them.
    from .service import Request, make_binder

    request = Request(weeks, month, year, types, teacher_folder, out, include_failing, folder)
    with terminate_as_interrupt():
        binder = make_binder(
            config,
            request,
            today=date.today(),
            now=time.time(),
            cwd=_current_folder(out),
            progress=_progress,
        )
    if as_json:
        click.echo(json.dumps(binder.to_json(), ensure_ascii=False))
    else:
        _print_binder(binder)
    if binder.left_out:
        sys.exit(ExitCode.PARTIAL)


def _config_for(obj: Ctx, folder: Path | None) -> Config:
    """The config; with ``--folder``, a manager with no records folder of their own prints
    with the defaults (no names for the cover but what the folders say)."""
    if folder is None:
        return obj.load()
    config = obj.load_if_present()
    return config if config is not None else dataclasses.replace(obj.default(), root=folder)


def _current_folder(out: Path | None) -> Path:
    """Where a binder without a full ``--out`` goes; a folder deleted under the terminal
    (a USB stick pulled out) is said so, not a crash."""
    try:
        return Path.cwd()
    except FileNotFoundError:
        if out is not None and out.is_absolute():
            return out.parent
        raise UsageError(
            _(
                "The current folder no longer exists (deleted or unplugged): go to another "
                "folder, or give --out with a full path. Nothing was done."
            )
        ) from None


def _progress(text: str) -> None:
    click.echo(text, err=True)


def _print_binder(binder: Binder) -> None:
    click.echo(
        _(
            "{pdf}: {pages} pages, {n} records ({converted} converted, {cached} from the cache)."
        ).format(
            pdf=binder.pdf,
            pages=binder.pages,
            n=len(binder.included),
            converted=binder.converted,
            cached=binder.cached,
        )
    )
    for item in binder.included:
        mark = _("  (fails a check: marked)") if item.marked else ""
        path = printable_name(item.path)
        click.echo(_("  page {page}: {path}").format(page=item.first_page, path=path) + mark)
    for item in binder.left_out:
        click.echo(
            _("Not in the binder: {path}: {reason}").format(
                path=printable_name(item.path), reason=item.reason
            ),
            err=True,
        )
