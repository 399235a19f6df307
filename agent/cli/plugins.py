"""`hoso plugins`: the installed plugins, enabled or not, with their hooks."""

from __future__ import annotations

import json

import click

from ..context import Ctx, pass_ctx
from ..i18n import _


@click.command()
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plugins(ctx: Ctx, as_json: bool) -> None:
    """Installed plugins, enabled or not, with their version, source and hooks."""
    from ..hooks import load_plugins

    cfg = ctx.load_or_default()
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
