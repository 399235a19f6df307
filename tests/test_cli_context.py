"""The typed context every command receives, a plugin's command included, and the two ways
to start the command line (the `hoso` script and `python -m agent`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agent import __version__
from agent.cli import cli
from agent.context import Ctx, pass_ctx
from agent.errors import ConfigError


@pytest.fixture
def probe() -> Iterator[list[Ctx]]:
    """A command added the way a plugin adds one (hoso_register_commands), that keeps the
    context it gets; removed afterwards so that no other test sees it."""
    seen: list[Ctx] = []

    @click.command("context-probe")
    @pass_ctx
    def command(ctx: Ctx) -> None:
        seen.append(ctx)
        click.echo(f"config: {ctx.config_path}")

    cli.add_command(command)
    try:
        yield seen
    finally:
        cli.commands.pop("context-probe")


def test_a_plugin_command_gets_the_context_of_the_config_named(
    probe: list[Ctx], tmp_path: Path
) -> None:
    path = tmp_path / "elsewhere" / "agent.toml"
    done = CliRunner().invoke(cli, ["--config", str(path), "context-probe"])
    assert done.exit_code == 0, done.output
    assert done.output == f"config: {path}\n"
    assert probe == [Ctx(path)]
    assert probe[0].load_if_present() is None  # no file: None, not an error
    defaults = probe[0].load_or_default()
    assert (defaults.path, defaults.plugins.tables) == (path, {})
    with pytest.raises(ConfigError):
        probe[0].load()


def test_without_config_option_the_context_is_hoso_config(
    probe: list[Ctx], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_CONFIG", str(tmp_path / "from-env.toml"))
    assert CliRunner().invoke(cli, ["context-probe"]).exit_code == 0
    assert probe == [Ctx(tmp_path / "from-env.toml")]


def test_python_dash_m_agent_is_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "HOSO_CONFIG": str(tmp_path / "agent.toml")}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"hoso, version {__version__}")
    usage = subprocess.run(
        [sys.executable, "-m", "agent", "no-such-command"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert usage.returncode == 2
    assert "No such command 'no-such-command'" in usage.stderr
