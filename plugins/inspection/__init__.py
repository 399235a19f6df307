"""Inspection: a teacher's records for a periodic inspection, emailed as attachments.

A built-in hoso plugin. It adds ``hoso inspect plan / build / send / history / verify``:
the records of a period (school weeks or a month) go in one message, or in numbered parts
under the size limit, to the school's official mailbox and the reviewing manager together
(letter 2174, L5), with a manifest; a ledger in its own storage and a copy of each message in
the records folder prove later what was sent. Its scheduled job reminds the teacher before
each inspection on the school calendar (``[[inspection.schedule]]``) of what is still missing.
On the teacher's page it adds *Nộp hồ sơ* (webinspection.py) and *In* (webprint.py).
"""

from __future__ import annotations

from datetime import date

from agent.api import (
    Config,
    ConfigError,
    HosoError,
    WebPage,
    _,
    literal_pattern,
)
from agent.hooks import Job, JobContext, LazyCommand, Notification, hookimpl

JOB_EVERY = 3600.0  # seconds; the reminder's key changes daily, so it shows once a day


@hookimpl
def hoso_check_config(config: Config) -> list[str]:
    from .binder.settings import print_settings
    from .settings import inspection_settings, smtp_settings

    try:
        smtp_settings(config)
        inspection_settings(config)
        print_settings(config)
    except ConfigError as exc:
        return [str(exc)]
    return []


@hookimpl
def hoso_commands() -> list[LazyCommand]:
    """Named here, imported only when run (`hoso --help` lists them from this)."""
    return [
        LazyCommand(
            "inspect",
            "Send records for a periodic inspection, as attachments, to the school and the "
            "manager.",
            "plugins.inspection.commands:inspect",
        ),
        LazyCommand(
            "print",
            "One PDF of the period's records, ready to print and bind: cover, contents, every "
            "record with page numbers, and what was left out.",
            "plugins.inspection.binder.commands:print_binder",
        ),
    ]


@hookimpl
def hoso_web_pages(config: Config) -> list[WebPage]:
    """*In* (print a binder) and *Nộp hồ sơ* (send for inspection) on the teacher's page."""
    from .webinspection import PAGE as INSPECTION
    from .webprint import PAGE as PRINT

    return [PRINT, INSPECTION]


@hookimpl
def hoso_own_files(config: Config) -> list[str]:
    """The evidence copies of sent submissions sync, but are no records to check."""

    from .settings import DEFAULT_EVIDENCE_FOLDER, inspection_settings

    try:
        folder = inspection_settings(config).evidence_folder
    except ConfigError:  # reported by hoso_check_config; the default folder is still ours
        folder = DEFAULT_EVIDENCE_FOLDER
    return [literal_pattern(folder, folder=True)]


@hookimpl
def hoso_scheduled_jobs(config: Config) -> list[Job]:
    # A new school profile may move an inspection date: reminded at once.
    return [Job("inspection-reminder", JOB_EVERY, run_job, after_school_change=True)]


def run_job(context: JobContext) -> None:
    from .reminders import reminders

    today = date.fromtimestamp(context.now)
    for reminder in reminders(context.config, today):
        context.notify(
            Notification(
                key=f"inspection:{reminder.inspection.day.isoformat()}:{today.isoformat()}",
                title=_("Inspection on {day}").format(day=f"{reminder.inspection.day:%d/%m/%Y}"),
                body=reminder.text,
                page="/inspection/",
                urgent=reminder.days_left <= 1,
            )
        )


@hookimpl
def hoso_status_notes(config: Config) -> list[str]:
    from .reminders import reminders

    try:
        return [r.text for r in reminders(config, date.today())]
    except HosoError as exc:  # a config mistake is reported by hoso_check_config
        return [str(exc)]
