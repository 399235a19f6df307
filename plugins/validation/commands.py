"""The commands the validation plugin adds: ``hoso template``, ``hoso report``,
``hoso convert``. Thin: parse, call the plugin's library, print."""

from __future__ import annotations

import functools
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from agent.config import Config, write_private
from agent.errors import UsageError
from agent.i18n import _
from agent.model import RelPath
from agent.records import Finding, RecordType

from .sandbox import Limits
from .settings import Settings, load_types_file, record_types, settings_of, shipped_types_file
from .weeks import school_week

# The document libraries load when a command runs, not whenever `hoso` starts.


def register(cli: Any) -> None:
    cli.add_command(template)
    cli.add_command(report)
    cli.add_command(convert)


@click.command()
@click.argument("kind", type=click.Choice(["khbd"], case_sensitive=False))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write it (default: KHBD - mau.docx in the current folder).",
)
def template(kind: str, out: Path | None) -> None:
    """Write a blank record on the official template (khbd: a lesson plan)."""
    from .template import write_template

    out = out or Path("KHBD - mẫu.docx")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # a new week's folder, say
        write_template(out)
    except FileExistsError:
        raise UsageError(
            _("{path} already exists; nothing was written. Choose another name with --out.").format(
                path=out
            )
        ) from None
    except OSError as exc:
        raise UsageError(
            _("Cannot write {path}: {detail}").format(path=out, detail=exc.strerror)
        ) from None
    click.echo(_("Lesson-plan template written to {path}.").format(path=out))


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
    "--format", "fmt", type=click.Choice(["html", "csv", "json"]), default="html", show_default=True
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
@click.pass_obj
def report(
    obj: Any, folder: Path, week: int | None, fmt: str, out: Path | None, teacher_depth: int
) -> None:
    """Per-teacher, per-week table of lesson plans present, missing and failing checks."""
    from . import report as reportmod

    config: Config | None = obj.load_if_present()
    settings = settings_of(config) if config else Settings()
    types = record_types(config) if config else load_types_file(shipped_types_file())
    today = date.today()
    year_start = settings.start_of_year(today)
    weeks = [week] if week else list(range(1, school_week(today, year_start) + 1))
    check = functools.partial(
        _check,
        today=today,
        year_start=year_start,
        disabled=settings.disabled_rules,
        limits=settings.limits(),
    )
    try:
        built = reportmod.build_report(
            folder,
            types=types,
            check=check,
            weeks=weeks,
            teacher_depth=teacher_depth,
            today=today,
            names=config.roles.school.teacher_name if config else None,
        )
    except OSError as exc:
        raise UsageError(
            _("Cannot read {path}: {detail}. Nothing was written.").format(
                path=exc.filename or folder, detail=exc.strerror or exc
            )
        ) from None
    if fmt == "json":
        text = json.dumps(reportmod.to_json(built), ensure_ascii=False, indent=2)
    elif fmt == "csv":
        # Excel on Windows reads UTF-8 (Vietnamese names) only after a byte-order mark.
        text = "\ufeff" + reportmod.to_csv(built)
    else:
        text = reportmod.to_html(built)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    write_private(out, text)
    click.echo(_("Report written to {path}.").format(path=out), err=True)


def _check(
    file: Path,
    path: RelPath,
    record_type: RecordType | None,
    *,
    today: date,
    year_start: date,
    disabled: frozenset[str],
    limits: Limits,
) -> list[Finding]:
    from .checks import check_record

    try:
        size = file.stat().st_size
    except OSError:  # removed while the report was being built (the share is syncing)
        return []
    return check_record(
        file,
        path,
        record_type,
        size=size,
        today=today,
        year_start=year_start,
        disabled=disabled,
        limits=limits,
    )


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The Unicode copy (default: beside FILE, named '… (Unicode).docx').",
)
@click.pass_obj
def convert(obj: Any, file: Path, out: Path | None) -> None:
    """Make a Unicode copy of a .docx typed in TCVN3 (.VnTime) or VNI fonts.

    FILE is a path, or a record's path relative to the records folder. The original is never
    changed."""
    from .document import TooComplex, Unreadable
    from .legacy import convert_docx

    source = _locate(obj, file)
    if source.suffix.lower() != ".docx":
        raise UsageError(
            _("Only .docx files can be converted; open {path} and save it as .docx first.").format(
                path=file
            )
        )
    target = out or source.with_name(f"{source.stem} (Unicode).docx")
    if target.exists():
        raise UsageError(
            _("{path} already exists; nothing was written. Choose another name with --out.").format(
                path=target
            )
        )
    try:
        runs = convert_docx(source, target)
    except (Unreadable, TooComplex):
        raise UsageError(
            _(
                "{path} cannot be read (protected by a password, damaged or far too large); "
                "nothing was written."
            ).format(path=file)
        ) from None
    click.echo(
        _("Converted {n} pieces of text; the Unicode copy is {path}.").format(n=runs, path=target)
    )


def _locate(obj: Any, file: Path) -> Path:
    if file.is_file():
        return file
    config: Config | None = obj.load_if_present()
    if config is not None and (config.root / file).is_file():
        return config.root / file
    raise UsageError(_("No file {path}.").format(path=file))
