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
import time
from pathlib import Path
from typing import Any

import click

from . import __version__, i18n
from . import config as configmod
from .errors import ConfigError, ExitCode, HosoError
from .i18n import _

SETTLE_ROUNDS = 3
# Skips that another pass right away may resolve: a file still being saved, or a file that
# changed on either side between planning and acting.
RETRY_NOW = {"unsettled", "changed_meanwhile"}


class Ctx:
    def __init__(self, config_path: Path | None) -> None:
        self.config_path = config_path or configmod.default_config_path()

    def load(self) -> configmod.Config:
        cfg = configmod.load(self.config_path)
        i18n.setup(cfg.language)
        return cfg


pass_ctx = click.make_pass_decorator(Ctx)


@click.group(help="hoso: keeps your records folder in sync with the school share.")
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
) -> None:
    """Write the agent's config and password (the password is never echoed)."""
    from .onboarding import initialise

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
    )
    click.echo(_("Config written to {path}.").format(path=ctx.config_path))
    click.echo(_("Records folder: {root}").format(root=result.config.root))
    click.echo(_("Next: `hoso sync` once, or `hoso run` to keep syncing."))


# --- sync ----------------------------------------------------------------------------------


@cli.command()
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@click.option("--allow-mass-delete", is_flag=True, help="Confirm a large deletion.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def sync(ctx: Ctx, dry_run: bool, allow_mass_delete: bool, as_json: bool) -> None:
    """One full two-way pass."""
    from .lock import InstanceLock
    from .log import setup_logging
    from .sync import Syncer

    cfg = ctx.load()
    setup_logging(cfg.state_dir, verbose=False, to_stderr=False)
    progress = _terminal_progress if sys.stderr.isatty() and not as_json else _no_progress
    with InstanceLock(cfg.state_dir):
        syncer = Syncer(cfg, on_progress=progress)
        try:
            report = syncer.run_pass(dry_run=dry_run, allow_mass_delete=allow_mass_delete).report
            # Someone asking for a sync now means the file they just saved, too: wait for
            # files still being written to settle, a few times at most.
            for _round in range(SETTLE_ROUNDS):
                if dry_run or not any(s["reason"] in RETRY_NOW for s in report.skipped):
                    break
                time.sleep(max(cfg.sync.settle_seconds, 0.5))
                report.merge(syncer.run_pass(allow_mass_delete=allow_mass_delete).report)
        finally:
            syncer.close()
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        _print_report(report, dry_run=dry_run)
    for failure in report.failed:
        click.echo(f"{failure['path']}: {failure['error']}", err=True)
    if report.failed:
        sys.exit(ExitCode.PARTIAL)


def _outcome_text(outcome: str) -> str:
    texts = {
        "ok": _("everything synced"),
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


def _no_progress(done: int, total: int, action: Any) -> None:
    """Quiet when stderr is not a terminal (service logs, scripts)."""


def _terminal_progress(done: int, total: int, action: Any) -> None:
    arrow = _ARROWS.get(action.kind.value)
    if arrow:
        click.echo(f"[{done}/{total}] {arrow} {action.path}", err=True)


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
            click.echo(f"{label}: {path}")
    for source, dest in report.moved:
        click.echo(_("moved: {source} → {dest}").format(source=source, dest=dest))
    for conflict in report.conflicts:
        click.echo(
            _("conflict: {path} — your version was kept as {copy}").format(
                path=conflict["path"], copy=conflict["copy"]
            )
        )
    waiting = {
        "unsettled": _("waiting, still being written"),
        "changed_meanwhile": _("waiting, changed while it was being synced"),
        "open_in_editor": _("waiting, open in Word or LibreOffice"),
        "normalization_twin": _("not synced: two names differ only in how accents are encoded"),
        "type_clash": _("not synced: a file on one side and a folder on the other"),
    }
    for skip in report.skipped:
        click.echo(f"{waiting.get(skip['reason'], skip['reason'])}: {skip['path']}")
    if not report.changed_anything and not report.failed and not report.skipped:
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
    from .journal import Journal

    cfg = ctx.load()
    journal = Journal.open(cfg.state_dir / "journal.sqlite3")
    try:
        st = statusmod.gather(cfg, journal)
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(st.to_json(), ensure_ascii=False))
        return
    if st.last_pass is None:
        click.echo(_("No sync pass yet."))
    else:
        click.echo(
            _("Last pass: {when} ({outcome}).").format(
                when=st.last_pass["finished"].replace("T", " "),
                outcome=_outcome_text(st.last_pass["outcome"]),
            )
        )
    click.echo(_("Changes waiting: {n}").format(n=len(st.pending)))
    for path in st.pending[:20]:
        click.echo(f"  {path}")
    if st.conflicts:
        click.echo(_("Conflict copies to look at: {n}").format(n=len(st.conflicts)))
        for path in st.conflicts:
            click.echo(f"  {path}")
    if st.errors:
        click.echo(_("Files that could not be synced: {n}").format(n=len(st.errors)))
        for err in st.errors:
            click.echo(f"  {err['path']}: {err['error']}")
    click.echo(_("Items in the trash: {n}").format(n=st.trash_items))
    click.echo(_("Backups: not configured."))


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
            f"{row['path']}  ({row['reason_text']})"
        )


@trash.command("restore")
@click.argument("item_id", type=int)
@pass_ctx
def trash_restore(ctx: Ctx, item_id: int) -> None:
    """Put item ITEM_ID back where it was (beside it when that name is taken)."""
    from . import trash as trashmod
    from .journal import Journal
    from .lock import InstanceLock

    cfg = ctx.load()
    with InstanceLock(cfg.state_dir):
        journal = Journal.open(cfg.state_dir / "journal.sqlite3")
        try:
            restored = trashmod.restore(cfg, journal, item_id)
        finally:
            journal.close()
    click.echo(
        _("Restored as {path}. The next sync carries it to the other side.").format(path=restored)
    )


# --- demo ----------------------------------------------------------------------------------


@cli.command()
@click.option("--seconds", type=float, default=0, help="Stop after this long (0: until Ctrl-C).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None)
def demo(seconds: float, workdir: Path | None) -> None:
    """A live demo: an embedded WebDAV share, sample records and the agent."""
    from .demo import run_demo

    run_demo(seconds=seconds, workdir=workdir, echo=click.echo)


# --- entry point ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="hoso", standalone_mode=False)
    except HosoError as exc:
        click.echo(_("Error: {message}").format(message=exc), err=True)
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
