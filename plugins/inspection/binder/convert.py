"""Records to PDF through LibreOffice headless (`agent.api.Office`: one soffice process for
the whole batch, a time limit for each document), cached by content. Nothing here is fatal
for the batch.

LibreOffice only ever sees copies in a private staging folder, named by content hash: it
writes lock files beside what it opens, and names from the share are hostile. A .docx typed
in TCVN3/VNI fonts is staged as its Unicode copy (what `hoso convert` writes). Converted PDFs
are kept in the cache folder by content hash and converter version, so the next binder
converts only what changed; a document that crashed LibreOffice is remembered too (a
timeout is not: the computer may only have been busy).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.api import (
    ConversionFailure,
    Office,
    TooComplex,
    Unreadable,
    _,
    convert_docx,
    converted_pdf,
    converter_version,
    is_pdf,
    office_profile,
    write_atomic,
)

CONVERTIBLE = frozenset(
    {".docx", ".doc", ".odt", ".rtf", ".xlsx", ".xls", ".ods", ".pptx", ".ppt", ".odp", ".txt"}
)
KEEP_SECONDS = 400 * 86400  # a cached PDF unused for over a school year is removed
# A document that crashed LibreOffice is tried again after this: a one-off crash (memory ran
# out, the PC was busy) must not keep a lesson plan out of every binder until it changes.
FAILED_SECONDS = 86400.0
_READ_BLOCK = 1 << 20


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
    failure: ConversionFailure | None = None
    detail: str = ""
    fresh: bool = False  # converted by this run (False: from the cache)


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
        self.office = Office(command, timeout, progress=progress)
        self.cache = cache
        self.now = now  # Unix time of this binder: the date of the entries it uses
        self.version = converter_version(command)

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
                kept = self.cache / "profile"
                with office_profile(kept, Path(work, "profile")) as profile:
                    outcomes = self.office.convert(list(todo), stage, out, profile)
                # A failure is remembered only when LibreOffice converted something else in
                # this run: one that converts nothing (it does not start, a broken profile, a
                # full disk) says nothing about the documents.
                works = any(out.iterdir())
                for name, (key, indexes) in todo.items():
                    failure, detail = outcomes.get(name, (None, ""))
                    pdf, failure, detail = self._keep(
                        key, converted_pdf(out, name), failure, detail, remember=works
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
            return Converted(
                source, "", None, ConversionFailure.UNREADABLE, exc.strerror or str(exc)
            )
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
                return Converted(source, key, None, ConversionFailure.UNREADABLE, str(exc))
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
        # Its time stays the crash's (never refreshed by a use): what FAILED_SECONDS counts from.
        if failed.is_file() and failed.stat().st_mtime > self.now - FAILED_SECONDS:
            return Converted(
                source,
                key,
                None,
                ConversionFailure.FAILED,
                failed.read_text(encoding="utf-8").strip(),
            )
        return None

    def forget(self, key: str) -> None:
        """Remove the cached PDF of ``key`` (damaged): the next convert makes it again."""
        self._entry(key, ".pdf").unlink(missing_ok=True)

    def _keep(
        self,
        key: str,
        produced: Path,
        failure: ConversionFailure | None,
        detail: str,
        *,
        remember: bool,
    ) -> tuple[Path | None, ConversionFailure | None, str]:
        if failure is None and not is_pdf(produced):
            failure, detail = ConversionFailure.FAILED, _("LibreOffice wrote no usable PDF")
        if failure is None:
            pdf = self._entry(key, ".pdf")
            os.replace(produced, pdf)
            self._used(pdf)
            return pdf, None, ""
        if failure is ConversionFailure.FAILED and remember:
            write_atomic(self._entry(key, ".failed"), detail.encode())
            self._used(self._entry(key, ".failed"))
        return None, failure, detail

    def _used(self, entry: Path) -> None:
        """Dated by this binder's ``now`` (not the clock): what prune keeps."""
        os.utime(entry, (self.now, self.now))
