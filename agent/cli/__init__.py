"""The `hoso` command line, one module per command group.

`app` holds the root group and the entry point (`hoso = "agent.cli:main"`), `context` the
typed object every command receives (`Ctx`, `pass_ctx`); sync, status, trash, check, plugins,
roles, backup, vault, onboarding (init) and demo hold their commands: click wiring, prompts
and output only, the work being done by the agent's services.
"""

from __future__ import annotations

from ..context import Ctx, pass_ctx
from .app import _add_plugin_commands, cli, main

__all__ = ["Ctx", "_add_plugin_commands", "cli", "main", "pass_ctx"]
