"""`hoso init`: write the agent's config and the share's password."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import click

from .. import config as configmod
from ..context import Ctx, pass_ctx
from ..errors import ConfigError
from ..i18n import _


@click.command()
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
@click.option(
    "--school-key",
    default="",
    metavar="FINGERPRINT",
    help="The school profile signer's key to trust (as `hoso school sign` prints it).",
)
@click.option(
    "--school-url",
    default="",
    help="The school folder on the share: its WebDAV address, a path on the share's server, "
    "or a folder name under the share's address (e.g. the Nextcloud group folder).",
)
@click.option(
    "--language",
    type=click.Choice(["vi", "en"]),
    default=None,
    help="Pin the language of hoso's messages for this computer. Without it messages follow "
    "the session of whoever uses hoso (Vietnamese where nothing says otherwise).",
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
    school_key: str,
    school_url: str,
    language: str | None,
) -> None:
    """Write the agent's config and password (the password is never echoed)."""
    from ..onboarding import Typed, initialise, preflight

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
        typed=Typed.ENVIRONMENT if configmod.PASSWORD_ENV in os.environ else Typed.TERMINAL,
        ca_file=ca_file,
        school_key=school_key,
        school_url=school_url,
        language=language or "",
    )
    click.echo(_("Config written to {path}.").format(path=ctx.config_path))
    click.echo(_("Records folder: {root}").format(root=result.config.root))
    if result.config.school_folder is not None:
        click.echo(_("School folder: {root}").format(root=result.config.school_folder.root))
    click.echo(_("Next: `hoso sync` once, or `hoso run` to keep syncing."))
