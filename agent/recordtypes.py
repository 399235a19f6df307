"""The catalogue of record types: the one shipped with hoso and a school's own files.

config/record-types.toml (installed as share/hoso/record-types.toml) is hoso's own, not a
plugin's: the agent classifies records by it even with no plugin contributing types, and a
plugin (validation) puts a school's ``types_file`` before it. A file holds only ``[[types]]``
tables (:func:`agent.records.record_type_from_dict`); any problem is a ConfigError naming the
file and the type. The school profile (``hoso-truong.toml``) holds record types too, beside
its other tables: read as a types file, its ``[[types]]`` are taken and the rest left to the
profile's own checks.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

from .config import shipped_file
from .errors import ConfigError
from .i18n import _
from .profilestore import PROFILE_NAME
from .records import RecordType, merge_types, record_type_from_dict

SHIPPED_TYPES_NAME = "record-types.toml"


def shipped_types_file() -> Path:
    """config/record-types.toml of a source checkout, else the copy installed with hoso."""
    # The expected place is named even when missing, so the error says where it should be.
    expected = Path(sys.prefix) / "share" / "hoso" / SHIPPED_TYPES_NAME
    return shipped_file(SHIPPED_TYPES_NAME) or expected


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
    if set(raw) - {"types"} and path.name != PROFILE_NAME:
        raise ConfigError(
            _("The record types file {path} must contain only [[types]] tables.").format(path=path)
        )
    return parse_types(raw.get("types", []), path)


def parse_types(tables: Any, path: Path) -> list[RecordType]:
    """The record types of a file's ``[[types]]`` tables; ConfigError naming ``path`` and the
    type on any problem."""
    if not isinstance(tables, list):
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


def with_shipped(types: list[RecordType]) -> list[RecordType]:
    """``types`` (the plugins', first: a school's KHBD replaces hoso's), then the shipped ones
    they do not redefine."""
    return merge_types(types, load_types_file(shipped_types_file()))
