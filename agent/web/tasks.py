"""Long work started from the page (a send, a print, a restore), run on a thread of its own.

The request that starts a task returns at once with the task's page, which asks for the
lines written so far every second or so; the work goes on if the browser is closed, and its
end (a line, or the error's message) stays readable for an hour. One task of a kind at a
time: a second "send" while one runs is refused, not queued behind it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..display import printable
from ..errors import HosoError, UsageError
from ..i18n import _, language
from ..log import get_logger
from ..webpage import WebTask

log = get_logger(__name__)

KEEP_SECONDS = 3600.0  # an ended task's page stays readable this long
MAX_LINES = 500  # progress lines kept per task (the last ones)


@dataclass
class Task:
    id: str
    kind: str
    title: str
    then: str
    started: float
    lines: list[str] = field(default_factory=list)
    done: bool = False
    result: str = ""
    problem: bool = False
    ended: float | None = None

    def to_json(self) -> dict[str, object]:
        # Shown by hoso.js as text: control and bidi characters escaped as in templates.
        return {
            "id": self.id,
            "kind": self.kind,
            "title": printable(self.title),
            "lines": [printable(line) for line in self.lines],
            "done": self.done,
            "result": printable(self.result),
            "problem": self.problem,
            "then": self.then,
        }


class Busy(UsageError):
    """A task of this kind is already running."""


class Tasks:
    """The tasks of this page's process."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def start(self, work: WebTask, lang: str) -> Task:
        now = self._clock()
        with self._lock:
            self._forget_old(now)
            for task in self._tasks.values():
                if task.kind == work.kind and not task.done:
                    raise Busy(
                        _("“{title}” is still running: wait for it to end.").format(
                            title=task.title
                        )
                    )
            task = Task(secrets.token_urlsafe(12), work.kind, work.title, work.then, now)
            self._tasks[task.id] = task
        thread = threading.Thread(
            target=self._run, args=(task, work, lang), name=f"hoso-ui-{work.kind}", daemon=True
        )
        thread.start()
        return task

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def running(self) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks.values() if not t.done]

    def _forget_old(self, now: float) -> None:
        for key in [k for k, t in self._tasks.items() if t.ended and now - t.ended > KEEP_SECONDS]:
            del self._tasks[key]

    def _run(self, task: Task, work: WebTask, lang: str) -> None:
        def progress(line: str) -> None:
            with self._lock:
                task.lines.append(line)
                del task.lines[:-MAX_LINES]

        with language(lang):
            try:
                result, problem = work.run(progress), False
            except HosoError as exc:
                result, problem = str(exc), True
            # A bug, or sys.exit in code written for the command line, which would end this
            # thread silently and leave the task "running" for ever (its kind refused,
            # `hoso ui` never idle): logged with its trace, the page says so plainly.
            except BaseException:  # noqa: B036
                log.exception("task %s failed", task.kind)
                result, problem = _("This stopped because of a fault in hoso; see its log."), True
        with self._lock:
            task.result, task.problem = result, problem
            task.done, task.ended = True, self._clock()
