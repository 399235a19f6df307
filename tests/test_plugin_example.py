"""The example plugin of docs/plugins.md works as documented: installed by its entry point,
listed, run by `hoso check`, configured and switched off in the config file."""

from __future__ import annotations

import importlib.util
import json
import re
import stat
from datetime import date
from pathlib import Path
from types import ModuleType

from agents import run_hoso
from test_hooks import install_plugin, make_config

from agent import config as configmod
from agent.hooks import JobContext, load_plugins
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


# --- the second example: its own storage and a durable write -----------------------------------

WEEK_LOG = DOCS / "examples" / "hoso_week_log.py"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_show_the_second_example_verbatim_and_it_uses_only_the_api() -> None:
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    assert WEEK_LOG.read_text(encoding="utf-8") in re.findall(r"```python\n(.*?)```", text, re.S)
    for example in (EXAMPLE, WEEK_LOG):
        imported = set(re.findall(r"^from (\S+) import", example.read_text(), flags=re.M))
        assert imported <= {"__future__", "agent.api", "agent.hooks"}, imported


def test_the_week_log_remembers_records_in_its_storage_and_writes_the_list(
    tmp_path: Path,
) -> None:
    cfg = make_config(tmp_path)
    plugin = _load(WEEK_LOG, "hoso_week_log")
    host = load_plugins(cfg, builtins=(), extra=[("week_log", plugin)])
    for path in ("KHBD/Tuần 10/Bài 9.docx", "KHBD/Tuần 2/Bài 1.docx", "Tuần 10/Bài 10.docx"):
        file = cfg.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"x")
        host.record_settled(Record(path, file, None, 1, 0.0))
    host.record_settled(Record("Ghi chú.txt", cfg.root / "Ghi chú.txt", None, 1, 0.0))
    [(name, job)] = host.scheduled_jobs()
    context = JobContext(cfg, now=1_763_254_800.0, last_run=None, notify=lambda _n: None)
    assert host.run_job(name, job, context) and not host.failures
    log = cfg.root / "Nhật ký tuần.txt"
    assert log.read_text(encoding="utf-8") == (
        "Tuần 2\n  KHBD/Tuần 2/Bài 1.docx\nTuần 10\n  KHBD/Tuần 10/Bài 9.docx\n"
        "  Tuần 10/Bài 10.docx\n"
    )
    assert stat.S_IMODE(log.stat().st_mode) == 0o644
    stored = cfg.state_dir / "plugins" / "week_log.sqlite3"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert host.own_files() == ["/Nhật ký tuần.txt"]
