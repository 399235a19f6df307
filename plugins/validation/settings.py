"""The validation plugin's settings (``[plugins.validation]``) and its record types.

Keys: ``types_file`` (a school's own record types, same shape as config/record-types.toml;
its types come before the shipped ones, so a school can redefine KHBD), ``disabled_rules``
(rule ids never reported), ``year_start`` (the Monday of week 1, "YYYY-MM-DD"; default: the
week of 5 September), ``document_memory_mb`` and ``document_seconds`` (what reading one
document may cost: :mod:`agent.documents.sandbox`), ``teacher_depth`` (on a manager's
computer, the folder level of the records folder that names the teacher: 2 for
"Tổ 1/Nguyễn Văn A/…"; the managers' page). A wrong value raises ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from agent.api import (
    MIB,
    Config,
    ConfigError,
    Limits,
    RecordType,
    _,
    default_year_start,
    load_types_file,
    with_shipped,
)

NAME = "validation"


MAX_TEACHER_DEPTH = 5  # as `hoso report --teacher-depth`
MIN_MEMORY_MB = 128  # a worker with the readers loaded takes about 40 MB


@dataclass(frozen=True)
class Settings:
    types_file: Path | None = None
    disabled_rules: frozenset[str] = frozenset()
    year_start: date | None = None
    document_memory_mb: int = 512
    document_seconds: int = 20
    teacher_depth: int = 1

    def start_of_year(self, today: date) -> date:
        return self.year_start or default_year_start(today)

    def limits(self, hook_timeout: float | None = None) -> Limits:
        """What reading one document may cost: ``document_seconds`` of processor time, and
        half as long again on the clock, but at most four fifths of the plugin timeout
        (``[plugins] timeout``), so that a slow document never times the plugin out."""
        wall = self.document_seconds * 1.5
        if hook_timeout is not None:
            wall = min(wall, hook_timeout * 0.8)
        return Limits(self.document_memory_mb * MIB, self.document_seconds, wall)


def settings_of(config: Config) -> Settings:
    raw: Mapping[str, Any] = config.plugins.settings(NAME)
    known = {
        "types_file",
        "disabled_rules",
        "year_start",
        "document_memory_mb",
        "document_seconds",
        "teacher_depth",
    }
    for key in raw:
        if key not in known:
            raise _bad(config, key, _("is not a known setting"))
    types_file = raw.get("types_file")
    if types_file is not None and not isinstance(types_file, str):
        raise _bad(config, "types_file", _("must be text"))
    disabled = raw.get("disabled_rules", [])
    if not isinstance(disabled, list) or not all(isinstance(r, str) for r in disabled):
        raise _bad(config, "disabled_rules", _("must be a list of strings"))
    year_start = raw.get("year_start")
    if year_start is not None:
        try:
            year_start = date.fromisoformat(str(year_start))
        except ValueError:
            raise _bad(config, "year_start", _("must be a date like 2026-09-07")) from None
    memory = _whole_number(config, raw, "document_memory_mb", Settings.document_memory_mb)
    if memory < MIN_MEMORY_MB:
        raise _bad(config, "document_memory_mb", _("must be at least {n}").format(n=MIN_MEMORY_MB))
    seconds = _whole_number(config, raw, "document_seconds", Settings.document_seconds)
    if seconds < 1:
        raise _bad(config, "document_seconds", _("must be at least {n}").format(n=1))
    depth = _whole_number(config, raw, "teacher_depth", Settings.teacher_depth)
    if not 1 <= depth <= MAX_TEACHER_DEPTH:
        raise _bad(
            config,
            "teacher_depth",
            _("must be from {low} to {high}").format(low=1, high=MAX_TEACHER_DEPTH),
        )
    return Settings(
        types_file=Path(types_file).expanduser() if types_file else None,
        disabled_rules=frozenset(disabled),
        year_start=year_start,
        document_memory_mb=memory,
        document_seconds=seconds,
        teacher_depth=depth,
    )


def _whole_number(config: Config, raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(config, key, _("must be a whole number"))
    return value


def record_types(config: Config) -> list[RecordType]:
    settings = settings_of(config)
    return with_shipped(load_types_file(settings.types_file) if settings.types_file else [])


def _bad(config: Config, key: str, problem: str) -> ConfigError:
    return ConfigError(
        _("Config file {path}, setting `{key}`: {problem}.").format(
            path=config.path, key=f"plugins.{NAME}.{key}", problem=problem
        )
    )
