"""Which records belong to an inspection period, and in what state they are.

A record belongs to weeks A–B (or to a month) by the folders of the records tree first
("Tuần 12", "Tháng 11"; a school-year folder "2025-2026" must match too), else by the
lesson date written in the document, else, as a last resort, by when it was last saved; the
plan says which. Records are checked with the validation plugins exactly as `hoso check`
does, so the plan shows the same findings.

Nothing of the period is dropped without a word: each file is listed once by its NFC path,
also below folders whose name exists in two Unicode spellings (tree.py), and what is not
sent (twin files, conflict copies, types mail providers refuse, links, unreadable files) is
in ``Selection.skipped`` with its reason.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path, PurePosixPath

from agent.api import (
    FIRST_WEEK,
    LAST_WEEK,
    Config,
    CopyKind,
    Finding,
    HosoError,
    Record,
    RecordType,
    RelPath,
    UsageError,
    Validator,
    _,
    classify,
    copy_kind,
    fold,
    ignore_rules,
    is_within,
    natural_key,
    original_name,
    record_date,
    school_year_start,
    week_dates,
    week_of_path,
)

from .model import SelectedBy, SelectedFile, Selection, Skipped
from .package import blocked_reason
from .settings import InspectionSettings, parse_period, parse_weeks
from .tree import RecordsTree, walk

# The day a record is about, from its content: (path, file, school year start) -> day.
Dater = Callable[[RelPath, Path, date], date | None]

HANDOVER_FOLDER = "Bàn giao tài khoản"  # the handover log and minutes: never inspection records
_MONTH = re.compile(r"\bthang ?0*(\d{1,2})\b")
_SCHOOL_YEAR = re.compile(r"\b(20\d\d) ?[-_] ?(20\d\d)\b")


@dataclass(frozen=True)
class Period:
    """What to select: school weeks A–B or a month, and which record types. A school year
    (``year``, its first calendar year) is its weeks 1–35."""

    weeks: tuple[int, int] | None
    month: str | None  # "YYYY-MM"
    types: tuple[str, ...]
    year: int | None = None  # 2026 for the school year 2026–2027 (weeks 1–35)

    @classmethod
    def school_year(cls, year: int, types: tuple[str, ...]) -> Period:
        return cls((FIRST_WEEK, LAST_WEEK), None, types, year)

    @property
    def label(self) -> str:
        # Vietnamese always: the label names the submission in the email to the school.
        if self.year is not None:
            return f"Năm học {self.year}–{self.year + 1}"
        if self.weeks is not None:
            first, last = self.weeks
            return f"Tuần {first}" if first == last else f"Tuần {first}–{last}"
        year, month = (self.month or "").split("-")
        return f"Tháng {int(month)}/{year}"

    def first_day(self, year_start: date) -> date:
        if self.weeks is not None:
            return week_dates(self.weeks[0], year_start)[0]
        year, month = (int(p) for p in (self.month or "").split("-"))
        return date(year, month, 1)


def period_of(
    weeks: str | None, month: str | None, types: tuple[str, ...], settings: InspectionSettings
) -> Period:
    """The period the teacher asked for (--weeks or --period, --type); the configured types
    when none is given."""
    if (weeks is None) == (month is None):
        raise UsageError(_("Give either --weeks A-B or --period YYYY-MM. Nothing was done."))
    chosen = tuple(t.upper() for t in types) or settings.types
    if weeks is not None:
        parsed = parse_weeks(weeks)
        if parsed is None:
            raise UsageError(
                _(
                    "--weeks {value}: give school weeks like 10-13 (1 to 35). Nothing was done."
                ).format(value=weeks)
            )
        return Period(parsed, None, chosen)
    assert month is not None
    period = parse_period(month)
    if period is None:
        raise UsageError(
            _("--period {value}: give a month like 2026-11. Nothing was done.").format(value=month)
        )
    return Period(None, period, chosen)


def known_types(validator: Validator, period: Period) -> dict[str, RecordType]:
    """The record types the plugins know, by code; UsageError when ``period`` names a code
    none knows (before anything is read)."""
    known = {t.code: t for t in validator.types}
    unknown = [code for code in period.types if code not in known]
    if unknown:
        raise UsageError(
            _("Unknown record type {codes}; known: {known}. Nothing was done.").format(
                codes=", ".join(unknown), known=", ".join(known)
            )
        )
    return known


def select(
    config: Config, validator: Validator, period: Period, *, evidence_folder: str, today: date
) -> Selection:
    """The records of ``period`` (checked), and the files of the period that are not sent,
    each with its reason: nothing of the period is left out without being listed."""
    year_start = school_year_start(validator, today)
    if period.month is not None:
        year_start = school_year_start(validator, period.first_day(year_start))
    elif period.year is not None:  # a day well inside that school year
        year_start = school_year_start(validator, date(period.year, 10, 1))
    tree = walk(config.root, ignore_rules(config).is_ignored)

    # A lesson's date is read from the document itself by the plugin that knows lesson plans
    # (validation, in its worker process with limits); without one, records go by save time.
    def read(path: RelPath, file: Path, year_start: date) -> date | None:
        try:
            info = file.stat()
        except OSError:
            return None
        record = Record(path, file, classify(path, validator.types), info.st_size, info.st_mtime)
        failed = validator.host.failed_calls
        when = record_date(validator, record, year_start)
        if validator.host.failed_calls != failed:  # no answer is not "no date": say so
            raise HosoError(
                _(
                    "The date of {path} could not be read: a plugin failed (`hoso status` says "
                    "why). Nothing was done."
                ).format(path=path)
            )
        return when

    top = tree.unreadable_above("")
    if top is not None:
        raise UsageError(
            _("The records folder {root} cannot be read ({detail}). Nothing was done.").format(
                root=config.root, detail=top[1]
            )
        )
    chosen: list[tuple[RelPath, Path, str, SelectedBy]] = []
    skipped: list[Skipped] = []
    for path, file in sorted(tree.files.items(), key=lambda item: natural_key(item[0])):
        code = _wanted_type(path, validator, period)
        if code is None or _outside_records(path, evidence_folder):
            continue
        how = belongs(path, file, period, year_start, read)
        if how is None:
            continue
        refused = blocked_reason(file)
        # Two versions of one record: the teacher picks one first. A copy kept alone (the
        # other deleted, as advised) is the record.
        original = original_name(path)
        kind = copy_kind(path) if original is not None and original in tree.files else None
        if kind is CopyKind.CONFLICT:
            refused = _("a conflict copy: keep the right version, delete the other, then send")
        elif kind is CopyKind.RESTORED:
            refused = _(
                "a copy restored from the trash beside the record of the same name: keep the "
                "right version, delete the other, then send"
            )
        if refused is not None:
            skipped.append(Skipped(path, refused))
            continue
        chosen.append((path, file, code, how))
    skipped += _twins(config.root, tree, period, year_start, validator, evidence_folder, read)
    skipped += _unseen(tree, period, year_start, validator, evidence_folder)
    findings = _findings(validator, config.root, chosen, today)
    files = []
    for path, file, code, how in chosen:
        try:
            size, digest = file_digest(file)
        except OSError as exc:
            skipped.append(Skipped(path, _("cannot be read: {detail}").format(detail=exc.strerror)))
            continue
        files.append(SelectedFile(path, file, size, digest, code, how, findings.get(path, ())))
    return Selection(
        label=period.label,
        weeks=period.weeks,
        period=period.month,
        types=period.types,
        files=tuple(files),
        skipped=tuple(sorted(skipped, key=lambda s: natural_key(s.path))),
    )


def _wanted_type(path: RelPath, validator: Validator, period: Period) -> str | None:
    """The record type code of ``path`` when the period asks for that type, else None."""
    record_type = classify(path, validator.types)
    return record_type.code if record_type and record_type.code in period.types else None


def _twins(
    root: Path,
    tree: RecordsTree,
    period: Period,
    year_start: date,
    validator: Validator,
    evidence_folder: str,
    read: Dater,
) -> list[Skipped]:
    """The files of the period held twice under one NFC path: which one is the record is
    the teacher's choice, so neither is sent."""
    found = []
    for twin in tree.twins:
        file = root / next(fs for fs in twin.spellings if fs not in twin.folders)
        if (
            _wanted_type(twin.path, validator, period) is not None
            and not _outside_records(twin.path, evidence_folder)
            and belongs(twin.path, file, period, year_start, read) is not None
        ):
            found.append(Skipped(twin.path, twin.reason(root)))
    return found


def _unseen(
    tree: RecordsTree,
    period: Period,
    year_start: date,
    validator: Validator,
    evidence_folder: str,
) -> list[Skipped]:
    """Symbolic links and what cannot be read, where records of the period may be: hoso
    cannot tell what they hold, so the teacher is told rather than left to guess."""
    found = [
        (link, _("a symbolic link: hoso never follows links; copy the file itself here"))
        for link in tree.symlinks
    ]
    found += [
        (path, _("cannot be read: {detail}").format(detail=why)) for path, why in tree.unreadable
    ]
    return [
        Skipped(path, reason)
        for path, reason in dict.fromkeys(found)  # both spellings of a folder: said once
        if not _outside_records(path, evidence_folder)
        and _may_hold(path, period, year_start, validator)
    ]


def _may_hold(path: RelPath, period: Period, year_start: date, validator: Validator) -> bool:
    """Whether ``path``, a file or a folder hoso cannot look into, may hold records of the
    period: not when its folders name another school year, week or month, or when it is
    of a record type that was not asked for, whichever it is."""
    inside = f"{path}/…"  # as a folder: its own name counts as a folder name
    year = _school_year_of_path(inside)
    if year is not None and year != year_start.year:
        return False
    week = week_of_path(inside)
    if period.weeks is not None and week is not None and not _in(week, period.weeks):
        return False
    month = _month_of_path(inside)
    if period.month is not None and month is not None and month != int(period.month[5:]):
        return False
    kinds = {classify(p, validator.types) for p in (path, inside)}
    return any(kind is None or kind.code in period.types for kind in kinds)


def belongs(
    path: RelPath, file: Path, period: Period, year_start: date, read: Dater
) -> SelectedBy | None:
    """How the record is known to fall in the period, or None when it does not."""
    year = _school_year_of_path(path)
    if year is not None and year != year_start.year:
        return None  # a folder of another school year ("2025-2026")
    week = week_of_path(path)
    if period.weeks is not None:
        first, last = period.weeks
        if week is not None:
            return SelectedBy.FOLDER if first <= week <= last else None
        when, how = _dated(file, path, year_start, read)
        if when is None:
            return None
        return how if first <= _school_week(when, year_start) <= last else None
    wanted_year, wanted_month = (int(p) for p in (period.month or "").split("-"))
    month = _month_of_path(path)
    if month is not None:
        return SelectedBy.FOLDER if month == wanted_month else None
    if week is not None:
        monday, _sunday = week_dates(week, year_start)
        middle = monday + timedelta(days=2)  # a week straddling two months goes by its Wednesday
        hit = (middle.year, middle.month) == (wanted_year, wanted_month)
        return SelectedBy.FOLDER if hit else None
    when, how = _dated(file, path, year_start, read)
    if when is None:
        return None
    return how if (when.year, when.month) == (wanted_year, wanted_month) else None


def _dated(
    file: Path, path: RelPath, year_start: date, read: Dater
) -> tuple[date | None, SelectedBy]:
    """The lesson date written in the document, else the day it was last saved."""
    when = read(path, file, year_start)
    if when is not None:
        return when, SelectedBy.LESSON_DATE
    try:
        return datetime.fromtimestamp(file.stat().st_mtime).date(), SelectedBy.MODIFIED_TIME
    except OSError:
        return None, SelectedBy.MODIFIED_TIME


def _in(week: int, weeks: tuple[int, int]) -> bool:
    return weeks[0] <= week <= weeks[1]


def _school_week(day: date, year_start: date) -> int:
    return (day - year_start).days // 7 + 1


def _month_of_path(path: RelPath) -> int | None:
    for name in reversed(PurePosixPath(path).parts[:-1]):
        match = _MONTH.search(fold(name))
        if match and 1 <= int(match.group(1)) <= 12:
            return int(match.group(1))
    return None


def _school_year_of_path(path: RelPath) -> int | None:
    for name in PurePosixPath(path).parts[:-1]:
        match = _SCHOOL_YEAR.search(name)
        if match and int(match.group(2)) == int(match.group(1)) + 1:
            return int(match.group(1))
    return None


def _outside_records(path: RelPath, evidence_folder: str) -> bool:
    """The evidence of earlier submissions and the handover log are not records to send."""
    return is_within(path, evidence_folder) or is_within(path, HANDOVER_FOLDER)


def _findings(
    validator: Validator,
    root: Path,
    chosen: list[tuple[RelPath, Path, str, SelectedBy]],
    today: date,
) -> dict[RelPath, tuple[Finding, ...]]:
    """The findings of each chosen record, as `hoso check` gives them. A record whose NFC
    path is not its real path (below a folder spelled the other way) is checked where it is:
    `hoso check` knows only the paths the sync knows."""
    found: dict[RelPath, list[Finding]] = {}
    direct = [path for path, file, *_rest in chosen if file == root / path]
    if direct:
        for finding in validator.check(direct, today=today).findings:
            found.setdefault(finding.path, []).append(finding)
    for path, file, _code, _how in chosen:
        if file == root / path:
            continue
        try:
            info = file.stat(follow_symlinks=False)
        except OSError:
            continue  # reported as unreadable when its digest is taken
        record = Record(path, file, classify(path, validator.types), info.st_size, info.st_mtime)
        found[path] = validator.host.validate_record(record, today)
    return {path: tuple(items) for path, items in found.items()}


def file_digest(file: Path) -> tuple[int, str]:
    """Size and SHA-256 (hex) of a regular file, read in blocks; a symbolic link is refused
    (OSError ELOOP), never followed."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_BINARY", 0))
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise OSError(errno.EINVAL, _("not a regular file"), str(file))
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def missing_weeks(selection: Selection, period: Period) -> list[int]:
    """Weeks of the period with no record at all (a reminder lists them)."""
    if period.weeks is None:
        return []
    have = {week_of_path(f.path) for f in selection.files}
    return [w for w in range(period.weeks[0], period.weeks[1] + 1) if w not in have]


def types_present(files: Iterable[SelectedFile]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.record_type for f in files))
