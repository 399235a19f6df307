"""The `hoso` command line: parse, load config, call one service, render text or JSON.

The root group and the entry point. Each command group lives in a module of its own in this
package, imported only when its command is named (lazy.py); plugins declare theirs through
`hoso_commands` (or add them through `hoso_register_commands`). Every HosoError becomes one
message on stderr and its exit code here, in one place (0 done, 1 some items failed,
2 usage/config, 3 share unreachable or login refused, 4 safety stop). Nothing below this
package prints.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import ExitCode, HosoError
from ..lazycommand import LazyCommand
from .lazy import LazyGroup

# The built-in commands, imported only when named (`hoso --version` imports none of them).
# Each help line is the first sentence of the command's own help (a test keeps them equal).
BUILTIN = (
    LazyCommand(
        "init",
        "Write the agent's config and password (the password is never echoed).",
        "agent.cli.onboarding:init",
    ),
    LazyCommand(
        "sync", "One full two-way pass (by the running agent when one runs).", "agent.cli.sync:sync"
    ),
    LazyCommand(
        "run", "Run the agent in the foreground (what the service runs).", "agent.cli.sync:run"
    ),
    LazyCommand(
        "status", "Last pass, pending changes, conflicts and errors.", "agent.cli.status:status"
    ),
    LazyCommand(
        "trash",
        "Files the agent removed or replaced, and getting them back.",
        "agent.cli.trash:trash",
    ),
    LazyCommand(
        "check",
        "Check records against the school's rules (default: the whole records folder).",
        "agent.cli.check:check",
    ),
    LazyCommand(
        "plugins",
        "Installed plugins, enabled or not, with their version, source and hooks.",
        "agent.cli.plugins:plugins",
    ),
    LazyCommand(
        "roles",
        "Who holds which role: the principal's decision, the mailbox keeper, the reviewers.",
        "agent.cli.roles:roles",
    ),
    LazyCommand(
        "school",
        "The school folder ([school] folder_url) and the school profile (hoso-truong.toml).",
        "agent.cli.school:school",
    ),
    LazyCommand(
        "backup",
        "Encrypted backups of the records folder (a USB drive, a second disk).",
        "agent.cli.backup:backup",
    ),
    LazyCommand(
        "vault",
        "The encrypted credentials hoso uses (share, mail, the school mailbox).",
        "agent.cli.vault:vault",
    ),
    LazyCommand(
        "demo",
        "A live demo: an embedded WebDAV share, sample records and the agent.",
        "agent.cli.demo:demo",
    ),
    LazyCommand(
        "ui", "Open the teacher's page (http://127.0.0.1…) in the browser.", "agent.cli.ui:ui"
    ),
)


# color=True: click would strip ANSI sequences from names when stdout is not a terminal, showing
# a name other than the real one; the terminal guard (main) escapes them all instead.
@click.group(
    cls=LazyGroup,
    lazy=BUILTIN,
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
    from ..context import Ctx

    click_ctx.obj = Ctx.at(config_path)


def main(argv: list[str] | None = None) -> None:
    from ..display import guard_terminal
    from ..i18n import _

    # Libraries' warnings (pypdf on a damaged PDF…) are not messages for the teacher: without
    # a handler, Python would print them on stderr. `hoso run` logs them to its own file.
    logging.getLogger().addHandler(logging.NullHandler())
    # Names from the share, a document or an email reach the terminal only escaped, whatever
    # command (ours or a plugin's) prints them.
    sys.stdout, sys.stderr = guard_terminal(sys.stdout, sys.stderr)
    try:
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
