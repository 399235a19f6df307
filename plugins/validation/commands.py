"""The commands the validation plugin adds: ``hoso template``, ``hoso report``,
``hoso convert``. Click wiring only: parse, call service.py, print."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from agent.api import Ctx, _, pass_ctx, write_private

from . import service


@click.command()
@click.argument("kind")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write it (default: “KIND - mẫu.docx” in the current folder).",
)
@click.option("--builtin", is_flag=True, help="hoso's own template, even where the school has one.")
@pass_ctx
def template(obj: Ctx, kind: str, out: Path | None, builtin: bool) -> None:
    """Write a blank record of the type KIND (a record type code: khbd, a lesson plan; shcm…):
    the school's own template from the school folder's “Biểu mẫu” when it has one, else
    hoso's official one (khbd only)."""
    done = service.write_template(obj.load_if_present(), kind, out, builtin=builtin)
    if done.school_template is not None:
        click.echo(
            _("Written to {path}, from the school's template {template}.").format(
                path=done.path, template=done.school_template
            )
        )
    else:
        click.echo(_("Lesson-plan template written to {path} (hoso's own).").format(path=done.path))


@click.command()
@click.option(
    "--folder",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A copy of the school share (one folder per teacher).",
)
@click.option(
    "--week",
    type=click.IntRange(1, 35),
    default=None,
    help="Only this school week (default: every week up to the current one).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(service.REPORT_FORMATS),
    default="html",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report to this file (default: standard output).",
)
@click.option(
    "--teacher-depth",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="Which folder level names the teacher (2 for Tổ/Giáo viên/…).",
)
@pass_ctx
def report(
    obj: Ctx, folder: Path, week: int | None, fmt: str, out: Path | None, teacher_depth: int
) -> None:
    """Per-teacher, per-week table of lesson plans present, missing and failing checks."""
    text = service.report_text(
        obj.load_if_present(),
        folder,
        week=week,
        fmt=fmt,
        teacher_depth=teacher_depth,
        today=date.today(),
    )
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    write_private(out, text)
    click.echo(_("Report written to {path}.").format(path=out), err=True)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The Unicode copy (default: beside FILE, named '… (Unicode).docx').",
)
@pass_ctx
def convert(obj: Ctx, file: Path, out: Path | None) -> None:
    """Make a Unicode copy of a .docx typed in TCVN3 (.VnTime) or VNI fonts.

    FILE is a path, or a record's path relative to the records folder. The original is never
    changed."""
    done = service.convert_to_unicode(file, out, obj.load_if_present)
    click.echo(
        _("Converted {n} pieces of text; the Unicode copy is {path}.").format(
            n=done.runs, path=done.copy
        )
    )
