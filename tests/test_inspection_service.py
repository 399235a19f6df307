"""The inspection service called directly, with literal times and values: what the commands
reached before only through `hoso inspect …` in a subprocess (the .eml files `build` writes,
the history of submissions and its JSON, the refusal when no file fits in a message, the mail
login read from the vault)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from inspection_factory import MANAGER, SCHOOL_MAILBOX, blob, make_config, raw_config

from agent import config as configmod
from agent.config import Config
from agent.errors import UsageError
from agent.vault import Vault
from plugins.inspection.ledger import Ledger, SentMessage, history
from plugins.inspection.model import FileTooLarge
from plugins.inspection.package import read_message
from plugins.inspection.selection import Period
from plugins.inspection.service import (
    build_offline,
    credentials_of,
    make_plan,
    refuse_if_nothing_fits,
    submission_json,
)
from plugins.inspection.settings import smtp_settings

TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, 14, 5, tzinfo=UTC)
LIMIT = 1_000_000  # the smallest limit the config allows
KHBD = "Kế hoạch bài dạy"


def test_build_offline_writes_one_eml_per_part_dated_now_and_never_overwrites(
    tmp_path: Path,
) -> None:
    records = tmp_path / "HoSo"
    for week in (10, 11):
        blob(records / KHBD / f"Tuần {week}" / f"Bài {week}.pdf", 600_000, seed=week)
    config = make_config(records, tmp_path / "state", smtp={"max_message_bytes": LIMIT})
    plan = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
    out = tmp_path / "out"

    written = build_offline(plan, out, now=NOW)

    assert [p.name for p in written] == [
        "Tuần 10–13 - Phần 1-2.eml",
        "Tuần 10–13 - Phần 2-2.eml",
    ]
    messages = [read_message(p.read_bytes()) for p in written]
    assert [m.date for m in messages] == ["Sun, 29 Nov 2026 14:05:00 +0000"] * 2
    assert [m.recipients for m in messages] == [(SCHOOL_MAILBOX, MANAGER)] * 2
    assert sorted(name for m in messages for name, _data in m.attachments) == [
        "Kế hoạch bài dạy - Tuần 10 - Bài 10.pdf",
        "Kế hoạch bài dạy - Tuần 11 - Bài 11.pdf",
    ]
    before = {p: p.read_bytes() for p in written}
    with pytest.raises(UsageError, match="already exists; nothing was written"):
        build_offline(plan, out, now=datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    assert {p: p.read_bytes() for p in sorted(out.iterdir())} == before


def test_no_file_that_fits_in_a_message_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    records = tmp_path / "HoSo"
    blob(records / KHBD / "Tuần 10" / "Bài 10.pdf", 900_000, seed=10)
    config = make_config(records, tmp_path / "state", smtp={"max_message_bytes": LIMIT})
    plan = make_plan(config, Period((10, 10), None, ("KHBD",)), today=TODAY)

    assert plan.parts == []
    assert [f.path for f in plan.not_attached] == [f"{KHBD}/Tuần 10/Bài 10.pdf"]
    with pytest.raises(
        FileTooLarge, match="No file of Tuần 10 fits in an email. Nothing was sent."
    ):
        refuse_if_nothing_fits(plan)


def _message(package: str, part: int, parts: int, *, created: float) -> SentMessage:
    return SentMessage(
        message_id=f"<{package}.{part}@hoso>",
        package=package,
        part=part,
        parts=parts,
        label="Tuần 10–13",
        date="Sun, 29 Nov 2026 14:05:00 +0000",
        subject=f"Hồ sơ Tuần 10–13 (phần {part}/{parts})",
        sender="lan.nt@truong.test",
        recipients=(SCHOOL_MAILBOX, MANAGER),
        accepted={SCHOOL_MAILBOX: "2026-11-29T14:05:01+00:00", MANAGER: "2026-11-29T14:05:01+00:00"}
        if part == 1
        else {SCHOOL_MAILBOX: "2026-11-29T14:05:02+00:00"},
        refused={} if part == 1 else {MANAGER: "452 mailbox full"},
        reply="250 OK",
        files=({"name": "Bài 10.pdf", "path": "KHBD/Bài 10.pdf", "size": 3, "sha256": "ab"},),
        eml="Minh chứng nộp hồ sơ/Tuần 10–13/a.eml" if part == 1 else "",
        outbox="",
        sent_copy=part == 1,
        created=created,
    )


def test_history_groups_the_ledger_by_submission_oldest_first_and_says_what_is_complete(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    with Ledger.opened(config) as ledger:
        ledger.put_sent_messages(
            [
                _message("p2", 1, 1, created=1_800_000_100.0),
                _message("p1", 1, 2, created=1_800_000_000.0),
                _message("p1", 2, 2, created=1_800_000_000.0),
            ]
        )

    submissions = history(config)

    assert [[m.message_id for m in s] for s in submissions] == [
        ["<p1.1@hoso>", "<p1.2@hoso>"],
        ["<p2.1@hoso>"],
    ]
    first = submission_json(submissions[0])
    assert {k: v for k, v in first.items() if k != "messages"} == {
        "package": "p1",
        "period": "Tuần 10–13",
        "date": "Sun, 29 Nov 2026 14:05:00 +0000",
        "from": "lan.nt@truong.test",
        "recipients": [SCHOOL_MAILBOX, MANAGER],
        "parts": 2,
        "complete": False,  # part 2 was refused by the manager's server
    }
    assert first["messages"][1] == {
        "message_id": "<p1.2@hoso>",
        "part": 2,
        "parts": 2,
        "date": "Sun, 29 Nov 2026 14:05:00 +0000",
        "subject": "Hồ sơ Tuần 10–13 (phần 2/2)",
        "recipients": [SCHOOL_MAILBOX, MANAGER],
        "accepted": {SCHOOL_MAILBOX: "2026-11-29T14:05:02+00:00"},
        "refused": {MANAGER: "452 mailbox full"},
        "reply": "250 OK",
        "eml": "",
        "sent_copy": False,
        "files": [{"name": "Bài 10.pdf", "path": "KHBD/Bài 10.pdf", "size": 3, "sha256": "ab"}],
    }
    assert submission_json(submissions[1])["complete"] is True


def _vault_config(tmp_path: Path) -> Config:
    """A config whose file exists (the vault lies beside it) with a vault made by hand."""
    path = tmp_path / "config" / "agent.toml"
    configmod.write_private(path, "")
    raw = raw_config(tmp_path / "HoSo", tmp_path / "state", smtp={"username": "lan"})
    return configmod.from_dict(raw, path)


def _passphrase(_question: str) -> str:
    return "một câu mật khẩu dài"


def test_the_mail_login_comes_from_the_vault_with_the_given_prompt(tmp_path: Path) -> None:
    config = _vault_config(tmp_path)
    smtp = smtp_settings(config)
    vault = Vault.open(config, create=True, prompt=_passphrase)

    with pytest.raises(UsageError, match="The vault holds no mail login"):
        credentials_of(config, smtp, prompt=_passphrase)

    vault.set("smtp", "app-password-xyz")
    login = credentials_of(config, smtp, prompt=_passphrase)
    assert (login.username, login.secret.reveal(), login.method) == (
        "lan",
        "app-password-xyz",
        "password",
    )

    vault.set("smtp", "ya29.token-of-lan", {"method": "xoauth2", "username": "lan.nt@truong.test"})
    login = credentials_of(config, smtp, prompt=_passphrase)
    assert (login.username, login.secret.reveal(), login.method) == (
        "lan.nt@truong.test",
        "ya29.token-of-lan",
        "xoauth2",
    )

    vault.set("smtp", "mật khẩu thư", {"method": "plain"})
    with pytest.raises(UsageError, match="has method=plain; use password or xoauth2"):
        credentials_of(config, smtp, prompt=_passphrase)
