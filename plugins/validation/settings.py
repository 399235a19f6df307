"""The validation plugin's settings (``[plugins.validation]``) and its record types.

Keys: ``types_file`` (a school's own record types, same shape as config/record-types.toml;
its types come before the shipped ones, so a school can redefine KHBD), ``disabled_rules``
(rule ids never reported), ``year_start`` (the Monday of week 1, "YYYY-MM-DD"; default: the
week of 5 September). A wrong value raises ConfigError naming the key.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from agent.config import Config
from agent.errors import ConfigError
from agent.i18n import _
from agent.records import RecordType, merge_types, record_type_from_dict

from .weeks import default_year_start

NAME = "validation"
SHIPPED_TYPES_NAME = "record-types.toml"


@dataclass(frozen=True)
class Settings:
    types_file: Path | None = None
    disabled_rules: frozenset[str] = frozenset()
    year_start: date | None = None

    def start_of_year(self, today: date) -> date:
        return self.year_start or default_year_start(today)


def settings_of(config: Config) -> Settings:
    raw: Mapping[str, Any] = config.plugins.settings(NAME)
    known = {"types_file", "disabled_rules", "year_start"}
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
    return Settings(
        types_file=Path(types_file).expanduser() if types_file else None,
        disabled_rules=frozenset(disabled),
        year_start=year_start,
    )


def shipped_types_file() -> Path:
    """config/record-types.toml of a source checkout, else the copy installed with hoso."""
    beside_source = Path(__file__).resolve().parents[2] / "config" / SHIPPED_TYPES_NAME
    if beside_source.is_file():
        return beside_source
    return Path(sys.prefix) / "share" / "hoso" / SHIPPED_TYPES_NAME


def load_types_file(path: Path) -> list[RecordType]:
    """The ``[[types]]`` of one file; ConfigError naming the file and the type on any
    problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            _("Cannot read the record types file {path}: {detail}").format(
                path=path, detail=exc.strerror
            )
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            _("The record types file {path} is not valid TOML: {detail}").format(
                path=path, detail=exc
            )
        ) from None
    tables = raw.get("types", [])
    if not isinstance(tables, list) or set(raw) - {"types"}:
        raise ConfigError(
            _("The record types file {path} must contain only [[types]] tables.").format(path=path)
        )
    types = []
    for index, table in enumerate(tables, start=1):
        try:
            if not isinstance(table, dict):
                raise ValueError("not a table")
            types.append(record_type_from_dict(table))
        except ValueError as exc:
            raise ConfigError(
                _("The record types file {path}, type number {n}: {detail}.").format(
                    path=path, n=index, detail=exc
                )
            ) from None
    return types


def record_types(config: Config) -> list[RecordType]:
    settings = settings_of(config)
    own = load_types_file(settings.types_file) if settings.types_file else []
    return merge_types(own, load_types_file(shipped_types_file()))


def _bad(config: Config, key: str, problem: str) -> ConfigError:
    return ConfigError(
        _("Config file {path}, setting `{key}`: {problem}.").format(
            path=config.path, key=f"plugins.{NAME}.{key}", problem=problem
        )
    )
