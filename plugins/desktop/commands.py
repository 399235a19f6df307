"""`hoso install-desktop`: the "Hồ sơ điện tử" icon in the desktop's menu. Click wiring only:
parse, call launcher.py, print."""

from __future__ import annotations

import click

from agent.api import Ctx, _, pass_ctx

from . import launcher


@click.command("install-desktop")
@click.option("--uninstall", is_flag=True, help="Remove the icon again.")
@pass_ctx
def install_desktop(obj: Ctx, uninstall: bool) -> None:
    """Put the “Hồ sơ điện tử” icon in this account's applications menu: it opens the
    teacher's page (`hoso ui`). Run it as the teacher, once per account."""
    data = launcher.data_home()
    if uninstall:
        removed = launcher.uninstall(data)
        for path in removed:
            click.echo(_("Removed {path}").format(path=path))
        if not removed:
            click.echo(_("The icon was not installed for this account."))
        return
    installed = launcher.install(obj.config_path, data)
    click.echo(
        _("Icon “{name}” installed: {path}").format(name=launcher.NAME, path=installed.desktop_file)
    )
    click.echo(_("It is in the applications menu; it opens the teacher's page."))
