"""The `hoso` command line: parse, load config, call one service, render text or JSON.

Every HosoError becomes one message on stderr and its exit code here, in one place
(0 done, 1 some items failed, 2 usage/config, 3 share unreachable or login refused,
4 safety stop). Nothing below this module prints.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__, i18n
from . import config as configmod
from .backup_cli import backup as backup_commands
from .display import guard_terminal, printable_name
from .errors import ConfigError, ExitCode, HosoError
from .i18n import _
from .vault_cli import vault as vault_commands


class Ctx:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path or configmod.default_config_path()

    def load(self) -> configmod.Config:
        cfg = configmod.load(self.config_path)
        i18n.setup(cfg.language)
        return cfg

    def load_if_present(self) -> configmod.Config | None:
        """The config, or None when there is no config file (commands that also serve
        people without an agent, such as a manager's report)."""
        return self.load() if self.config_path.exists() else None


pass_ctx = click.make_pass_decorator(Ctx)


# color=True: click would strip ANSI sequences from names when stdout is not a terminal, showing
# a name other than the real one; the terminal guard (main) escapes them all instead.
@click.group(
    help="hoso: keeps your records folder in sync with the school share.",
    context_settings={"color": True},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Config file (default: $HOSO_CONFIG, else the per-user config folder).",
)
@click.version_option(__version__, prog_name="hoso")
@click.pass_context
def cli(click_ctx: click.Context, config_path: Path | None) -> None:
    click_ctx.obj = Ctx(config_path)


# --- init ----------------------------------------------------------------------------------


@cli.command()
@click.option("--root", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--url", required=True, help="WebDAV address of the share.")
@click.option("--remote-dir", default="/", show_default=True, help="Folder on the share.")
@click.option("--user", default="", help="Login name on the share.")
@click.option("--state-dir", default="", help="Where the journal, logs and trash live.")
@click.option("--force", is_flag=True, help="Replace an existing config.")
@click.option("--no-check", is_flag=True, help="Do not test the login before writing.")
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    help="Accept an http:// share on another computer (the password travels in clear).",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The certificate (PEM) of the school's own certificate authority, if its share uses one.",
)
@pass_ctx
def init(
    ctx: Ctx,
    root: Path,
    url: str,
    remote_dir: str,
    user: str,
    state_dir: str,
    force: bool,
    no_check: bool,
    allow_insecure_http: bool,
    ca_file: Path | None,
) -> None:
    """Write the agent's config and password (the password is never echoed)."""
    from .onboarding import initialise, preflight

    preflight(ctx.config_path, url, force=force)
    password = os.environ.get(configmod.PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise ConfigError(
                _("Set {var} or run `hoso init` in a terminal to type the password.").format(
                    var=configmod.PASSWORD_ENV
                )
            )
        password = getpass.getpass(_("Password for the share: "))
    result = initialise(
        ctx.config_path,
        root=root,
        url=url,
        remote_dir=remote_dir,
        user=user,
        password=configmod.Secret(password),
        force=force,
        check=not no_check,
        state_dir=state_dir,
        allow_insecure_http=allow_insecure_http,
        password_from_env=configmod.PASSWORD_ENV in os.environ,
        ca_file=ca_file,
    )
    click.echo(_("Config written to {path}.").format(path=ctx.config_path))
    click.echo(_("Records folder: {root}").format(root=result.config.root))
    click.echo(_("Next: `hoso sync` once, or `hoso run` to keep syncing."))


# --- sync ----------------------------------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--allow-mass-delete", is_flag=True, help="Confirm a large deletion.")
@click.option(
    "--allow-restored-share",
    is_flag=True,
    help="Confirm that the share was restored from an older copy: merge, delete nothing.",
)
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
    from .backup_cli import prompt_for_passphrase
    from .control import carry_out, report_of
    from .log import setup_logging

    cfg = ctx.load()
    setup_logging(cfg.state_dir, verbose=False, to_stderr=False)
    args = {
        "dry_run": dry_run,
        "allow_mass_delete": allow_mass_delete,
        "allow_restored_share": allow_restored_share,
        "allow_clock_jump": allow_clock_jump,
        "progress": sys.stderr.isatty() and not as_json,
    }
    result = carry_out(cfg, "sync", args, emit=_show_event, prompt=prompt_for_passphrase())
    report = report_of(result)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        _print_report(report, dry_run=dry_run)
        if result["records_to_fix"]:
            click.echo(
                _("Records with problems to fix: {n}. Run `hoso check` to see them.").format(
                    n=result["records_to_fix"]
                )
            )
    for failure in report.failed:
        click.echo(f"{printable_name(failure['path'])}: {failure['error']}", err=True)
    for warning in report.warnings:
        click.echo(_("Warning: {text}").format(text=warning), err=True)
    if report.failed:
        sys.exit(ExitCode.PARTIAL)


def _show_event(event: dict[str, Any]) -> None:
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


def _outcome_text(outcome: str, *, waiting: bool) -> str:
    texts = {
        # Never "everything synced" beside changes that wait.
        "ok": _("finished, but not everything is synced: see below")
        if waiting
        else _("everything synced"),
        "partial": _("some files failed"),
        "dry_run": _("dry run"),
        "SafetyStop": _("stopped by a safety check, nothing deleted"),
        "UnreachableError": _("the share could not be reached"),
        "AuthError": _("the login was refused"),
    }
    return texts.get(outcome, _("stopped by an error: {name}").format(name=outcome))


_ARROWS = {
    "upload": "↑",
    "download": "↓",
    "delete_local": "✗",
    "delete_remote": "✗",
    "move_local": "→",
    "move_remote": "→",
    "conflict": "!",
}


def _print_report(report: Any, *, dry_run: bool) -> None:
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
    }
    for skip in report.skipped:
        click.echo(f"{waiting.get(skip['reason'], skip['reason'])}: {printable_name(skip['path'])}")
    # Never "in sync" while anything waits: a skip, a failure or a warning.
    if not (report.changed_anything or report.failed or report.skipped or report.warnings):
        click.echo(_("Everything is in sync."))


# --- run -----------------------------------------------------------------------------------


@cli.command()
@click.option("-v", "--verbose", is_flag=True)
@pass_ctx
def run(ctx: Ctx, verbose: bool) -> None:
    """Run the agent in the foreground (what the service runs). SIGTERM stops it cleanly."""
    from .daemon import run_forever

    cfg = ctx.load()
    run_forever(cfg, verbose=verbose)


# --- status --------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: Ctx, as_json: bool) -> None:
    """Last pass, pending changes, conflicts and errors."""
    from . import status as statusmod
    from .hooks import load_plugins
    from .journal import Journal
    from .model import is_within

    cfg = ctx.load()
    journal = Journal.open(cfg.state_dir / "journal.sqlite3")
    try:
        st = statusmod.gather(cfg, journal)
    finally:
        journal.close()
    st.plugin_notes = [
        {"plugin": name, "text": line} for name, line in load_plugins(cfg).status_notes()
    ]
    if as_json:
        click.echo(json.dumps(st.to_json(), ensure_ascii=False))
        return
    if st.insecure_http:
        click.echo(
            _(
                "Warning: the share is reached over plain http:// ({url}); its password crosses "
                "the network in clear. Ask for the share's https:// address and run `hoso init` "
                "again with it."
            ).format(url=cfg.remote.url)
        )
    if st.last_pass is None:
        click.echo(_("No sync pass yet."))
    else:
        click.echo(
            _("Last pass: {when} ({outcome}).").format(
                when=st.last_pass["finished"].replace("T", " "),
                outcome=_outcome_text(st.last_pass["outcome"], waiting=st.waiting),
            )
        )
        stopped_by = (st.last_pass["report"] or {}).get("error")
        if stopped_by:  # the message says what to do; the class name alone does not
            click.echo(f"  {stopped_by}")
    click.echo(_("Changes waiting: {n}").format(n=len(st.pending)))
    # Paths inside what is held back are told once, with their folder, below.
    free = [p for p in st.pending if not any(is_within(p, h["path"]) for h in st.held)]
    for path in free[: statusmod.MAX_LISTED]:
        click.echo(f"  {printable_name(path)}")
    if len(free) < len(st.pending):
        held = len(st.pending) - len(free)
        click.echo("  " + _("{n} of them held back (see below).").format(n=held))
    for line in statusmod.held_lines(st.held):
        click.echo(line)
    if st.conflicts:
        click.echo(_("Conflict copies to look at: {n}").format(n=len(st.conflicts)))
        for path in st.conflicts:
            click.echo(f"  {printable_name(path)}")
    if st.errors:
        click.echo(_("Files that could not be synced: {n}").format(n=len(st.errors)))
        for err in st.errors:
            click.echo(f"  {printable_name(err['path'])}: {err['error']}")
    click.echo(_("Items in the trash: {n}").format(n=st.trash_items))
    _print_server(st.server)
    for warning in st.warnings:
        click.echo(_("Warning: {text}").format(text=warning))
    _print_backup_status(st.backup)
    if st.findings:
        files = sorted({f["path"] for f in st.findings})
        click.echo(
            _("Records with problems to fix: {n} (details: `hoso check`)").format(n=len(files))
        )
        for path in files[:20]:
            click.echo(f"  {printable_name(path)}")
    for note in st.plugin_notes:
        click.echo(f"{note['plugin']}: {note['text']}")
    for failure in st.plugin_failures:
        click.echo(
            _("Plugin {plugin} failed in {hook} ({count}×): {detail}").format(**failure),
            err=False,
        )


def _print_server(server: dict[str, Any] | None) -> None:
    """What the last probe saw the share do, and what hoso does about what it lacks."""
    if server is None:
        return
    yes, no = _("yes"), _("no")
    click.echo(
        _(
            "Share's server: ETags in listings {etags}, conditional writes {conditional}, "
            "atomic uploads {atomic}, lists dot-names {dots}, Depth: infinity {infinity}."
        ).format(
            etags=yes if server["etags_in_listings"] else no,
            conditional=yes if server["conditional_writes"] else no,
            atomic=yes if server["atomic_put"] else no,
            dots=yes if server["lists_dot_names"] else no,
            infinity=yes if server["depth_infinity"] else no,
        )
    )


def _print_backup_status(backup: dict[str, Any] | None) -> None:
    from .backup.history import clock_lines

    if backup is None:
        click.echo(_("Backups: none yet (`hoso backup init`, then `hoso backup create`)."))
        return
    if backup["damaged"]:
        click.echo(_("Warning: {problem}").format(problem=backup["damaged"]), err=True)
    if backup["last"] is None:
        return
    if backup["age_hours"] is None:
        click.echo(
            _(
                "Last good backup: dated {when}, in the future: the clock is off; {files} files."
            ).format(when=backup["last"].replace("T", " "), files=backup["files"])
        )
    else:
        click.echo(
            _("Last good backup: {when} ({hours} hours ago), {files} files.").format(
                when=backup["last"].replace("T", " "),
                hours=backup["age_hours"],
                files=backup["files"],
            )
        )
    for line in clock_lines(backup):
        click.echo(line, err=True)
    if backup["stale"] and backup["age_hours"] is not None:
        click.echo(
            _(
                "Warning: the last backup is older than allowed ([backup] max_age). Is the backup "
                "drive connected? Run `hoso backup create`."
            ),
            err=True,
        )


# --- trash ---------------------------------------------------------------------------------


@cli.group()
def trash() -> None:
    """Files the agent removed or replaced, and getting them back."""


@trash.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def trash_list(ctx: Ctx, as_json: bool) -> None:
    """What the agent removed or replaced, newest first, with the ID to restore it."""
    from . import trash as trashmod
    from .journal import Journal

    cfg = ctx.load()
    journal = Journal.open(cfg.state_dir / "journal.sqlite3")
    try:
        rows = [trashmod.as_json(i) for i in trashmod.items(journal)]
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo(_("The trash is empty."))
    side_names = {"local": _("this computer"), "remote": _("the share")}
    for row in rows:
        click.echo(
            f"{row['id']:>5}  {row['deleted_at']}  {side_names[str(row['side'])]:<14} "
            f"{printable_name(str(row['path']))}  ({row['reason_text']})"
        )


@trash.command("restore")
@click.argument("item_id", type=int)
@pass_ctx
def trash_restore(ctx: Ctx, item_id: int) -> None:
    """Put item ITEM_ID back where it was (beside it when that name is taken); done by the
    running agent when one runs."""
    from .control import carry_out

    cfg = ctx.load()
    restored = carry_out(cfg, "trash.restore", {"item": item_id}, emit=_show_event)["path"]
    click.echo(
        _("Restored as {path}. The next sync carries it to the other side.").format(
            path=printable_name(restored)
        )
    )


# --- check and plugins --------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--again", is_flag=True, help="Check unchanged records again too.")
@pass_ctx
def check(ctx: Ctx, paths: tuple[Path, ...], as_json: bool, again: bool) -> None:
    """Check records against the school's rules (default: the whole records folder).

    PATHS are files or folders inside the records folder. Exit code 1 when any record has
    an error (warnings alone exit 0)."""
    from .validation import open_validator

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
    from .model import nfc

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


def _print_findings(findings: list[Any], *, incomplete: bool = False) -> None:
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
        click.echo(_("No problems found in what could be checked, but some checks could not run (see below)."))
    elif not findings:
        click.echo(_("No problems found."))
    else:
        click.echo(
            _("Errors: {errors}; warnings: {warnings}; records concerned: {files}.").format(
                errors=errors, warnings=warnings, files=len({f.path for f in findings})
            )
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plugins(ctx: Ctx, as_json: bool) -> None:
    """Installed plugins, enabled or not, with their version, source and hooks."""
    from .hooks import load_plugins

    cfg = _config_or_default(ctx)
    host = load_plugins(cfg)
    installed = {p.name for p in host.plugins}
    for name in sorted(set(cfg.plugins.tables) - installed):
        click.echo(
            _("[plugins.{name}] is in the config file but no such plugin is installed.").format(
                name=name
            ),
            err=True,
        )
    if as_json:
        click.echo(json.dumps({"plugins": [p.to_json() for p in host.plugins]}, ensure_ascii=False))
        return
    for info in host.plugins:
        state = _("enabled") if info.enabled else _("disabled")
        click.echo(f"{info.name} {info.version} ({info.source}) — {state}")
        if info.hooks:
            click.echo("  " + ", ".join(info.hooks))
        if info.error:
            click.echo("  " + info.error)


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def roles(ctx: Ctx, as_json: bool) -> None:
    """Who holds which role: the principal's decision, the mailbox keeper, the reviewers."""
    found = ctx.load().roles
    if as_json:
        click.echo(json.dumps(found.to_json(), ensure_ascii=False))
        return
    school = found.school
    unset = _("(not set)")

    def person(who: Any) -> str:
        if who is None:
            return unset
        return ", ".join(part for part in (who.name, who.position, who.email) if part)

    click.echo(_("School: {name}").format(name=school.name or unset))
    click.echo(_("School mailbox: {address}").format(address=school.mailbox or unset))
    click.echo(_("Principal: {who}").format(who=person(school.principal)))
    if school.decision:
        click.echo(
            _("Assignment decision: No. {number} of {date}").format(
                number=school.decision.number, date=school.decision.date.strftime("%d/%m/%Y")
            )
        )
    else:
        click.echo(_("Assignment decision: {value}").format(value=unset))
    click.echo(_("Mailbox keeper: {who}").format(who=person(school.mailbox_keeper)))
    for reviewer in school.reviewers:
        scope = ", ".join((*reviewer.groups, *reviewer.teachers))
        click.echo(
            _("Reviews lesson plans: {who} ({scope})").format(who=person(reviewer), scope=scope)
        )
    mine = ", ".join(r.name for r in found.my_reviewers()) or unset
    click.echo(_("Your lesson plans are reviewed by: {names}").format(names=mine))


def _config_or_default(ctx: Ctx) -> configmod.Config:
    """The config, or the defaults when there is none yet (every plugin enabled)."""
    cfg = ctx.load_if_present()
    return cfg if cfg is not None else _default_config(ctx.config_path)


def _default_config(path: Path) -> configmod.Config:
    return configmod.Config(path=path, root=Path.cwd(), state_dir=configmod.default_state_dir())


def _add_plugin_commands(argv: list[str] | None) -> None:
    """Let enabled plugins add their commands (hoso_register_commands). The config named by
    --config decides which plugins are enabled; a broken config is reported by the command
    itself, so here it only means "defaults". A built-in command (sync, backup…) does not
    wait for the plugins to load."""
    from .hooks import load_plugins

    args = list(sys.argv[1:] if argv is None else argv)
    ctx = Ctx(None)
    try:
        parsed = cli.make_context("hoso", args, resilient_parsing=True)
        rest = [*parsed.protected_args, *parsed.args]
        if rest and rest[0] in cli.commands:  # built in (or already added)
            return
        ctx = Ctx(parsed.params.get("config_path"))
        cfg = _config_or_default(ctx)
    except (click.ClickException, HosoError):
        cfg = _default_config(ctx.config_path)
    load_plugins(cfg).register_commands(cli)


# --- backup (agent/backup_cli.py) ---------------------------------------------------------

cli.add_command(backup_commands)
cli.add_command(vault_commands)


# --- demo ----------------------------------------------------------------------------------


@cli.command()
@click.option("--seconds", type=float, default=0, help="Stop after this long (0: until Ctrl-C).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def demo(seconds: float, workdir: Path | None) -> None:
    """A live demo: an embedded WebDAV share, sample records and the agent."""
    from datetime import date

    from .demo import run_demo

    run_demo(seconds=seconds, workdir=workdir, echo=click.echo, today=date.today())


# --- entry point ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    # Libraries' warnings (pypdf on a damaged PDF…) are not messages for the teacher: without
    # a handler, Python would print them on stderr. `hoso run` logs them to its own file.
    logging.getLogger().addHandler(logging.NullHandler())
    # Names from the share, a document or an email reach the terminal only escaped, whatever
    # command (ours or a plugin's) prints them.
    sys.stdout, sys.stderr = guard_terminal(sys.stdout, sys.stderr)
    try:
        _add_plugin_commands(argv)
        cli.main(args=argv, prog_name="hoso", standalone_mode=False)
    except HosoError as exc:
        click.echo(_("Error: {message}").format(message=exc), err=True, color=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo(_("Aborted."), err=True)
        sys.exit(int(ExitCode.USAGE))
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.USAGE))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:
        # A bug, not a user error: keep the traceback (which may quote file contents or
        # server answers) out of the terminal unless asked for, and say where to look.
        if os.environ.get("HOSO_DEBUG"):
            raise
        logger = logging.getLogger("hoso")
        if logger.handlers:  # only into our redacting log file, never Python's stderr fallback
            logger.exception("unexpected error")
        click.echo(
            _("Unexpected error (a bug in hoso). Run again with HOSO_DEBUG=1 to see details."),
            err=True,
        )
        sys.exit(int(ExitCode.PARTIAL))
    sys.exit(0)


if __name__ == "__main__":
    main()
