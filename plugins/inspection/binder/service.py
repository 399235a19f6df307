"""`hoso print`: a period's records as one PDF binder, what commands.py calls.

The records come from the inspection selection (selection.py) and go in week → subject →
lesson order ("Bài 2" before "Bài 10"). What the selection does not take (twins, conflict
copies…), what LibreOffice cannot convert or does not convert in time, what fails a check
(unless included with a mark) and platform exports that are not PDFs are listed on the
binder's closing page and in the result, each with its reason: nothing of the period is
left out without a word.

The binder is never written into the records folder (it would be uploaded to the share)
or the school folder (to the whole school), and never over an existing file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from agent.api import (
    Config,
    ConversionFailure,
    HosoError,
    RelPath,
    UsageError,
    Validator,
    _,
    create_new,
    find_soffice,
    natural_key,
    open_validator,
    printable_name,
    school_folder,
    school_year_start,
    week_of_path,
)

from ..model import SelectedFile
from ..selection import Period, known_types, period_of, select
from ..settings import inspection_settings
from . import assemble, layout, pages
from .convert import CONVERTIBLE, Converted, Converter, Source
from .settings import print_settings

DEFAULT_TYPES = ("KHBD",)  # lesson plans: what a school asks to see bound
CACHE_FOLDER = "print-cache"  # in the agent's state folder


class Origin(enum.Enum):
    """Where a record's PDF in the binder comes from."""

    CONVERTED = "converted"  # by LibreOffice, this time
    CACHED = "cached"  # converted before, from the cache
    OWN_PDF = "pdf"  # the record is a PDF: it goes in as it is


@dataclass(frozen=True)
class Request:
    weeks: str | None
    month: str | None
    year: str | None
    types: tuple[str, ...]
    teacher_folder: Path | None
    out: Path | None
    include_failing: bool
    folder: Path | None = None  # a manager's copy of the school share, instead of the records


@dataclass(frozen=True)
class Included:
    path: RelPath
    first_page: int
    marked: bool  # included although it fails a check


@dataclass(frozen=True)
class LeftOut:
    path: RelPath
    reason: str


@dataclass(frozen=True)
class Binder:
    pdf: Path
    pages: int
    included: tuple[Included, ...]
    left_out: tuple[LeftOut, ...]
    converted: int  # documents LibreOffice converted this time
    cached: int  # documents taken from the cache (a record that is a PDF is neither)

    def to_json(self) -> dict[str, Any]:
        return {
            "pdf": str(self.pdf),
            "pages": self.pages,
            "included": [
                {"path": i.path, "first_page": i.first_page, "marked": i.marked}
                for i in self.included
            ],
            "left_out": [{"path": x.path, "reason": x.reason} for x in self.left_out],
            "converted": self.converted,
            "cached": self.cached,
        }


@dataclass(frozen=True)
class _Record:
    file: SelectedFile
    entry_key: tuple[Any, ...]
    week: int | None
    subject: str
    lesson: str
    mark: str


def make_binder(
    config: Config,
    request: Request,
    *,
    today: date,
    now: float,
    cwd: Path,
    progress: Callable[[str], None] = lambda _text: None,
) -> Binder:
    """Select, convert, lay out and write the binder. Bad options raise UsageError before
    anything is read or written. ``now`` (Unix time) ages the cache."""
    period = _period(request, config)
    settings = print_settings(config)
    records_config = _records_of(config, request.folder, request.teacher_folder)
    out = _out_path(config, request.out, period, cwd, request.folder)
    soffice = find_soffice(settings.converter)
    fonts = pages.find_fonts()
    include_failing = request.include_failing or settings.include_failing
    with contextlib.ExitStack() as stack:
        if records_config.root != config.root or request.folder is not None:
            # The journal remembers checks by path relative to the records folder: a teacher
            # folder's or a copy's paths ("Tuần 1/…") must not land there as this PC's records.
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix=".hoso-print-"))
            records_config = dataclasses.replace(records_config, state_dir=Path(scratch))
        validator = stack.enter_context(open_validator(records_config))
        known = known_types(validator, period)
        selection = select(
            records_config,
            validator,
            period,
            evidence_folder=inspection_settings(config).evidence_folder,
            today=today,
        )
        first_year = _school_year(validator, period, today)
    if not selection.files:
        raise UsageError(
            _(
                "No records of {types} found for {period} in {root}. Check the week folders "
                '("Tuần 10"…) or the type. Nothing was done.'
            ).format(types=", ".join(period.types), period=period.label, root=records_config.root)
        )
    left_out = [LeftOut(s.path, s.reason) for s in selection.skipped]
    records: list[_Record] = []
    for selected in selection.files:
        suffix = PurePosixPath(selected.path).suffix.lower()
        record_type = known.get(selected.record_type)
        if record_type is not None and record_type.preserve and suffix != ".pdf":
            left_out.append(
                LeftOut(
                    selected.path,
                    _("a platform export: kept byte for byte, never opened to be converted"),
                )
            )
            continue
        if suffix != ".pdf" and suffix not in CONVERTIBLE:
            left_out.append(LeftOut(selected.path, _("not a document LibreOffice can print")))
            continue
        mark = ""
        if selected.errors:
            problem = "; ".join(f.message for f in selected.errors)
            if not include_failing:
                left_out.append(
                    LeftOut(
                        selected.path,
                        _("fails the school's check: {problem}").format(problem=problem),
                    )
                )
                continue
            mark = printable_name(f"CHƯA ĐẠT KIỂM TRA: {problem}")
        records.append(_record(selected, mark))
    records.sort(key=lambda r: r.entry_key)
    converter = Converter(
        soffice,
        config.state_dir / CACHE_FOLDER,
        timeout=settings.timeout,
        now=now,
        progress=progress,
    )
    pdfs = _pdfs(converter, records, left_out)
    converter.prune()
    placed = [(r, pdf, count) for r, pdf, count, _origin in pdfs]
    left_out.sort(key=lambda x: natural_key(x.path))
    if not placed:
        raise UsageError(
            " ".join(
                [
                    *(f"{x.path}: {x.reason}" for x in left_out),
                    _("No record of {period} could be printed. Nothing was written.").format(
                        period=period.label
                    ),
                ]
            )
        )
    entries = [layout.Entry(r.week, r.subject, r.lesson, count) for r, _pdf, count in placed]
    page_plan = layout.plan(entries, lines_per_page=pages.LINES_PER_PAGE, closing=bool(left_out))
    names = tuple(dict.fromkeys(known[code].name_vi for code in period.types if code in known))
    teacher = _teacher(config, records_config, request.folder)
    cover = pages.Cover(
        governing_body=config.roles.school.governing_body,
        school=config.roles.school.name,
        title=" – ".join(n.upper() for n in names),
        teacher=teacher,
        group=config.roles.teacher.group if request.teacher_folder is None else "",
        subjects=tuple(dict.fromkeys(r.subject for r, _pdf, _n in placed if r.subject)),
        school_year=f"{first_year} – {first_year + 1}",
        period=period.label,
    )
    front = pages.front(fonts, cover, layout.contents_page_lines(page_plan, pages.LINES_PER_PAGE))
    closing = (
        pages.closing(
            fonts,
            [(printable_name(x.path), printable_name(x.reason)) for x in left_out],
            first_page=page_plan.closing_first,
        )
        if page_plan.closing_first is not None
        else None
    )
    try:
        data, total = assemble.assemble(
            front,
            [assemble.Part(pdf, r.mark) for r, pdf, _n in placed],
            entries,
            page_plan,
            closing,
            lambda overlays: pages.overlays(fonts, overlays),
            title=f"{' – '.join(names)} – {period.label} – {teacher}",
            author=teacher,
        )
    except assemble.Changed as exc:
        raise HosoError(
            _(
                "{path} changed while the binder was being made (a sync?): run the command "
                "again. Nothing was written."
            ).format(path=placed[exc.index][0].file.path)
        ) from exc
    try:
        create_new(out, data, mode=0o644)
    except FileExistsError as exc:
        raise UsageError(
            _("{path} already exists; nothing was written. Choose another name with --out.").format(
                path=out
            )
        ) from exc
    except OSError as exc:  # a full disk, a folder one may not write in
        raise HosoError(
            _(
                "The binder could not be written to {path} ({detail}). Free some space or "
                "choose another folder with --out; nothing was written."
            ).format(path=out, detail=exc.strerror or exc)
        ) from exc
    origins = [origin for *_rest, origin in pdfs]
    return Binder(
        pdf=out,
        pages=total,
        included=tuple(
            Included(r.file.path, first, bool(r.mark))
            for (r, _pdf, _n), first in zip(placed, page_plan.first_pages, strict=True)
        ),
        left_out=tuple(left_out),
        converted=origins.count(Origin.CONVERTED),
        cached=origins.count(Origin.CACHED),
    )


def binder_path(config: Config, request: Request, cwd: Path) -> Path:
    """Where :func:`make_binder` will write the binder of ``request`` run in ``cwd`` (the
    teacher's page names it beforehand, to open it afterwards). Bad options raise
    UsageError, as make_binder would."""
    return _out_path(config, request.out, _period(request, config), cwd, request.folder)


def _period(request: Request, config: Config) -> Period:
    given = [x for x in (request.weeks, request.month, request.year) if x is not None]
    if len(given) != 1:
        raise UsageError(
            _("Give one of --weeks A-B, --period YYYY-MM or --year YYYY-YYYY. Nothing was done.")
        )
    types = tuple(t.upper() for t in request.types) or DEFAULT_TYPES
    if request.year is None:
        return period_of(request.weeks, request.month, types, inspection_settings(config))
    first, _dash, second = request.year.replace("–", "-").partition("-")
    if not (first.isdigit() and second.isdigit() and int(second) == int(first) + 1):
        raise UsageError(
            _("--year {value}: give a school year like 2026-2027. Nothing was done.").format(
                value=request.year
            )
        )
    return Period.school_year(int(first), types)


def _records_of(config: Config, copy: Path | None, teacher_folder: Path | None) -> Config:
    """The config whose records folder is what is printed: the records folder, or ``copy``
    (a manager's copy of the school share, ``--folder``); with ``teacher_folder``, a
    teacher's folder inside that, never outside it."""
    base = config.root
    if copy is not None:
        try:
            base = copy.resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a loop of symbolic links
            base = copy
        if not base.is_dir():
            raise UsageError(
                _("--folder {path}: no such folder. Nothing was done.").format(path=copy)
            )
    if teacher_folder is None:
        return dataclasses.replace(config, root=base)
    root = base.resolve()
    folder = teacher_folder if teacher_folder.is_absolute() else base / teacher_folder
    try:
        real = folder.resolve()
        inside = real != root and real.is_relative_to(root) and real.is_dir()
    except (OSError, RuntimeError):  # a loop of symbolic links
        inside = False
    if not inside:
        raise UsageError(
            _(
                "--teacher-folder {path}: give a teacher's folder inside the records folder "
                "{root}. Nothing was done."
            ).format(path=teacher_folder, root=base)
        )
    return dataclasses.replace(config, root=real)


def _teacher(config: Config, records_config: Config, copy: Path | None) -> str:
    if records_config.root == config.root:
        return config.roles.teacher.name
    if copy is not None and records_config.root == copy.resolve():
        return ""  # the whole copy: no one teacher's
    # the folder's name from the share when [school] teachers does not name it: escaped
    return printable_name(config.roles.school.teacher_name(records_config.root.name))


def _out_path(
    config: Config, out: Path | None, period: Period, cwd: Path, copy: Path | None
) -> Path:
    """Where the binder goes: --out (which must not exist), else a new name in the current
    folder. Never inside the records folder, which syncs to the share, nor inside the copy
    printed from (a manager's copy is synced too)."""
    root = config.root.resolve()
    if out is not None:
        target = (out if out.is_absolute() else cwd / out).absolute()
        if target.suffix.lower() != ".pdf":
            raise UsageError(
                _("--out {path}: give a file name ending in .pdf. Nothing was done.").format(
                    path=out
                )
            )
        if os.path.lexists(target):
            raise UsageError(
                _(
                    "{path} already exists; nothing was written. Choose another name with --out."
                ).format(path=out)
            )
        if not target.parent.is_dir():
            raise UsageError(
                _("--out {path}: the folder {folder} does not exist. Nothing was done.").format(
                    path=out, folder=target.parent
                )
            )
    else:
        codes = "-".join(period.types)
        base = cwd / f"{codes} {period.label}"
        target = base.with_name(base.name + ".pdf")
        number = 2
        while os.path.lexists(target):
            target = base.with_name(f"{base.name} ({number}).pdf")
            number += 1
    folder = target.parent.resolve()
    if copy is not None and folder.is_relative_to(copy.resolve()):
        raise UsageError(
            _(
                "The binder would be written into {folder}, the folder it prints from: run "
                "the command from another folder or give --out outside it. Nothing was done."
            ).format(folder=copy)
        )
    if folder.is_relative_to(root):
        raise UsageError(
            _(
                "The binder would be written into the records folder {root}, which is synced "
                "to the school share: run the command from another folder or give --out "
                "outside it. Nothing was done."
            ).format(root=config.root)
        )
    school = school_folder(config)
    if school is not None and folder.is_relative_to(school.resolve()):
        raise UsageError(
            _(
                "The binder would be written into the school folder {folder}, which is synced "
                "to the whole school: run the command from another folder or give --out "
                "outside it. Nothing was done."
            ).format(folder=school)
        )
    return target


def _record(selected: SelectedFile, mark: str) -> _Record:
    parts = PurePosixPath(selected.path).parts
    week = week_of_path(selected.path)
    folders = list(parts[:-1])
    # The subject is what lies between the week folder and the file ("Tuần 1/Toán/…").
    weekly = [i for i, name in enumerate(folders) if week_of_path(f"{name}/_") is not None]
    at = weekly[-1] if weekly else -1
    subject = " / ".join(folders[at + 1 :]) if at >= 0 else (folders[-1] if folders else "")
    lesson = PurePosixPath(parts[-1]).stem
    key = (
        week if week is not None else 99,
        natural_key(subject),
        natural_key(lesson),
        natural_key(selected.path),
    )
    # Names from the share go into the contents and bookmarks escaped, as on a terminal: a
    # right-to-left override must not turn "…\u202eabc.exe" into another name on paper.
    return _Record(selected, key, week, printable_name(subject), printable_name(lesson), mark)


def _pdfs(
    converter: Converter, records: list[_Record], left_out: list[LeftOut]
) -> list[tuple[_Record, Path, int, Origin]]:
    """Each record's PDF (converted, cached or its own) and its page count; a failure goes
    to ``left_out``."""
    to_convert = [r for r in records if PurePosixPath(r.file.path).suffix.lower() != ".pdf"]
    done: dict[str, Converted] = {
        c.source.file.as_posix(): c
        for c in converter.convert(
            [Source(r.file.file, PurePosixPath(r.file.path).suffix) for r in to_convert]
        )
    }
    counted: dict[Path, int | str] = {}

    def count_of(pdf: Path, *, own: bool = False) -> int | str:
        """Its page count, or why it cannot go in a binder (``own``: the record's own PDF,
        from the share, tried whole)."""
        if pdf not in counted:
            try:
                counted[pdf] = assemble.page_count(pdf, trial=own)
            except assemble.NotAPdf as exc:
                counted[pdf] = str(exc)
        return counted[pdf]

    # A cached PDF that does not open was damaged in the cache, not by the record: it is
    # converted again (once).
    damaged = {
        c.pdf: c
        for c in done.values()
        if c.pdf and not c.fresh and isinstance(count_of(c.pdf), str)
    }
    if damaged:
        for pdf, converted in damaged.items():
            converter.forget(converted.key)
            del counted[pdf]
        sources = [c.source for c in done.values() if c.pdf in damaged]
        for again in converter.convert(sources):
            done[again.source.file.as_posix()] = again
    found = []
    for record in records:
        converted = done.get(record.file.file.as_posix())
        pdf = record.file.file if converted is None else converted.pdf
        if pdf is None:
            assert converted is not None
            left_out.append(LeftOut(record.file.path, _failure_text(converted)))
            continue
        count = count_of(pdf, own=converted is None)
        if isinstance(count, str):
            left_out.append(
                LeftOut(
                    record.file.path,
                    _("a PDF that cannot be printed ({detail})").format(detail=count),
                )
            )
            continue
        if converted is None:
            origin = Origin.OWN_PDF
        else:
            origin = Origin.CONVERTED if converted.fresh else Origin.CACHED
        found.append((record, pdf, count, origin))
    return found


def _failure_text(converted: Converted) -> str:
    if converted.failure is ConversionFailure.TIMED_OUT:
        return _("timed out: LibreOffice did not convert it in time ({detail})").format(
            detail=converted.detail
        )
    if converted.failure is ConversionFailure.UNREADABLE:
        return _("cannot be read: {detail}").format(detail=converted.detail)
    return _("could not be converted: {detail}").format(detail=converted.detail)


def _school_year(validator: Validator, period: Period, today: date) -> int:
    """The first calendar year of the binder's school year."""
    if period.year is not None:
        return period.year
    if period.month is not None:
        year, month = (int(p) for p in period.month.split("-"))
        today = date(year, month, 1)
    return school_year_start(validator, today).year
