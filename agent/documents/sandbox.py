"""Documents are read in worker processes with limits, so that a hostile file costs seconds.

A record's content is parsed by libraries (lxml, pypdf, openpyxl) that give no bound on time
or memory: a 580 KB .docx can unpack to 190 MB of XML, a 12 KB PDF can make every page parse
one large content stream again. :class:`DocumentSandbox` hands each file to a worker process
(:mod:`agent.documents.worker`) that runs under an address-space limit and a processor-time
limit, and kills it when it does not answer within the wall-clock limit. What comes back is
the :class:`~agent.documents.model.Document`, rebuilt from plain JSON.

Workers are reused (starting one costs about a fifth of a second, reading a lesson plan a
hundredth): a sandbox keeps up to :data:`IDLE_WORKERS` idle ones and starts another when all
are busy, so that one slow file never makes another wait. A worker that hit a limit is gone;
the next file gets a fresh one.

Invariants: this process never opens the document's content; :meth:`DocumentSandbox.read`
raises what :func:`~agent.documents.readers.read_document` raises (Unreadable,
TooComplex, OSError) for the file, and :class:`ReaderUnavailable` only for a worker that
cannot work at all; it returns or raises within the wall-clock limit (plus the time to
start a worker).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HosoError, Scope
from ..i18n import _
from .model import Block, Document, Legacy, Limit, TooComplex, Unreadable, UnreadableReason

MIB = 1024 * 1024
IDLE_WORKERS = 2
MAX_ANSWER_BYTES = 17 * MIB  # the worker refuses past 16 MiB; more is a broken worker
# Started isolated (-I): the current folder (a records folder?) and PYTHON* variables stay
# out of its import path; the folder holding the agent package is put there explicitly.
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from agent.documents.worker import main; main(sys.argv[2:])"
)
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
# All a worker needs of the agent's environment (not, say, a password given to `hoso init`).
_ENVIRONMENT = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR"})
_REUSE_SECONDS = 100.0  # an idle worker quits after 120 s: never hand it a file near then
_START_SECONDS = 60.0  # to load the readers, however busy the computer


class ReaderUnavailable(HosoError):
    """No worker process could be started, or one quit on its own: a problem of this
    computer, not of the file (which gets no finding)."""

    scope = Scope.AGENT

    def __init__(self, detail: str) -> None:
        super().__init__(
            _(
                "The process that reads documents for the checks could not run ({detail}); "
                "records are not checked for their content until it can."
            ).format(detail=detail)
        )


@dataclass(frozen=True)
class Limits:
    """What reading one document may cost."""

    memory_bytes: int = 512 * MIB  # the worker's whole address space
    cpu_seconds: int = 20  # processor time
    wall_seconds: float = 30.0  # until the worker is killed


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Analysis:
    """Work the worker does on a document it has just read: ``function`` ("module:name",
    a module of hoso's or of a plugin's package) is called as ``name(document,
    **arguments)`` with messages in ``language``, and what it returns (plain JSON data)
    comes back."""

    function: str
    arguments: dict[str, Any]
    language: str


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, memory_bytes: int, preload: tuple[str, ...] = ()) -> None:
        argv = [str(memory_bytes), *preload]
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, str(_PACKAGE_ROOT), *argv],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
                env={k: v for k, v in os.environ.items() if k in _ENVIRONMENT},
            )
        except OSError as exc:  # not the file's fault: never read as "vanished meanwhile"
            raise ReaderUnavailable(exc.strerror or str(exc)) from None
        self.last_used = time.monotonic()
        self.killed = False
        self.started = False  # it said it is ready (its start-up never counts for a file)

    @property
    def usable(self) -> bool:
        fresh = time.monotonic() - self.last_used < _REUSE_SECONDS
        return fresh and self.process.poll() is None

    def ask(self, path: Path, limits: Limits, analysis: Analysis | None = None) -> dict[str, Any]:
        """The worker's answer about ``path``; BrokenPipeError when it was gone before it got
        the question; TooComplex when it hit a limit and ended; Unreadable when the file
        crashed it; ReaderUnavailable when it quit on its own."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        if not self.started:
            self._await_start(stdout.fileno())
        question: dict[str, Any] = {"path": str(path), "cpu": limits.cpu_seconds}
        if analysis is not None:
            question["analysis"] = dataclasses.asdict(analysis)
        request = json.dumps(question) + "\n"
        stdin.write(request.encode("utf-8"))
        stdin.flush()
        line = self._read_line(stdout.fileno(), time.monotonic() + limits.wall_seconds)
        self.last_used = time.monotonic()
        if line is None:
            raise self._ended(limits)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _await_start(self, fd: int) -> None:
        """Wait until the worker has loaded the readers (and any preloaded module) and says
        so: the time this takes on a busy computer is not a file's. BrokenPipeError when it
        ended first, as for a question it never got."""
        try:
            line = self._read_line(fd, time.monotonic() + _START_SECONDS)
        except TooComplex:  # killed at the deadline
            raise ReaderUnavailable(f"not started within {_START_SECONDS:g} s") from None
        if line is None:
            raise BrokenPipeError("the worker ended before it was ready")
        self.started = True

    def _read_line(self, fd: int, deadline: float) -> bytes | None:
        """One line from the worker; None when it ended first. Kills it at the deadline
        (TooComplex TIME) or when the line grows past :data:`MAX_ANSWER_BYTES`."""
        chunks: list[bytes] = []
        size = 0
        poller = select.poll()  # not select(): the agent may hold more than 1024 descriptors
        poller.register(fd, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            ready = poller.poll(remaining * 1000) if remaining > 0 else []
            if not ready:
                self.kill()
                raise TooComplex(Limit.TIME, "no answer in time; the reader was stopped")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            chunks.append(chunk)
            size += len(chunk)
            if chunk.endswith(b"\n"):
                return b"".join(chunks)
            if size > MAX_ANSWER_BYTES:
                self.kill()
                raise TooComplex(Limit.SIZE, "the reader's answer is too long")

    def _ended(self, limits: Limits) -> Exception:
        """Why the worker ended without answering: a signal comes from the file (a limit, or
        a parser that crashed on it); an exit code from the worker itself (it answers every
        error a file can cause)."""
        code = self.process.wait()
        if code == -signal.SIGXCPU:
            return TooComplex(Limit.CPU, f"more than {limits.cpu_seconds} s of processor time")
        if code == -signal.SIGKILL:  # not ours: the kernel's out-of-memory killer
            return TooComplex(Limit.MEMORY, "the reader was killed by the system")
        if code < 0:
            return Unreadable(UnreadableReason.CORRUPT, f"the reader crashed (signal {-code})")
        return ReaderUnavailable(f"exit code {code}")

    def kill(self) -> None:
        self.killed = True
        self.process.kill()
        self.process.wait()
        self.close()

    def close(self) -> None:
        """Closing stdin asks the worker to quit; it does when its current file is read."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                # A request left in the buffer of a worker that quit: close() still closes.
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


class DocumentSandbox:
    """Reads documents in worker processes under ``limits``. Thread-safe."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.reads = 0  # documents handed to a worker (what tests watch for re-reads)
        self._idle: list[_Worker] = []
        self._preload: set[str] = set()  # analyses' modules: each new worker loads them
        self._lock = threading.Lock()

    def read(self, path: Path) -> Document:
        """The document at ``path``, read by a worker. Raises Unreadable, TooComplex (the
        limit that was hit) and OSError (the file vanished or is locked); ReaderUnavailable
        when no worker can read anything."""
        return decode(self._ask(path, None))

    def analyse(self, path: Path, analysis: Analysis) -> Any:
        """What ``analysis`` makes of the document at ``path``, worked out by the worker
        right after reading it, within the same limits: a plugin's checks of a document
        can cost more processor time than reading it, and there they never hold this
        process (its transfers) back. Raises as :meth:`read` does."""
        with self._lock:
            self._preload.add(analysis.function.partition(":")[0])
        answer = self._ask(path, analysis)
        if "result" in answer:
            return answer["result"]
        raise decode_error(answer)

    def _ask(self, path: Path, analysis: Analysis | None) -> dict[str, Any]:
        with self._lock:
            self.reads += 1
        for attempt in range(2):
            worker = self._take()
            try:
                answer = worker.ask(path, self.limits, analysis)
            except BrokenPipeError:  # it had quit (idle, or killed by someone): never read it
                worker.close()
                if attempt:
                    raise ReaderUnavailable("it quit before reading anything") from None
                continue
            except BaseException:
                if not worker.killed:
                    worker.close()
                raise
            self._give_back(worker, answer)
            return answer
        raise AssertionError("unreachable")

    def prestart(self, *, preload: str = "") -> None:
        """Start a worker now when none is idle, so that the first read does not wait the
        fifth of a second a worker takes to load the readers (it loads them while this
        process goes on), nor for the module ``preload`` names (an analysis's, which every
        worker of this sandbox loads from now on). A worker that cannot start is left to the
        read to report."""
        with self._lock:
            if preload:
                self._preload.add(preload)
            if self._idle:
                return
        try:
            worker = self._new_worker()
        except ReaderUnavailable:
            return
        self._give_back(worker, {})

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.usable:
                    return worker
                worker.close()
        return self._new_worker()

    def _new_worker(self) -> _Worker:
        with self._lock:
            preload = tuple(sorted(self._preload))
        return _Worker(self.limits.memory_bytes, preload)

    def _give_back(self, worker: _Worker, answer: dict[str, Any]) -> None:
        if answer.get("last"):  # it quits after this answer
            worker.close()
            return
        with self._lock:
            if len(self._idle) < IDLE_WORKERS:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()


def decode(answer: dict[str, Any]) -> Document:
    """The document of a worker's answer, or the exception it stands for."""
    if "document" in answer:
        data = answer["document"]
        blocks = tuple(
            Block(text, level, bold, in_table, Legacy(legacy) if legacy else None)
            for text, level, bold, in_table, legacy in data["blocks"]
        )
        return Document(format=data["format"], blocks=blocks)
    raise decode_error(answer)


def decode_error(answer: dict[str, Any]) -> Exception:
    """The exception a worker's answer without a document or result stands for."""
    detail = str(answer.get("detail", ""))
    if "too_complex" in answer:
        return TooComplex(Limit(answer["too_complex"]), detail)
    if "unreadable" in answer:
        return Unreadable(UnreadableReason(answer["unreadable"]), detail)
    if "os_error" in answer:
        return OSError(int(answer["os_error"]), detail)
    if "analysis_failed" in answer:  # a fault of the code that asked, not of the file
        return RuntimeError(f"the analysis failed in the reader: {answer['analysis_failed']}")
    return Unreadable(UnreadableReason.CORRUPT, f"unexpected answer {sorted(answer)}")


_shared: dict[Limits, DocumentSandbox] = {}
_shared_lock = threading.Lock()


def shared(limits: Limits) -> DocumentSandbox:
    """The sandbox of this process for ``limits`` (its workers live as long as the process)."""
    with _shared_lock:
        sandbox = _shared.get(limits)
        if sandbox is None:
            sandbox = _shared[limits] = DocumentSandbox(limits)
        return sandbox


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        sandboxes = list(_shared.values())
    for sandbox in sandboxes:
        sandbox.close()
