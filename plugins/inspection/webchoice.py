"""The period and record types chosen on the teacher's page (*Nộp hồ sơ*, *In*): the same
choices as the commands' ``--weeks A-B``, ``--period YYYY-MM``, ``--year YYYY-YYYY`` and
``--type``, read from a form and checked in the page's words before any record is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from agent.api import (
    FIRST_WEEK,
    LAST_WEEK,
    UsageError,
    Validator,
    WebRequest,
    _,
    school_week,
    school_year_start,
)

from .settings import Inspection, parse_period, parse_weeks

KINDS = ("weeks", "month", "year")


@dataclass(frozen=True)
class TypeOption:
    code: str
    name: str
    checked: bool


@dataclass(frozen=True)
class Choice:
    """What the form holds: a kind ("weeks", "month" or "year") and its values."""

    kind: str
    week_from: int
    week_to: int
    month: str  # "YYYY-MM"
    year: str  # "2026-2027"
    types: tuple[str, ...]

    @property
    def weeks(self) -> str | None:
        return f"{self.week_from}-{self.week_to}" if self.kind == "weeks" else None

    @property
    def period(self) -> str | None:
        return self.month if self.kind == "month" else None

    @property
    def school_year(self) -> str | None:
        return self.year if self.kind == "year" else None

    def query(self) -> list[tuple[str, str]]:
        """The form's fields again, for a link or a hidden field."""
        fields = [
            ("kind", self.kind),
            ("week_from", str(self.week_from)),
            ("week_to", str(self.week_to)),
            ("month", self.month),
            ("year", self.year),
        ]
        return fields + [("type", code) for code in self.types]


def school_years(validator: Validator, today: date) -> list[str]:
    """The school year in progress and the one before, as "2026-2027"."""
    first = school_year_start(validator, today).year
    return [f"{y}-{y + 1}" for y in (first, first - 1)]


def default_choice(
    validator: Validator, today: date, types: tuple[str, ...], planned: Inspection | None = None
) -> Choice:
    """The next inspection's period when there is one, else this school week (and month)."""
    week = school_week(today, school_year_start(validator, today))
    month = f"{today:%Y-%m}"
    year = school_years(validator, today)[0]
    if planned is not None:
        chosen = planned.types or types
        if planned.weeks is not None:
            return Choice("weeks", planned.weeks[0], planned.weeks[1], month, year, chosen)
        return Choice("month", week, week, planned.period or month, year, chosen)
    return Choice("weeks", week, week, month, year, types)


def read_choice(request: WebRequest, fallback: Choice, kinds: tuple[str, ...]) -> Choice | None:
    """The choice the form sent; None when the page was opened without one. A value out of
    range is a UsageError in the teacher's words (nothing read yet)."""
    kind = request.arg("kind")
    if not kind:
        return None
    if kind not in kinds:
        raise UsageError(_("Choose weeks, a month or a school year."))
    types = tuple(dict.fromkeys(t.strip().upper() for t in _all(request, "type") if t.strip()))
    if not types:
        raise UsageError(_("Tick at least one kind of record."))
    week_from, week_to = request.arg("week_from").strip(), request.arg("week_to").strip()
    weeks = parse_weeks(f"{week_from}-{week_to or week_from}") if kind == "weeks" else None
    if kind == "weeks" and weeks is None:
        raise UsageError(
            _("Choose school weeks from {first} to {last}, the first not after the last.").format(
                first=FIRST_WEEK, last=LAST_WEEK
            )
        )
    month = request.arg("month", fallback.month).strip()
    if kind == "month" and parse_period(month) is None:
        raise UsageError(_("Choose a month, such as 11/2026."))
    year = request.arg("year", fallback.year).strip()
    if kind == "year" and not _school_year(year):
        raise UsageError(_("Choose a school year, such as 2026-2027."))
    low, high = weeks if weeks is not None else (fallback.week_from, fallback.week_to)
    return Choice(kind, low, high, parse_period(month) or fallback.month, year, types)


def type_options(validator: Validator, chosen: tuple[str, ...], language: str) -> list[TypeOption]:
    """Every record type the plugins know, the chosen ones ticked, in the page's language."""
    return [
        TypeOption(t.code, t.name_vi if language == "vi" else t.name_en, t.code in chosen)
        for t in validator.types
    ]


def _school_year(text: str) -> bool:
    first, _dash, second = text.partition("-")
    return first.isdigit() and second.isdigit() and int(second) == int(first) + 1


def _all(request: WebRequest, name: str) -> list[str]:
    values = request.form.get(name) if request.method == "POST" else None
    return list(values or request.query.get(name) or ())
