"""Validation: tells a teacher, in their language, that a record breaks the school's rules.

A built-in hoso plugin. It contributes the record types of config/record-types.toml (and the
school's own), checks each changed record (file names for all; lesson-plan structure, legacy
font encodings for the types that ask, read in a worker process with limits), and adds the
commands ``hoso template``, ``hoso report`` and ``hoso convert``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from agent.api import (
    Config,
    ConfigError,
    Finding,
    Record,
    RecordType,
    TooComplex,
    Unreadable,
    document_sandbox,
)
from agent.hooks import LazyCommand, hookimpl

from .settings import record_types, settings_of


@hookimpl
def hoso_check_config(config: Config) -> list[str]:
    try:
        settings_of(config)
        record_types(config)
    except ConfigError as exc:
        return [str(exc)]
    return []


@hookimpl
def hoso_record_types(config: Config) -> list[RecordType]:
    return record_types(config)


@hookimpl
def hoso_validate_record(config: Config, record: Record, today: date) -> list[Finding]:
    from .checks import check_record  # the checks load only when needed
    from .remembered import of_state_dir, remembering

    settings = settings_of(config)
    # Read and checked in a worker process, stopped well within the plugin timeout; a file
    # that hit a limit is not read again until it changes.
    limits = settings.limits(config.plugins.timeout)
    analyse = remembering(document_sandbox(limits).analyse, of_state_dir(config.state_dir), limits)
    return check_record(
        record.file,
        record.path,
        record.record_type,
        size=record.size,
        today=today,
        year_start=settings.start_of_year(today),
        disabled=settings.disabled_rules,
        limits=limits,
        analyse=analyse,
    )


@hookimpl
def hoso_prepare_checks(config: Config) -> None:
    """A `hoso sync` pass has started: its first check should not wait for the checks'
    modules to load or for a reader process to start."""
    from . import checks  # loaded now, while the pass lists the share

    sandbox = document_sandbox(settings_of(config).limits(config.plugins.timeout))
    sandbox.prestart(preload=checks.__name__)  # the worker loads the checks too


@hookimpl
def hoso_school_year_start(config: Config, today: date) -> date | None:
    return settings_of(config).year_start


@hookimpl
def hoso_record_date(config: Config, record: Record, year_start: date) -> date | None:
    """The teaching day a lesson plan names (read in a worker process with this plugin's
    limits); None for a file that holds no lesson, cannot be read or hit a limit, and for a
    format the checks never read (slides, plain text: dated by their save time)."""
    from .checks import CONTENT_FORMATS
    from .lessonplan import lesson_date

    if record.file.suffix.lower() not in CONTENT_FORMATS:
        return None
    limits = settings_of(config).limits(config.plugins.timeout)
    try:
        return lesson_date(document_sandbox(limits).read(record.file), record.path, year_start)
    # IndexError: a document with no lesson in it; TooComplex: it hit a limit (its own finding)
    except (Unreadable, TooComplex, OSError, IndexError):
        return None


@hookimpl
def hoso_commands() -> list[LazyCommand]:
    """Named here, imported only when run (`hoso --help` lists them from this)."""
    return [
        LazyCommand(
            "template",
            "Write a blank record of the type KIND (a record type code: khbd, a lesson plan; "
            "shcm…): the school's own template from the school folder's “Biểu mẫu” when it has "
            "one, else hoso's official one (khbd only).",
            "plugins.validation.commands:template",
        ),
        LazyCommand(
            "report",
            "Per-teacher, per-week table of lesson plans present, missing and failing checks.",
            "plugins.validation.commands:report",
        ),
        LazyCommand(
            "convert",
            "Make a Unicode copy of a .docx typed in TCVN3 (.VnTime) or VNI fonts.",
            "plugins.validation.commands:convert",
        ),
    ]


@hookimpl
def hoso_web_pages(config: Config) -> list[Any]:
    from .web import page

    return [page()]
