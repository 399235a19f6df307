"""The agent's second lane: the school folder kept beside the records folder by `hoso run`.

The lane has everything the records lane has, of its own: a Syncer (agent/schoolfolder.py:
its journal, trash and guards), a Schedule (polled every ``poll_interval``), a watcher and a
debouncer (hoso's own commands write handover log entries into the folder: they go up as soon
as they settle). It runs on a thread of its own, sleeping until its next deadline, so that a
school server that does not answer (each request waits out its timeout) never delays the
records folder's passes; the two lanes share nothing but the stop event and the config.

A failure of the lane (unreachable, login refused, a safety stop) is logged once when the
lane's state changes, not at every poll, and never reaches the records lane. After each
school pass that ran to its end (its own or one `hoso school sync` asked for), the callbacks
of ``after_pass`` run on the lane's thread: other parts of hoso react there (the school
profile is read again). A callback that fails is logged and the lane goes on.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable

from . import channel, control
from .config import Config
from .errors import AuthError, HosoError, UnreachableError
from .i18n import _
from .log import get_logger
from .model import RelPath
from .schedule import Hints, Outcome, PassDue, PassEnd, Schedule
from .schoolfolder import open_syncer
from .sync import PassResult, Syncer
from .watcher import Debouncer, OwnWrites, Watcher

log = get_logger(__name__)

SETTLE_MARGIN = 0.25  # seconds past settle_seconds, as for the records folder
OK = "ok"


class SchoolLane:
    """The school folder's passes on their own thread. Built only when the config names a
    school folder; :meth:`start` opens its Syncer and watcher, :meth:`finish` waits for the
    pass in flight and closes them."""

    def __init__(
        self,
        config: Config,
        stop: threading.Event,
        *,
        after_pass: list[Callable[[PassResult], None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.stop = stop
        self.after_pass = after_pass  # the Daemon's list: callbacks added later count too
        self.clock = clock
        self.own_writes = OwnWrites()
        self.debouncer = Debouncer(config.sync.settle_seconds + SETTLE_MARGIN, max_wait=60.0)
        self._random = random.Random()  # spreads the school's agents (agent/schedule.py)
        self.schedule = Schedule.start(config.sync, now=clock(), draw=self._random.random)
        self.wake = threading.Event()
        self.calls: queue.SimpleQueue[channel.Call] = queue.SimpleQueue()
        self.syncer: Syncer | None = None
        self.watcher: Watcher | None = None
        self.state = ""  # what the log last said about the lane: OK, or the error's words
        self._broken: HosoError | None = None  # why the lane could not start
        # Scan the folder in a pass right away: it went unwatched for a while, or a request
        # changed it (a trash restore)
        self._scan_now = False
        self._thread = threading.Thread(target=self._run, name="hoso-school", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Wait for the lane to end (the stop event is set); the pass in flight finishes."""
        self.wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def hand(self, call: channel.Call) -> None:
        """A command's `school.*` request: carried out on the lane's thread between passes."""
        self.calls.put(call)
        self.wake.set()
        if not self._thread.is_alive():  # it never started, or could not: answer here
            self._refuse_calls(self._broken)

    def _on_change(self, path: RelPath | None) -> None:
        self.debouncer.touch(path, self.clock())
        self.wake.set()

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            syncer = open_syncer(self.config, on_local_write=self.own_writes.add, stop=self.stop)
        except HosoError as exc:  # the vault cannot be opened: nothing of the lane can run
            self._tell(str(exc), error=True)
            self._broken = exc
            self._refuse_calls(exc)
            return
        assert syncer is not None  # the lane exists only with a school folder
        self.syncer = syncer
        self.watcher = Watcher(
            syncer.config.root,
            self._on_change,
            ignore=syncer.ignore.is_ignored_for_watcher,
            own_writes=self.own_writes,
        )
        try:
            while not self.stop.is_set():
                self._keep_watching()
                if self._serve_calls(syncer):
                    continue
                now = self.clock()
                due = self.schedule.due(
                    now,
                    Hints(
                        local_settled=self.debouncer.take(now),
                        scan_asked=self._scan_now,
                        watcher_alive=self.watcher.alive,
                    ),
                )
                self._scan_now = False
                if due is not None:
                    ended = self._pass(syncer, due)
                    self.schedule = self.schedule.after_pass(
                        now, due, ended, draw=self._random.random
                    )
                    continue
                timeout = self.schedule.sleep_for(
                    self.clock(), settle_deadline=self.debouncer.next_deadline()
                )
                self.wake.wait(timeout)
                self.wake.clear()
        finally:
            self.watcher.stop()
            self._refuse_calls(None)
            syncer.close()

    def _keep_watching(self) -> None:
        """(Re)start the watcher once the folder is there: the first pass creates it, and a
        folder on a drive that comes back is watched again. What changed while nobody
        watched (a file saved during the first pass) is found by a scan right away."""
        assert self.watcher is not None and self.syncer is not None
        if self.watcher.alive or not self.syncer.config.root.is_dir():
            return
        try:
            self.watcher.stop()
            self.watcher.start()
        except HosoError as exc:
            log.warning("%s", exc)
            return
        self._scan_now = True

    def _pass(self, syncer: Syncer, due: PassDue) -> PassEnd:
        try:
            result = syncer.run_pass(local_changed=due.scan_local, validate=False, walk=due.walk)
        except UnreachableError as exc:
            self._tell(str(exc), error=False)
            return PassEnd(Outcome.UNREACHABLE)
        except HosoError as exc:
            self._tell(str(exc), error=True)
            return PassEnd(Outcome.REFUSED if isinstance(exc, AuthError) else Outcome.STOPPED)
        except Exception:  # a bug in the lane must not end it, nor the agent
            log.exception("school folder: the pass failed")
            return PassEnd(Outcome.STOPPED)
        self._passed(result)
        return PassEnd(Outcome.RETRY_SOON if result.retry_soon else Outcome.DONE)

    def _passed(self, result: PassResult) -> None:
        """What follows every school pass that ran to its end."""
        self.schedule = self.schedule.share_reached()
        report = result.report
        if report.changed_anything or report.failed:
            log.info(
                "school folder: %d up, %d down, %d deleted, %d failed",
                len(report.uploaded),
                len(report.downloaded),
                len(report.deleted_local) + len(report.deleted_remote),
                len(report.failed),
            )
        self._tell(OK, error=False)
        for callback in list(self.after_pass):
            try:
                callback(result)
            except Exception:  # one reaction failing must not stop the lane or the others
                log.exception("school folder: a reaction to the pass failed")

    def _tell(self, state: str, *, error: bool) -> None:
        """One log line when the lane's state changes, never one per poll."""
        if state == self.state:
            return
        first = not self.state
        self.state = state
        if state == OK:
            if not first:
                log.info("school folder: synced again")
            return
        log.log(logging.ERROR if error else logging.WARNING, "school folder: %s", state)

    # --- requests ------------------------------------------------------------------------

    def _serve_calls(self, syncer: Syncer) -> bool:
        served = False
        while not self.stop.is_set():
            try:
                call = self.calls.get_nowait()
            except queue.Empty:
                break
            if not call.asker_waiting():
                continue
            served = True
            services = control.Services(
                self.config,
                emit=call.emit,
                school_syncer=syncer,
                wait=self.stop.wait,  # the settle rounds end when the agent stops
                by_agent=True,
            )
            control.serve(call, services, self._served)
        return served

    def _served(self, answer: control.Answer) -> None:
        if answer.passed is not None:
            self._passed(answer.passed)
        if answer.changed:  # as the records lane: what the request changed syncs right away
            self._scan_now = True

    def _refuse_calls(self, error: HosoError | None) -> None:
        """Requests still waiting when the lane cannot serve them: answered, never left."""
        while True:
            try:
                call = self.calls.get_nowait()
            except queue.Empty:
                return
            if error is not None:
                call.fail(str(error), int(error.exit_code))
            else:
                call.fail(_("The agent is stopping; run the command again."), 1, "stopping")
