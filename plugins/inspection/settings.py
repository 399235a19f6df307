"""The inspection plugin's settings: ``[smtp]`` (how mail leaves this computer) and
``[inspection]`` (what a submission holds, where its evidence goes, when inspections fall).

Parsing only; every key is checked and a mistake raises ConfigError naming the key.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from agent.api import (
    Config,
    ConfigError,
    _,
    as_date,
    is_loopback,
    school_folder,
)

DEFAULT_MAX_MESSAGE_BYTES = 25_000_000  # Gmail's limit, encoding included (DOMAIN.md)
SMALLEST_MESSAGE_BYTES = 1_000_000
SECURITY_PORTS = {"starttls": 587, "tls": 465, "none": 25}
IMAP_SECURITY = {"tls": 993, "starttls": 143, "none": 143}
# Records a teacher keeps (Thông tư 28, Điều 21 khoản 2): what a submission holds by default.
DEFAULT_TYPES = ("KHBD", "SHCM", "SCN", "DOI", "TOCM")
DEFAULT_EVIDENCE_FOLDER = "Minh chứng nộp hồ sơ"
EVIDENCE_IN = ("records", "school")  # where the evidence folder is: [inspection] evidence_in


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    security: str = "starttls"  # "starttls" | "tls" | "none" (loopback only)
    username: str = ""  # default: the teacher's address
    ca_file: Path | None = None  # a school's own CA; default: the system's
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    timeout: float = 60.0  # seconds without an answer before a try counts as failed
    retries: int = 3  # further tries of one message after a temporary failure
    imap_host: str = ""  # where a copy goes to the Sent folder ("" = the provider keeps one)
    imap_port: int = 993
    imap_security: str = "tls"  # "tls" | "starttls" ("none" only to a loopback host)
    imap_folder: str = ""  # "": the folder the server marks \Sent, else "Sent"


@dataclass(frozen=True)
class Inspection:
    """One inspection on the school calendar and what it looks at."""

    day: date
    weeks: tuple[int, int] | None = None
    period: str | None = None  # "YYYY-MM"
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class InspectionSettings:
    types: tuple[str, ...] = DEFAULT_TYPES
    block_on_errors: bool = False  # validation errors stop `hoso inspect send`
    evidence_folder: str = DEFAULT_EVIDENCE_FOLDER  # in the records folder, so it syncs
    # "school": the evidence folder is in the school folder, one subfolder per teacher
    evidence_in: str = "records"
    remind_days: int = 7  # how many days before an inspection the reminder starts
    schedule: tuple[Inspection, ...] = ()


def _bad(config: Config, key: str, problem: str) -> ConfigError:
    return ConfigError(
        _("Config file {path}, setting `{key}`: {problem}.").format(
            path=config.path, key=key, problem=problem
        )
    )


def _only(config: Config, table: str, raw: Mapping[str, Any], known: set[str]) -> None:
    for key in raw:
        if key not in known:
            raise _bad(config, f"{table}.{key}", _("is not a known setting"))


def _str(config: Config, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(config, key, _("must be text"))
    return value.strip()


def _int(config: Config, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(
            config, key, _("must be a whole number from {low} to {high}").format(low=low, high=high)
        )
    return value


def _security(config: Config, key: str, value: Any, ports: Mapping[str, int], host: str) -> str:
    security = _str(config, key, value).lower()
    if security not in ports:
        raise _bad(config, key, _("must be one of {choices}").format(choices=", ".join(ports)))
    if security == "none" and host and not is_loopback(host):
        raise _bad(
            config, key, _('"none" sends the password in clear: allowed only to a loopback host')
        )
    return security


def smtp_settings(config: Config) -> SmtpSettings:
    raw = config.table("smtp")
    known = {
        "host", "port", "security", "username", "ca_file", "max_message_bytes", "timeout",
        "retries", "imap_host", "imap_port", "imap_security", "imap_folder",
    }  # fmt: skip
    _only(config, "smtp", raw, known)
    host = _str(config, "smtp.host", raw.get("host", ""))
    security = _security(
        config, "smtp.security", raw.get("security", "starttls"), SECURITY_PORTS, host
    )
    ca_file = raw.get("ca_file")
    if ca_file is not None:
        ca_path = Path(_str(config, "smtp.ca_file", ca_file)).expanduser()
        if not ca_path.is_file():
            raise _bad(config, "smtp.ca_file", _("names no file"))
    imap_host = _str(config, "smtp.imap_host", raw.get("imap_host", ""))
    imap_security = _security(
        config, "smtp.imap_security", raw.get("imap_security", "tls"), IMAP_SECURITY, imap_host
    )
    timeout = raw.get("timeout", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise _bad(config, "smtp.timeout", _("must be greater than 0"))
    return SmtpSettings(
        host=host,
        port=_int(config, "smtp.port", raw.get("port", SECURITY_PORTS[security]), 1, 65535),
        security=security,
        username=_str(config, "smtp.username", raw.get("username", ""))
        or config.roles.teacher.email,
        ca_file=ca_path if ca_file is not None else None,
        max_message_bytes=_int(
            config,
            "smtp.max_message_bytes",
            raw.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES),
            SMALLEST_MESSAGE_BYTES,
            1_000_000_000,
        ),
        timeout=float(timeout),
        retries=_int(config, "smtp.retries", raw.get("retries", 3), 0, 20),
        imap_host=imap_host,
        imap_port=_int(
            config,
            "smtp.imap_port",
            raw.get("imap_port", IMAP_SECURITY[imap_security]),
            1,
            65535,
        ),
        imap_security=imap_security,
        imap_folder=_str(config, "smtp.imap_folder", raw.get("imap_folder", "")),
    )


def parse_weeks(text: str) -> tuple[int, int] | None:
    """ "10-13" → (10, 13); "12" → (12, 12); None when not weeks 1..35 in order."""
    first, _dash, last = text.replace("–", "-").partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        return None
    return (low, high) if 1 <= low <= high <= 35 else None


def parse_period(text: str) -> str | None:
    """ "2026-11" → "2026-11"; None when not a month."""
    try:
        year, month = (int(part) for part in text.split("-"))
        date(year, month, 1)
    except ValueError:
        return None
    return f"{year:04d}-{month:02d}"


def inspection_settings(config: Config) -> InspectionSettings:
    raw = config.table("inspection")
    known = {
        "types", "block_on_errors", "evidence_folder", "evidence_in", "remind_days", "schedule",
    }  # fmt: skip
    _only(config, "inspection", raw, known)
    types = raw.get("types", list(DEFAULT_TYPES))
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise _bad(config, "inspection.types", _("must be a list of record type codes"))
    block = raw.get("block_on_errors", False)
    if not isinstance(block, bool):
        raise _bad(config, "inspection.block_on_errors", _("must be true or false"))
    folder = _str(config, "inspection.evidence_folder", raw.get("evidence_folder", ""))
    if folder and (folder.startswith((".", "/")) or ".." in Path(folder).parts or "\\" in folder):
        raise _bad(
            config,
            "inspection.evidence_folder",
            _("must be a folder name inside the records folder"),
        )
    evidence_in = _str(config, "inspection.evidence_in", raw.get("evidence_in", "records"))
    if evidence_in not in EVIDENCE_IN:
        raise _bad(
            config,
            "inspection.evidence_in",
            _("must be one of {choices}").format(choices=", ".join(EVIDENCE_IN)),
        )
    if evidence_in == "school" and school_folder(config) is None:
        raise _bad(
            config,
            "inspection.evidence_in",
            _('"school" needs a school folder ([school] folder_url): set it, or use "records"'),
        )
    schedule = raw.get("schedule", [])
    if not isinstance(schedule, list):
        raise _bad(
            config, "inspection.schedule", _("must be a list of tables ([[inspection.schedule]])")
        )
    return InspectionSettings(
        types=tuple(t.upper() for t in types),
        block_on_errors=block,
        evidence_folder=unicodedata.normalize("NFC", folder or DEFAULT_EVIDENCE_FOLDER),
        evidence_in=evidence_in,
        remind_days=_int(config, "inspection.remind_days", raw.get("remind_days", 7), 0, 60),
        schedule=tuple(
            _inspection(config, f"inspection.schedule[{i}]", item)
            for i, item in enumerate(schedule)
        ),
    )


def _inspection(config: Config, key: str, raw: Any) -> Inspection:
    if not isinstance(raw, dict):
        raise _bad(config, key, _("must be a table"))
    _only(config, key, raw, {"date", "weeks", "period", "types"})
    day = as_date(raw.get("date"))
    if day is None:
        raise _bad(config, f"{key}.date", _("must be a date like 2026-11-30"))
    weeks = period = None
    if "weeks" in raw:
        weeks = parse_weeks(_str(config, f"{key}.weeks", raw["weeks"]))
        if weeks is None:
            raise _bad(config, f"{key}.weeks", _('must be school weeks like "10-13" (1 to 35)'))
    if "period" in raw:
        period = parse_period(_str(config, f"{key}.period", raw["period"]))
        if period is None:
            raise _bad(config, f"{key}.period", _('must be a month like "2026-11"'))
    if (weeks is None) == (period is None):
        raise _bad(config, key, _("must give either weeks or period"))
    types = raw.get("types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise _bad(config, f"{key}.types", _("must be a list of record type codes"))
    return Inspection(day=day, weeks=weeks, period=period, types=tuple(t.upper() for t in types))
