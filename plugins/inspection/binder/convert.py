"""Records to PDF through LibreOffice headless (`soffice`), cached by content.

One soffice process converts the whole batch (it converts its arguments in order), each
document with a time limit of its own: when a document's PDF does not appear in time the
process group is killed, that document is "timed out" and a new process goes on with the
rest; a process that ends with PDFs missing (it crashed) leaves its document "could not be
converted". Nothing here is fatal for the batch.

LibreOffice only ever sees copies in a private staging folder, named by content hash: it
writes lock files beside what it opens, and names from the share are hostile. A .docx typed
in TCVN3/VNI fonts is staged as its Unicode copy (what `hoso convert` writes). Converted PDFs
are kept in the cache folder by content hash and converter version, so the next binder
converts only what changed; a document that crashed LibreOffice is remembered too (a
timeout is not: the computer may only have been busy).
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
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.api import TooComplex, Unreadable, UsageError, _, convert_docx, write_atomic

# Debian's packages for the converter and fonts metric-compatible with Times New Roman/Arial
# that cover Vietnamese (said word for word when soffice is missing).
INSTALL = (
    "sudo apt install libreoffice-writer-nogui libreoffice-calc-nogui "
    "fonts-liberation2 fonts-dejavu"
)
CONVERTIBLE = frozenset(
    {".docx", ".doc", ".odt", ".rtf", ".xlsx", ".xls", ".ods", ".pptx", ".ppt", ".odp", ".txt"}
)
FORMAT = "2"  # bump when the way PDFs are made changes: the cache starts afresh (2: links blocked)
KEEP_SECONDS = 400 * 86400  # a cached PDF unused for over a school year is removed
STARTUP_SECONDS = 30.0  # a process's first document also waits for LibreOffice to start
_POLL = 0.05
# Links in a document are followed only from trusted locations; hoso names none.
_BLOCK_LINKS = (
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
_READ_BLOCK = 1 << 20


class ConverterMissing(UsageError):
    """No LibreOffice on this computer (exit 2): the message says what to install."""


class Failure(enum.StrEnum):
    FAILED = "could_not_convert"  # LibreOffice crashed or refused the document
    TIMED_OUT = "timed_out"
    UNREADABLE = "unreadable"  # the record could not be read or staged


@dataclass(frozen=True)
class Source:
    """A record to convert: its file on disk (read only) and its suffix (".docx")."""

    file: Path
    suffix: str


@dataclass(frozen=True)
class Converted:
    source: Source
    key: str  # SHA-256 of the record's bytes, as read for staging
    pdf: Path | None  # in the cache; None when it failed
    failure: Failure | None = None
    detail: str = ""
    fresh: bool = False  # converted by this run (False: from the cache)


def find_soffice(configured: str) -> Path:
    """The converter: ``[print] converter`` when set, else `soffice` / `libreoffice` on PATH.
    Raises ConverterMissing with what to install."""
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


def version_key(command: Path) -> str:
    """What identifies the converter: an upgraded LibreOffice (or another wrapper) makes
    new PDFs, so the cache does not hand out the old ones."""
    digest = hashlib.sha256(FORMAT.encode())
    real = command.resolve()
    for path in (real, real.parent / "versionrc", real.parent.parent / "program" / "versionrc"):
        with contextlib.suppress(OSError):
            info = path.stat()
            digest.update(f"{path}:{info.st_size}:{info.st_mtime_ns};".encode())
    return digest.hexdigest()[:16]


class Converter:
    """Converts records with one LibreOffice at a time, into ``cache``."""

    def __init__(
        self,
        command: Path,
        cache: Path,
        *,
        timeout: float,
        now: float,
        progress: Callable[[str], None] = lambda _text: None,
    ) -> None:
        self.command = command
        self.cache = cache
        self.timeout = timeout
        self.now = now  # Unix time of this binder: the date of the entries it uses
        self.version = version_key(command)
        self.progress = progress

    def convert(self, sources: Sequence[Source]) -> list[Converted]:
        """Each source converted or with its failure, in the order given."""
        self.cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self._convert(sources)

    def _convert(self, sources: Sequence[Source]) -> list[Converted]:
        results: dict[int, Converted] = {}
        with tempfile.TemporaryDirectory(dir=self.cache, prefix="work-") as work:
            stage, out = Path(work, "stage"), Path(work, "out")
            stage.mkdir()
            out.mkdir()
            todo: dict[str, tuple[str, list[int]]] = {}  # staged name -> (key, indexes)
            names: dict[str, str] = {}  # key -> staged name
            for index, source in enumerate(sources):
                staged = self._stage(source, stage)
                if isinstance(staged, Converted):
                    results[index] = staged
                    continue
                key, staged_name = staged
                # By content, whatever the suffix: "Bài 1.doc" and "Bài 1.docx" of the same
                # bytes would both make <key>.pdf, and one would find nothing of its own.
                name = names.setdefault(key, staged_name)
                if name in todo:
                    todo[name][1].append(index)  # the same content twice: converted once
                else:
                    todo[name] = (key, [index])
            if todo:
                with self._profile(Path(work)) as profile:
                    outcomes = self._run(list(todo), stage, out, profile)
                # A failure is remembered only when LibreOffice converted something else in
                # this run: one that converts nothing (it does not start, a broken profile, a
                # full disk) says nothing about the documents.
                works = any(out.iterdir())
                for name, (key, indexes) in todo.items():
                    failure, detail = outcomes.get(name, (None, ""))
                    pdf, failure, detail = self._keep(
                        key, _output(out, name), failure, detail, remember=works
                    )
                    for index in indexes:
                        results[index] = Converted(
                            sources[index], key, pdf, failure, detail, fresh=pdf is not None
                        )
        return [results[i] for i in range(len(sources))]

    def prune(self) -> int:
        """Remove the cached PDFs (and remembered failures) no binder used for
        KEEP_SECONDS before ``now``; returns how many. Each use sets an entry's time to the
        ``now`` of that binder."""
        now = self.now
        removed = 0
        for entry in self.cache.glob("*-*.*"):
            if entry.suffix not in (".pdf", ".failed"):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < now - KEEP_SECONDS:
                    entry.unlink()
                    removed += 1
        return removed

    # --- staging and the cache --------------------------------------------------------------

    def _stage(self, source: Source, stage: Path) -> tuple[str, str] | Converted:
        """Copy the record into the staging folder under its content hash: (key, name), or
        what the cache holds for it."""
        suffix = source.suffix.lower()
        digest = hashlib.sha256()
        temp = stage / "incoming"
        try:
            fd = os.open(source.file, os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as src, temp.open("wb") as dst:
                for block in iter(lambda: src.read(_READ_BLOCK), b""):
                    digest.update(block)
                    dst.write(block)
        except OSError as exc:
            return Converted(source, "", None, Failure.UNREADABLE, exc.strerror or str(exc))
        key = digest.hexdigest()
        cached = self._cached(source, key)
        if cached is not None:
            return cached
        name = f"{key}{suffix}"
        if suffix == ".docx":
            # TCVN3/VNI runs become Unicode first; a Unicode document stays byte for byte.
            try:
                legacy = convert_docx(temp, stage / name) > 0
            except (Unreadable, TooComplex, ValueError) as exc:
                return Converted(source, key, None, Failure.UNREADABLE, str(exc))
            if legacy:
                temp.unlink()
                return key, name
        os.replace(temp, stage / name)
        return key, name

    def _entry(self, key: str, suffix: str) -> Path:
        return self.cache / f"{key}-{self.version}{suffix}"

    def _cached(self, source: Source, key: str) -> Converted | None:
        pdf = self._entry(key, ".pdf")
        if pdf.is_file():
            self._used(pdf)
            return Converted(source, key, pdf)
        failed = self._entry(key, ".failed")
        if failed.is_file():
            self._used(failed)
            return Converted(
                source, key, None, Failure.FAILED, failed.read_text(encoding="utf-8").strip()
            )
        return None

    def forget(self, key: str) -> None:
        """Remove the cached PDF of ``key`` (damaged): the next convert makes it again."""
        self._entry(key, ".pdf").unlink(missing_ok=True)

    def _keep(
        self, key: str, produced: Path, failure: Failure | None, detail: str, *, remember: bool
    ) -> tuple[Path | None, Failure | None, str]:
        if failure is None and not _is_pdf(produced):
            failure, detail = Failure.FAILED, _("LibreOffice wrote no usable PDF")
        if failure is None:
            pdf = self._entry(key, ".pdf")
            os.replace(produced, pdf)
            self._used(pdf)
            return pdf, None, ""
        if failure is Failure.FAILED and remember:
            write_atomic(self._entry(key, ".failed"), detail.encode())
            self._used(self._entry(key, ".failed"))
        return None, failure, detail

    def _used(self, entry: Path) -> None:
        """Dated by this binder's ``now`` (not the clock): what prune keeps."""
        os.utime(entry, (self.now, self.now))

    @contextlib.contextmanager
    def _profile(self, work: Path) -> Iterator[Path]:
        """LibreOffice's own settings folder: the cache's (kept, so that starting is quick)
        unless another binder uses it right now; then a fresh one for this run."""
        kept = self.cache / "profile"
        with (self.cache / "profile.lock").open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield work / "profile"
                return
            yield kept

    # --- running LibreOffice ----------------------------------------------------------------

    def _run(
        self, names: list[str], stage: Path, out: Path, profile: Path
    ) -> dict[str, tuple[Failure | None, str]]:
        """Convert ``names`` (in ``stage``) into ``out``; the failures by name."""
        _harden(profile)
        outcomes: dict[str, tuple[Failure | None, str]] = {}
        pending = list(names)
        barren = 0  # processes in a row that produced nothing
        works = False  # a process of this run produced something
        while pending:
            produced, stopped = self._one_process(pending, stage, out, profile)
            last = max((i for i, n in enumerate(pending) if _output(out, n).exists()), default=-1)
            for name in pending[: last + 1]:
                if not _output(out, name).exists():
                    outcomes[name] = (Failure.FAILED, _("LibreOffice could not open it"))
            if stopped is not None:  # killed: the document it was on took too long
                outcomes[pending[stopped]] = (
                    Failure.TIMED_OUT,
                    _("no PDF after {seconds:g} s").format(seconds=self.timeout),
                )
                rest = pending[stopped + 1 :]
            elif last + 1 < len(pending):  # ended before the end: it crashed on the next one
                outcomes[pending[last + 1]] = (Failure.FAILED, _("LibreOffice stopped on it"))
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
                    outcomes[name] = (Failure.FAILED, _("LibreOffice did not start"))
                rest = []
            pending = rest
        return outcomes

    def _one_process(
        self, pending: list[str], stage: Path, out: Path, profile: Path
    ) -> tuple[bool, int | None]:
        """One soffice over ``pending``: (produced anything, index it was killed on)."""
        self.progress(_("Converting {n} document(s) with LibreOffice…").format(n=len(pending)))
        command = [
            str(self.command),
            "--headless",
            "--norestore",
            "--nolockcheck",
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            *pending,
        ]
        process = subprocess.Popen(
            command,
            cwd=stage,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: killed whole, children too
        )
        produced = False
        try:
            index = 0
            deadline = time.monotonic() + self.timeout + STARTUP_SECONDS
            while index < len(pending):
                if _output(out, pending[index]).exists():
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


def _harden(profile: Path) -> None:
    """LibreOffice's settings in hoso's own profile: a document from the share must not make
    it load what it links to (a picture at file:///… outside the records folder would be
    printed into the binder; an address on the internet would be fetched)."""
    settings = profile / "user" / "registrymodifications.xcu"
    try:
        text = settings.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if _BLOCK_LINKS in text:
        return
    if "</oor:items>" in text:  # LibreOffice's own file: the setting added, last (it wins)
        text = text.replace("</oor:items>", f"{_BLOCK_LINKS}\n</oor:items>", 1)
    else:
        text = _SETTINGS.format(items=_BLOCK_LINKS)
    settings.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(settings, text.encode("utf-8"))


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a closed terminal, a service stop) unwinds like Ctrl-C, so that a LibreOffice
    started here is killed and a binder half written is removed on the way out, rather than
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


def _output(out: Path, name: str) -> Path:
    return out / f"{Path(name).stem}.pdf"


def _is_pdf(path: Path) -> bool:
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
    """The process group, on every way out (Ctrl-C too): no LibreOffice is left behind."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
