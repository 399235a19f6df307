"""The import graph keeps the module boundaries of ARCHITECTURE.md.

Each third-party library has one owning module that turns its exceptions into ours;
reconcile stays pure (standard library and the plain data types only); and nothing below
imports anything above it (the cli package → daemon/sync → propagate/reconcile →
local/remote/journal → config/errors).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parent.parent / "agent"
# The command line is a package: every module of it (agent/cli/*.py) is click's owner.
CLI = {"cli", *(f"cli.{p.stem}" for p in (AGENT / "cli").glob("*.py") if p.stem != "__init__")}
# So is the teacher's page's package (agent/web/**) for Flask and Jinja2.
WEB = {
    ".".join(
        p.relative_to(AGENT).with_suffix("").parts[:-1]
        if p.stem == "__init__"
        else p.relative_to(AGENT).with_suffix("").parts
    )
    for p in (AGENT / "web").rglob("*.py")
}

OWNERS = {
    "click": CLI | {"context"},
    "platformdirs": {"config"},
    "lxml": {"safexml", "documents.legacy", "documents.readers", "documents.worker"},
    "pypdf": {"documents.readers"},
    "openpyxl": {"documents.readers"},
    "defusedxml": {"davxml"},
    "xml": {"davxml"},
    "requests": {"remote"},
    "webdav3": {"remote"},
    "sqlite_utils": {"journal", "storage"},
    "pathspec": {"local"},
    "watchdog": {"watcher"},
    "wsgidav": {"demo"},
    "cheroot": {"demo", "web.server"},
    "flask": WEB,
    "jinja2": WEB,
    "docx": {"demo", "docx_layout"},
    "pluggy": {"hooks"},
    "cryptography": {"envelope"},
    "keyring": {"vault"},
    "fastcdc": {"backup.chunker"},
}

# Modules of each layer may import their own layer's helpers and anything in lower layers.
LAYERS = [
    {
        "errors",
        "i18n",
        "model",
        "beacon",
        "records",
        "safexml",
        "backup",
        "roles",
        "display",
        "desktopopen",
        "safepath",
        "envelope",
        "durable",
        "conflictname",
        "textfold",
        "weeks",
        "docx_layout",
        "lazycommand",
        "behaviour",
        "documents",
        "documents.model",
        "documents.legacy",
        "documents.readers",
        "documents.sandbox",
        "documents.worker",
        "memory",
    },
    {"config", "recordtypes", "profilestore", "webpage"},
    {
        "local",
        "davxml",
        "davstatus",
        "remote",
        "journal",
        "storage",
        "office",
        "lock",
        "log",
        "sdnotify",
        "watcher",
        "channel",
        "restored",
    },
    {
        "backup.crypto",
        "backup.assemble",
        "backup.files",
        "backup.folderstate",
        "backup.chunker",
        "backup.clock",
        "backup.manifest",
        "backup.ledger",
    },
    {"backup.locks", "backup.repository", "vault"},
    {"reconcile", "guards", "trash", "hooks", "serverinfo", "schedule", "refusals", "walks"},
    # propagate only calls trash to put things in either trash
    {"propagate", "heldback", "notices"},
    {
        "backup.snapshots",
        "backup.restore",
        "backup.blobfetch",
        "backup.maintenance",
        "backup.history",
    },
    {"backup.service", "backup.scheduler", "backup.offsite", "backup.putback"},
    {"sync", "status", "onboarding", "validation", "schoolprofile", "schoolfolder"},
    {"backup.service", "backup.scheduler", "backup.offsite"},
    {"sync", "status", "onboarding", "validation", "schoolprofile", "schoolfolder", "conflicts"},
    {"api", "context"},  # the plugins' one way in (and the commands' context): any service below
    {"control", "schoollane"},
    WEB,  # the teacher's page: views over the same services as the commands
    {"daemon"},  # serves the page while it runs
    {"demo"},
    {"__main__", *CLI},
]


def imports_of(module: Path) -> set[str]:
    """Dotted names imported anywhere in the module (lazy imports included), relative
    imports resolved (``from ..config import x`` in agent/backup/ is ``agent.config``)."""
    package = ["agent", *module.parent.relative_to(AGENT).parts]
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from .x import y / from . import x / from ..x import y
                base = package[: len(package) - (node.level - 1)]
                if node.module:
                    base = [*base, *node.module.split(".")]
                    found.add(".".join(base))
                folder = AGENT.joinpath(*base[1:])
                # the imported names that are modules, not e.g. __version__
                found.update(
                    ".".join([*base, alias.name])
                    for alias in node.names
                    if (folder / f"{alias.name}.py").exists()
                )
            elif node.module:
                found.add(node.module)
    return found


def _name(path: Path) -> str:
    """agent/cli.py → "cli"; agent/backup/crypto.py → "backup.crypto"; a package → its name."""
    parts = path.relative_to(AGENT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _name(p): imports_of(p)
    for p in sorted(AGENT.rglob("*.py"))
    if _name(p) and "locale" not in p.parts
}


def layer_of(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise AssertionError(f"agent/{name}.py is in no layer of this test: place it")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_third_party_libraries_are_imported_by_their_owner_only(module: str) -> None:
    for imported in MODULES[module]:
        top = imported.split(".")[0]
        if top in OWNERS:
            assert module in OWNERS[top], f"agent/{module}.py imports {imported}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_imports_a_layer_above_it(module: str) -> None:
    own = layer_of(module)
    for imported in MODULES[module]:
        if imported.startswith("agent."):
            target = imported.removeprefix("agent.")
            assert layer_of(target) <= own, f"agent/{module}.py imports {imported} from above"


# What plugins may import of the agent: its public face and the hooks, nothing else.
PUBLIC_API = {"agent.api", "agent.hooks"}
PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
PLUGIN_MODULES = sorted(str(p.relative_to(PLUGINS)) for p in PLUGINS.rglob("*.py"))


def _absolute_imports(module: Path) -> set[str]:
    """Dotted names imported anywhere in the module (lazy imports included); a relative import
    that climbs out of its plugin (``from .. import x``) counts as ``plugins`` itself."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level > len(module.relative_to(PLUGINS).parts) - 1
        ):
            found.add("plugins")
        elif _imports_by_name(node):  # importlib.import_module("agent.x"), __import__("agent.x")
            found.add(node.args[0].value)  # type: ignore[attr-defined]
    return found


def _imports_by_name(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args:
        return False
    first, called = node.args[0], node.func
    name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
    return (
        name in {"import_module", "__import__"}
        and isinstance(first, ast.Constant)
        and isinstance(first.value, str)
    )


@pytest.mark.parametrize(
    "source",
    [
        "import agent.journal as j",
        "from agent import journal",
        "import importlib\nj = importlib.import_module('agent.journal')",
        "from importlib import import_module\nj = import_module('agent.journal')",
        "j = __import__('agent.journal')",
    ],
)
def test_the_plugin_import_rule_sees_every_spelling_of_an_import(
    tmp_path: Path, source: str
) -> None:
    module = tmp_path / "sneaky.py"
    module.write_text(source + "\n", encoding="utf-8")
    found = {n for n in _absolute_imports(module) if n.split(".")[0] == "agent"}
    assert found and not found <= PUBLIC_API, found


@pytest.mark.parametrize("module", PLUGIN_MODULES)
def test_plugins_use_only_the_agents_public_api(module: str) -> None:
    for imported in _absolute_imports(PLUGINS / module):
        if imported == "agent" or imported.startswith("agent."):
            assert imported in PUBLIC_API, f"plugins/{module} reaches into {imported}"


@pytest.mark.parametrize("module", PLUGIN_MODULES)
def test_no_plugin_imports_another(module: str) -> None:
    """A plugin works alone: switched off or not installed, another is not missed. (The
    inspection plugin once read lesson dates with the validation plugin's own code.)"""
    parts = module.removesuffix(".py").split("/")
    own = f"plugins.{parts[0]}"
    for imported in _absolute_imports(PLUGINS / module):
        if imported == "plugins" or imported.startswith("plugins."):
            assert imported == own or imported.startswith(own + "."), (
                f"plugins/{module} imports {imported}, another plugin"
            )


def test_the_api_lists_every_name_it_offers() -> None:
    """``agent.api.__all__`` is what docs/plugins.md documents: each name resolves (the lazy
    ones too) and is documented."""
    import agent.api as api

    docs = (PLUGINS.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    for name in api.__all__:
        assert getattr(api, name) is not None, name
        assert f"`{name}" in docs, f"agent.api.{name} is missing from docs/plugins.md"


@pytest.mark.parametrize(
    ("module", "allowed_agent"),
    [
        ("reconcile", {"agent.model", "agent.conflictname"}),
        ("guards", {"agent.model", "agent.reconcile"}),
        ("conflictname", {"agent.model", "agent.textfold"}),
        ("textfold", set()),
        ("refusals", {"agent.model"}),
        ("schedule", {"agent.backup.clock", "agent.config", "agent.davstatus", "agent.model"}),
        ("walks", {"agent.model"}),
        ("beacon", {"agent.model"}),
    ],
)
def test_decisions_are_pure(module: str, allowed_agent: set[str]) -> None:
    for imported in MODULES[module]:
        top = imported.split(".")[0]
        if top == "agent":
            assert imported in allowed_agent, imported
        else:
            assert top in sys.stdlib_module_names, f"{module} imports {imported}"
        assert top not in {"os", "pathlib", "time", "socket", "sqlite3", "io", "shutil"}, imported
