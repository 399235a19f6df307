"""``[print]``: how the binder converts records and what it does with failing ones.

Parsing only; a mistake raises ConfigError naming the key. Every key has a default: a
teacher with no ``[print]`` (and no mail settings at all) prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.api import Config, ConfigError, _

DEFAULT_TIMEOUT = 120.0  # seconds per document: a long lesson plan converts in a few


@dataclass(frozen=True)
class PrintSettings:
    # The LibreOffice program (a path or a name on PATH); "": `soffice`, else `libreoffice`.
    converter: str = ""
    timeout: float = DEFAULT_TIMEOUT  # per document
    include_failing: bool = False  # records failing a check: in the binder, marked


def print_settings(config: Config) -> PrintSettings:
    raw = config.table("print")

    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(
            _("Config file {path}, setting `{key}`: {problem}.").format(
                path=config.path, key=f"print.{key}", problem=problem
            )
        )

    for key in raw:
        if key not in {"converter", "timeout", "include_failing"}:
            raise bad(key, _("is not a known setting"))
    converter = raw.get("converter", "")
    if not isinstance(converter, str):
        raise bad("converter", _("must be text"))
    timeout = raw.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise bad("timeout", _("must be greater than 0"))
    include = raw.get("include_failing", False)
    if not isinstance(include, bool):
        raise bad("include_failing", _("must be true or false"))
    return PrintSettings(converter.strip(), float(timeout), include)
