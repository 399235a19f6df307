"""The example plugin of docs/plugins.md works as documented: installed by its entry point,
listed, run by `hoso check`, configured and switched off in the config file."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import date
from pathlib import Path

from agents import run_hoso
from test_hooks import install_plugin, make_config

from agent import config as configmod
from agent.hooks import load_plugins
from agent.records import Record

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = DOCS / "examples" / "hoso_size_limit.py"


def test_the_docs_show_the_tested_example_verbatim() -> None:
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def test_the_test_shown_in_the_docs_passes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugin(site, "hoso_size_limit", EXAMPLE.read_text(encoding="utf-8"))
    cfg = make_config(tmp_path)
    big = cfg.root / "Bài 1.docx"
    big.write_bytes(b"x" * 16_000_000)
    spec = importlib.util.spec_from_file_location("hoso_size_limit", site / "hoso_size_limit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    host = load_plugins(cfg, builtins=(), extra=[("size_limit", module)])
    record = Record("Bài 1.docx", big, None, big.stat().st_size, 0.0)
    [finding] = host.validate_record(record, date.today())
    assert finding.rule == "size_limit.too-big-for-email" and not host.failures


def _setup(tmp_path: Path, plugin_table: str = "") -> tuple[Path, dict[str, str]]:
    site = tmp_path / "site"
    install_plugin(site, "hoso_size_limit", EXAMPLE.read_text(encoding="utf-8"), entry="size_limit")
    root = tmp_path / "HoSo"
    (root / "Tuần 3").mkdir(parents=True)
    (root / "Tuần 3" / "Video tiết dạy.mp4").write_bytes(b"v" * 2_500_000)
    (root / "Tuần 3" / "Ghi chú.txt").write_bytes(b"short")
    config = tmp_path / "agent.toml"
    configmod.write_private(
        config,
        f'root = "{root}"\nstate_dir = "{tmp_path / "state"}"\nlanguage = "vi"\n'
        f'[remote]\nurl = "http://127.0.0.1:9/"\n{plugin_table}',
    )
    return config, {"PYTHONPATH": str(site)}


def test_installed_example_is_listed_run_by_check_and_configurable(tmp_path: Path) -> None:
    config, env = _setup(tmp_path, "[plugins.size_limit]\nmax_mb = 2\n")
    listed = run_hoso("--config", str(config), "plugins", "--json", env=env)
    names = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert names["size_limit"]["hooks"] == ["hoso_validate_record"]
    assert names["size_limit"]["source"] == "entry point: hoso_size_limit"

    done = run_hoso("--config", str(config), "check", "--json", env=env)
    assert done.returncode == 0, done.stderr  # a warning is not an error
    findings = [
        f for f in json.loads(done.stdout)["findings"] if f["rule"].startswith("size_limit")
    ]
    assert [(f["path"], f["severity"]) for f in findings] == [
        ("Tuần 3/Video tiết dạy.mp4", "warning")
    ]
    assert "quá lớn" in findings[0]["message"]  # the teacher's language, from the config


def test_the_example_switched_off_is_listed_and_silent(tmp_path: Path) -> None:
    config, env = _setup(tmp_path, "[plugins.size_limit]\nenabled = false\nmax_mb = 2\n")
    listed = run_hoso("--config", str(config), "plugins", "--json", env=env)
    names = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert names["size_limit"]["enabled"] is False
    done = run_hoso("--config", str(config), "check", "--json", env=env)
    assert not [f for f in json.loads(done.stdout)["findings"] if f["rule"].startswith("size_")]
