"""The `hoso` group that imports a command only when it is named.

`hoso --version` imports no command at all, `hoso sync` only agent/cli/sync.py, and
`hoso --help` lists every command, the plugins' too, from their declarations alone
(:class:`agent.lazycommand.LazyCommand`: name, one-line help, where the command lives), the
way click's documentation ("Lazily loading subcommands") shows. Where the names come from:

1. commands added to the group directly (``add_command``), then the built-in table;
2. the commands enabled plugins declare (``hoso_commands``), loaded only for a name that is
   not built in: the config named by ``--config`` says which plugins are enabled;
3. plugins that only have the older ``hoso_register_commands``: called for a name nobody
   declared, and for `hoso --help`, so that their commands are found and listed as before.

A built-in name always means the built-in command; of two plugins declaring one name, the
first in the plugins' call order wins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..lazycommand import LazyCommand

if TYPE_CHECKING:
    from ..hooks import PluginHost

log = logging.getLogger("hoso.cli")

# What one run has found out, kept on the root context (`ctx.meta`): a second `hoso` in the
# same process (a test's CliRunner) with another config finds its own plugins.
_ARGS = "hoso.args"
_PLUGINS = "hoso.plugins"
_DECLARED = "hoso.declared"
_REGISTERED = "hoso.registered"
_LISTING = "hoso.listing"
_OWNERS = "hoso.owners"


class LazyGroup(click.Group):
    """A click group whose commands are :class:`LazyCommand` declarations until named."""

    def __init__(self, *args: Any, lazy: Sequence[LazyCommand] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = {command.name: command for command in lazy}

    # -- what click asks --

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Kept for `hoso --help --config X`: --help is answered before --config is read.
        ctx.meta.setdefault(_ARGS, list(args))
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._register_legacy(ctx)  # older plugins' commands are listed too
        return sorted({*self.commands, *self.lazy, *self._declared(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        declared = self.lazy.get(cmd_name) or self._declared(ctx).get(cmd_name)
        if declared is None:
            self._register_legacy(ctx)
            return self.commands.get(cmd_name)
        if ctx.meta.get(_LISTING):  # `hoso --help`: the declared line, nothing imported
            return click.Command(cmd_name, help=declared.help)
        return _load(declared, ctx.find_root().meta.get(_OWNERS, {}).get(cmd_name))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # "Did you mean …?" among every command, not only those imported so far.
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx.meta[_LISTING] = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx.meta[_LISTING] = False

    # -- the plugins --

    def _declared(self, ctx: click.Context) -> dict[str, LazyCommand]:
        """The commands enabled plugins declare, minus the built-in names."""
        meta = ctx.find_root().meta
        if _DECLARED not in meta:
            declared: dict[str, LazyCommand] = {}
            owners: dict[str, str] = {}  # command name → the plugin whose it is
            for plugin, command in _plugins(ctx).commands():
                if command.name in self.lazy:
                    log.warning(
                        "plugin %s: %s is a built-in command; ignored", plugin, command.name
                    )
                    continue
                if command.name in declared:
                    log.warning(
                        "plugins %s and %s both declare the command %s; %s's is used",
                        owners[command.name],
                        plugin,
                        command.name,
                        owners[command.name],
                    )
                    continue
                declared[command.name] = command
                owners[command.name] = plugin
            meta[_DECLARED] = declared
            meta[_OWNERS] = owners
        declared = meta[_DECLARED]
        return declared

    def _register_legacy(self, ctx: click.Context) -> None:
        """Let plugins that only have hoso_register_commands add theirs, once per run."""
        meta = ctx.find_root().meta
        if not meta.get(_REGISTERED):
            meta[_REGISTERED] = True
            _plugins(ctx).register_commands(self)


def _load(declared: LazyCommand, plugin: str | None) -> click.Command:
    """Import a declared command (a built-in one when ``plugin`` is None); a plugin whose
    command cannot be imported is named, with what to do, rather than told as an unknown
    command."""
    from ..errors import UsageError
    from ..i18n import _

    try:
        command = declared.load()
    except Exception as exc:  # someone else's code: any import error is possible
        problem = f"{type(exc).__name__}: {exc}"
    else:
        if isinstance(command, click.Command):
            return command
        problem = f"{declared.target} is a {type(command).__name__}, not a click command"
    log.error("command %s (%s): %s", declared.name, declared.target, problem)
    if plugin is None:
        raise UsageError(
            _(
                "The command {name} cannot be loaded ({problem}). Reinstall the plugin that "
                "adds it, or switch that plugin off in the config file."
            ).format(name=declared.name, problem=problem)
        )
    raise UsageError(
        _(
            "The command {name} of the plugin {plugin} cannot be loaded ({problem}). "
            "Reinstall that plugin, or switch it off in the config file: "
            "[plugins.{plugin}] enabled = false."
        ).format(name=declared.name, plugin=plugin, problem=problem)
    )


def _plugins(ctx: click.Context) -> PluginHost:
    """The plugin host for the config named by --config (defaults when it is missing or
    broken: the command itself reports that), built once per run."""
    meta = ctx.find_root().meta
    if _PLUGINS not in meta:
        from ..context import Ctx
        from ..errors import HosoError
        from ..hooks import load_plugins

        context = Ctx.at(_config_path(ctx))
        try:
            config = context.load_or_default()
        except (click.ClickException, HosoError):
            config = context.default()
        meta[_PLUGINS] = load_plugins(config)
    host: PluginHost = meta[_PLUGINS]
    return host


def _config_path(ctx: click.Context) -> Path | None:
    root = ctx.find_root()
    if "config_path" in root.params:
        path: Path | None = root.params["config_path"]
        return path
    # `hoso --help` is answered while the arguments are parsed, before --config is read:
    # parse them again, quietly, for it.
    group = root.command
    args = root.meta.get(_ARGS, [])
    try:
        parsed = group.make_context(root.info_name, list(args), resilient_parsing=True)
    except click.ClickException:
        return None
    found: Path | None = parsed.params.get("config_path")
    return found
