"""The `hoso` command line, one module per command group.

`app` holds the root group and the entry point (`hoso = "agent.cli:main"`), `lazy` the group
that imports a command only when it is named; sync, status, trash, check, plugins, roles,
backup, vault, onboarding (init) and demo hold their commands: click wiring, prompts and
output only, the work being done by the agent's services. Commands receive the typed context
of agent/context.py (`Ctx`, `pass_ctx`).
"""

from __future__ import annotations

from .app import cli, main

__all__ = ["cli", "main"]
