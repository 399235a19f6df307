"""The completeness report for managers: who handed in which week's lesson plans.

A manager (subject-group leader, principal) keeps a synced copy of the whole school share:
one folder per teacher, optionally grouped ("Tổ 1/Nguyễn Văn A/…"), lesson plans (KHBD,
Kế hoạch bài dạy) in week folders. :func:`build_report` walks that copy once and counts,
for each teacher × requested week, the lesson plans present and those failing the checks;
the renderers turn the result into JSON, CSV or one printable, self-contained HTML page.

Paths in the report are relative to the report folder, NFC, '/'-separated. The walk skips
hidden entries (and with them hoso's ".hoso-*" state and LibreOffice lock files), Office
lock files ("~$…") and Windows thumbnail/folder settings files. Conflict copies and copies
restored from the trash while their original is beside them (kept alone, a copy is the lesson
plan: :func:`agent.api.original_name`), and blank lesson plans (an untouched template: rule
``khbd.blank``) are not counted as handed in; they are listed so the manager can ask for them
to be resolved. Which files are lesson plans
is the record types' decision (config/record-types.toml). Teachers are shown by the full
name ``[school.teachers]`` gives their folder, else by the folder's name.
"""

from __future__ import annotations

import csv
import html
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from agent.api import (
    CopyKind,
    Finding,
    RecordType,
    RelPath,
    Severity,
    _,
    classify,
    copy_kind,
    natural_key,
    nfc,
    original_name,
    week_of_path,
)

Check = Callable[[Path, RelPath, RecordType | None], list[Finding]]

LESSON_PLAN = "KHBD"
JSON_VERSION = 1
WEEKS_PER_TABLE = 12  # beyond this a week column gets too narrow on A4 portrait
_SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini"})  # Windows writes these into folders


# --- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailingFile:
    """A lesson plan with at least one error; ``findings`` are its errors."""

    path: RelPath
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Cell:
    """The lesson plans of one teacher in one week (``week`` None: those with no week):
    ``files`` are those handed in; conflict copies, restored copies and blank plans are
    listed apart and not counted."""

    week: int | None
    files: tuple[RelPath, ...] = ()
    failing: tuple[FailingFile, ...] = ()
    conflicts: tuple[RelPath, ...] = ()
    restored: tuple[RelPath, ...] = ()
    blank: tuple[RelPath, ...] = ()

    @property
    def present(self) -> int:
        return len(self.files)

    @property
    def missing(self) -> bool:
        return self.week is not None and not self.files


@dataclass(frozen=True)
class TeacherReport:
    folder: RelPath  # "Tổ 1/lan" or "Tổ 1/Nguyễn Văn A"
    weeks: tuple[Cell, ...]  # one per requested week, in the order requested
    no_week: Cell
    full_name: str = ""  # from [school.teachers]; empty: the folder's name says it

    @property
    def name(self) -> str:
        return self.full_name or self.folder.rpartition("/")[2]

    @property
    def label(self) -> str:
        """ "Tổ 1/Nguyễn Văn A": the group, then the teacher's name."""
        return f"{self.group}/{self.name}" if self.group else self.name

    @property
    def group(self) -> str:
        return self.folder.rpartition("/")[0]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return (*self.weeks, self.no_week)

    @property
    def lesson_plans(self) -> int:
        return sum(c.present for c in self.cells)

    @property
    def weeks_present(self) -> int:
        return sum(1 for c in self.weeks if c.files)

    @property
    def weeks_missing(self) -> int:
        return sum(1 for c in self.weeks if c.missing)

    @property
    def failing(self) -> tuple[FailingFile, ...]:
        return tuple(f for c in self.cells for f in c.failing)

    @property
    def conflicts(self) -> tuple[RelPath, ...]:
        return tuple(p for c in self.cells for p in c.conflicts)

    @property
    def restored(self) -> tuple[RelPath, ...]:
        return tuple(p for c in self.cells for p in c.restored)

    @property
    def blank(self) -> tuple[RelPath, ...]:
        return tuple(p for c in self.cells for p in c.blank)

    def inner(self, path: RelPath) -> RelPath:
        """``path`` relative to the teacher's folder, for display next to the name."""
        return path.removeprefix(self.folder + "/")


@dataclass(frozen=True)
class CompletenessReport:
    folder: Path
    today: date
    weeks: tuple[int, ...]
    teachers: tuple[TeacherReport, ...]
    unassigned: tuple[RelPath, ...]  # lesson plans outside any teacher folder


# --- building it -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """One lesson plan found by the walk, with its place in the report."""

    file: Path
    path: RelPath
    record_type: RecordType
    teacher: RelPath | None
    week: int | None


def build_report(
    folder: Path,
    *,
    types: Sequence[RecordType],
    check: Check,
    weeks: Sequence[int],
    teacher_depth: int = 1,
    today: date,
    names: Callable[[str], str] | None = None,
) -> CompletenessReport:
    """Walk ``folder`` and build the report for ``weeks``.

    The teacher of a file is its folder at depth ``teacher_depth`` (1 = the first folder
    below ``folder``); every folder at that depth is a teacher, even an empty one. Only
    lesson plans count: record type code KHBD per :func:`agent.records.classify` (which
    takes the documents of a "Tuần N" folder for lesson plans). ``check`` runs only on those
    the report shows: in a requested week, or with no week (not on conflict or restored
    copies). ``names`` gives a teacher folder's full name (default: the folder's name).
    An unreadable folder raises ``OSError`` (a silently partial report would accuse
    teachers of missing weeks)."""
    if teacher_depth < 1:
        raise ValueError("teacher_depth must be at least 1")
    if not folder.is_dir():
        raise NotADirectoryError(str(folder))
    teachers, plans = _scan(folder, types, teacher_depth)
    wanted = set(weeks)
    by_teacher: dict[RelPath, list[_Plan]] = {t: [] for t in teachers}
    for plan in plans:
        if plan.teacher is not None and (plan.week is None or plan.week in wanted):
            by_teacher[plan.teacher].append(plan)
    found = {p.path for p in plans}
    verdicts = {p.path: _verdict(p, check, found) for shown in by_teacher.values() for p in shown}
    return CompletenessReport(
        folder=folder,
        today=today,
        weeks=tuple(weeks),
        teachers=tuple(
            _teacher(t, by_teacher[t], weeks, verdicts, names)
            for t in sorted(teachers, key=natural_key)
        ),
        unassigned=tuple(sorted((p.path for p in plans if p.teacher is None), key=natural_key)),
    )


def _scan(
    folder: Path, types: Sequence[RecordType], teacher_depth: int
) -> tuple[set[RelPath], list[_Plan]]:
    teachers: set[RelPath] = set()
    plans: list[_Plan] = []
    for file, parts in _walk(folder, teachers, teacher_depth):
        path = "/".join(parts)
        inside = len(parts) > teacher_depth  # the file lies below a teacher folder
        teacher = "/".join(parts[:teacher_depth]) if inside else None
        week = week_of_path("/".join(parts[teacher_depth:])) if inside else None
        record_type = classify(path, types)
        if record_type is not None and record_type.code == LESSON_PLAN:
            plans.append(_Plan(file, path, record_type, teacher, week))
    return teachers, plans


def _raise(error: OSError) -> None:
    raise error


def _walk(
    folder: Path, teachers: set[RelPath], teacher_depth: int
) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """Files below ``folder`` with their NFC path components; adds the teacher folders
    met on the way to ``teachers``."""
    for dirpath, dirnames, filenames in os.walk(folder, onerror=_raise):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        here = tuple(nfc(p) for p in Path(dirpath).relative_to(folder).parts)
        if len(here) == teacher_depth:
            teachers.add("/".join(here))
        for name in filenames:
            if not _skipped(name):
                yield Path(dirpath, name), (*here, nfc(name))


def _skipped(name: str) -> bool:
    return name.startswith((".", "~$")) or name.lower() in _SYSTEM_FILES


def _errors(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    return tuple(f for f in findings if f.severity is Severity.ERROR)


BLANK = "blank"  # a _Verdict kind beside CopyKind's: an untouched template


@dataclass(frozen=True)
class _Verdict:
    kind: str | None  # None: handed in; else CopyKind or BLANK
    errors: tuple[Finding, ...] = ()


def _verdict(plan: _Plan, check: Check, found: set[RelPath]) -> _Verdict:
    original = original_name(plan.path)
    if original is not None and original in found:  # the original beside it is what counts
        return _Verdict(copy_kind(plan.path))
    findings = check(plan.file, plan.path, plan.record_type)
    if any(f.rule == "khbd.blank" for f in findings):
        return _Verdict(BLANK)
    return _Verdict(None, _errors(findings))


def _cell(week: int | None, plans: Iterable[_Plan], verdicts: dict[RelPath, _Verdict]) -> Cell:
    paths = sorted((p.path for p in plans if p.week == week), key=natural_key)

    def of(kind: str | None) -> tuple[RelPath, ...]:
        return tuple(p for p in paths if verdicts[p].kind == kind)

    return Cell(
        week=week,
        files=of(None),
        failing=tuple(FailingFile(p, verdicts[p].errors) for p in of(None) if verdicts[p].errors),
        conflicts=of(CopyKind.CONFLICT),
        restored=of(CopyKind.RESTORED),
        blank=of(BLANK),
    )


def _teacher(
    folder: RelPath,
    plans: list[_Plan],
    weeks: Sequence[int],
    verdicts: dict[RelPath, _Verdict],
    names: Callable[[str], str] | None,
) -> TeacherReport:
    login = folder.rpartition("/")[2]
    full_name = names(login) if names else login
    return TeacherReport(
        folder=folder,
        weeks=tuple(_cell(week, plans, verdicts) for week in weeks),
        no_week=_cell(None, plans, verdicts),
        full_name="" if full_name == login else full_name,
    )


# --- JSON ------------------------------------------------------------------------------------


def to_json(report: CompletenessReport) -> dict[str, Any]:
    """The report as JSON-ready data. Shape (version 1; keys are stable)::

        {"version": 1, "folder": str, "date": "YYYY-MM-DD", "weeks": [int],
         "teachers": [{"teacher": name, "group": "Tổ 1" or "", "folder": "Tổ 1/lan",
                       "summary": {"lesson_plans", "weeks_present", "weeks_missing",
                                   "failing", "no_week", "conflicts", "restored",
                                   "blank"},  (all int)
                       "weeks": [CELL, one per requested week], "no_week": CELL}],
         "unassigned": [path]}

        CELL = {"week": int or null, "present": int, "failing": int, "missing": bool,
                "files": [path], "conflicts": [path], "restored": [path], "blank": [path],
                "failing_files": [{"path": path, "findings": [Finding.to_json()]}]}

    Paths are relative to the report folder; the summary counts the requested weeks and
    the lesson plans with no week together; "unassigned" lists lesson plans outside any
    teacher folder. "teacher" is the full name ([school.teachers]) or the folder's name;
    "files" (and "present") are the lesson plans handed in: conflict copies, restored
    copies and blank plans are listed apart and never counted."""
    return {
        "version": JSON_VERSION,
        "folder": str(report.folder),
        "date": report.today.isoformat(),
        "weeks": list(report.weeks),
        "teachers": [_teacher_json(t) for t in report.teachers],
        "unassigned": list(report.unassigned),
    }


def _teacher_json(teacher: TeacherReport) -> dict[str, Any]:
    return {
        "teacher": teacher.name,
        "group": teacher.group,
        "folder": teacher.folder,
        "summary": {
            "lesson_plans": teacher.lesson_plans,
            "weeks_present": teacher.weeks_present,
            "weeks_missing": teacher.weeks_missing,
            "failing": len(teacher.failing),
            "no_week": teacher.no_week.present,
            "conflicts": len(teacher.conflicts),
            "restored": len(teacher.restored),
            "blank": len(teacher.blank),
        },
        "weeks": [_cell_json(c) for c in teacher.weeks],
        "no_week": _cell_json(teacher.no_week),
    }


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {
        "week": cell.week,
        "present": cell.present,
        "failing": len(cell.failing),
        "missing": cell.missing,
        "files": list(cell.files),
        "conflicts": list(cell.conflicts),
        "restored": list(cell.restored),
        "blank": list(cell.blank),
        "failing_files": [
            {"path": f.path, "findings": [finding.to_json() for finding in f.findings]}
            for f in cell.failing
        ],
    }


# --- CSV -------------------------------------------------------------------------------------


def csv_columns() -> tuple[str, ...]:
    """The CSV's header row, in the reader's language (`--format json` is the format for
    programs: its keys never change)."""
    return (
        _("Teacher"),
        _("Week"),
        _("Lesson plans"),
        _("With errors"),
        _("Missing"),
        _("Files"),
        _("Conflict copies"),
        _("Restored copies"),
        _("Blank lesson plans"),
    )


# "|" separates the files of a cell: Windows forbids it in names, so it cannot be part of one.
_FILE_SEPARATOR = " | "
# A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection):
# a folder named "=HYPERLINK(…)" on the share would run when the manager opens the file.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """A name as a CSV cell that spreadsheets show as text: a leading quote disarms a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(report: CompletenessReport) -> str:
    """One row per teacher × requested week, plus one row with an empty week for a
    teacher's lesson plans that have no week; the header row is in the reader's language
    (:func:`csv_columns`). The teacher column is the group and the teacher's name
    ("Tổ 1/Nguyễn Văn A"), files are relative to the teacher's folder, "missing" is 0 or 1;
    the last three count the conflict copies, restored copies and blank plans, which the
    files and the lesson-plan count leave out. A name that a spreadsheet would run as a
    formula (starting with = + - @, a tab or CR) gets a leading quote '."""
    out = io.StringIO()
    # Lines end in LF (Excel reads it): a CR would reach standard output escaped as "\x0d"
    # by hoso's terminal guard (agent.display), on every line.
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_columns())
    for teacher in report.teachers:
        cells = [*teacher.weeks, *([teacher.no_week] if teacher.no_week.files else [])]
        for cell in cells:
            writer.writerow(
                (
                    _text(teacher.label),
                    "" if cell.week is None else cell.week,
                    cell.present,
                    len(cell.failing),
                    int(cell.missing),
                    _text(_FILE_SEPARATOR.join(teacher.inner(p) for p in cell.files)),
                    len(cell.conflicts),
                    len(cell.restored),
                    len(cell.blank),
                )
            )
    return out.getvalue()


# --- HTML ------------------------------------------------------------------------------------

# Colours carry meaning only together with a symbol, so that a black-and-white printout
# reads the same. "print-color-adjust: exact" keeps the backgrounds when printing.
_CSS = """
@page { size: A4; margin: 12mm }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; box-sizing: border-box }
body { font: 10pt/1.35 "DejaVu Sans", Arial, sans-serif; color: #000; margin: 8px }
h1 { font-size: 15pt; margin: 0 0 4px }
h2 { font-size: 12pt; margin: 14px 0 6px; break-after: avoid; page-break-after: avoid }
h3 { font-size: 10.5pt; margin: 10px 0 4px; break-after: avoid; page-break-after: avoid }
p.meta, p.legend { margin: 2px 0 8px }
table { border-collapse: collapse; width: 100%; table-layout: fixed; margin: 0 0 10px }
thead { display: table-header-group }
tr { break-inside: avoid; page-break-inside: avoid }
th, td { border: 1px solid #555; padding: 2px 3px; overflow-wrap: anywhere; text-align: left }
thead th { background: #1f3a93; color: #fff }
td.n { text-align: center; white-space: nowrap }
td.ok { background: #c8e6c9 }
td.missing { background: #f4a6a6; font-weight: bold }
td.failing { background: #ffd966 }
td.teacher small { color: #333 }
ul { margin: 2px 0 6px; padding-left: 18px }
li { break-inside: avoid; page-break-inside: avoid; overflow-wrap: anywhere }
.fix { color: #333 }
"""


def to_html(report: CompletenessReport) -> str:
    """One self-contained page (inline CSS, no script, no external resource) that prints
    on A4 portrait: the summary per teacher, the teacher × week tables (at most
    12 weeks each, header repeated on every page), then the files to act on."""
    title = _("Lesson plan completeness — {folder}").format(folder=report.folder.name)
    body = [
        _tag("h1", title),
        _meta(report),
        _summary_table(report),
        *_week_tables(report),
        *_failing_section(report),
        *_path_section(report, _("Lesson plans without a week"), lambda t: t.no_week.files),
        *_path_section(report, _("Conflict copies to resolve"), lambda t: t.conflicts),
        *_path_section(
            report, _("Copies restored beside the original (not counted)"), lambda t: t.restored
        ),
        *_path_section(report, _("Blank lesson plans (not counted)"), lambda t: t.blank),
        *_unassigned_section(report),
    ]
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _tag(name: str, text: str) -> str:
    return f"<{name}>{_e(text)}</{name}>"


def _week_ranges(weeks: Sequence[int]) -> str:
    """(1, 2, 3, 5, 7, 8) → "1–3, 5, 7–8"."""
    ranges: list[list[int]] = []
    for week in sorted(set(weeks)):
        if ranges and week == ranges[-1][1] + 1:
            ranges[-1][1] = week
        else:
            ranges.append([week, week])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in ranges) or "—"


def _meta(report: CompletenessReport) -> str:
    meta = _("Folder: {folder} · Date: {date} · Weeks: {weeks}").format(
        folder=report.folder,
        date=report.today.strftime("%d/%m/%Y"),
        weeks=_week_ranges(report.weeks),
    )
    legend = _(
        "✓ n: n lesson plans handed in · ✗: no lesson plan for the week · "
        "! n: n lesson plans with errors"
    )
    return f'<p class="meta">{_e(meta)}</p>\n<p class="legend">{_e(legend)}</p>'


def _teacher_label(teacher: TeacherReport) -> str:
    group = f"<br><small>{_e(teacher.group)}</small>" if teacher.group else ""
    return f'<td class="teacher">{_e(teacher.name)}{group}</td>'


def _summary_table(report: CompletenessReport) -> str:
    headers = (
        _("Teacher"),
        _("Lesson plans"),
        _("Weeks handed in"),
        _("Weeks missing"),
        _("With errors"),
        _("Without a week"),
        _("Conflict copies"),
    )
    head = "".join(_tag("th", h) for h in headers)
    rows = []
    for t in report.teachers:
        numbers = (
            t.lesson_plans,
            t.weeks_present,
            t.weeks_missing,
            len(t.failing),
            t.no_week.present,
            len(t.conflicts),
        )
        cells = "".join(f'<td class="n">{n}</td>' for n in numbers)
        rows.append(f"<tr>{_teacher_label(t)}{cells}</tr>")
    return (
        _tag("h2", _("Summary by teacher"))
        + '<table class="summary"><colgroup><col style="width:30%"></colgroup>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _week_cell(cell: Cell) -> str:
    if cell.missing:
        return '<td class="n missing">✗</td>'
    if cell.failing:
        return f'<td class="n failing">✓ {cell.present}<br>! {len(cell.failing)}</td>'
    return f'<td class="n ok">✓ {cell.present}</td>'


def _week_tables(report: CompletenessReport) -> Iterator[str]:
    yield _tag("h2", _("Lesson plans by week"))
    teacher = _tag("th", _("Teacher"))
    for start in range(0, len(report.weeks), WEEKS_PER_TABLE):
        chunk = range(start, min(start + WEEKS_PER_TABLE, len(report.weeks)))
        head = "".join(_tag("th", _("W{week}").format(week=report.weeks[i])) for i in chunk)
        rows = "".join(
            f"<tr>{_teacher_label(t)}{''.join(_week_cell(t.weeks[i]) for i in chunk)}</tr>"
            for t in report.teachers
        )
        yield (
            '<table class="weeks"><colgroup><col style="width:24%"></colgroup>'
            f"<thead><tr>{teacher}{head}</tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )


def _week_label(week: int | None) -> str:
    return _("no week") if week is None else _("week {week}").format(week=week)


def _failing_section(report: CompletenessReport) -> Iterator[str]:
    teachers = [t for t in report.teachers if t.failing]
    if not teachers:
        return
    yield _tag("h2", _("Lesson plans with errors"))
    for teacher in teachers:
        yield f"<h3>{_e(teacher.label)}</h3><ul>"
        for cell in teacher.cells:
            for failing in cell.failing:
                problems = "".join(
                    f'<li>{_e(f.message)}<br><span class="fix">{_e(f.fix)}</span></li>'
                    for f in failing.findings
                )
                yield (
                    f"<li><b>{_e(teacher.inner(failing.path))}</b> "
                    f"({_e(_week_label(cell.week))})<ul>{problems}</ul></li>"
                )
        yield "</ul>"


def _path_section(
    report: CompletenessReport, title: str, paths: Callable[[TeacherReport], Sequence[RelPath]]
) -> Iterator[str]:
    teachers = [t for t in report.teachers if paths(t)]
    if not teachers:
        return
    yield _tag("h2", title)
    for teacher in teachers:
        items = "".join(f"<li>{_e(teacher.inner(p))}</li>" for p in paths(teacher))
        yield f"<h3>{_e(teacher.label)}</h3><ul>{items}</ul>"


def _unassigned_section(report: CompletenessReport) -> Iterator[str]:
    if not report.unassigned:
        return
    yield _tag("h2", _("Lesson plans outside any teacher folder"))
    yield "<ul>" + "".join(f"<li>{_e(p)}</li>" for p in report.unassigned) + "</ul>"
