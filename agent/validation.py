"""Validation of records by the plugins, run only where content changed.

The agent asks the plugins (``hoso_validate_record``) about each record whose size or
modification time changed since it was last checked, and once a day for every record
(some rules depend on the date: a reflection section must be filled once the lesson is
past). Findings live in the journal; each one is notified to the teacher once.

Validation never blocks sync, except for the rules the config lists in
``[plugins] block_sync``: a record with such a finding is not uploaded until fixed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import stat as statmod
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from . import heldback, local, notices
from .config import Config
from .display import printable_name
from .hooks import Notification, PluginHost, load_plugins
from .i18n import _, current_language, language
from .journal import Journal, ValidationStamp
from .log import get_logger
from .model import Action, ActionKind, Kind, RelPath, Report, is_within, nfc
from .records import Finding, Record, RecordType, Severity, classify
from .recordtypes import with_shipped

log = get_logger(__name__)


CHECKERS = 2  # threads checking during a pass, each with its reader process
MANY_RECORDS = 50  # uploads that are worth the second


@dataclass(frozen=True)
class Checked:
    """A record's findings, and the file as it was when they were found: its stamp, and
    its inode and change time (``same_file``), which a tool that saves a file of the same
    size and sets its modification time back cannot set back."""

    stamp: ValidationStamp
    findings: tuple[Finding, ...]
    identity: tuple[int, int, int]

    def same_file(self, stamp: ValidationStamp, st: os.stat_result) -> bool:
        return self.stamp == stamp and self.identity == _identity(st)


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0  # records read and validated now
    unchanged: int = 0  # records whose stored findings still hold

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


class Validator:
    """Validates records of one records folder through the plugin host."""

    def __init__(self, config: Config, journal: Journal, host: PluginHost) -> None:
        self.config = config
        self.journal = journal
        self.host = host
        # The plugins' types first (a school's own KHBD), then hoso's shipped catalogue, so
        # that records have their types with no plugin contributing any (validation off).
        self.types: list[RecordType] = with_shipped(host.record_types())
        # Files hoso's plugins write into the records folder (a log, mail evidence): synced,
        # never checked as records.
        self.own = local.IgnoreRules(extra=host.own_files())

    def stamp(self, today: date) -> str:
        """Changes when the rules may give another answer: other plugins or plugin
        settings, other record types, another day; or another language (the findings'
        messages are stored as shown)."""
        digest = hashlib.sha256()
        for info in self.host.plugins:
            digest.update(f"{info.name}={info.version}:{info.enabled};".encode())
        digest.update(repr(sorted(self.config.plugins.tables.items())).encode())
        for record_type in self.types:
            digest.update(repr(record_type).encode())
        digest.update(today.isoformat().encode())
        digest.update(current_language().encode())
        return digest.hexdigest()[:16]

    def check(
        self,
        paths: Iterable[RelPath] | None = None,
        *,
        today: date | None = None,
        force: bool = False,
        stop: Callable[[], bool] = lambda: False,
        ready: Mapping[RelPath, Checked] | None = None,
    ) -> CheckResult:
        """Validate ``paths`` (relative to the records root; None: the whole folder) where
        needed and return their findings, old and new. ``stop`` is asked before each record:
        once it says True, what was checked is stored and the rest is left for the next check
        (a whole folder can take minutes; the agent must stop within seconds). ``ready``:
        records checked earlier (:class:`PassChecks`), whose findings are taken as they are
        when the file still is as it was then."""
        today = today or date.today()
        stamp = self.stamp(today)
        wanted_paths = None if paths is None else [nfc(p) for p in paths]
        files = self.files(wanted_paths)
        known = self.journal.validated()
        result = CheckResult()
        for path, file in sorted(files.items()):
            if stop():
                return result
            try:
                st = file.stat()
            except OSError:
                continue
            now_stamp = ValidationStamp(st.st_size, st.st_mtime_ns, stamp)
            if not force and known.get(path) == now_stamp:
                result.unchanged += 1
                continue
            early = ready.get(path) if ready else None
            if early is not None and early.same_file(now_stamp, st):
                findings = list(early.findings)
            else:
                checked = self.validate(path, file, st, today)
                if checked is None:
                    continue  # a check could not run (a plugin failure): not validated
                findings = checked
            self.journal.store_validation(path, now_stamp, findings, now=time.time())
            result.checked += 1
        if wanted_paths is None:
            gone = [p for p in known if p not in files]
            if gone:
                self.journal.forget_validation(gone)
        wanted = set(files)
        result.findings = [s.finding for s in self.journal.findings() if s.finding.path in wanted]
        # What the sync holds back as two spellings of one name: a folder, or a name whose
        # other spelling is on the share, is no file the plugins are asked about.
        known_twins = {(f.path, f.rule) for f in result.findings}
        result.findings += [
            f
            for f in heldback.twin_findings(heldback.remembered(self.journal), wanted_paths)
            if (f.path, f.rule) not in known_twins
        ]
        return result

    def validate(
        self, path: RelPath, file: Path, st: os.stat_result, today: date
    ) -> list[Finding] | None:
        """The plugins' findings about one record as ``st`` describes it; None when a check
        could not run (reported as a plugin failure). Stores nothing."""
        record = Record(path, file, classify(path, self.types), st.st_size, st.st_mtime)
        failed = self.host.failed_here()
        findings = self.host.validate_record(record, today)
        return None if self.host.failed_here() != failed else findings

    def files(self, paths: Iterable[RelPath] | None) -> dict[RelPath, Path]:
        """The files to check: the named files (the cheap, common case after a pass), or
        every file of the records folder below the named folders."""
        root = self.config.root
        ignore = local.ignore_rules(self.config)
        wanted = None if paths is None else [nfc(p) for p in paths]
        if wanted is not None and all((root / p).is_file() for p in wanted):
            return {p: root / p for p in wanted if not self._skipped(ignore, p)}
        scan = local.scan(root, {}, ignore, now_ns=time.time_ns(), settle_seconds=0)
        files = {
            p: root / e.fs_path
            for p, e in scan.entries.items()
            if e.kind is Kind.FILE and not self.own.is_ignored(p, False)
        }
        if wanted is None:
            return files
        return {p: f for p, f in files.items() if any(is_within(p, w) for w in wanted)}

    def _skipped(self, ignore: local.IgnoreRules, path: RelPath) -> bool:
        return ignore.is_ignored(path, False) or self.own.is_ignored(path, False)

    def check_changes(
        self,
        report: Report,
        *,
        stop: Callable[[], bool] = lambda: False,
        ready: Mapping[RelPath, Checked] | None = None,
    ) -> CheckResult:
        """Validate what a pass brought or sent; forget what it deleted or moved away, and
        the findings of any file that is gone however it went (deleted before it was ever
        synced, a folder moved), so that no finding outlives its file. ``ready``: as for
        :meth:`check`."""
        changed = _changed(report)
        removed = [*report.deleted_local, *report.deleted_remote]
        removed += [src for src, _dst in report.moved]
        removed += self.gone()
        if removed:
            self.journal.forget_validation(removed)
        if not changed:
            return CheckResult()
        return self.check(changed, stop=stop, ready=ready)

    def gone(self) -> list[RelPath]:
        """Paths with findings whose file is no longer in the records folder (findings are
        few: one stat each). A records folder without its marker (a drive unplugged since
        the pass) says nothing about its files: then none."""
        if not (self.config.root / local.MARKER_NAME).is_file():
            return []
        paths = {stored.finding.path for stored in self.journal.findings()}
        return sorted(p for p in paths if not _exists(self.config.root, p))

    def blocked(self, paths: Sequence[RelPath]) -> set[RelPath]:
        """The paths that must not be uploaded: they have a finding whose rule the config
        lists in ``[plugins] block_sync``."""
        rules = set(self.config.plugins.block_sync)
        if not rules or not paths:
            return set()
        result = self.check(paths)
        return {f.path for f in result.findings if f.rule in rules}

    def notify_new(self, echo: Callable[[Notification], None] | None = None) -> int:
        """Tell the teacher about the errors and warnings not told yet, once: one popup
        (or log line, when no channel delivers it) for all of them, a summary when there are
        several (:mod:`agent.notices`); returns how many findings were told. ``echo`` is
        given what was shown too (`hoso demo` prints it)."""
        new = [
            stored.finding
            for stored in self.journal.findings()
            if stored.notified_at is None and stored.finding.severity is not Severity.INFO
        ]
        notes = [
            Notification(
                key=f"finding:{finding.path}:{finding.rule}",
                title=_("Record to fix: {path}").format(path=printable_name(finding.path)),
                body=f"{finding.message} {finding.fix}".strip(),
                path=finding.path,
                page=notices.PROBLEMS_PAGE,
            )
            for finding in new
        ]
        telling = notices.tell(self.host.notify, notes)
        if echo is not None:
            for note in telling.shown:
                echo(note)
        if new:
            self.journal.mark_notified([(f.path, f.rule) for f in new], now=time.time())
        return len(new)


class PassChecks:
    """The checks of one `hoso sync` pass, done while its transfers run instead of after.

    `hoso sync` checks what it sent and brought before it returns. Made when the pass
    starts, this asks the plugins to get ready on a thread of its own (the document reader
    process starts while the share is listed), checks the records the plan uploads as soon
    as the plan is made (their bytes are final: the plan hashed them) and each download as
    it lands; the documents are read in the reader processes, so the transfers go on
    meanwhile. :meth:`finish` then runs :meth:`Validator.check_changes` as the pass always
    did, taking a record's early findings only while its file keeps the size and
    modification time they were found with: a record changed again during the pass is
    checked again, as it is now. Nothing is stored early, so what is stored, reported and
    later notified is what checking after the pass gives; the early findings of a record
    whose transfer failed are dropped.
    """

    def __init__(self, validator: Validator, *, today: date | None = None) -> None:
        self.validator = validator
        self.today = today or date.today()
        self._queue: queue.SimpleQueue[RelPath | None] = queue.SimpleQueue()
        self._ready: dict[RelPath, Checked] = {}
        self._abandoned = threading.Event()
        # Findings are stored as shown: in the language of the pass's own thread.
        self._language = current_language()
        self._context: _Context | None = None  # set by the first checker once ready
        self._set_up = threading.Event()
        self._checkers: list[threading.Thread] = []
        self._spawn(first=True)

    @property
    def ready(self) -> Mapping[RelPath, Checked]:
        """The records checked so far."""
        return dict(self._ready)

    def ahead(self, paths: Iterable[RelPath]) -> None:
        """Check these records now (the plan's uploads); many of them on a second thread
        and reader process too (a reader takes a few milliseconds of processor time per
        lesson plan; a second one only pays off for many)."""
        paths = list(paths)
        for path in paths:
            self._queue.put(path)
        if len(paths) >= MANY_RECORDS and len(self._checkers) < CHECKERS:
            self._spawn(first=False)

    def following(
        self, on_progress: Callable[[int, int, Action], None]
    ) -> Callable[[int, int, Action], None]:
        """``on_progress`` that also checks each download once it has landed."""

        def progress(done: int, total: int, action: Action) -> None:
            on_progress(done, total, action)
            if action.kind is ActionKind.DOWNLOAD:
                self._queue.put(action.path)

        return progress

    def finish(self, report: Report) -> CheckResult:
        """What the pass changed, checked: the early findings that still hold, the rest now.
        A pass that changed no record does not wait for the plugins to get ready."""
        self._stop_checkers()
        if _changed(report):
            for checker in self._checkers:
                checker.join()
        return self.validator.check_changes(report, ready=self._ready)

    def abandon(self) -> None:
        """The pass failed: stop after the records being checked (nothing was stored)."""
        self._abandoned.set()
        self._stop_checkers()

    def _stop_checkers(self) -> None:
        for _checker in range(CHECKERS):  # one each, whichever are running
            self._queue.put(None)

    def _spawn(self, *, first: bool) -> None:
        checker = threading.Thread(
            target=self._run, args=(first,), name="hoso-pass-checks", daemon=True
        )
        self._checkers.append(checker)
        checker.start()

    def _run(self, first: bool) -> None:
        try:
            with language(self._language):
                if first:
                    self._set_up_checks()
                self._set_up.wait()
                if self._context is not None:
                    self._work(self._context)
        except Exception:  # a bug here must not fail the pass: finish() checks what is left
            log.exception("checking during the pass failed")

    def _set_up_checks(self) -> None:
        try:
            validator = self.validator
            validator.host.prepare_checks()
            self._context = _Context(
                validator.journal.validated(),
                validator.stamp(self.today),
                local.ignore_rules(validator.config),
            )
        finally:
            self._set_up.set()

    def _work(self, context: _Context) -> None:
        while (path := self._queue.get()) is not None:
            if self._abandoned.is_set():
                return
            skipped = self.validator._skipped(context.ignore, path)
            if path not in self._ready and not skipped:
                self._check(path, context)

    def _check(self, path: RelPath, context: _Context) -> None:
        file = self.validator.config.root / path
        try:
            st = file.stat()
        except OSError:
            return  # gone, or named otherwise on disk: finish() looks for it
        now_stamp = ValidationStamp(st.st_size, st.st_mtime_ns, context.stamp)
        if not statmod.S_ISREG(st.st_mode) or context.known.get(path) == now_stamp:
            return  # not a record, or unchanged since its last check (finish() keeps it)
        findings = self.validator.validate(path, file, st, self.today)
        if findings is not None:
            self._ready[path] = Checked(now_stamp, tuple(findings), _identity(st))


@dataclass(frozen=True)
class _Context:
    """What every early check of a pass needs, looked up once."""

    known: Mapping[RelPath, ValidationStamp]  # the records' stamps when the pass started
    stamp: str
    ignore: local.IgnoreRules


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def _changed(report: Report) -> list[RelPath]:
    """The records a pass sent, brought, moved or kept as conflict copies."""
    changed = [*report.uploaded, *report.downloaded, *(dst for _src, dst in report.moved)]
    return changed + [c["copy"] for c in report.conflicts if c.get("copy")]


def _exists(root: Path, path: RelPath) -> bool:
    """Whether ``path`` (NFC) names a file or folder (a folder can have findings too) below
    ``root`` in any Unicode spelling (a name typed on macOS is NFD on disk). A name that
    cannot be looked at (a folder without permission) may be there: its findings are kept."""
    here = root
    for name in path.split("/"):
        try:
            (here / name).lstat()
        except OSError as exc:
            if not _gone(exc):
                return True
            try:
                spelt = [n for n in os.listdir(here) if nfc(n) == name]
            except OSError as listing:
                return not _gone(listing)
            if not spelt:
                return False
            name = spelt[0]
        here = here / name
    return True


def _gone(exc: OSError) -> bool:
    return exc.errno in (errno.ENOENT, errno.ENOTDIR)


@contextlib.contextmanager
def open_validator(config: Config) -> Iterator[Validator]:
    """A validator on the config's journal and plugins, as `hoso check` uses one; plugin
    commands (an inspection plan) check records through it too."""
    journal = Journal.open(config.state_dir / "journal.sqlite3")
    try:
        host = load_plugins(config, failure_log=journal)
        host.check_config()
        yield Validator(config, journal, host)
    finally:
        journal.close()
