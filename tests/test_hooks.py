"""Plugin hooks: discovery, order, enable/disable, and isolation of plugins that misbehave.

Third-party plugins are installed for real: a module plus a ``*.dist-info`` folder with an
``entry_points.txt`` on ``sys.path`` (what pip writes), found through the ``hoso`` group.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Generator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, hoso_command, hoso_env, remote_tree, run_hoso
from webui import Client
from conftest import Share

from agent import config as configmod
from agent.config import Config
from agent.daemon import _Jobs
from agent.errors import ConfigError
from agent.hooks import (
    Deletion,
    HookSpecs,
    Job,
    JobContext,
    Notification,
    PluginHost,
    hookimpl,
    hookspec,
    load_plugins,
)
from agent.journal import Journal
from agent.model import Kind, Report, Side
from agent.records import Finding, Record, RecordType, Severity

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)


def make_config(tmp_path: Path, plugins: dict | None = None) -> Config:
    raw = {
        "root": str(tmp_path / "HoSo"),
        "state_dir": str(tmp_path / "state"),
        "remote": {"url": "http://127.0.0.1:9/"},
        "plugins": plugins or {},
    }
    (tmp_path / "HoSo").mkdir(exist_ok=True)
    return configmod.from_dict(raw, tmp_path / "agent.toml")


def install_plugin(
    site: Path, name: str, source: str, *, version: str = "1.0", entry: str = ""
) -> None:
    """Install a plugin the way pip would: a module and its dist-info with an entry point
    (named ``entry``, default the module's name: the plugin's name in hoso)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[hoso]\n{entry or name} = {name}\n", encoding="utf-8")


def record(path: str = "KHBD/Bài 1.docx") -> Record:
    return Record(path, Path("/nonexistent") / path, None, 10, 0.0)


def finder(rule: str, **impl_options: bool) -> object:
    class Plugin:
        @hookimpl(**impl_options)
        def hoso_validate_record(self, record: Record) -> list[Finding]:
            return [Finding(record.path, rule, Severity.WARNING, rule)]

    return Plugin()


# --- discovery, listing, enable/disable ------------------------------------------------------


def test_builtin_plugins_are_listed_with_version_source_and_hooks(tmp_path: Path) -> None:
    host = load_plugins(make_config(tmp_path))
    by_name = {p.name: p for p in host.plugins}
    assert by_name["validation"].enabled and by_name["validation"].source == "built-in"
    assert "hoso_validate_record" in by_name["validation"].hooks
    assert set(by_name["desktop"].hooks) == {"hoso_notify", "hoso_commands"}
    assert {t.code for t in host.record_types()} >= {"KHBD", "SCN", "NENTANG"}


def test_a_plugin_disabled_in_the_config_is_listed_but_never_called(tmp_path: Path) -> None:
    host = load_plugins(make_config(tmp_path, {"validation": {"enabled": False}}))
    validation = next(p for p in host.plugins if p.name == "validation")
    assert not validation.enabled
    assert "hoso_record_types" in validation.hooks  # listed with its hooks all the same
    assert host.record_types() == []


def test_hooks_run_in_pluggy_order_tryfirst_then_last_registered(tmp_path: Path) -> None:
    host = load_plugins(
        make_config(tmp_path),
        builtins=(),
        extra=[
            ("a", finder("a")),
            ("b", finder("b")),
            ("late", finder("late", trylast=True)),
            ("early", finder("early", tryfirst=True)),
        ],
    )
    rules = [f.rule for f in host.validate_record(record(), date(2026, 11, 29))]
    assert rules == ["early", "b", "a", "late"]


def test_every_hook_is_documented_for_plugin_authors() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    hooks = [name for name in dir(HookSpecs) if name.startswith("hoso_")]
    assert len(hooks) >= 8
    for name in hooks:
        assert getattr(HookSpecs, name).__doc__, f"{name} has no docstring"
        assert f"`{name}" in docs, f"{name} is missing from docs/plugins.md"


def test_a_third_party_plugin_is_found_by_its_entry_point(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install_plugin(
        site,
        "hoso_hello",
        """
        from agent.hooks import hookimpl

        @hookimpl
        def hoso_after_pass(report):
            pass
        """,
        version="2.5",
    )
    cfg = make_config(tmp_path)
    configmod.write_private(cfg.path, f'root = "{cfg.root}"\n[remote]\nurl = "http://x/"\n')
    done = run_hoso("--config", str(cfg.path), "plugins", "--json", env={"PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr
    listed = {p["name"]: p for p in json.loads(done.stdout)["plugins"]}
    assert listed["hoso_hello"] == {
        "name": "hoso_hello",
        "version": "2.5",
        "source": "entry point: hoso_hello",
        "enabled": True,
        "hooks": ["hoso_after_pass"],
        "error": None,
    }
    assert listed["validation"]["enabled"]


def test_an_argument_with_a_default_is_never_passed(tmp_path: Path) -> None:
    class Defaults:
        @hookimpl
        def hoso_validate_record(self, record: Record, today: date | None = None) -> list[Finding]:
            return [Finding(record.path, "defaults", Severity.INFO, str(today))]

    host = load_plugins(make_config(tmp_path), builtins=(), extra=[("defaults", Defaults())])
    [finding] = host.validate_record(record(), date(2026, 11, 29))
    assert finding.message == "None"  # as docs/plugins.md says: declare it without a default


def test_a_plugin_with_a_misspelt_hook_is_refused_alone(tmp_path: Path) -> None:
    class Typo:
        @hookimpl
        def hoso_validate_recrod(self, record: Record) -> list[Finding]:
            return []

    host = load_plugins(
        make_config(tmp_path), builtins=(), extra=[("typo", Typo()), ("ok", finder("ok"))]
    )
    typo = next(p for p in host.plugins if p.name == "typo")
    assert not typo.enabled and "hoso_validate_recrod" in typo.error
    assert [f.rule for f in host.validate_record(record(), date.today())] == ["ok"]


def test_the_same_plugin_under_two_names_is_registered_once(tmp_path: Path) -> None:
    plugin = finder("twice")
    host = load_plugins(
        make_config(tmp_path), builtins=(), extra=[("one", plugin), ("two", plugin)]
    )
    two = next(p for p in host.plugins if p.name == "two")
    assert not two.enabled and "already registered as one" in two.error
    assert [f.rule for f in host.validate_record(record(), date.today())] == ["twice"]


def test_a_plugin_that_cannot_be_imported_is_reported_and_the_rest_load(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.sqlite3")
    try:
        host = load_plugins(
            make_config(tmp_path),
            failure_log=journal,
            builtins=("plugins.validation", "plugins.no_such_plugin"),
        )
        broken = next(p for p in host.plugins if p.name == "no_such_plugin")
        assert not broken.enabled and "ModuleNotFoundError" in broken.error
        assert host.record_types()  # validation still works
        assert [(f.plugin, f.hook) for f in journal.plugin_failures()] == [
            ("no_such_plugin", "load")
        ]
    finally:
        journal.close()


# --- isolation --------------------------------------------------------------------------------


class Raises:
    broken = True  # until the test mends it

    @hookimpl
    def hoso_validate_record(self, record: Record) -> list[Finding]:
        if self.broken:
            raise RuntimeError("bug in the plugin")
        return []


class Garbage:
    def __init__(self, value: object) -> None:
        self.value = value

    @hookimpl
    def hoso_validate_record(self, record: Record) -> object:
        return self.value


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    @hookimpl
    def hoso_validate_record(self, record: Record) -> list[Finding]:
        self.calls += 1
        self.release.wait()
        return []


def test_a_plugin_that_raises_is_skipped_recorded_and_cleared_when_it_recovers(
    tmp_path: Path,
) -> None:
    flaky = Raises()
    journal = Journal.open(tmp_path / "journal.sqlite3")
    try:
        host = load_plugins(
            make_config(tmp_path),
            failure_log=journal,
            builtins=(),
            extra=[("flaky", flaky), ("ok", finder("ok"))],
        )
        assert [f.rule for f in host.validate_record(record(), date.today())] == ["ok"]
        [failure] = journal.plugin_failures()
        assert (failure.plugin, failure.hook) == ("flaky", "hoso_validate_record")
        assert "RuntimeError: bug in the plugin" in failure.detail
        assert any("flaky" in line for line in host.failures)

        flaky.broken = False
        host.validate_record(record(), date.today())
        assert journal.plugin_failures() == []
    finally:
        journal.close()


@pytest.mark.parametrize(
    "value",
    ["not a list", [1, 2], [Finding("another/path.docx", "x", Severity.ERROR, "m")]],
    ids=["text", "numbers", "finding-for-another-file"],
)
def test_a_plugin_that_returns_garbage_is_skipped(tmp_path: Path, value: object) -> None:
    host = load_plugins(
        make_config(tmp_path), builtins=(), extra=[("junk", Garbage(value)), ("ok", finder("ok"))]
    )
    assert [f.rule for f in host.validate_record(record(), date.today())] == ["ok"]
    assert "unusable result" in host.failures[0]


class LazyFindings(list):  # type: ignore[type-arg]
    """Garbage a list of findings can be: a list whose items come lazily, and never (or
    break). Looking at it is running the plugin's code."""

    def __init__(self, release: threading.Event, *, breaks: bool) -> None:
        super().__init__()
        self.release, self.breaks = release, breaks

    def __iter__(self):  # type: ignore[no-untyped-def]
        if self.breaks:
            raise RuntimeError("the plugin's lazy list broke")
        self.release.wait()
        return iter(())


@pytest.mark.parametrize("breaks", [False, True], ids=["hangs-when-read", "raises-when-read"])
def test_an_answer_that_hangs_or_raises_when_looked_at_is_the_plugins_failure(
    tmp_path: Path, breaks: bool
) -> None:
    release = threading.Event()
    lazy = LazyFindings(release, breaks=breaks)
    host = load_plugins(
        make_config(tmp_path, {"timeout": 0.3}),
        builtins=(),
        extra=[("lazy", Garbage(lazy)), ("ok", finder("ok"))],
    )
    found: list[object] = []
    caller = threading.Thread(
        target=lambda: found.append(host.validate_record(record(), date.today())), daemon=True
    )
    try:
        caller.start()
        caller.join(10)  # the deadline is 0.3 s
        assert not caller.is_alive(), "the pass waits forever on the plugin's answer"
        assert [[f.rule for f in findings] for findings in found] == [["ok"]]
        assert "lazy" in host.failures[0]
    finally:
        release.set()


def test_a_hung_plugin_is_timed_out_and_suspended(tmp_path: Path) -> None:
    hangs = Hangs()
    host = load_plugins(
        make_config(tmp_path, {"timeout": 0.3}),
        builtins=(),
        extra=[("stuck", hangs), ("ok", finder("ok"))],
    )
    try:
        assert [f.rule for f in host.validate_record(record(), date.today())] == ["ok"]
        assert "stuck" in host.suspended and "did not return" in host.failures[0]
        host.validate_record(record(), date.today())
        assert hangs.calls == 1  # not called again while that call is still running
    finally:
        hangs.release.set()


def test_a_suspended_plugin_is_resumed_once_its_stuck_call_returns(tmp_path: Path) -> None:
    hangs = Hangs()
    host = load_plugins(
        make_config(tmp_path, {"timeout": 0.3}), builtins=(), extra=[("slow", hangs)]
    )
    host.validate_record(record(), date.today())
    assert "slow" in host.suspended
    stuck = next(t for t in threading.enumerate() if t.name == "hoso-plugin-slow")
    hangs.release.set()
    stuck.join(10)
    assert not stuck.is_alive()
    assert host.validate_record(record(), date.today()) == []
    assert hangs.calls == 2 and "slow" not in host.suspended


# --- pluggy's own machinery: firstresult and wrappers ---------------------------------------


class ChooseSpecs:
    @hookspec(firstresult=True)
    def hoso_test_choose(self, config: Config) -> str | None:  # type: ignore[empty-body]
        """A question with one answer (this test's own)."""


class Chooser:
    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.calls = 0

    @hookimpl
    def hoso_test_choose(self) -> object:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_a_firstresult_hook_stops_at_the_first_answer(tmp_path: Path) -> None:
    host = load_plugins(make_config(tmp_path), builtins=())
    host.manager.add_hookspecs(ChooseSpecs)
    last, second = Chooser("last answer"), Chooser("second answer")
    broken, silent = Chooser(RuntimeError("no answer today")), Chooser(None)
    for name, plugin in [
        ("last", last),
        ("second", second),
        ("broken", broken),
        ("silent", silent),
    ]:
        assert host.register(name, plugin) == ""

    def text(value: object) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise TypeError("not text")

    assert host.call("hoso_test_choose", text, config=host.config) == [("second", "second answer")]
    assert (silent.calls, broken.calls, second.calls, last.calls) == (1, 1, 1, 0)
    assert "Plugin broken failed in hoso_test_choose" in host.failures[0]


class Wrapper:
    """A new-style wrapper: it sees every answer, drops rule "a" and adds its own finding."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    @hookimpl(wrapper=True)
    def hoso_validate_record(self, record: Record) -> Generator[None, list, list]:
        answers = yield
        self.seen = [[f.rule for f in found] for found in answers]
        kept = [[f for f in found if f.rule != "a"] for found in answers]
        return [*kept, [Finding(record.path, "wrapped", Severity.INFO, "added")]]


def test_a_wrapper_sees_and_can_change_the_result(tmp_path: Path) -> None:
    wrapper = Wrapper()
    host = load_plugins(
        make_config(tmp_path),
        builtins=(),
        extra=[("wrap", wrapper), ("a", finder("a")), ("b", finder("b"))],
    )
    rules = [f.rule for f in host.validate_record(record(), date(2026, 11, 29))]
    assert wrapper.seen == [["b"], ["a"]]  # the implementations' answers, in pluggy's order
    assert rules == ["b", "wrapped"] and not host.failures


class Notes:
    @hookimpl
    def hoso_status_notes(self) -> list[str]:
        return ["from the plugin"]


class OldStyleWrapper:
    @hookimpl(hookwrapper=True)
    def hoso_status_notes(self) -> Generator[None, Any, None]:
        outcome = yield
        outcome.force_result([*outcome.get_result(), ["from the wrapper"]])


def test_an_old_style_wrapper_can_change_the_result_and_owns_what_it_adds(
    tmp_path: Path,
) -> None:
    host = load_plugins(
        make_config(tmp_path),
        builtins=(),
        extra=[("old", OldStyleWrapper()), ("notes", Notes())],
    )
    assert host.status_notes() == [("notes", "from the plugin"), ("old", "from the wrapper")]


class BadWrapper:
    def __init__(self, how: str) -> None:
        self.how = how
        self.release = threading.Event()

    @hookimpl(wrapper=True)
    def hoso_validate_record(self) -> Generator[None, list, object]:
        if self.how == "raises-before":
            raise RuntimeError("broken before")
        answers = yield
        if self.how == "raises-after":
            raise RuntimeError("broken after")
        if self.how == "yields-twice":
            yield
        if self.how == "hangs":
            self.release.wait()
        return "not a list" if self.how == "garbage" else answers


@pytest.mark.parametrize(
    ("how", "detail"),
    [
        ("raises-before", "raised RuntimeError: broken before"),
        ("raises-after", "raised RuntimeError: broken after"),
        ("yields-twice", "yielded a second time"),
        ("garbage", "returned an unusable result: expected the list of answers, got str"),
        ("hangs", "did not return within 0.3 s; suspended"),
    ],
)
def test_a_wrapper_that_fails_is_recorded_and_the_result_goes_on(
    tmp_path: Path, how: str, detail: str
) -> None:
    wrapper = BadWrapper(how)
    journal = Journal.open(tmp_path / "journal.sqlite3")
    try:
        host = load_plugins(
            make_config(tmp_path, {"timeout": 0.3}),
            failure_log=journal,
            builtins=(),
            extra=[("wrap", wrapper), ("a", finder("a"))],
        )
        for _ in range(2):  # suspended after hanging: the second call goes round it
            assert [f.rule for f in host.validate_record(record(), date.today())] == ["a"]
        [failure] = journal.plugin_failures()
        assert (failure.plugin, failure.hook) == ("wrap", "hoso_validate_record")
        assert detail in failure.detail
        assert failure.count == (1 if how == "hangs" else 2)  # counted, never cleared half-way
        assert ("wrap" in host.suspended) == (how == "hangs")
    finally:
        wrapper.release.set()
        journal.close()


def test_a_wrapper_that_is_not_a_generator_is_refused_alone(tmp_path: Path) -> None:
    class NotAGenerator:
        @hookimpl(wrapper=True)
        def hoso_validate_record(self) -> list[Finding]:
            return []

    host = load_plugins(
        make_config(tmp_path), builtins=(), extra=[("odd", NotAGenerator()), ("a", finder("a"))]
    )
    odd = next(p for p in host.plugins if p.name == "odd")
    assert not odd.enabled and "not a generator function" in odd.error
    assert [f.rule for f in host.validate_record(record(), date.today())] == ["a"]


# --- every hook, exercised ----------------------------------------------------------------------

SPY_TYPE = RecordType("SPY", "Hồ sơ thử", "Spy record", files=("spy-*.txt",))


class Spy:
    """One plugin implementing every hook the host calls in this process; it keeps what each
    call was given."""

    def __init__(self) -> None:
        self.given: dict[str, list[object]] = {}

    def _saw(self, hook: str, value: object) -> None:
        self.given.setdefault(hook, []).append(value)

    @hookimpl
    def hoso_check_config(self, config: Config) -> list[str]:
        self._saw("check_config", config.root)
        return ["plugins.spy.colour: write red or blue"]

    @hookimpl
    def hoso_record_types(self) -> list[RecordType]:
        return [SPY_TYPE]

    @hookimpl
    def hoso_own_files(self) -> list[str]:
        return ["/Spy/log-*.jsonl"]

    @hookimpl
    def hoso_record_settled(self, record: Record) -> None:
        self._saw("record_settled", record.path)

    @hookimpl
    def hoso_validate_record(self, record: Record, today: date) -> list[Finding]:
        return [Finding(record.path, "spy.seen", Severity.INFO, today.isoformat())]

    @hookimpl
    def hoso_prepare_checks(self) -> None:
        self._saw("prepare_checks", threading.current_thread().name)

    @hookimpl
    def hoso_after_pass(self, report: Report) -> None:
        self._saw("after_pass", report.uploaded)

    @hookimpl
    def hoso_before_delete(self, deletions: list[Deletion]) -> None:
        self._saw("before_delete", [d.path for d in deletions])

    @hookimpl
    def hoso_scheduled_jobs(self) -> list[Job]:
        return [Job("count", 60, lambda context: self._saw("job", context.last_run))]

    @hookimpl
    def hoso_notify(self, notification: Notification) -> bool:
        self._saw("notify", notification.key)
        return notification.urgent  # delivers urgent ones only

    @hookimpl
    def hoso_school_year_start(self, today: date) -> date:
        self._saw("school_year_start", today)
        return date(today.year if today.month >= 9 else today.year - 1, 9, 7)

    @hookimpl
    def hoso_record_date(self, record: Record, year_start: date) -> date | None:
        self._saw("record_date", (record.path, year_start))
        return date(2026, 11, 30) if record.path.startswith("spy-") else None


def spy_host(tmp_path: Path) -> tuple[Spy, PluginHost]:
    spy = Spy()
    return spy, load_plugins(make_config(tmp_path), builtins=(), extra=[("spy", spy)])


def test_hook_check_config_problems_stop_with_one_config_error(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    with pytest.raises(ConfigError, match=r"^plugins\.spy\.colour: write red or blue$"):
        host.check_config()
    assert spy.given["check_config"] == [tmp_path / "HoSo"]


def test_hook_record_types_are_contributed(tmp_path: Path) -> None:
    _spy, host = spy_host(tmp_path)
    assert host.record_types() == [SPY_TYPE]


def test_hook_own_files_patterns_are_gathered(tmp_path: Path) -> None:
    _spy, host = spy_host(tmp_path)
    assert host.own_files() == ["/Spy/log-*.jsonl"]


def test_hook_record_settled_gets_the_record(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    host.record_settled(record("spy-1.txt"))
    assert spy.given["record_settled"] == ["spy-1.txt"]


def test_hook_validate_record_gets_the_record_and_today(tmp_path: Path) -> None:
    _spy, host = spy_host(tmp_path)
    [finding] = host.validate_record(record("spy-1.txt"), date(2026, 11, 29))
    assert (finding.path, finding.rule, finding.message) == ("spy-1.txt", "spy.seen", "2026-11-29")


def test_hook_prepare_checks_is_called_isolated(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    host.prepare_checks()
    assert spy.given["prepare_checks"] == ["hoso-plugin-spy"]  # on the plugin's own thread


def test_hook_after_pass_gets_the_report(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    host.after_pass(Report(uploaded=["spy-1.txt"]))
    assert spy.given["after_pass"] == [["spy-1.txt"]]


def test_hook_before_delete_is_called_only_when_something_is_deleted(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    host.before_delete([])
    assert "before_delete" not in spy.given
    host.before_delete([Deletion("spy-1.txt", Side.REMOTE, Kind.FILE)])
    assert spy.given["before_delete"] == [["spy-1.txt"]]


def test_hook_scheduled_jobs_carry_their_plugin_and_run_isolated(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    [(plugin, job)] = host.scheduled_jobs()
    assert (plugin, job.name, job.every) == ("spy", "count", 60)
    context = JobContext(host.config, 1_764_000_000.0, None, host.notify)
    assert host.run_job(plugin, job, context)
    assert spy.given["job"] == [None]


def test_hook_notify_reports_delivery_and_logs_what_no_channel_showed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spy, host = spy_host(tmp_path)
    assert host.notify(Notification("spy:1", "Urgent", "now", urgent=True))
    assert not host.notify(Notification("spy:2", "Later", "some day"))
    assert spy.given["notify"] == ["spy:1", "spy:2"]
    assert [r.getMessage() for r in caplog.records if r.name == "hoso.hooks"] == ["Later: some day"]


EXTRAS = """
import click

from agent.hooks import hookimpl


@hookimpl
def hoso_register_commands(cli):
    @cli.command()
    @click.argument("who")
    @click.pass_obj
    def greet(obj, who):
        \"\"\"Greet someone from the records folder.\"\"\"
        click.echo(f"Xin chào {who}, from {obj.load().root.name}")


@hookimpl
def hoso_status_notes(config):
    return [f"Spy note for {config.root.name}"]


from pathlib import Path

from agent.api import WebCard, WebPage, WebRedirect, WebView


def _hello(request):
    if request.method == "POST":
        return WebRedirect("/hello/", "Chào " + request.arg("who"))
    return WebView("hello.html", {"root": request.config.root.name, "sub": request.subpath})


@hookimpl
def hoso_web_pages(config):
    return [
        WebPage(
            "hello",
            lambda: "Xin chào",
            65,
            Path(__file__).with_name("hello_templates"),
            _hello,
            card=lambda request: WebCard("Hello card", [f"{request.language} card line"], "warn"),
        )
    ]
"""
HELLO_TEMPLATE = """{% extends "base.html" %}
{% block content %}<h1>Hello {{ root }} [{{ sub }}]</h1>
<form method="post"><input type="hidden" name="csrf" value="{{ csrf }}">
<input name="who" value="cô Lan"><button>Go</button></form>{% endblock %}
"""


@pytest.fixture
def extras(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An installed plugin adding a command and a status note; its config, its environment."""
    site = tmp_path / "site"
    install_plugin(site, "hoso_extras", EXTRAS)
    (site / "hello_templates").mkdir()
    (site / "hello_templates" / "hello.html").write_text(HELLO_TEMPLATE, encoding="utf-8")
    cfg = make_config(tmp_path)
    configmod.write_private(
        cfg.path,
        f'root = "{cfg.root}"\nstate_dir = "{tmp_path / "state"}"\n'
        '[remote]\nurl = "http://127.0.0.1:9/"\n',
    )
    return cfg.path, {"PYTHONPATH": str(site)}


def test_hook_register_commands_adds_a_working_command(
    extras: tuple[Path, dict[str, str]],
) -> None:
    config, env = extras
    done = run_hoso("--config", str(config), "greet", "cô Lan", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Xin chào cô Lan, from HoSo\n"
    listed = run_hoso("--config", str(config), "--help", env=env)
    assert "greet" in listed.stdout and "Greet someone from the records folder." in listed.stdout


LAZY = """
from agent.api import LazyCommand
from agent.hooks import hookimpl


@hookimpl
def hoso_commands():
    return [
        LazyCommand("big-files", "The records too big to email.", "hoso_lazy_commands:big_files"),
        LazyCommand("broken", "A command whose module is missing.", "hoso_no_such_module:cmd"),
        LazyCommand("status", "Not the real status.", "hoso_lazy_commands:big_files"),
    ]
"""
LAZY_COMMANDS = """
import os
from pathlib import Path

import click

from agent.api import Ctx, pass_ctx

# What the test looks at: whether (and how often) hoso imported this module.
with Path(os.environ["LAZY_IMPORTED"]).open("a") as mark:
    mark.write("imported\\n")


@click.command("big-files")
@pass_ctx
def big_files(ctx):
    \"\"\"The records too big to email. Lists them.\"\"\"
    click.echo(f"big files of {ctx.load().root.name}: none")
"""


@pytest.fixture
def lazy(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """An installed plugin declaring its commands (hoso_commands); its config, its
    environment, and the file its command module writes a line into when imported."""
    site = tmp_path / "site"
    install_plugin(site, "hoso_lazy", LAZY)
    (site / "hoso_lazy_commands.py").write_text(textwrap.dedent(LAZY_COMMANDS), encoding="utf-8")
    cfg = make_config(tmp_path)
    configmod.write_private(
        cfg.path,
        f'root = "{cfg.root}"\nstate_dir = "{tmp_path / "state"}"\n'
        '[remote]\nurl = "http://127.0.0.1:9/"\n',
    )
    mark = tmp_path / "imported.txt"
    return cfg.path, {"PYTHONPATH": str(site), "LAZY_IMPORTED": str(mark)}, mark


def test_hook_commands_are_listed_unimported_and_imported_when_run(
    lazy: tuple[Path, dict[str, str], Path],
) -> None:
    config, env, mark = lazy
    listed = run_hoso("--config", str(config), "--help", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "big-files" in listed.stdout and "The records too big to email." in listed.stdout
    # A built-in name stays the built-in command's, in the list and when run.
    assert "Not the real status" not in listed.stdout
    assert not mark.exists()  # listed from the declaration alone
    assert run_hoso("--config", str(config), "status", env=env).returncode == 0
    assert not mark.exists()
    done = run_hoso("--config", str(config), "big-files", env=env)
    assert (done.returncode, done.stdout) == (0, "big files of HoSo: none\n"), done.stderr
    assert mark.read_text() == "imported\n"
    helped = run_hoso("--config", str(config), "big-files", "--help", env=env)
    assert "Lists them." in helped.stdout
    assert mark.read_text() == "imported\n" * 2


def test_hook_commands_a_broken_target_is_named_with_exit_2(
    lazy: tuple[Path, dict[str, str], Path],
) -> None:
    config, env, _mark = lazy
    done = run_hoso("--config", str(config), "broken", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "Error: The command broken of the plugin hoso_lazy cannot be loaded ("
    )
    assert "hoso_no_such_module" in done.stderr
    assert "[plugins.hoso_lazy] enabled = false" in done.stderr
    assert done.stdout == ""


def test_hook_commands_of_a_disabled_plugin_do_not_exist(
    lazy: tuple[Path, dict[str, str], Path],
) -> None:
    config, env, mark = lazy
    with config.open("a", encoding="utf-8") as file:
        file.write("[plugins.hoso_lazy]\nenabled = false\n")
    done = run_hoso("--config", str(config), "big-files", env=env)
    assert done.returncode == 2 and "No such command 'big-files'" in done.stderr
    assert "big-files" not in run_hoso("--config", str(config), "--help", env=env).stdout
    # --help is answered before --config is read: the config it names still decides.
    assert "big-files" not in run_hoso("--help", "--config", str(config), env=env).stdout
    assert not mark.exists()


def test_hook_status_notes_show_in_status(extras: tuple[Path, dict[str, str]]) -> None:
    config, env = extras
    done = run_hoso("--config", str(config), "status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plugin_notes"] == [
        {"plugin": "hoso_extras", "text": "Spy note for HoSo"}
    ]
    assert "Spy note for HoSo" in run_hoso("--config", str(config), "status", env=env).stdout


def test_hook_web_pages_serves_a_plugin_page_card_and_form(
    extras: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    config, env = extras
    page = subprocess.Popen(
        hoso_command("--config", str(config), "ui", "--print-url"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hoso_env(env),
    )
    try:
        assert page.stdout is not None
        url = page.stdout.readline().strip()
        port = int(url.split(":")[2].split("/")[0])
        client = Client(port)
        status, _headers, _html = client.request("GET", url.split(str(port), 1)[1])
        assert status == 303
        status, _headers, html = client.request("GET", "/hello/week/3")
        assert status == 200 and "Hello HoSo [week/3]" in html
        assert 'href="/hello/"' in html and "Xin chào" in html  # in the menu
        token = client.csrf()
        status, headers, _html = client.request(
            "POST", "/hello/", body=f"csrf={token}&who=c%C3%B4+Lan"
        )
        assert status == 303 and headers["location"] == "/hello/"
        assert "Chào cô Lan" in client.request("GET", "/hello/")[2]
        overview = client.request("GET", "/?part=live")[2]
        assert "Hello card" in overview and "vi card line" in overview
    finally:
        page.terminate()
        page.communicate(timeout=30)
    assert page.returncode == 0


def test_hook_school_year_start_is_the_first_answer(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    assert host.school_year_start(date(2027, 1, 4)) == date(2026, 9, 7)
    assert spy.given["school_year_start"] == [date(2027, 1, 4)]


def test_hook_record_date_is_the_first_answer_or_none(tmp_path: Path) -> None:
    spy, host = spy_host(tmp_path)
    assert host.record_date(record("spy-1.txt"), date(2026, 9, 7)) == date(2026, 11, 30)
    assert host.record_date(record("other.txt"), date(2026, 9, 7)) is None
    assert spy.given["record_date"] == [
        ("spy-1.txt", date(2026, 9, 7)),
        ("other.txt", date(2026, 9, 7)),
    ]


def test_every_hook_has_a_test_here() -> None:
    """datasette's rule: each hook has a ``test_hook_<name>…`` test in this module that
    registers an implementation, has hoso call it and checks what came of it."""
    tests = [name for name in globals() if name.startswith("test_hook_")]
    hooks = [name for name in dir(HookSpecs) if name.startswith("hoso_")]
    untested = [
        hook
        for hook in hooks
        if not any(test.startswith(f"test_hook_{hook.removeprefix('hoso_')}_") for test in tests)
    ]
    assert len(hooks) >= 13 and untested == []


# --- hooks around a real sync pass ------------------------------------------------------------

RECORDER = """
from agent.hooks import hookimpl
from agent.records import Finding, Severity

events = []


@hookimpl
def hoso_record_settled(record):
    events.append(("settled", record.path, record.record_type.code if record.record_type else None))


@hookimpl
def hoso_before_delete(deletions):
    events.append(("before_delete", sorted((d.path, d.side.value) for d in deletions)))


@hookimpl
def hoso_after_pass(report):
    events.append(("after_pass", sorted(report.uploaded), sorted(report.deleted_remote)))


@hookimpl
def hoso_validate_record(record):
    if "TODO" in record.path:
        return [Finding(record.path, "recorder.todo", Severity.ERROR, "unfinished", "finish it")]
    return []


@hookimpl
def hoso_notify(notification):
    events.append(("notify", notification.key))
    return True


@hookimpl
def hoso_scheduled_jobs():
    from agent.hooks import Job

    def remind(context):
        events.append(("job", context.last_run is None))

    return [Job("remind", 3600, remind)]
"""


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = tmp_path / "site"
    install_plugin(site, "hoso_recorder", RECORDER)
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("hoso_recorder", None)


@WSGIDAV_ONLY
def test_hooks_around_a_pass_and_validation_of_what_changed(
    tmp_path: Path, share: Share, recorder: None
) -> None:
    # These bytes are no real .docx: the built-in rule saying so is switched off here.
    agent = Agent(
        tmp_path,
        share,
        plugins={"validation": {"disabled_rules": ["file.unreadable-corrupt"]}},
    )
    agent.write("Kế hoạch bài dạy/Bài 1.docx", b"lesson one")
    agent.write("Ghi chú TODO.txt", b"later")
    with agent.syncer(plugins=True) as syncer:
        first = syncer.run_pass()
        agent.delete("Ghi chú TODO.txt")
        syncer.run_pass()
        told = syncer.validator.notify_new() if syncer.validator else -1
    events = sys.modules["hoso_recorder"].events
    assert ("settled", "Kế hoạch bài dạy/Bài 1.docx", "KHBD") in events
    assert events.index(("settled", "Ghi chú TODO.txt", None)) < events.index(
        ("after_pass", ["Ghi chú TODO.txt", "Kế hoạch bài dạy/Bài 1.docx"], [])
    )
    assert ("before_delete", [("Ghi chú TODO.txt", "remote")]) in events
    assert first.validation is not None
    assert [f.rule for f in first.validation.findings] == ["recorder.todo"]
    assert told == 0  # the finding went away with the file before anyone was told


@WSGIDAV_ONLY
def test_a_raising_plugin_does_not_stop_sync_and_shows_in_status(
    tmp_path: Path, share: Share
) -> None:
    site = tmp_path / "site"
    install_plugin(
        site,
        "hoso_broken",
        """
        from agent.hooks import hookimpl

        @hookimpl
        def hoso_after_pass(report):
            raise ValueError("broken on purpose")
        """,
    )
    agent = Agent(tmp_path, share)
    agent.write("Bài 2.docx", b"lesson two")
    env = {"PYTHONPATH": f"{site}"}
    done = agent.cli("sync", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert remote_tree(share) == {"Bài 2.docx": b"lesson two"}
    status = json.loads(agent.cli("status", "--json", env=env).stdout)
    [failure] = status["plugin_failures"]
    assert failure["plugin"] == "hoso_broken" and "broken on purpose" in failure["detail"]
    text = agent.cli("status", env=env).stdout
    assert "hoso_broken" in text and "hoso_after_pass" in text


@WSGIDAV_ONLY
def test_a_blocking_rule_holds_the_record_back_until_fixed(
    tmp_path: Path, share: Share, recorder: None
) -> None:
    agent = Agent(
        tmp_path,
        share,
        plugins={"block_sync": ["recorder.todo"], "validation": {"enabled": False}},
    )
    agent.write("Bài TODO.docx", b"unfinished")
    agent.write("Bài 3.docx", b"finished")
    with agent.syncer(plugins=True) as syncer:
        report = syncer.run_pass().report
        assert report.skipped == [{"path": "Bài TODO.docx", "reason": "validation_blocked"}]
        assert remote_tree(share) == {"Bài 3.docx": b"finished"}
        text = agent.cli("status").stdout
        assert "everything synced" not in text
        assert "Not synced — not uploaded: a problem the school's settings say" in text
        assert "  Bài TODO.docx\n  → Fix what `hoso check` reports" in text
        agent.rename("Bài TODO.docx", "Bài 4.docx")
        syncer.run_pass()
    assert remote_tree(share) == {"Bài 3.docx": b"finished", "Bài 4.docx": b"unfinished"}


@WSGIDAV_ONLY
def test_findings_are_notified_once_and_jobs_remember_their_last_run(
    tmp_path: Path, share: Share, recorder: None
) -> None:
    # Only the recorder's job: the built-in plugins are switched off here.
    plugins = {"validation": {"enabled": False}, "handover": {"enabled": False}}
    agent = Agent(tmp_path, share, plugins=plugins)
    agent.write("TODO Bài 5.docx", b"draft")
    with agent.syncer(plugins=True) as syncer:
        syncer.run_pass()
        assert syncer.validator is not None
        assert syncer.validator.notify_new() == 1
        syncer.run_pass()
        assert syncer.validator.notify_new() == 0
        jobs = _Jobs(agent.config, syncer)
        assert jobs.run_due(time.time(), threading.Event())
        assert not jobs.run_due(time.time(), threading.Event())  # not due for an hour
        assert 3500 < jobs.seconds_to_next(time.time()) <= 3600
    with agent.syncer(plugins=True) as syncer:  # a restart remembers the last run
        assert not _Jobs(agent.config, syncer).run_due(time.time(), threading.Event())
    events = sys.modules["hoso_recorder"].events
    assert events.count(("notify", "finding:TODO Bài 5.docx:recorder.todo")) == 1
    assert events.count(("job", True)) == 1


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("[plugins]\ntimeout = 0\n", "plugins.timeout"),
        ('[plugins]\nblock_sync = "khbd.reflection-missing"\n', "plugins.block_sync"),
        ('[plugins]\ncolour = "blue"\n', "plugins.colour"),
        ('[plugins.validation]\nenabled = "yes"\n', "plugins.validation.enabled"),
        ('[plugins.validation]\nyear_start = "5/9/2026"\n', "plugins.validation.year_start"),
        ('[plugins.validation]\ndisabled_rule = ["x"]\n', "plugins.validation.disabled_rule"),
        ('[plugins.validation]\ntypes_file = "/nonexistent.toml"\n', "/nonexistent.toml"),
    ],
)
def test_a_wrong_plugin_setting_stops_with_one_message_and_exit_2(
    tmp_path: Path, table: str, key: str
) -> None:
    root = tmp_path / "HoSo"
    root.mkdir()
    (root / "Bài 1.docx").write_bytes(b"x")
    config = tmp_path / "agent.toml"
    state = tmp_path / "state"
    configmod.write_private(
        config,
        f'root = "{root}"\nstate_dir = "{state}"\n[remote]\nurl = "http://127.0.0.1:9/"\n{table}',
    )
    for command in (["check"], ["sync"]):
        done = run_hoso("--config", str(config), *command)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert key in done.stderr and done.stderr.count("\n") == 1, done.stderr
    if (state / "journal.sqlite3").exists():  # nothing recorded
        journal = Journal.open(state / "journal.sqlite3")
        try:
            assert journal.validated() == {} and journal.last_pass() is None
        finally:
            journal.close()


def test_a_configured_plugin_that_is_not_installed_is_pointed_out(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    configmod.write_private(
        config,
        f'root = "{tmp_path}"\n[remote]\nurl = "http://127.0.0.1:9/"\n'
        "[plugins.inspecton]\nenabled = true\n",
    )
    done = run_hoso("--config", str(config), "plugins")
    assert done.returncode == 0
    assert "[plugins.inspecton]" in done.stderr and "validation" in done.stdout


def test_plugins_answer_in_the_language_of_the_caller_s_thread(tmp_path: Path) -> None:
    """A page shown in Vietnamese (language() on its thread) gets the plugins' findings in
    Vietnamese, whatever the process's language, although each hook runs on a thread of its
    own."""
    from agent.i18n import _, current_language, language

    class Speaker:
        @hookimpl
        def hoso_validate_record(self, record: Record) -> list[Finding]:
            return [Finding(record.path, current_language(), Severity.WARNING, _("Overview"))]

    host = load_plugins(make_config(tmp_path), builtins=(), extra=[("speaker", Speaker())])
    with language("en"):
        [english] = host.validate_record(record(), date(2026, 11, 29))
    with language("vi"):
        [vietnamese] = host.validate_record(record(), date(2026, 11, 29))
    assert english.rule == "en" and vietnamese.rule == "vi"
    with language("vi"):
        assert vietnamese.message == _("Overview") != english.message


def test_a_plugin_command_that_cannot_load_names_its_plugin(tmp_path: Path) -> None:
    """Two plugins declare `hello`, neither loadable: the first in call order is tried, and
    the message names that plugin, to reinstall or switch off (exit 2); `hoso --help` still
    lists every command."""
    site = tmp_path / "site"
    for name, target in (("hoso_aaa", "no_such_module_here:cmd"), ("hoso_bbb", "os:sep")):
        install_plugin(
            site,
            name,
            f"""
            from agent.hooks import hookimpl
            from agent.lazycommand import LazyCommand

            @hookimpl
            def hoso_commands():
                return [LazyCommand("hello", "Say hello.", "{target}")]
            """,
        )
    cfg = make_config(tmp_path)
    configmod.write_private(
        cfg.path,
        f'root = "{cfg.root}"\nstate_dir = "{tmp_path / "state"}"\n[remote]\nurl = "http://x/"\n',
    )
    env = {"PYTHONPATH": str(site)}
    listed = run_hoso("--config", str(cfg.path), "--help", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "hello" in listed.stdout and "sync" in listed.stdout
    done = run_hoso("--config", str(cfg.path), "hello", env=env)
    assert done.returncode == 2, done.stderr
    used = "hoso_bbb" if "os:sep" in done.stderr else "hoso_aaa"
    assert f"The command hello of the plugin {used} cannot be loaded" in done.stderr
    assert f"[plugins.{used}] enabled = false" in done.stderr
