"""Documents to PDF with LibreOffice headless (`soffice --convert-to pdf`): the one place hoso
runs it (the print binder, the handover minutes).

One soffice process converts a batch (it converts its arguments in order), each document
with a time limit of its own, watched by its PDF appearing in the output folder: when one
does not appear in time the process group is killed, that document is "timed out" and a new
process goes on with the rest; a process that ends with PDFs missing (it crashed) leaves
the document it stopped on "could not be converted". The process group is killed on every
way out (Ctrl-C too), so no LibreOffice is left behind. The profile LibreOffice runs with
always blocks links in the documents (they come from the share: hostile).
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .durable import write_atomic
from .errors import UsageError
from .i18n import _

# Debian's packages for the converter and fonts metric-compatible with Times New Roman/Arial
# that cover Vietnamese (said word for word when soffice is missing).
INSTALL = (
    "sudo apt install libreoffice-writer-nogui libreoffice-calc-nogui "
    "fonts-liberation2 fonts-dejavu"
)
FORMAT = "2"  # bump when the way PDFs are made changes: version_key changes (2: links blocked)
STARTUP_SECONDS = 30.0  # a process's first document also waits for LibreOffice to start
_POLL = 0.05
# Links in a document are followed only from trusted locations; hoso names none.
BLOCK_LINKS = (
    '<item oor:path="/org.openoffice.Office.Common/Security/Scripting">'
    '<prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop>'
    "</item>"
)
_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" \
xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
{items}
</oor:items>
"""


class ConverterMissing(UsageError):
    """No LibreOffice on this computer (exit 2): the message says what to install."""


class ConversionFailure(enum.StrEnum):
    FAILED = "could_not_convert"  # LibreOffice crashed or refused the document
    TIMED_OUT = "timed_out"
    UNREADABLE = "unreadable"  # the document could not be read to be given to LibreOffice


Outcomes = dict[str, tuple[ConversionFailure, str]]  # the documents that failed, by name, and why


def find_soffice(configured: str = "") -> Path:
    """The converter: ``configured`` when set (the binder's ``[print] converter``), else
    `soffice` / `libreoffice` on PATH. Raises ConverterMissing with what to install."""
    names = [configured] if configured else ["soffice", "libreoffice"]
    for name in names:
        found = shutil.which(os.path.expanduser(name))
        if found:
            return Path(found)
    raise ConverterMissing(
        _(
            "LibreOffice is needed to print records but was not found ({name}). Install it "
            "with: {command} — then run the command again. Nothing was done."
        ).format(name=" / ".join(names), command=INSTALL)
    )


def converter_version(command: Path) -> str:
    """What identifies the converter: an upgraded LibreOffice (or another wrapper) makes
    new PDFs, so a cache of them does not hand out the old ones."""
    digest = hashlib.sha256(FORMAT.encode())
    real = command.resolve()
    for path in (real, real.parent / "versionrc", real.parent.parent / "program" / "versionrc"):
        with contextlib.suppress(OSError):
            info = path.stat()
            digest.update(f"{path}:{info.st_size}:{info.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def office_profile(kept: Path, fresh: Path) -> Iterator[Path]:
    """LibreOffice's own settings folder: ``kept`` (so that starting is quick), locked by
    ``<kept>.lock`` beside it, unless another hoso uses it right now; then ``fresh``."""
    with kept.with_name(f"{kept.name}.lock").open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield fresh
            return
        yield kept


def converted_pdf(out: Path, name: str) -> Path:
    """The PDF LibreOffice writes into ``out`` for the document ``name``."""
    return out / f"{Path(name).stem}.pdf"


@dataclass(frozen=True)
class Office:
    """LibreOffice at ``command``; ``timeout`` seconds for each document, the first of each
    process ``startup`` seconds more."""

    command: Path
    timeout: float
    startup: float = STARTUP_SECONDS
    progress: Callable[[str], None] = field(default=lambda _text: None, compare=False)

    def convert(self, names: Sequence[str], folder: Path, out: Path, profile: Path) -> Outcomes:
        """Convert ``names`` (in ``folder``, or absolute) into ``out`` with the settings
        folder ``profile`` (absolute; hardened first); the failures by name."""
        harden(profile)
        outcomes: Outcomes = {}
        pending = list(names)
        barren = 0  # processes in a row that produced nothing
        works = False  # a process of this run produced something
        while pending:
            produced, stopped = self._one_process(pending, folder, out, profile)
            last = max(
                (i for i, n in enumerate(pending) if converted_pdf(out, n).exists()), default=-1
            )
            for name in pending[: last + 1]:
                if not converted_pdf(out, name).exists():
                    outcomes[name] = (ConversionFailure.FAILED, _("LibreOffice could not open it"))
            if stopped is not None:  # killed: the document it was on took too long
                outcomes[pending[stopped]] = (
                    ConversionFailure.TIMED_OUT,
                    _("no PDF after {seconds:g} s").format(seconds=self.timeout),
                )
                rest = pending[stopped + 1 :]
            elif last + 1 < len(pending):  # ended before the end: it crashed on the next one
                outcomes[pending[last + 1]] = (
                    ConversionFailure.FAILED,
                    _("LibreOffice stopped on it"),
                )
                rest = pending[last + 2 :]
            else:
                rest = []
            barren = 0 if produced else barren + 1
            works = works or produced
            # Three in a row without a PDF, and none before: LibreOffice does not work at all
            # here, say so for each. Once it has worked, documents that crash it in a row are
            # each tried on their own (each process settles at least one).
            if barren >= 3 and not works:
                for name in rest:
                    outcomes[name] = (ConversionFailure.FAILED, _("LibreOffice did not start"))
                rest = []
            pending = rest
        return outcomes

    def _one_process(
        self, pending: list[str], folder: Path, out: Path, profile: Path
    ) -> tuple[bool, int | None]:
        """One soffice over ``pending``: (produced anything, index it was killed on)."""
        self.progress(_("Converting {n} document(s) with LibreOffice…").format(n=len(pending)))
        command = [
            str(self.command),
            "--headless",
            "--norestore",
            "--nolockcheck",
            # A profile of its own: with the user's, a LibreOffice window already open would
            # take over the conversion and the command would return before (or without) it.
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            # "./" before a relative name: soffice reads "-x.docx" as an option and
            # "macro:…" or "http:…" as an address to open; names can come from the share.
            *(name if os.path.isabs(name) else os.path.join(".", name) for name in pending),
        ]
        try:
            process = subprocess.Popen(
                command,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: killed whole, children too
            )
        except OSError:  # not runnable (gone, not executable): nothing converted
            return False, None
        produced = False
        try:
            index = 0
            deadline = time.monotonic() + self.timeout + self.startup
            while index < len(pending):
                if converted_pdf(out, pending[index]).exists():
                    produced = True
                    index += 1
                    deadline = time.monotonic() + self.timeout
                    continue
                if process.poll() is not None:
                    return produced, None
                if time.monotonic() > deadline:
                    return produced, index
                time.sleep(_POLL)
            _wait_or_kill(process, self.timeout)
            return produced, None
        finally:
            _kill(process)


def harden(profile: Path) -> None:
    """LibreOffice's settings in hoso's own profile: a document from the share must not make
    it load what it links to (a picture at file:///… outside the records folder would be
    printed into the PDF; an address on the internet would be fetched)."""
    settings = profile / "user" / "registrymodifications.xcu"
    try:
        text = settings.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if BLOCK_LINKS in text:
        return
    if "</oor:items>" in text:  # LibreOffice's own file: the setting added, last (it wins)
        text = text.replace("</oor:items>", f"{BLOCK_LINKS}\n</oor:items>", 1)
    else:
        text = _SETTINGS.format(items=BLOCK_LINKS)
    settings.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(settings, text.encode("utf-8"))


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a closed terminal, a service stop) unwinds like Ctrl-C, so that a LibreOffice
    started here is killed and what was half written is removed on the way out, rather than
    left behind. For the whole command: a SIGTERM may come at any step."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def is_pdf(path: Path) -> bool:
    """``path`` looks like a whole PDF: its header, and an end-of-file mark near its end."""
    try:
        with path.open("rb") as stream:
            head = stream.read(5)
            stream.seek(max(0, path.stat().st_size - 1024))
            tail = stream.read()
    except OSError:
        return False
    return head == b"%PDF-" and b"%%EOF" in tail


def _wait_or_kill(process: subprocess.Popen[bytes], seconds: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=seconds)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The process group, on every way out (Ctrl-C too): no LibreOffice is left behind.
    soffice is a launcher: its worker (soffice.bin) is a child that would outlive it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
