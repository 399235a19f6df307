"""[smtp] and [inspection]: every mistake is one message naming the key."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from inspection_factory import make_config

from agent.errors import ConfigError
from plugins.inspection import hoso_check_config
from plugins.inspection.settings import (
    DEFAULT_MAX_MESSAGE_BYTES,
    inspection_settings,
    smtp_settings,
)


def test_defaults(tmp_path: Path) -> None:
    config = make_config(tmp_path, tmp_path / "state", smtp={"host": "smtp.gmail.com"})
    smtp = smtp_settings(config)
    assert (smtp.port, smtp.security, smtp.max_message_bytes) == (
        587,
        "starttls",
        DEFAULT_MAX_MESSAGE_BYTES,
    )
    assert smtp.username == "lan.nt@truong.test"  # the teacher's address
    assert (
        smtp_settings(make_config(tmp_path, tmp_path / "s", smtp={"security": "tls"})).port == 465
    )
    inspection = inspection_settings(config)
    assert inspection.types == ("KHBD", "SHCM", "SCN", "DOI", "TOCM")
    assert not inspection.block_on_errors and inspection.schedule == ()


def test_a_schedule(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        tmp_path / "state",
        inspection={
            "schedule": [
                {"date": date(2026, 11, 30), "weeks": "10-13", "types": ["khbd"]},
                {"date": "2027-01-15", "period": "2026-12"},
            ]
        },
    )
    first, second = inspection_settings(config).schedule
    assert (first.day, first.weeks, first.types) == (date(2026, 11, 30), (10, 13), ("KHBD",))
    assert (second.day, second.period) == (date(2027, 1, 15), "2026-12")


@pytest.mark.parametrize(
    ("table", "raw", "key"),
    [
        ("smtp", {"security": "ssl"}, "smtp.security"),
        ("smtp", {"host": "smtp.gmail.com", "security": "none"}, "smtp.security"),
        ("smtp", {"port": 0}, "smtp.port"),
        ("smtp", {"max_message_bytes": 1000}, "smtp.max_message_bytes"),
        ("smtp", {"ca_file": "/nonexistent/ca.pem"}, "smtp.ca_file"),
        ("smtp", {"timeout": -1}, "smtp.timeout"),
        ("smtp", {"passwrd": "x"}, "smtp.passwrd"),
        ("smtp", {"imap_host": "imap.example.vn", "imap_security": "none"}, "smtp.imap_security"),
        ("inspection", {"types": "KHBD"}, "inspection.types"),
        ("inspection", {"block_on_errors": "yes"}, "inspection.block_on_errors"),
        ("inspection", {"evidence_folder": "../ngoài"}, "inspection.evidence_folder"),
        ("inspection", {"schedule": [{"date": "mai"}]}, "inspection.schedule[0].date"),
        ("inspection", {"schedule": [{"date": "2026-11-30"}]}, "inspection.schedule[0]"),
        (
            "inspection",
            {"schedule": [{"date": "2026-11-30", "weeks": "13-10"}]},
            "inspection.schedule[0].weeks",
        ),
    ],
)
def test_each_mistake_names_its_key(
    tmp_path: Path, table: str, raw: dict[str, Any], key: str
) -> None:
    config = make_config(tmp_path, tmp_path / "state", **{table: raw})
    with pytest.raises(ConfigError) as caught:
        smtp_settings(config)
        inspection_settings(config)
    assert f"`{key}`" in str(caught.value)
    assert hoso_check_config(config) == [str(caught.value)]
