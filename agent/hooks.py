"""Plugin hooks: the hook specifications and the plugin host that calls them safely.

Plugins extend hoso through the ``hoso_*`` hooks below (pluggy). Built-in plugins (modules
listed in :data:`BUILTIN_PLUGINS`) are registered exactly like third-party ones, which are
found through the ``hoso`` entry-point group. Each plugin can be switched off and configured
in the config file under ``[plugins.NAME]``.

Invariants:
- A plugin never takes the agent down. Every hook implementation runs on its own thread with
  a deadline (``[plugins] timeout``); one that raises, hangs or returns something of the
  wrong shape is skipped, logged and recorded with its name (``hoso status`` shows it), and
  the other plugins and the sync go on. One that hung is suspended: not called again by this
  process until that call has returned (it may still be working; a second call beside it
  would pile up), then resumed.
- Hooks are called through pluggy itself, with keyword arguments only: pluggy's order
  (``tryfirst``/``trylast``, then last registered first), ``firstresult=True`` specs (the
  first answer that is not None ends the call) and wrappers (``wrapper=True``, and old-style
  ``hookwrapper=True``) all work as pluggy documents them.
- The host is built by :func:`load_plugins`, never at import time; hooks are called through
  :meth:`PluginHost.call` (the typed entry points), never through ``manager.hook`` directly.

How isolation and pluggy fit together: pluggy first registers the plugin as it is, so that it
alone finds and validates the implementations (a misspelt hook, an unknown argument, a
wrapper that is not a generator refuse the plugin). Then each implementation is replaced, under
the same plugin name and with the same options, by a stand-in (:class:`_Isolated`) that runs
it on a thread with the deadline, checks its answer and records its failures; pluggy's own
call loop calls the stand-ins, so it alone decides the order, stops a ``firstresult`` call and
runs the wrappers around the (isolated) implementations. A wrapper's stand-in runs the part
before its ``yield`` and the part after it on a thread each, with the deadline; a wrapper that
raises, hangs or makes the result unusable is recorded and as good as absent: the result goes
on unchanged. A failed implementation simply gives no answer (None), which is also what makes
a ``firstresult`` call go on to the next plugin. The answers' identities tell which plugin
gave each (jobs and status notes carry their plugin's name); answers a wrapper adds are its
plugin's.

Questions with one answer are ``firstresult`` (``hoso_record_date``,
``hoso_school_year_start``: the first plugin that knows answers). The others gather from every
plugin (``hoso_notify`` offers a notification to every channel, so a desktop popup and a chat
message can both show it).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from types import ModuleType
from typing import Any, Protocol, TypeVar, cast

import pluggy

from . import __version__
from .config import Config
from .errors import ConfigError
from .i18n import _, current_language, language
from .lazycommand import LazyCommand
from .log import get_logger
from .model import Kind, RelPath, Report, Side
from .records import Finding, Record, RecordType
from .webpage import WebPage

log = get_logger(__name__)

PROJECT = "hoso"
ENTRY_POINT_GROUP = "hoso"
# Built-in plugins, registered like third-party ones; the name is the last module component.
BUILTIN_PLUGINS = (
    "plugins.validation",
    "plugins.desktop",
    "plugins.handover",
    "plugins.inspection",
    "plugins.search",
)

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

_T = TypeVar("_T")
MAX_FAILURES_KEPT = 100


# --- what hooks receive and return ------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    """One thing a sync pass is about to delete (it goes to the trash first)."""

    path: RelPath
    side: Side  # where it is deleted: this computer or the share
    kind: Kind


@dataclass(frozen=True)
class Notification:
    """Something the teacher should see once: a title line and a body, in their language.

    What one pass (or one round of jobs) tells is summarised (:mod:`agent.notices`): the
    notifications of one kind (the key's first word, before ``:``) become one when there are
    several; urgent ones (a safety stop, a failed send) stand alone."""

    key: str  # stable identity, e.g. "finding:<path>:<rule>"; the same key is shown once
    title: str
    body: str
    path: RelPath = ""
    urgent: bool = False
    # The part of the teacher's page a click on it opens ("/problems/"); "" the overview.
    page: str = ""


@dataclass(frozen=True)
class JobContext:
    """What a scheduled job gets when it runs."""

    config: Config
    now: float  # time.time() when the job started
    last_run: float | None  # when it last finished, None the first time
    notify: Callable[[Notification], object]


@dataclass(frozen=True)
class Job:
    """Work a plugin wants done periodically by the running agent (``hoso run``)."""

    name: str  # unique within the plugin
    every: float  # seconds between runs (at least 60)
    run: Callable[[JobContext], None]
    # Also run as soon as a pass of the school folder brought something (a file came down or
    # went): what others wrote there (the handover log, a new school profile) is acted on
    # within a poll, not at the next turn.
    after_school_change: bool = False


# --- the specifications -------------------------------------------------------------------------


class HookSpecs:
    """The hooks a hoso plugin may implement. Implement them as plain functions (or methods)
    decorated with ``@agent.hooks.hookimpl``, taking any subset of the arguments named here,
    without defaults (pluggy never passes an argument that has a default)."""

    @hookspec
    def hoso_check_config(self, config: Config) -> list[str]:  # type: ignore[empty-body]
        """Check the plugin's own settings (``config.plugins.settings(NAME)``) before the
        agent or a command starts working.

        Return a list of problems, each a whole sentence naming the key and saying what to
        write instead (empty when all is well). Any problem stops the command with exit
        code 2 before anything is changed.

        Also called to check a school profile before it goes into force: ``config.path`` is
        then the profile's file and ``config.table("inspection")`` its ``[inspection]``."""

    @hookspec
    def hoso_record_types(self, config: Config) -> list[RecordType]:  # type: ignore[empty-body]
        """Contribute record types (KHBD, Sổ chủ nhiệm, …).

        Return a list of :class:`agent.records.RecordType`. When two plugins define the
        same ``code``, the first one called wins (see the ``tryfirst`` option); types a school
        defines in its own config come first of all."""

    @hookspec
    def hoso_own_files(self, config: Config) -> list[str]:  # type: ignore[empty-body]
        """Name the files the plugin itself writes into the records folder (a log, copies
        of sent mail): they sync like any file but are never checked as records.

        Return gitignore-style patterns relative to the records root (``/Folder/`` for a
        whole folder, ``/Folder/log-*.jsonl``); build a literal name into a pattern with
        :func:`agent.local.literal_pattern`."""

    @hookspec
    def hoso_record_settled(self, config: Config, record: Record) -> None:
        """A record in the records folder was saved and has settled, and is about to be
        uploaded to the share. Called once per new content, before the upload.

        Use it to index or inspect the file; do not modify it (the upload follows)."""

    @hookspec
    def hoso_validate_record(self, config: Config, record: Record, today: date) -> list[Finding]:  # type: ignore[empty-body]
        """Check one record against the school's rules; return a list of
        :class:`agent.records.Finding` (empty when all is well).

        Called only when the record's content changed since it was last checked (and once a
        day, because some rules depend on ``today``). Findings must carry ``record.path``.
        Read the file at ``record.file``; never write to it. Messages go through
        ``agent.i18n._`` so the teacher reads them in their language."""

    @hookspec
    def hoso_prepare_checks(self, config: Config) -> None:
        """Records are about to be checked: a one-shot `hoso sync` pass has started, and it
        checks the records it sends and brings while its transfers run. Load now what
        ``hoso_validate_record`` needs (start a helper process, import modules), so that the
        first check does not wait for it.

        Called on a thread of its own while the pass lists the share; return quickly and
        never block on the records themselves."""

    @hookspec
    def hoso_after_pass(self, config: Config, report: Report) -> None:
        """A sync pass finished; ``report`` lists what was uploaded, downloaded, deleted,
        moved, in conflict or failed (paths relative to the records root)."""

    @hookspec
    def hoso_before_delete(self, config: Config, deletions: list[Deletion]) -> None:
        """The pass is about to delete these paths (each goes to hoso's trash first).

        Called once per pass that deletes anything, before the first deletion; use it to
        take a backup or to log. It cannot stop the deletions (the mass-delete guard and the
        trash protect the teacher's files)."""

    @hookspec
    def hoso_scheduled_jobs(self, config: Config) -> list[Job]:  # type: ignore[empty-body]
        """Ask the running agent to run work periodically (e.g. an inspection reminder).

        Return a list of :class:`Job`. Each runs on the agent's loop with the plugin timeout;
        its last run time survives restarts."""

    @hookspec
    def hoso_commands(self) -> list[LazyCommand]:  # type: ignore[empty-body]
        """Name the commands the plugin adds to the ``hoso`` command line, without importing
        them: a list of :class:`agent.lazycommand.LazyCommand` (name, one-line help, and
        ``"module:attribute"`` of the click command). `hoso --help` lists them from this
        alone; a command's module is imported only when that command is run (or its own
        ``--help`` asked for). Commands receive the hoso context with ``@pass_ctx``."""

    @hookspec
    def hoso_register_commands(self, cli: Any) -> None:
        """Add commands to the ``hoso`` command line (a ``click.Group``), as datasette's
        ``register_commands`` does. Commands receive the hoso context with
        ``@click.pass_obj``; ``obj.load()`` returns the :class:`agent.config.Config`.

        The older way: it imports the plugin's commands whenever they might be needed
        (`hoso --help`, a command no plugin declared). Prefer :meth:`hoso_commands`."""

    @hookspec
    def hoso_status_notes(self, config: Config) -> list[str]:  # type: ignore[empty-body]
        """Short lines for `hoso status`: something the teacher should do or know now (e.g.
        "confirm the password change of the mailbox handover"), in their language.

        Called by `hoso status` only; it must be quick (no network) and never prompt."""

    @hookspec
    def hoso_notify(self, config: Config, notification: Notification) -> bool | None:
        """A notification channel: show ``notification`` to the teacher (desktop popup,
        chat message, …). Return True when it was delivered. When no channel delivers it,
        the agent writes it to its log."""

    @hookspec
    def hoso_web_pages(self, config: Config) -> list[WebPage]:  # type: ignore[empty-body]
        """Pages of the teacher's page (`hoso ui`) that show what this plugin does: return a
        list of :class:`agent.webpage.WebPage`. Each view gets a
        :class:`agent.webpage.WebRequest` and answers with a view, a redirect, a task with
        progress or a file; the web layer owns the session, the checks and the layout.
        Views call the same services as the plugin's commands: no second copy of logic."""

    @hookspec(firstresult=True)
    def hoso_school_year_start(self, config: Config, today: date) -> date | None:
        """The Monday of school week 1 of the school year holding ``today``, when this
        plugin's settings fix it (validation's ``year_start``); None for no opinion. The first
        answer wins; with none, the agent takes the week of 5 September."""

    @hookspec(firstresult=True)
    def hoso_record_date(self, config: Config, record: Record, year_start: date) -> date | None:
        """The day ``record`` is about, read from its content (a lesson plan's teaching day),
        school week 1 starting on ``year_start``; None when this plugin cannot tell. The first
        answer wins. Read the file in the document sandbox (``agent.api.document_sandbox``),
        never in the agent's process."""


# --- the host -----------------------------------------------------------------------------------


class FailureLog(Protocol):
    """Where plugin failures are kept between runs (the journal)."""

    def record_plugin_failure(self, plugin: str, hook: str, detail: str, *, now: float) -> None: ...

    def clear_plugin_failure(self, plugin: str, hook: str) -> None: ...


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    source: str  # "built-in" or "entry point: <distribution>"
    enabled: bool
    hooks: tuple[str, ...]
    error: str = ""  # why it could not be loaded

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "enabled": self.enabled,
            "hooks": list(self.hooks),
            "error": self.error or None,
        }


@dataclass
class _Call:
    """One hook call through the host: how each answer is checked, and which plugin gave it
    (pluggy's result is a bare list; jobs and status notes need their plugin's name)."""

    hook: str
    check: Callable[[object], object]  # raises TypeError for an unusable answer
    firstresult: bool
    # id(answer) → (plugin, answer); holding the answer keeps its id from being reused.
    owners: dict[int, tuple[str, object]] = field(default_factory=dict)

    def claim(self, plugin: str, answer: object) -> None:
        self.owners.setdefault(id(answer), (plugin, answer))

    def owner(self, answer: object) -> str:
        return self.owners[id(answer)][0]

    def check_result(self, result: object) -> object:
        """Check what a wrapper makes of the whole result (one answer, or the list)."""
        if self.firstresult:
            return self.check(result)
        if not isinstance(result, list):
            raise TypeError(f"expected the list of answers, got {type(result).__name__}")
        for answer in result:
            if answer is None:
                raise TypeError("expected the list of answers, got None in it")
            self.check(answer)
        return result

    def claim_result(self, plugin: str, result: object) -> None:
        """Answers a wrapper added belong to the wrapper's plugin."""
        for answer in [result] if self.firstresult else cast(list[object], result):
            if answer is not None:
                self.claim(plugin, answer)


# The hook call in progress on this thread (the agent's loop and its validation thread call
# hooks at the same time; plugin code runs on threads of its own, outside it).
_CURRENT: ContextVar[_Call | None] = ContextVar("hoso_hook_call", default=None)


def _current(hook: str) -> _Call:
    call = _CURRENT.get()
    if call is None or call.hook != hook:
        raise RuntimeError(f"{hook} must be called through PluginHost.call")
    return call


@dataclass
class PluginHost:
    """Calls the enabled plugins' hooks, each isolated from the others and from the agent."""

    config: Config
    manager: pluggy.PluginManager
    plugins: list[PluginInfo]
    failure_log: FailureLog | None = None
    timeout: float = 30.0
    suspended: set[str] = field(default_factory=set)
    # This process's most recent failures, for the CLI (bounded: a plugin failing on every
    # record of a long-running agent must not grow it forever; the journal keeps counts).
    failures: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_FAILURES_KEPT))
    failed_calls: int = 0  # never capped: whether a call failed is "did it grow"
    # The same count per calling thread: a check that runs while another thread calls hooks
    # (`hoso sync` checks during its transfers) tells its own failures from theirs.
    _here: threading.local = field(default_factory=threading.local)
    _failing: set[tuple[str, str]] = field(default_factory=set)
    _hung: dict[str, threading.Thread] = field(default_factory=dict)  # why each is suspended
    # The agent's loop and its validation thread call hooks at the same time.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- typed entry points, one per hook --

    def check_config(self) -> None:
        """ConfigError listing every problem the plugins find in their settings."""
        results = self.call("hoso_check_config", _list_of(str), config=self.config)
        problems = [problem for _name, found in results for problem in found]
        if problems:
            raise ConfigError("\n".join(problems))

    def record_types(self) -> list[RecordType]:
        results = self.call("hoso_record_types", _list_of(RecordType), config=self.config)
        return [t for _name, types in results for t in types]

    def own_files(self) -> list[str]:
        """The patterns of every plugin's own files in the records folder."""
        results = self.call("hoso_own_files", _list_of(str), config=self.config)
        return [pattern for _name, patterns in results for pattern in patterns]

    def record_settled(self, record: Record) -> None:
        self.call("hoso_record_settled", _nothing, config=self.config, record=record)

    def validate_record(self, record: Record, today: date) -> list[Finding]:
        def check(value: object) -> Sequence[Finding] | None:
            findings = _list_of(Finding)(value)
            if any(f.path != record.path for f in findings or ()):
                raise TypeError("a finding names another path than the record checked")
            return findings

        results = self.call(
            "hoso_validate_record", check, config=self.config, record=record, today=today
        )
        return [f for _name, findings in results for f in findings]

    def prepare_checks(self) -> None:
        self.call("hoso_prepare_checks", _nothing, config=self.config)

    def after_pass(self, report: Report) -> None:
        self.call("hoso_after_pass", _nothing, config=self.config, report=report)

    def before_delete(self, deletions: list[Deletion]) -> None:
        if deletions:
            self.call("hoso_before_delete", _nothing, config=self.config, deletions=deletions)

    def scheduled_jobs(self) -> list[tuple[str, Job]]:
        results = self.call("hoso_scheduled_jobs", _list_of(Job), config=self.config)
        return [(name, job) for name, jobs in results for job in jobs]

    def status_notes(self) -> list[tuple[str, str]]:
        """(plugin, line) for `hoso status`."""
        results = self.call("hoso_status_notes", _list_of(str), config=self.config)
        return [(name, line) for name, lines in results for line in lines]

    def web_pages(self) -> list[tuple[str, WebPage]]:
        """(plugin, page) for the teacher's page."""
        results = self.call("hoso_web_pages", _list_of(WebPage), config=self.config)
        return [(name, page) for name, pages in results for page in pages]

    def commands(self) -> list[tuple[str, LazyCommand]]:
        """(plugin, command) for each command the plugins declare (hoso_commands)."""
        results = self.call("hoso_commands", _list_of(LazyCommand))
        return [(name, command) for name, commands in results for command in commands]

    def register_commands(self, cli: Any) -> None:
        self.call("hoso_register_commands", _nothing, cli=cli)

    def notify(self, notification: Notification, *, logged: bool = False) -> bool:
        """Offer the notification to every channel; when none delivers it, log it (unless
        the caller ``logged`` it already). True when a channel delivered it."""
        results = self.call(
            "hoso_notify", _optional_bool, config=self.config, notification=notification
        )
        delivered = any(ok for _name, ok in results)
        if not delivered and not logged:
            log.warning("%s: %s", notification.title, notification.body)
        return delivered

    def school_year_start(self, today: date) -> date | None:
        results = self.call(
            "hoso_school_year_start", _optional(date), config=self.config, today=today
        )
        return results[0][1] if results else None

    def record_date(self, record: Record, year_start: date) -> date | None:
        results = self.call(
            "hoso_record_date",
            _optional(date),
            config=self.config,
            record=record,
            year_start=year_start,
        )
        return results[0][1] if results else None

    def run_job(self, plugin: str, job: Job, context: JobContext) -> bool:
        """Run one scheduled job with the plugin timeout; True when it finished."""
        ok, _value = self._run_isolated(
            plugin, f"job {job.name}", partial(job.run, context), _nothing
        )
        return ok

    # -- calling through pluggy --

    def call(
        self, hook: str, check: Callable[[object], _T | None], **kwargs: Any
    ) -> list[tuple[str, _T]]:
        """Call ``hook`` through pluggy (order, ``firstresult``, wrappers) and return the
        usable answers with the plugin that gave each, in pluggy's order. ``check`` raises
        TypeError for an unusable answer (that plugin's answer is then left out)."""
        caller = getattr(self.manager.hook, hook)
        firstresult = bool(caller.spec is not None and caller.spec.opts.get("firstresult"))
        call = _Call(hook, check, firstresult)
        token = _CURRENT.set(call)
        try:
            result = caller(**kwargs)
        finally:
            _CURRENT.reset(token)
        answers = ([] if result is None else [result]) if firstresult else result
        return [(call.owner(answer), cast(_T, answer)) for answer in answers]

    def register(self, name: str, plugin: object) -> str:
        """Register one plugin, each of its hook implementations isolated; an implementation
        of a hook that does not exist (a typo) or with wrong arguments refuses that plugin
        only. Returns the problem, or ""."""
        for other, registered in self.manager.list_name_plugin():
            if isinstance(registered, _Isolated) and registered.plugin is plugin:
                return f"refused: the same plugin is already registered as {other}"
        try:
            self.manager.register(plugin, name=name)
            self.manager.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self.manager.is_registered(plugin):
                self.manager.unregister(plugin)
            return f"refused: {exc}"
        # pluggy found and validated the implementations; stand-ins take their places.
        impls = [
            (caller.name, impl)
            for caller in self.manager.get_hookcallers(plugin) or ()
            for impl in caller.get_hookimpls()
            if impl.plugin is plugin
        ]
        self.manager.unregister(plugin)
        self.manager.register(_Isolated(self, name, plugin, impls), name=name)
        return ""

    # -- the isolation --

    def _available(self, plugin: str) -> bool:
        return plugin not in self.suspended or self._resume(plugin)

    def _run_isolated(
        self,
        plugin: str,
        hook: str,
        function: Callable[[], object],
        check: Callable[[object], _T],
        *,
        finished: bool = True,
    ) -> tuple[bool, _T | None]:
        """Run ``function`` on a thread with the deadline and check its value; (True, value)
        when usable. ``finished``: success ends the call (not the first half of a wrapper),
        so a failure recorded earlier is cleared."""
        outcome: dict[str, Any] = {}
        # The caller's language goes with the call: a page shown in Vietnamese asks the
        # plugins on a thread of their own, which would else speak the process's language.
        caller_language = current_language()

        def target() -> None:
            try:
                with language(caller_language):
                    value = function()
            except BaseException as exc:  # a plugin's bug must not escape its thread
                outcome["error"] = exc
                return
            # Checked here, under the deadline: looking at an answer runs the plugin's code
            # (a list subclass's __iter__, a property) and may hang or raise too.
            try:
                outcome["value"] = check(value)
            except BaseException as exc:
                outcome["unusable"] = exc

        # A daemon thread, so that a hook that never returns cannot keep the agent alive.
        worker = threading.Thread(target=target, name=f"hoso-plugin-{plugin}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            with self._lock:
                self.suspended.add(plugin)
                self._hung[plugin] = worker
            self._failed(plugin, hook, f"did not return within {self.timeout:g} s; suspended")
            return False, None
        if "error" in outcome:
            exc = outcome["error"]
            self._failed(plugin, hook, f"raised {type(exc).__name__}: {exc}")
            return False, None
        if "unusable" in outcome:
            exc = outcome["unusable"]
            detail = str(exc) if isinstance(exc, TypeError) else f"{type(exc).__name__}: {exc}"
            self._failed(plugin, hook, f"returned an unusable result: {detail}")
            return False, None
        value = outcome["value"]
        if not finished:
            return True, value
        with self._lock:
            recovered = (plugin, hook) in self._failing
            self._failing.discard((plugin, hook))
        if recovered and self.failure_log is not None:
            self.failure_log.clear_plugin_failure(plugin, hook)
        return True, value

    def failed_here(self) -> int:
        """How many hook calls made on this thread failed (a plugin raised, hung or answered
        something unusable)."""
        return int(getattr(self._here, "failed", 0))

    def _resume(self, plugin: str) -> bool:
        """Lift a suspension once the call that hung has returned; True when lifted."""
        with self._lock:
            stuck = self._hung.get(plugin)
            if stuck is None or stuck.is_alive():
                return False
            del self._hung[plugin]
            self.suspended.discard(plugin)
        log.warning("plugin %s: the call that hung has returned; resumed", plugin)
        return True

    def _failed(self, plugin: str, hook: str, detail: str) -> None:
        log.error("plugin %s, %s: %s", plugin, hook, detail)
        text = _("Plugin {plugin} failed in {hook}: {detail}").format(
            plugin=plugin, hook=hook, detail=detail
        )
        with self._lock:
            self.failures.append(text)
            self.failed_calls += 1
            self._failing.add((plugin, hook))
        self._here.failed = self.failed_here() + 1  # _failed runs on the calling thread
        if self.failure_log is not None:
            self.failure_log.record_plugin_failure(plugin, hook, detail, now=time.time())


# --- the stand-ins pluggy calls -----------------------------------------------------------------


class _Isolated:
    """What is registered with pluggy for one plugin: a stand-in for each of its hook
    implementations, under the plugin's name and with the implementation's options."""

    def __init__(
        self, host: PluginHost, name: str, plugin: object, impls: list[tuple[str, pluggy.HookImpl]]
    ) -> None:
        self.plugin = plugin  # the plugin itself
        self._name = name
        for index, (hook, impl) in enumerate(impls):
            wrapper = impl.wrapper or impl.hookwrapper
            stand_in = (_isolated_wrapper if wrapper else _isolated_impl)(host, name, hook, impl)
            stand_in.__wrapped__ = impl.function  # type: ignore[attr-defined]  # pluggy reads the arguments there
            mark = hookimpl(
                specname=hook,
                wrapper=wrapper,  # an old-style one too: its stand-in is new-style
                tryfirst=impl.tryfirst,
                trylast=impl.trylast,
                optionalhook=impl.optionalhook,
            )
            # pluggy registers attributes in name order: the index keeps the plugin's order.
            setattr(self, f"_{index:04d}", mark(stand_in))

    def __repr__(self) -> str:
        return f"<hoso plugin {self._name}: {self.plugin!r}>"


def _isolated_impl(
    host: PluginHost, plugin: str, hook: str, impl: pluggy.HookImpl
) -> Callable[..., object]:
    """A plain implementation, run on its own thread with the deadline; None (no answer) when
    it fails, is suspended or gives an unusable answer. Arguments with a default value are
    not passed, whatever pluggy's version offers (docs/plugins.md promises so)."""
    function = impl.function

    def stand_in(*args: object, **_defaults: object) -> object:
        call = _current(hook)
        if not host._available(plugin):
            return None
        ok, answer = host._run_isolated(plugin, hook, partial(function, *args), call.check)
        if ok and answer is not None:
            call.claim(plugin, answer)
            return answer
        return None

    return stand_in


def _isolated_wrapper(
    host: PluginHost, plugin: str, hook: str, impl: pluggy.HookImpl
) -> Callable[..., Generator[None, object, object]]:
    """A wrapper (new style, or old style with ``hookwrapper=True``): the part before its
    ``yield`` and the part after each run on a thread with the deadline. When either fails
    the wrapper is as good as absent: the result passes through unchanged."""
    function, old_style = impl.function, impl.hookwrapper

    def stand_in(*args: object, **_defaults: object) -> Generator[None, object, object]:
        call = _current(hook)
        if not host._available(plugin):
            return (yield)
        start = partial(_start_wrapper, function, args)
        ok, wrapper = host._run_isolated(plugin, hook, start, _started, finished=False)
        if not ok or wrapper is None:
            return (yield)
        try:
            result = yield
        except BaseException:  # a fault of hoso's own call, not the plugin's: let it pass
            host._run_isolated(plugin, hook, wrapper.close, _nothing, finished=False)
            raise
        finish = partial(_finish_old_style if old_style else _finish_wrapper, wrapper, result)
        ok, changed = host._run_isolated(plugin, hook, finish, call.check_result)
        if not ok:
            return result
        call.claim_result(plugin, changed)
        return changed

    return stand_in


def _start_wrapper(
    function: Callable[..., object], args: tuple[object, ...]
) -> Generator[object, object, object]:
    wrapper = cast(Generator[object, object, object], function(*args))
    try:
        next(wrapper)
    except StopIteration:
        raise RuntimeError("the wrapper returned without yielding") from None
    return wrapper


def _finish_wrapper(wrapper: Generator[object, object, object], result: object) -> object:
    try:
        wrapper.send(result)
    except StopIteration as done:
        return done.value
    wrapper.close()
    raise RuntimeError("the wrapper yielded a second time")


def _finish_old_style(wrapper: Generator[object, object, object], result: object) -> object:
    outcome: pluggy.Result[object] = pluggy.Result(result, None)
    try:
        wrapper.send(outcome)
    except StopIteration:
        return outcome.get_result()  # what the wrapper forced, or the result unchanged
    wrapper.close()
    raise RuntimeError("the wrapper yielded a second time")


# --- result checks ------------------------------------------------------------------------------


def _nothing(value: object) -> None:
    return None


def _started(value: object) -> Generator[object, object, object]:
    if not isinstance(value, Generator):
        raise TypeError(f"expected a started wrapper, got {type(value).__name__}")
    return value


def _optional_bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"expected True, False or None, got {type(value).__name__}")


def _optional(cls: type[_T]) -> Callable[[object], _T | None]:
    def check(value: object) -> _T | None:
        if value is None or isinstance(value, cls):
            return value
        raise TypeError(f"expected {cls.__name__} or None, got {type(value).__name__}")

    return check


def _list_of(cls: type[_T]) -> Callable[[object], Sequence[_T] | None]:
    """A list (or tuple) of ``cls``, or None; read once, on the plugin's thread, into a plain
    list (a subclass's own code never runs in the caller; the copy's identity names the plugin
    that gave it)."""

    def check(value: object) -> Sequence[_T] | None:
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list of {cls.__name__}, got {type(value).__name__}")
        items = list(value)
        wrong = [v for v in items if not isinstance(v, cls)]
        if wrong:
            raise TypeError(f"expected {cls.__name__} items, got {type(wrong[0]).__name__}")
        return items

    return check


# --- loading ------------------------------------------------------------------------------------


def load_plugins(
    config: Config,
    *,
    failure_log: FailureLog | None = None,
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    extra: Iterable[tuple[str, object]] = (),
) -> PluginHost:
    """Build the plugin host: built-ins, then entry points, then ``extra`` (name, plugin)
    pairs (tests), each registered only when enabled in the config."""
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(HookSpecs)
    host = PluginHost(config, manager, [], failure_log=failure_log, timeout=config.plugins.timeout)
    candidates: list[tuple[str, str, str, Callable[[], object]]] = [
        (module.rpartition(".")[2], __version__, "built-in", _importer(module))
        for module in builtins
    ]
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry.dist
        version = dist.version if dist is not None else "?"
        source = f"entry point: {dist.name if dist is not None else entry.value}"
        candidates.append((entry.name, version, source, entry.load))
    for name, plugin in extra:
        candidates.append((name, "test", "registered by the caller", _given(plugin)))

    for name, version, source, loader in candidates:
        enabled = config.plugins.enabled(name)
        try:
            plugin = loader()
        except Exception as exc:  # an import error in someone else's code: report, go on
            detail = f"cannot be loaded: {type(exc).__name__}: {exc}"
            log.error("plugin %s %s", name, detail)
            if failure_log is not None and enabled:
                failure_log.record_plugin_failure(name, "load", detail, now=time.time())
            host.plugins.append(PluginInfo(name, version, source, False, (), detail))
            continue
        hooks = _hooks_of(manager, plugin)
        error = ""
        if enabled:
            error = host.register(name, plugin)
            if error and failure_log is not None:
                failure_log.record_plugin_failure(name, "load", error, now=time.time())
        host.plugins.append(PluginInfo(name, version, source, enabled and not error, hooks, error))
    return host


def _given(plugin: object) -> Callable[[], object]:
    return lambda: plugin


def _importer(module: str) -> Callable[[], ModuleType]:
    return lambda: importlib.import_module(module)


def _hooks_of(manager: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    names = (n for n in dir(plugin) if n.startswith("hoso_"))
    return tuple(n for n in names if manager.parse_hookimpl_opts(plugin, n) is not None)
