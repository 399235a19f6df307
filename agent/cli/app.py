"""The `hoso` command line: parse, load config, call one service, render text or JSON.

The root group and the entry point. Each command group lives in a module of its own in this
package; plugins add theirs through `hoso_register_commands`. Every HosoError becomes one
message on stderr and its exit code here, in one place (0 done, 1 some items failed,
2 usage/config, 3 share unreachable or login refused, 4 safety stop). Nothing below this
package prints.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import click

from .. import __version__
from ..context import Ctx
from ..display import guard_terminal
from ..errors import ExitCode, HosoError
from ..i18n import _
from . import (
    backup,
    check,
    demo,
    onboarding,
    plugins,
    roles,
    school,
    status,
    sync,
    trash,
    ui,
    vault,
)


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
    click_ctx.obj = Ctx.at(config_path)


for command in (
    onboarding.init,
    sync.sync,
    sync.run,
    status.status,
    trash.trash,
    check.check,
    plugins.plugins,
    roles.roles,
    school.school,
    backup.backup,
    vault.vault,
    demo.demo,
    ui.ui,
):
    cli.add_command(command)


def _add_plugin_commands(argv: list[str] | None) -> None:
    """Let enabled plugins add their commands (hoso_register_commands). The config named by
    --config decides which plugins are enabled; a broken config is reported by the command
    itself, so here it only means "defaults". A built-in command (sync, backup…) does not
    wait for the plugins to load."""
    from ..hooks import load_plugins

    args = list(sys.argv[1:] if argv is None else argv)
    ctx = Ctx.at(None)
    try:
        parsed = cli.make_context("hoso", args, resilient_parsing=True)
        with warnings.catch_warnings():
            # click ≥ 8.2 deprecates protected_args (click 9 puts all tokens in args);
            # this reads the command name the same way with either.
            warnings.simplefilter("ignore", DeprecationWarning)
            rest = [*getattr(parsed, "protected_args", ()), *parsed.args]
        if rest and rest[0] in cli.commands:  # built in (or already added)
            return
        ctx = Ctx.at(parsed.params.get("config_path"))
        cfg = ctx.load_or_default()
    except (click.ClickException, HosoError):
        cfg = ctx.default()
    load_plugins(cfg).register_commands(cli)


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
