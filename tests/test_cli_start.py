"""`hoso --version`, `hoso --help` and `hoso status` start without loading what they do not use.

A structural test, not a timed one: each command runs in a Python of its own, which writes
the modules it ended with (sys.modules) to a file; the heavy libraries (HTTP, XML, PDF, Word,
crypto, the web page) and the commands' own modules must not be among them. The command
list of `hoso --help` comes from declarations (agent/cli/app.py, the plugins' hoso_commands),
so these are checked against the commands themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from agents import hoso_env

import plugins.desktop
import plugins.handover
import plugins.inspection
import plugins.search
import plugins.validation
from agent import config as configmod
from agent.cli.app import BUILTIN
from agent.journal import Journal
from agent.lazycommand import LazyCommand

# Libraries none of the three commands needs (each costs tens of milliseconds to import).
HEAVY = {
    "requests",
    "urllib3",
    "webdav3",
    "lxml",
    "flask",
    "jinja2",
    "werkzeug",
    "docx",
    "fpdf",
    "pypdf",
    "openpyxl",
    "cryptography",
    "keyring",
    "watchdog",
    "wsgidav",
    "cheroot",
    "fastcdc",
}
# The agent's machinery for syncing, which `hoso status` reads the results of, never runs.
SYNC_MACHINERY = {"agent.sync", "agent.remote", "agent.propagate", "agent.daemon", "agent.vault"}
PLUGIN_DECLARED = [
    command
    for plugin in (plugins.desktop, plugins.handover, plugins.inspection, plugins.search)
    for command in plugin.hoso_commands()
] + plugins.validation.hoso_commands()


def _module(command: LazyCommand) -> str:
    return command.target.partition(":")[0]


COMMAND_MODULES = {_module(c) for c in [*BUILTIN, *PLUGIN_DECLARED]}

RECORD_MODULES = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["MODULES_OUT"], "w").write(json.dumps(sorted(sys.modules))))
from agent.cli import main
main()
"""


@pytest.fixture
def teacher(tmp_path: Path) -> Path:
    """A configured computer: config, records folder with a record, a journal."""
    root = tmp_path / "HoSo"
    (root / "Tuần 1").mkdir(parents=True)
    (root / "Tuần 1" / "Bài 1.docx").write_bytes(b"lesson")
    config = tmp_path / "agent.toml"
    configmod.write_private(
        config,
        f'root = "{root}"\nstate_dir = "{tmp_path / "state"}"\nlanguage = "en"\n'
        '[remote]\nurl = "http://127.0.0.1:9/"\n',
    )
    (tmp_path / "state").mkdir(mode=0o700)
    Journal.open(tmp_path / "state" / "journal.sqlite3").close()
    return config


def modules_after(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RECORD_MODULES, *args],
        capture_output=True,
        text=True,
        env=hoso_env({"MODULES_OUT": str(out)}),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    return done, set(json.loads(out.read_text(encoding="utf-8")))


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_version_imports_no_command_no_plugin_and_no_config(tmp_path: Path) -> None:
    done, modules = modules_after(tmp_path, "--version")
    assert (done.returncode, done.stdout) == (0, "hoso, version 0.1.0\n"), done.stderr
    assert tops(modules) & HEAVY == set()
    assert modules & COMMAND_MODULES == set()
    assert {"plugins", "pluggy", "sqlite_utils", "agent.config", "agent.hooks"} & modules == set()


def test_help_lists_every_command_importing_none(tmp_path: Path, teacher: Path) -> None:
    done, modules = modules_after(tmp_path, "--config", str(teacher), "--help")
    assert done.returncode == 0, done.stderr
    listed = done.stdout.split("Commands:\n", 1)[1]
    names = {line.split()[0] for line in listed.splitlines() if line.startswith("  ")}
    assert names == {c.name for c in [*BUILTIN, *PLUGIN_DECLARED]}
    assert tops(modules) & HEAVY == set()
    assert modules & COMMAND_MODULES == set()
    assert {"sqlite_utils", "pathspec"} & modules == set()


def test_status_imports_only_what_status_needs(tmp_path: Path, teacher: Path) -> None:
    done, modules = modules_after(tmp_path, "--config", str(teacher), "status", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["pending"] == ["Tuần 1", "Tuần 1/Bài 1.docx"]
    assert tops(modules) & HEAVY == set()
    assert modules & COMMAND_MODULES == {"agent.cli.status"}
    assert modules & SYNC_MACHINERY == set()
    assert "sqlite_utils" not in modules  # reading the journal needs sqlite3 alone


def test_a_named_plugin_command_imports_its_module_alone(tmp_path: Path, teacher: Path) -> None:
    done, modules = modules_after(tmp_path, "--config", str(teacher), "template", "--help")
    assert done.returncode == 0 and "Write a blank record of the type KIND" in done.stdout
    assert modules & COMMAND_MODULES == {"plugins.validation.commands"}


@pytest.mark.parametrize("declared", [*BUILTIN, *PLUGIN_DECLARED], ids=lambda c: c.name)
def test_each_declared_command_is_the_command_it_names(declared: LazyCommand) -> None:
    """What `hoso --help` shows of a command without importing it is what the command itself
    says (the first sentence of its help), under its own name."""
    command = declared.load()
    assert isinstance(command, click.Command)
    assert command.name == declared.name
    assert command.get_short_help_str(limit=10**6) == declared.help
