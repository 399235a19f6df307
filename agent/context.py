"""The object every `hoso` command receives: which config file the command line named.

The root group builds one `Ctx` per run; commands (the agent's and the plugins') get it typed
through `pass_ctx`, and load the config only when they need it, so that `--help`
and the commands that serve people without an agent work without a config file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from . import config as configmod
from . import i18n


@dataclass(frozen=True)
class Ctx:
    config_path: Path

    @classmethod
    def at(cls, config_path: Path | None) -> Ctx:
        """The context for ``--config PATH``, or for the default config path without it."""
        return cls(config_path or configmod.default_config_path())

    def load(self) -> configmod.Config:
        """The config (a ConfigError when it is missing or wrong), its language switched on."""
        cfg = configmod.load(self.config_path)
        i18n.setup(cfg.language)
        return cfg

    def load_if_present(self) -> configmod.Config | None:
        """The config, or None when there is no config file (commands that also serve
        people without an agent, such as a manager's report)."""
        return self.load() if self.config_path.exists() else None

    def load_or_default(self) -> configmod.Config:
        """The config, or the defaults when there is none yet (every plugin enabled)."""
        cfg = self.load_if_present()
        return cfg if cfg is not None else self.default()

    def default(self) -> configmod.Config:
        """The defaults, for this config path: what a command sees before `hoso init`."""
        return configmod.Config(
            path=self.config_path, root=Path.cwd(), state_dir=configmod.default_state_dir()
        )


# `@pass_ctx` gives a command the `Ctx` as its first argument, typed (click's pass_obj gives Any).
pass_ctx = click.make_pass_decorator(Ctx)
