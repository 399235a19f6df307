"""`hoso check [PATH…]`: the records' findings against the school's rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .. import config as configmod
from ..context import Ctx, pass_ctx
from ..display import printable_name
from ..errors import ConfigError, ExitCode
from ..i18n import _

if TYPE_CHECKING:
    from ..records import Finding


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--again", is_flag=True, help="Check unchanged records again too.")
@pass_ctx
def check(ctx: Ctx, paths: tuple[Path, ...], as_json: bool, again: bool) -> None:
    """Check records against the school's rules (default: the whole records folder).

    PATHS are files or folders inside the records folder. Exit code 1 when any record has
    an error (warnings alone exit 0)."""
    from ..validation import open_validator

    cfg = ctx.load()
    relative = [_record_path(cfg, p) for p in paths]
    with open_validator(cfg) as validator:
        result = validator.check(relative or None, force=again)
        failures = list(validator.host.failures)
        incomplete = validator.host.failed_calls > 0  # a check that did not run finds nothing
    findings = sorted(result.findings, key=lambda f: (f.path, f.rule))
    if as_json:
        click.echo(json.dumps({"findings": [f.to_json() for f in findings]}, ensure_ascii=False))
    else:
        _print_findings(findings, incomplete=incomplete)
        click.echo(
            _(
                "Records checked now: {checked}; unchanged since the last check: {unchanged}."
            ).format(checked=result.checked, unchanged=result.unchanged)
        )
    for failure in failures:
        click.echo(failure, err=True)
    if result.has_errors or incomplete:
        sys.exit(ExitCode.PARTIAL)


def _record_path(cfg: configmod.Config, given: Path) -> str:
    """A command-line path as a path relative to the records folder."""
    from ..model import nfc

    root = cfg.root.resolve()
    for candidate in (given, cfg.root / given):
        absolute = candidate.expanduser().resolve()
        if absolute.exists() and (absolute == root or root in absolute.parents):
            return nfc(absolute.relative_to(root).as_posix()) if absolute != root else ""
    raise ConfigError(
        _("{path} is not a file or folder inside the records folder {root}.").format(
            path=given, root=cfg.root
        )
    )


def _print_findings(findings: list[Finding], *, incomplete: bool = False) -> None:
    marks = {"error": "✗", "warning": "!", "info": "i"}
    words = {"error": _("error"), "warning": _("warning"), "info": _("note")}
    current = None
    for finding in findings:
        if finding.path != current:
            current = finding.path
            click.echo(printable_name(finding.path))
        severity = finding.severity.value
        click.echo(f"  {marks[severity]} {words[severity]}: {finding.message} [{finding.rule}]")
        if finding.fix:
            click.echo(f"    → {finding.fix}")
    errors = sum(1 for f in findings if f.severity.value == "error")
    warnings = sum(1 for f in findings if f.severity.value == "warning")
    if not findings and incomplete:
        click.echo(
            _(
                "No problems found in what could be checked, but some checks could not run "
                "(see below)."
            )
        )
    elif not findings:
        click.echo(_("No problems found."))
    else:
        click.echo(
            _("Errors: {errors}; warnings: {warnings}; records concerned: {files}.").format(
                errors=errors, warnings=warnings, files=len({f.path for f in findings})
            )
        )
