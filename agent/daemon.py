"""`hoso run`: passes when the watcher or the poll timer says so, until told to stop.

One loop thread sleeps until the next deadline (a settled burst of local changes, the
next poll of the share, a retry after a failure) or until woken. A failing pass never
ends the agent: an unreachable share is retried with growing delays up to the poll
interval (work continues offline and catches up), a refused login or a safety stop is
logged and retried at the poll interval without deleting anything. SIGTERM/SIGINT let
the transfers in flight finish, then the journal is closed and the process exits 0.

Commands of the same user hand it requests over the control channel (agent/control.py):
the loop thread carries them out between passes, never during one. A command doing its work
itself holds the instance lock meanwhile; an agent starting then waits for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import json
import os
import queue
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import channel, control, memory, notices, profilestore, sdnotify
from . import config as config_module
from .backup.scheduler import BackupWorker, FollowedConfig
from .config import Config
from .errors import AlreadyRunning, AuthError, HosoError, SafetyStop, UnreachableError
from .hooks import Job, JobContext, Notification, PluginHost
from .i18n import _
from .lock import InstanceLock
from .log import get_logger, register_secret, setup_logging
from .model import RelPath, Report, Walk
from .schedule import Hints, Outcome, PassDue, PassEnd, Schedule, job_wait
from .schoollane import SchoolLane
from .sync import PassResult, Syncer
from .validation import Validator
from .vault import webdav_password
from .watcher import Debouncer, OwnWrites, Watcher

if TYPE_CHECKING:
    from .web.server import Served

log = get_logger(__name__)

SETTLE_MARGIN = 0.25  # seconds


@dataclass
class DaemonState:
    passes: int = 0
    last_result: PassResult | None = None
    last_error: HosoError | None = None
    offline: bool = False


class _Heartbeat(threading.Thread):
    """Pings systemd's watchdog while the loop thread lives, so that a long transfer on a
    slow school network is not mistaken for a hang; a crashed loop stops the pings."""

    def __init__(self, loop: threading.Thread, stop: threading.Event) -> None:
        super().__init__(name="hoso-heartbeat", daemon=True)
        self.loop = loop
        self.halt = stop
        self.interval = sdnotify.watchdog_interval()

    def start(self) -> None:
        if self.interval:
            super().start()

    def run(self) -> None:
        assert self.interval
        while self.loop.is_alive() and not self.halt.wait(self.interval / 2):
            sdnotify.watchdog_ping()


class Daemon:
    def __init__(
        self,
        config: Config,
        stop: threading.Event,
        *,
        on_pass: Callable[[DaemonState], None] = lambda state: None,
        on_notice: Callable[[Notification], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        serve_requests: bool = False,
    ) -> None:
        """``serve_requests``: listen on the control channel (only under the instance lock,
        which makes the socket file ours)."""
        self.config = config
        # Seconds from an arbitrary origin (boot, for time.monotonic): only differences count.
        self.clock = clock
        self.stop = stop
        self.on_pass = on_pass
        self.on_notice = on_notice  # also told each new finding's notification (the demo)
        self.state = DaemonState()
        self._stops_told: set[str] = set()  # the safety stops told since the last pass ran
        self.own_writes = OwnWrites()
        # Each file goes up once it settled, whatever else is still being written; one written
        # continuously is still synced at least every minute. A little past settle_seconds,
        # so that the file the event was about already counts as settled when the pass scans
        # it (the event follows the write).
        self.debouncer = Debouncer(config.sync.settle_seconds + SETTLE_MARGIN, max_wait=60.0)
        self.wake = threading.Event()
        self._poll_requested = threading.Event()
        self._scan_requested = threading.Event()  # the folder changed behind the watcher's back
        # Spreads the first pass and the walks of a school's agents (agent/schedule.py).
        self._random = random.Random()
        # When to pass; read and replaced by the loop.
        self.schedule = Schedule.start(config.sync, now=clock(), draw=self._random.random)
        self._checks = _ValidationWorker(None, stop)  # the real one starts with run()
        # The backup settings as they are now: a repository may be created or connected while
        # the agent runs, for its backup thread and for a mass delete it is asked for alike.
        self.followed = FollowedConfig(config)
        self._backups = BackupWorker(self.followed, stop)  # started by run()
        self.serve_requests = serve_requests
        self._calls: queue.SimpleQueue[channel.Call] = queue.SimpleQueue()
        self._busy = False  # a pass or a job is running: a request waits for it
        # Run on the school lane's thread after each school pass that ran to its end: the
        # hook point for what reacts to the school folder (the school profile's refresh).
        self.after_school_pass: list[Callable[[PassResult], None]] = []
        self.school: SchoolLane | None = None  # the school folder's lane, when there is one
        # Set (by the school lane's thread) when a new school profile went into force: the
        # loop then takes the school's facts from the config again.
        self._reload = threading.Event()
        self._profile_serial = _profile_serial(config)  # the profile the config was built on
        # School passes that brought something, counted by the school lane's thread (its one
        # writer), and how many the jobs have seen: the jobs that asked for it run at once.
        self._school_changes = 0
        self._school_changes_seen = 0
        if config.school_folder is not None:
            self.school = SchoolLane(config, stop, after_pass=self.after_school_pass, clock=clock)
            self.after_school_pass.append(self._after_school_pass)

    def poke(self) -> None:
        """Wake the loop (used by signal handlers and tests)."""
        self.wake.set()

    def poll_now(self) -> None:
        """Look at the share right away instead of at the next poll (the demo's manager has
        just changed something there)."""
        self._poll_requested.set()
        self.wake.set()

    def _on_change(self, path: RelPath | None) -> None:
        self.debouncer.touch(path, self.clock())
        self.wake.set()

    def _on_call(self, call: channel.Call) -> None:
        """A request came in (on its connection's thread): queue it for the loop, or for the
        school lane's thread when it is about the school folder."""
        if self.school is not None and call.name.startswith("school."):
            self.school.hand(call)
            return
        self._calls.put(call)
        if self._busy:
            call.emit({"event": "waiting"})
        self.wake.set()

    def _listen(self) -> channel.Listener | None:
        if not self.serve_requests:
            return None
        listener = channel.Listener(self.config.state_dir, self._on_call)
        try:
            listener.start()
        except OSError as exc:
            log.warning("commands cannot hand requests to this agent: %s", exc)
            return None
        return listener

    def run(self) -> None:
        listener = self._listen()  # first: a command asking meanwhile waits in the queue
        try:
            self._run()
        finally:
            if listener is not None:
                listener.close()  # requests still waiting are answered "stopping"

    def _run(self) -> None:
        # The Syncer (its journal, its plugins) is made before the backup thread starts, as
        # it always was: a backup opens the journal too, and the first pass must not wait.
        syncer = self._open_syncer()
        backups = BackupWorker(self.followed, self.stop)
        self._backups = backups
        backups.start()
        if self.school is not None:
            self.school.start()
        sdnotify.ready()
        heartbeat = _Heartbeat(threading.current_thread(), self.stop)
        heartbeat.start()
        try:
            while True:
                self._run_on_config(syncer)
                if self.stop.is_set() or not self._reload.is_set():
                    break
                self._reload.clear()
                self._take_school_facts()
                syncer = self._open_syncer()
        finally:
            sdnotify.stopping()
            if self.school is not None:
                self.school.finish()
            backups.finish()
            log.info("agent stopped")

    def _open_syncer(self) -> Syncer:
        return Syncer(self.config, on_local_write=self.own_writes.add, stop=self.stop, plugins=True)

    def _run_on_config(self, syncer: Syncer) -> None:
        """The loop on the config as it is now, until told to stop or until a new school
        profile asks for the plugins, the checks and the jobs to be built on it again; the
        Syncer is closed when it ends."""
        jobs = _Jobs(self.config, syncer)
        checks = _ValidationWorker(syncer.validator, self.stop, self.on_notice)
        self._checks = checks
        watcher = Watcher(
            self.config.root,
            self._on_change,
            ignore=syncer.ignore.is_ignored_for_watcher,
            own_writes=self.own_writes,
        )
        try:
            while not self.stop.is_set() and not self._reload.is_set():
                self._keep_watching(watcher)
                if self._serve_calls(syncer):
                    continue
                now = self.clock()
                if (due := self._due(now, watcher)) is not None:
                    ended = self._run_pass(syncer, local_changed=due.scan_local, walk=due.walk)
                    self.schedule = self.schedule.after_pass(
                        now, due, ended, draw=self._random.random
                    )
                    if due.full_check:  # the start-up check, then the periodic one
                        checks.submit(None)
                    continue
                self._busy = True
                seen = self._school_changes
                school_changed = seen != self._school_changes_seen
                self._school_changes_seen = seen
                try:
                    if jobs.run_due(time.time(), self.stop, school_changed=school_changed):
                        continue
                finally:
                    self._busy = False
                self._sleep(jobs.seconds_to_next(time.time()))
        finally:
            watcher.stop()
            checks.finish()
            syncer.close()

    def _after_school_pass(self, result: PassResult) -> None:
        """After each school pass (on the school lane's thread): the jobs that wait for what
        others write there are woken, and a new profile in the school folder is checked and,
        when it may be, taken into force here and now."""
        from . import schoolprofile

        report = result.report
        if report.downloaded or report.deleted_local or report.moved:
            self._school_changes += 1
            self.wake.set()
        outcome = schoolprofile.refresh(self.config, time.time())
        if outcome.state is schoolprofile.State.REFUSED and outcome.new:
            log.warning("%s", outcome.message)
        # Whoever put it in force (this refresh, `hoso school sync` served here a moment ago,
        # `hoso school sign` on the admin's PC): the agent follows what is in force now.
        serial = _profile_serial(self.config)
        if serial != self._profile_serial:
            log.info("school profile serial %s is in force", serial)
            self._profile_serial = serial
            self._reload.set()
            self.wake.set()

    def _take_school_facts(self) -> None:
        """The school's facts of the profile now in force (roles, record types, inspection
        calendar), and nothing else of the config: the share, the folders and the timings
        the agent started with stay as they are until it restarts."""
        try:
            fresh = config_module.load(self.config.path)
        except HosoError as exc:
            log.error("the new school profile takes effect at the next start: %s", exc)
            fresh = self.config
        self.config = dataclasses.replace(
            self.config,
            roles=fresh.roles,
            open_tables=fresh.open_tables,
            plugins=fresh.plugins,
            school_sources=fresh.school_sources,
        )
        # The watcher was stopped meanwhile: whatever changed then is found by a scan.
        self._scan_requested.set()

    def _keep_watching(self, watcher: Watcher) -> None:
        if watcher.alive or not self.config.root.is_dir():
            return
        try:
            watcher.stop()
            watcher.start()
        except HosoError as exc:
            log.warning("%s", exc)

    def _due(self, now: float, watcher: Watcher) -> PassDue | None:
        """Ask the schedule, with what was seen since the last look (taken, so not lost)."""
        hints = Hints(
            local_settled=self.debouncer.take(now),
            poll_asked=self._poll_requested.is_set(),
            scan_asked=self._scan_requested.is_set(),
            watcher_alive=watcher.alive,
        )
        self._poll_requested.clear()
        self._scan_requested.clear()
        return self.schedule.due(now, hints)

    def _sleep(self, job_wait: float) -> None:
        settled_at = self.debouncer.next_deadline()
        timeout = self.schedule.sleep_for(
            self.clock(), settle_deadline=settled_at, job_wait=job_wait
        )
        self.wake.wait(timeout)
        self.wake.clear()

    def _serve_calls(self, syncer: Syncer) -> bool:
        """Carry out the requests waiting, one after the other; True when any was."""
        served = False
        while not self.stop.is_set():
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                break
            if not call.asker_waiting():
                log.info("request %s dropped: the command asking for it has gone", call.name)
                continue
            served = True
            self._busy = True  # a request coming meanwhile waits for this one
            try:
                self._serve(call, syncer)
            finally:
                self._busy = False
        return served

    def _serve(self, call: channel.Call, syncer: Syncer) -> None:
        services = control.Services(
            self.config,
            emit=call.emit,
            syncer=syncer,
            wait=self.stop.wait,
            by_agent=True,
            backup_config=self.followed.current,
        )
        control.serve(call, services, self._served)

    def _served(self, answer: control.Answer) -> None:
        if answer.passed is not None:
            self._passed(answer.passed)
        elif answer.changed:
            # A restored item reaches the other side right away. Scan too: the watcher may
            # drop its event as our own write (the agent trashed that very path moments ago).
            self._scan_requested.set()

    def _run_pass(
        self, syncer: Syncer, *, local_changed: bool, walk: Walk = Walk.FULL
    ) -> PassEnd:
        """One pass; how it ended, for the schedule."""
        self._busy = True
        try:
            result = syncer.run_pass(local_changed=local_changed, validate=False, walk=walk)
        except UnreachableError as exc:
            ended = PassEnd(Outcome.UNREACHABLE)
            if not self.state.offline:
                delay = self.schedule.delay_after(ended)
                log.warning("%s — working offline, retrying in %.0f s", exc, delay)
            self.state.offline = True
            self.state.last_error = exc
            sdnotify.status(f"offline: {exc}")
            self.on_pass(self.state)
            return ended
        except HosoError as exc:
            log.error("%s", exc)
            self.state.last_error = exc
            sdnotify.status(f"stopped: {exc}")
            if isinstance(exc, SafetyStop):
                self._tell_stop(syncer, exc)
            self.on_pass(self.state)
            return PassEnd(Outcome.REFUSED if isinstance(exc, AuthError) else Outcome.STOPPED)
        finally:
            self._busy = False
        self._passed(result)
        return PassEnd(Outcome.RETRY_SOON if result.retry_soon else Outcome.DONE)

    def _tell_stop(self, syncer: Syncer, exc: SafetyStop) -> None:
        """A safety stop waits for the teacher: one urgent notification, not one per pass
        while it lasts (told again when it comes back after a pass that ran)."""
        note = Notification(
            key=f"stopped:{type(exc).__name__}",
            title=_("hoso stopped syncing to keep your files safe"),
            body=str(exc),
            urgent=True,
        )
        if syncer.plugins is not None and note.key not in self._stops_told:
            syncer.plugins.notify(note, logged=True)  # the log has the error already
        self._stops_told.add(note.key)

    def _passed(self, result: PassResult) -> None:
        """What follows every pass that ran to its end, the agent's own or one asked for."""
        self._stops_told.clear()
        self.schedule = self.schedule.share_reached()
        if self.state.offline:
            log.info("the share is reachable again; catching up")
        self.state.offline = False
        self.state.passes += 1
        self.state.last_result = result
        self.state.last_error = None
        report = result.report
        if report.changed_anything or report.failed:
            log.info(
                "pass: %d up, %d down, %d deleted, %d moved, %d conflicts, %d failed",
                len(report.uploaded),
                len(report.downloaded),
                len(report.deleted_local) + len(report.deleted_remote),
                len(report.moved),
                len(report.conflicts),
                len(report.failed),
            )
        sdnotify.status(time.strftime("last pass %H:%M:%S: ") + result.outcome)
        self._checks.submit(result.report)
        if result.report.changed_anything:
            self._backups.changed()
        memory.release_freed()  # the pass's entries are garbage now: stay small while idle
        self.on_pass(self.state)


def _profile_serial(config: Config) -> int | None:
    """The serial of the school profile in force on this computer (None: none, or no school
    folder); a damaged store counts as none, and is reported by the commands that read it."""
    if config.school_folder is None:
        return None
    try:
        return profilestore.read_memory(config.state_dir).serial
    except HosoError:
        return None


class _ValidationWorker:
    """Validates what each pass changed on a thread of its own, so that a pass never waits
    for the checks, and tells the teacher about new findings. ``None`` asks for the whole
    records folder (unchanged records cost one stat each)."""

    def __init__(
        self,
        validator: Validator | None,
        stop: threading.Event,
        on_notice: Callable[[Notification], None] | None = None,
    ) -> None:
        self.validator = validator
        self.stop = stop
        self.on_notice = on_notice
        self.queue: queue.SimpleQueue[Report | None | _Finish] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="hoso-validate", daemon=True)
        if validator is not None:
            self.thread.start()

    def submit(self, report: Report | None) -> None:
        # Even a pass that changed nothing: a file deleted before it was ever synced takes
        # its findings with it (check_changes forgets the files that are gone).
        if self.validator is not None:
            self.queue.put(report)

    def finish(self) -> None:
        """Let the record being checked finish (each hook has its deadline), then stop: the
        checks ask ``stop`` before each record."""
        if self.thread.is_alive():
            self.queue.put(_FINISH)
            self.thread.join()

    def _run(self) -> None:
        assert self.validator is not None
        while (item := self.queue.get()) is not _FINISH:
            if self.stop.is_set():
                continue  # drain: the agent is stopping
            try:
                if item is None:
                    self.validator.check(stop=self.stop.is_set)
                else:
                    self.validator.check_changes(item, stop=self.stop.is_set)
                if not self.stop.is_set():  # findings not told yet are told at the next start
                    self.validator.notify_new(self.on_notice)
                memory.release_freed()  # a whole-folder check freed as much as a pass
            except HosoError as exc:
                log.warning("validation stopped: %s", exc)
            except Exception:  # a bug must not end the thread: the next pass checks again
                log.exception("validation failed")


class _Finish:
    pass


_FINISH = _Finish()


JOB_META = "job_last_run:{plugin}:{name}"
TOLD_META = "jobs_told"  # JSON {notification key: when it was told}


class _Jobs:
    """The plugins' scheduled jobs (hoso_scheduled_jobs); last runs kept in the journal so
    that a daily job does not run again at every restart."""

    def __init__(self, config: Config, syncer: Syncer) -> None:
        self.config = config
        self.syncer = syncer
        host = syncer.plugins
        self.jobs: list[tuple[str, Job]] = host.scheduled_jobs() if host is not None else []

    def _last_run(self, plugin: str, job: Job) -> float | None:
        value = self.syncer.journal.meta_get(JOB_META.format(plugin=plugin, name=job.name))
        return float(value) if value else None

    def _wait(self, plugin: str, job: Job, now: float) -> float:
        return job_wait(self._last_run(plugin, job), job.every, now)

    def seconds_to_next(self, now: float) -> float:
        return min((self._wait(p, j, now) for p, j in self.jobs), default=float("inf"))

    def run_due(self, now: float, stop: threading.Event, *, school_changed: bool = False) -> bool:
        """Run every job that is due (with ``school_changed``, also those that run after a
        school pass brought something); True when any ran."""
        host = self.syncer.plugins
        ran = False
        notes: list[Notification] = []  # what the jobs tell: summarised once they all ran
        for plugin, job in self.jobs:
            if stop.is_set() or host is None or plugin in host.suspended:
                continue
            if self._wait(plugin, job, now) > 0 and not (
                school_changed and job.after_school_change
            ):
                continue
            context = JobContext(self.config, now, self._last_run(plugin, job), notes.append)
            host.run_job(plugin, job, context)
            # A failed job waits for its next turn too: retrying at once would spin.
            self.syncer.journal.meta_set(
                JOB_META.format(plugin=plugin, name=job.name), repr(time.time())
            )
            ran = True
        if notes and host is not None:
            self._tell(host, notes, now)
        return ran

    def _tell(self, host: PluginHost, notes: list[Notification], now: float) -> None:
        """What this round of jobs told, summarised, each key once (kept in the journal, so
        that a reminder keyed by the day shows once that day, across restarts too)."""
        journal = self.syncer.journal
        try:
            stored = json.loads(journal.meta_get(TOLD_META) or "{}")
            told = {str(key): float(at) for key, at in stored.items()}
        except (ValueError, TypeError, AttributeError):  # damaged: a reminder may show again
            told = {}
        telling = notices.tell(host.notify, notes, told)
        journal.meta_set(TOLD_META, json.dumps(notices.remember(told, telling.told, now)))


def run_forever(config: Config, *, verbose: bool = False) -> None:
    """What `hoso run` does: logging, the instance lock, signals, then the loop."""
    setup_logging(config.state_dir, verbose=verbose, to_stderr=True)
    password = webdav_password(config)
    if password:
        register_secret(password.reveal())
    stop = threading.Event()
    daemon: Daemon | None = None

    def _stop(signum: int, frame: object) -> None:
        log.info("signal %d: finishing the transfers in flight, then stopping", signum)
        stop.set()
        if daemon is not None:
            daemon.poke()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # `kill -USR1 <pid>` prints every thread's stack to stderr (the system journal), even
    # while the main thread is stuck in one C call: what an admin sends an agent that hangs.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    lock = _take_lock(config, stop)
    if lock is None:
        return  # stopped while waiting
    with lock:
        log.info("agent started for %s", config.root)
        daemon = Daemon(config, stop, serve_requests=True)
        page = _serve_page(config)
        try:
            off_main_thread(daemon.run)
        finally:
            if page is not None:
                page.close()


def _serve_page(config: Config) -> Served | None:
    """The teacher's page, served while the agent runs ([ui] enabled); None when it is off
    or cannot listen (its port taken): the agent syncs all the same."""
    if not config.ui.enabled:
        return None
    from .web.server import serve

    try:
        return serve(config.path, config.state_dir, config.ui.port)
    except Exception as exc:  # the page is extra: whatever keeps it off, the sync goes on
        # (an exception escaping here ended run_forever with the control channel's thread
        # still alive: an agent that neither synced nor stopped)
        unexpected = not isinstance(exc, OSError | HosoError)
        log.warning("the teacher's page cannot be served: %s", exc, exc_info=unexpected)
        return None


SETUP_POLL = 5.0  # seconds between looks for the config a service waits for


class SetUpMeanwhile(HosoError):
    """The config appeared while a service waited for it: start again under the service
    manager, whose sandbox then includes the folders the setup made (exit 1: restarted)."""


def wait_for_setup(config_path: Path, *, under_service: bool, say: Callable[[str], None]) -> bool:
    """`hoso run` before anyone set hoso up on this computer (a service the admin enabled
    before the teacher's first-run wizard): wait, alive and ready for systemd, until `hoso
    ui`'s wizard or `hoso init` writes ``config_path``; False when told to stop meanwhile.
    Under a service the agent then exits to be started again (SetUpMeanwhile), since its
    sandbox was made before the records folder existed; by hand it just goes on."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    waiting = _("No config yet: waiting for hoso to be set up (the teacher's page, `hoso ui`).")
    say(waiting)
    sdnotify.ready()
    sdnotify.status(waiting)
    while not config_path.exists():
        if stop.wait(SETUP_POLL):
            return False
        sdnotify.watchdog_ping()
    if under_service:
        raise SetUpMeanwhile(
            _("hoso has just been set up: the service starts again to sync {path}.").format(
                path=config_path
            )
        )
    return True


def off_main_thread(run: Callable[[], None]) -> None:
    """``run`` on a thread of its own, the main thread only waiting for it, so that SIGTERM
    is heard at once whatever the loop is doing.

    Python runs a signal handler on the main thread, between two bytecodes. A loop on the
    main thread blocked in one C call (SQLite waiting out the write lock another process
    holds on the journal, a socket read) did not hear SIGTERM before that call returned. And
    the kernel may hand the signal to any thread: the main thread, asleep in a lock's wait,
    was then never woken to run the handler (an idle agent sleeps up to the poll interval).
    So the main thread waits on a pipe that the signal itself writes to (set_wakeup_fd),
    whichever thread took it, and that the loop writes to when it ends. The loop then ends as
    always: never cut off mid-write."""
    failed: list[BaseException] = []
    ended = threading.Event()  # not is_alive(): the thread lives a moment after its write
    wakeup, woken = os.pipe()
    os.set_blocking(woken, False)  # as set_wakeup_fd requires

    def target() -> None:
        try:
            run()
        except BaseException as exc:  # handed to the main thread: the command's exit code
            failed.append(exc)
        finally:
            ended.set()
            with contextlib.suppress(BlockingIOError):  # full: the main thread wakes anyway
                os.write(woken, b"\0")

    previous = signal.set_wakeup_fd(woken, warn_on_full_buffer=False)
    try:
        loop = threading.Thread(target=target, name="hoso-loop")
        loop.start()
        while not ended.is_set():
            os.read(wakeup, 512)  # a signal (its handler runs right after) or the loop's end
        loop.join()
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wakeup)
        os.close(woken)
    if failed:
        raise failed[0]


LOCK_RETRY = 1.0  # seconds between looks at a lock held by a command
START_EXTENSION = 30.0  # seconds more to start that each look asks systemd for


def _take_lock(config: Config, stop: threading.Event) -> InstanceLock | None:
    """The instance lock, or None when told to stop first. A command doing its work itself
    (`hoso sync`, `hoso trash restore`) holds the lock for a while: wait for it, telling
    systemd start-up goes on (exiting would be a failure, and exit 2 one it never restarts
    from). A second agent is a config mistake: AlreadyRunning (exit 2). An agent still
    starting (it listens right after taking the lock) is told apart at the next look."""
    lock = InstanceLock(config.state_dir)
    waiting_for: int | None = None
    told = False
    while True:
        try:
            lock.acquire()
            return lock
        except AlreadyRunning as busy:
            if channel.agent_listening(config.state_dir):
                raise
            if not told or busy.pid != waiting_for:
                log.info("waiting for process %s to finish", busy.pid or "?")
                waiting_for, told = busy.pid, True
            sdnotify.still_starting(
                f"waiting for process {busy.pid or '?'} (a hoso command) to finish",
                START_EXTENSION,
            )
        if stop.wait(LOCK_RETRY):
            return None
