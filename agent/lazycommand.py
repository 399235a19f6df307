"""A `hoso` command named and described without importing it.

`hoso --help` lists every command with its one-line help, and `hoso sync` runs one command:
neither should import the code of all the others (a plugin's command module may pull in mail,
PDF or crypto libraries). So each command is declared as data: its name, its one-line help and
where its click command lives, ``"package.module:attribute"`` (the notation of entry points).
The built-in commands are declared in agent/cli/app.py, a plugin's through the
``hoso_commands`` hook; the module is imported when the command is named.

Plain data, no click: plugins build these from their light ``__init__``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class LazyCommand:
    """One command of the `hoso` group: ``name`` as typed (``"inspect"``), ``help`` the line
    `hoso --help` shows (the first sentence of the command's own help), ``target`` where the
    click command is (``"plugins.inspection.commands:inspect"``)."""

    name: str
    help: str
    target: str

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip() or " " in self.name:
            raise ValueError(f"a command name is one word, not {self.name!r}")
        module, _colon, attribute = self.target.partition(":")
        if not module or not attribute:
            raise ValueError(f"target {self.target!r} is not 'package.module:attribute'")

    def load(self) -> object:
        """Import the module and return the attribute (the click command, checked by the
        caller). Import errors propagate."""
        module, _colon, attribute = self.target.partition(":")
        found: object = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
        return found
