"""Reminders before each inspection of the school calendar: what is not sent yet, what is
missing and what fails the checks, so the teacher can fix it in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from agent.api import (
    Config,
    UsageError,
    _,
)

from .settings import Inspection, inspection_settings

if TYPE_CHECKING:
    from .selection import Period


@dataclass(frozen=True)
class Reminder:
    inspection: Inspection
    days_left: int
    facts: tuple[str, ...]  # what is not sent, missing, failing: sentences for any screen
    advice: str  # the command that sends it, for the notification and `hoso status`

    @property
    def text(self) -> str:
        return " ".join((*self.facts, self.advice))


def due(config: Config, today: date) -> list[tuple[Inspection, Period]]:
    """The inspections within ``remind_days`` (today included) whose period is not sent."""
    settings = inspection_settings(config)
    near = [i for i in settings.schedule if 0 <= (i.day - today).days <= settings.remind_days]
    if not near:
        return []  # the common case (`hoso status` asks): nothing more to import or open
    from .ledger import history
    from .selection import Period
    from .send import sent_completely

    sent = {messages[0].label for messages in history(config) if sent_completely(messages)}
    found = []
    for inspection in near:
        period = Period(inspection.weeks, inspection.period, inspection.types or settings.types)
        if period.label not in sent:
            found.append((inspection, period))
    return found


def reminders(config: Config, today: date) -> list[Reminder]:
    found = []
    for inspection, period in due(config, today):
        option = (
            f"--weeks {period.weeks[0]}-{period.weeks[1]}"
            if period.weeks is not None
            else f"--period {period.month}"
        )
        found.append(
            Reminder(
                inspection,
                (inspection.day - today).days,
                tuple(_facts(config, inspection, period, today)),
                _("To send them, run `hoso inspect send {option}`.").format(option=option),
            )
        )
    return found


def _facts(config: Config, inspection: Inspection, period: Period, today: date) -> list[str]:
    from .commands import make_plan
    from .selection import missing_weeks

    head = _("Inspection on {day}: {period} is not sent yet.").format(
        day=f"{inspection.day:%d/%m/%Y}", period=period.label
    )
    try:
        plan = make_plan(config, period, today=today)
    except UsageError:
        return [
            head,
            _("No records of {types} found for it yet.").format(types=", ".join(period.types)),
        ]
    ready = len(plan.selection.files) - len(plan.not_attached)
    parts = [head, _("{n} records ready.").format(n=ready)]
    failing = sorted({f.path for f in plan.selection.errors})
    if failing:
        parts.append(
            _("{n} fail the school's checks: {paths}.").format(
                n=len(failing), paths=", ".join(failing[:5])
            )
        )
    left_out = [s.path for s in plan.selection.skipped] + [f.path for f in plan.not_attached]
    if left_out:
        parts.append(
            _("{n} file(s) cannot be sent as they are (see `hoso inspect plan`): {paths}.").format(
                n=len(left_out), paths=", ".join(left_out[:5])
            )
        )
    missing = missing_weeks(plan.selection, period)
    if missing:
        parts.append(
            _("No records for week(s) {weeks}.").format(weeks=", ".join(str(w) for w in missing))
        )
    return parts
