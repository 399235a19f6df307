"""The worker process that reads documents for the sandbox (:mod:`agent.documents.sandbox`).

Started by the sandbox as ``python -I -c …`` (no current folder, no ``PYTHON*`` variables on
its path: a records folder holding an ``agent/`` folder must not be imported). It sets its own
limits: no core files, an address-space limit (``RLIMIT_AS``) once the readers are imported,
and before each document a processor-time limit (``RLIMIT_CPU``) that many seconds past what
it has used so far; the kernel ends it with SIGXCPU past that.

Its arguments: the address-space limit in bytes, then modules to load before the first
question (an analysis's). Once they are loaded it writes ``{"ready": true}``. Protocol,
one JSON object per line: the sandbox writes
``{"path": P, "cpu": SECONDS}`` on stdin, with ``"analysis": {"function", "arguments",
"language"}`` when it is to work out something from the document
(:class:`~agent.documents.sandbox.Analysis`); the worker answers on stdout with exactly
one of ``{"document": …}`` (or ``{"result": …}`` for an analysis, ``{"analysis_failed":
DETAIL}`` when the analysis itself failed),
``{"unreadable": REASON, "detail": …}``, ``{"too_complex": LIMIT, "detail": …}`` or
``{"os_error": ERRNO, "detail": …}``, with ``"last": true`` when it quits after that answer
(it ran out of memory, or used more than half of it). It also quits when stdin closes, and
after :data:`IDLE_SECONDS` without a request.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import resource
import select
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from .model import Document, Limit, TooComplex, Unreadable
from .readers import read_document

IDLE_SECONDS = 120.0
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # the text of a 5,000-page book; a record is 20 KB
_NEAR_LIMIT = 0.9  # a failure with the address space this full is put down to memory


def main(argv: list[str]) -> None:
    memory_bytes = int(argv[0])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))  # Linux enforces it
    for module in argv[1:]:  # an analysis's module, loaded before the first question
        with contextlib.suppress(Exception):  # else the analysis says what is wrong
            importlib.import_module(module)
    # Bytes both ways, UTF-8 and ASCII-escaped JSON: whatever the locale, whatever the names.
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(b'{"ready": true}\n')  # the sandbox's clock for a file starts now
    stdout.flush()
    while _wait_for_request(stdin):
        line = stdin.readline()
        if not line:
            return
        answer = _answer(json.loads(line), memory_bytes)
        # A worker that ran out of memory, or came near, leaves for a fresh one: its heap is
        # not worth keeping, and _out_of_memory reads the peak of the worker's whole life.
        out_of_memory = answer.get("too_complex") == Limit.MEMORY.value
        if out_of_memory or _peak_address_space() > memory_bytes // 2:
            answer["last"] = True
        stdout.write(_dumps(answer) + b"\n")
        stdout.flush()
        if answer.get("last"):
            return


def _dumps(answer: dict[str, Any]) -> bytes:
    try:
        text = json.dumps(answer)
    except MemoryError:
        text = json.dumps({**_too_complex(Limit.MEMORY, "out of memory"), "last": True})
    if len(text) > MAX_ANSWER_BYTES:
        limited = _too_complex(Limit.SIZE, f"{len(text)} bytes of text")
        text = json.dumps({**limited, "last": answer.get("last", False)})
    return text.encode("ascii")


def _wait_for_request(stdin: BinaryIO) -> bool:
    ready, _, _ = select.select([stdin], [], [], IDLE_SECONDS)
    return bool(ready)


def _answer(request: dict[str, Any], memory_bytes: int) -> dict[str, Any]:
    analysis = request.get("analysis")
    if analysis is not None:  # loaded before the file's processor time starts counting
        try:
            module, _colon, name = str(analysis["function"]).partition(":")
            function = getattr(importlib.import_module(module), name)
        except Exception as exc:
            return {"analysis_failed": f"{type(exc).__name__}: {exc}"[:500]}
    _limit_cpu(float(request["cpu"]))
    try:
        document = read_document(Path(request["path"]))
        if analysis is not None:
            return _analyse(function, document, analysis)
        return {"document": encode(document)}
    except TooComplex as exc:
        return _too_complex(exc.limit, exc.detail)
    except Unreadable as exc:
        if _out_of_memory(exc, memory_bytes):
            return _too_complex(Limit.MEMORY, exc.detail)
        return {"unreadable": exc.reason.value, "detail": exc.detail[:500]}
    except MemoryError:
        return _too_complex(Limit.MEMORY, "out of memory")
    except OSError as exc:
        return {"os_error": exc.errno or 0, "detail": str(exc)[:500]}


def _analyse(
    function: Callable[..., Any], document: Document, analysis: dict[str, Any]
) -> dict[str, Any]:
    """The answer of an :class:`~agent.documents.sandbox.Analysis` of ``document``; a failure
    of the analysis itself (a bug, not the file's doing) is answered, not fatal."""
    from ..i18n import language

    try:
        with language(str(analysis["language"])):
            return {"result": function(document, **analysis["arguments"])}
    except (TooComplex, Unreadable, MemoryError, OSError):
        raise
    except Exception as exc:
        return {"analysis_failed": f"{type(exc).__name__}: {exc}"[:500]}


def _too_complex(limit: Limit, detail: str) -> dict[str, Any]:
    return {"too_complex": limit.value, "detail": detail[:500]}


def _limit_cpu(seconds: float) -> None:
    """Allow ``seconds`` more processor time than used so far (the limit counts from the
    start of the process); only the soft limit moves, so it can move again."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _out_of_memory(exc: BaseException, memory_bytes: int) -> bool:
    """Whether a reader's failure came from the memory limit: libxml2 reports a failed
    allocation as a syntax error (code ERR_NO_MEMORY), other readers as MemoryError; a large
    allocation that failed is seen by the peak address space."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError):
            return True
        if isinstance(seen, etree.LxmlError) and _lxml_out_of_memory(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return _peak_address_space() >= _NEAR_LIMIT * memory_bytes


def _lxml_out_of_memory(exc: etree.LxmlError) -> bool:
    entries = [*getattr(exc, "error_log", ())]
    codes = {getattr(exc, "code", None), *(entry.type for entry in entries)}
    return etree.ErrorTypes.ERR_NO_MEMORY in codes


def _peak_address_space() -> int:
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmPeak:"):
            return int(line.split()[1]) * 1024
    return 0


def encode(document: Document) -> dict[str, Any]:
    """A document as JSON-ready data (:func:`agent.documents.sandbox.decode` reads it)."""
    return {
        "format": document.format,
        "blocks": [
            [b.text, b.heading_level, b.bold, b.in_table, b.legacy and b.legacy.value]
            for b in document.blocks
        ],
    }
