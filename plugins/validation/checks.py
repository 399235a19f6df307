"""Everything the validation plugin checks about one record, in one call.

File-name checks apply to every file; content checks to the record types that ask for them
(``checks`` in the record-type table). A file that cannot be opened (legacy .doc, password,
damaged) becomes a finding, never an exception; so does one that hit a limit of the sandbox
its content is read in (``file.too-complex``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from agent.api import (
    DEFAULT_LIMITS,
    MIB,
    Analysis,
    Document,
    Finding,
    Legacy,
    Limit,
    Limits,
    RecordType,
    RelPath,
    Severity,
    TooComplex,
    Unreadable,
    UnreadableReason,
    _,
    current_language,
    document_sandbox,
    nfc,
)

from . import filechecks, lessonplan

# The formats whose content is checked: not every one the readers read (READABLE_SUFFIXES):
# slides, .ods and plain text are searched, never judged (their findings are the names').
CONTENT_FORMATS = frozenset({".docx", ".docm", ".dotx", ".odt", ".pdf", ".xlsx", ".xlsm"})
LEGACY_BINARY = {".doc", ".xls", ".ppt"}  # filechecks already says "save as .docx"


def check_record(
    file: Path,
    path: RelPath,
    record_type: RecordType | None,
    *,
    size: int,
    today: date,
    year_start: date,
    disabled: frozenset[str] = frozenset(),
    limits: Limits = DEFAULT_LIMITS,
    read: Callable[[Path], Document] | None = None,
    analyse: Callable[[Path, Analysis], Any] | None = None,
) -> list[Finding]:
    """The findings of one record. Its content is read by ``read`` and checked here; by
    default it is read and checked in a worker process under ``limits``
    (:mod:`agent.documents.sandbox`), through ``analyse`` when given (the sandbox's
    ``analyse`` wrapped, say)."""
    findings = filechecks.check_path(path, size=size, record_type=record_type)
    findings += filechecks.twin_findings(_twins_of(file, path))
    suffix = file.suffix.lower()
    wanted = set(record_type.checks) if record_type and not record_type.preserve else set()
    if wanted and size > 0 and suffix in CONTENT_FORMATS:
        if read is not None:
            content = functools.partial(
                _checked_here,
                read=read,
                path=path,
                wanted=wanted,
                today=today,
                year_start=year_start,
            )
        else:
            analysis = Analysis(
                f"{__name__}:found_in",
                {
                    "path": path,
                    "wanted": sorted(wanted),
                    "today": today.isoformat(),
                    "year_start": year_start.isoformat(),
                },
                current_language(),
            )
            content = functools.partial(
                _checked_in_worker,
                analyse=analyse or document_sandbox(limits).analyse,
                analysis=analysis,
            )
        findings += _content(file, path, content, limits=limits)
    return [f for f in findings if f.rule not in disabled]


def content_findings(
    document: Document, path: RelPath, wanted: set[str], *, today: date, year_start: date
) -> list[Finding]:
    """What the content checks ``wanted`` (a record type's ``checks``) find in a document."""
    findings: list[Finding] = []
    if "legacy_fonts" in wanted and document.legacy_encodings:
        findings.append(_legacy(path, document.legacy_encodings))
    if "lesson_plan" in wanted:
        findings += lessonplan.check_lesson_plan(document, path, today=today, year_start=year_start)
    return findings


def found_in(
    document: Document, path: RelPath, wanted: list[str], today: str, year_start: str
) -> list[list[str]]:
    """:func:`content_findings`, as the document worker works them out and sends them back
    (plain data): the lesson-plan checks cost more processor time than reading the file."""
    return [
        [f.path, f.rule, f.severity.value, f.message, f.fix]
        for f in content_findings(
            document,
            path,
            set(wanted),
            today=date.fromisoformat(today),
            year_start=date.fromisoformat(year_start),
        )
    ]


def _checked_here(
    file: Path,
    *,
    read: Callable[[Path], Document],
    path: RelPath,
    wanted: set[str],
    today: date,
    year_start: date,
) -> list[Finding]:
    return content_findings(read(file), path, wanted, today=today, year_start=year_start)


def _checked_in_worker(
    file: Path, *, analyse: Callable[[Path, Analysis], Any], analysis: Analysis
) -> list[Finding]:
    return [Finding(p, r, Severity(s), m, f) for p, r, s, m, f in analyse(file, analysis)]


def _twins_of(file: Path, path: RelPath) -> list[tuple[str, str]]:
    """NFC/NFD spellings of this file's name side by side in its folder."""
    try:
        siblings = [n for n in os.listdir(file.parent) if nfc(n) == nfc(file.name)]
    except OSError:
        return []
    folder = path.rpartition("/")[0]
    return filechecks.find_twins(f"{folder}/{n}" if folder else n for n in siblings)


def _content(
    file: Path, path: RelPath, content: Callable[[Path], list[Finding]], *, limits: Limits
) -> list[Finding]:
    try:
        return content(file)
    except Unreadable as exc:
        return [_unreadable(path, exc.reason)]
    except TooComplex as exc:
        return [_too_complex(path, exc.limit, limits)]
    except OSError:  # vanished or locked meanwhile: the next change or daily check sees it
        return []


def _unreadable(path: RelPath, reason: UnreadableReason) -> Finding:
    messages = {
        UnreadableReason.ENCRYPTED: (
            _("The file is protected by a password, so it cannot be checked or inspected."),
            _("Remove the password (File › Info › Protect Document) and save again."),
        ),
        UnreadableReason.CORRUPT: (
            _("The file is damaged or is not really of the type its name says."),
            _(
                "Open it in the program that made it (Word, Excel, LibreOffice) and save it "
                "again; if it does not open, take it back from hoso's trash or backups."
            ),
        ),
        UnreadableReason.NO_TEXT: (
            _("The PDF has no text (it looks like a scan), so it cannot be checked."),
            _(
                "Keep the .docx you printed it from in the same folder, or export the PDF again "
                "from Word."
            ),
        ),
        UnreadableReason.LEGACY_FORMAT: (
            _("The file is in an old Office format that cannot be checked."),
            _("Open it and save it as .docx (or .xlsx)."),
        ),
        UnreadableReason.UNSUPPORTED: (
            _("hoso cannot read this kind of file, so it cannot be checked."),
            _("Save it as .docx, .odt or .pdf."),
        ),
    }
    message, fix = messages[reason]
    return Finding(
        path, f"file.unreadable-{reason.value.replace('_', '-')}", Severity.WARNING, message, fix
    )


def _too_complex(path: RelPath, limit: Limit, limits: Limits) -> Finding:
    if limit is Limit.SIZE:
        message = _(
            "The file unpacks to far more data than any record holds (it may be damaged or "
            "made to do harm), so it was not opened or checked."
        )
    elif limit is Limit.MEMORY:
        message = _(
            "Reading the file needed more than {mb} MB of memory, so hoso stopped and did "
            "not check it."
        ).format(mb=limits.memory_bytes // MIB)
    else:
        seconds = limits.cpu_seconds if limit is Limit.CPU else round(limits.wall_seconds)
        message = _(
            "Reading the file took more than {seconds} seconds, so hoso stopped and did not "
            "check it."
        ).format(seconds=seconds)
    return Finding(
        path,
        "file.too-complex",
        Severity.WARNING,
        message,
        _(
            "Open it in Word or LibreOffice and save it again (that usually makes it smaller "
            "and simpler), or split it into smaller files. It is checked again once it changes."
        ),
    )


def _legacy(path: RelPath, encodings: frozenset[Legacy]) -> Finding:
    fonts = {Legacy.TCVN3: "TCVN3 (.VnTime)", Legacy.VNI: "VNI (VNI-Times)"}
    names = ", ".join(fonts[e] for e in sorted(encodings))
    return Finding(
        path,
        "text.legacy-encoding",
        Severity.WARNING,
        _(
            "Some text is typed in an old Vietnamese font encoding: {names}. It shows as garbled "
            "letters on computers and phones without those fonts, and cannot be searched."
        ).format(names=names),
        _(
            'Run `hoso convert "{path}"` to make a Unicode copy, check it, and keep that one.'
        ).format(path=path),
    )
