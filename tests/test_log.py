"""Logging: secrets never reach the log file or stderr; files are private; journald format."""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from agent.log import (
    LOG_FILE_BYTES,
    get_logger,
    redact,
    register_secret,
    reset_logging,
    setup_logging,
)

PASSWORD = "Mật khẩu#9 s3cret&x"  # spaces, Vietnamese letters and URL-special characters


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()


def _log_text(state: Path) -> str:
    return (state / "logs" / "hoso.log").read_text(encoding="utf-8")


def test_registered_secret_never_reaches_file_or_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register_secret(PASSWORD)
    setup_logging(tmp_path, verbose=False, to_stderr=True)
    log = get_logger("agent.remote")
    log.info("login with %s failed", PASSWORD)  # in an argument
    log.warning(f"retrying with {PASSWORD} now")  # inside the message itself
    log.info("url %s", "https://lan:" + quote(PASSWORD, safe="") + "@truong.example/dav")
    try:
        raise ConnectionError(f"server said no to {PASSWORD!r}")
    except ConnectionError:
        log.exception("upload of %s failed", "Tuần 1/KHBD.docx")
    log.error("bad arguments %s %s", PASSWORD)  # logging's own error path must not leak either

    logged = _log_text(tmp_path)
    shown = capsys.readouterr().err
    for text in (logged, shown):
        assert "Mật khẩu" not in text
        assert "s3cret" not in text
        assert "login with *** failed" in text
        assert "retrying with *** now" in text
        assert "ConnectionError: server said no to '***'" in text
        assert "upload of Tuần 1/KHBD.docx failed" in text
        assert "Traceback" in text
    assert "hoso.remote" in logged


def test_url_quoted_form_of_a_secret_is_redacted() -> None:
    register_secret("p@ss word")
    assert redact("https://u:p%40ss%20word@host/") == "https://u:***@host/"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Authorization: Basic bGFuOmFiYw==", "Authorization: Basic ***"),
        (
            "{'Authorization': 'Bearer eyJhbGciOi.x.y', 'Depth': '1'}",
            "{'Authorization': 'Bearer ***', 'Depth': '1'}",
        ),
        ('Authorization: Digest username="lan", response="6629fae4"', "Authorization: Digest ***"),
        ("'authorization': 'Digest username=\"lan\"'", "'authorization': 'Digest ***'"),
        ("connect password=hunter2 user=lan", "connect password=*** user=lan"),
        ('{"password": "hunter2", "user": "lan"}', '{"password": "***", "user": "lan"}'),
        ("smtp app_password: abcd-efgh-ijkl", "smtp app_password: ***"),
        ("HOSO_BACKUP_PASSPHRASE=đúng rồi", "HOSO_BACKUP_PASSPHRASE=*** rồi"),
        ("password_file=/home/lan/.config/hoso/agent.secret", None),  # a path, not a secret
    ],
)
def test_headers_and_password_pairs_are_masked(raw: str, expected: str | None) -> None:
    assert redact(raw) == (raw if expected is None else expected)


def test_log_files_are_private_and_rotate(tmp_path: Path) -> None:
    setup_logging(tmp_path, verbose=False, to_stderr=False)
    log = get_logger("agent.sync")
    chunk = "x" * (LOG_FILE_BYTES // 2 + 1)
    for _ in range(3):  # three half-megabyte records force at least one rollover
        log.info(chunk)
    folder = tmp_path / "logs"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = sorted(folder.iterdir())
    assert [f.name for f in files][:2] == ["hoso.log", "hoso.log.1"]
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


def test_verbose_controls_debug_and_setup_does_not_stack(tmp_path: Path) -> None:
    setup_logging(tmp_path, verbose=False, to_stderr=False)
    get_logger("agent.sync").debug("hidden detail")
    setup_logging(tmp_path, verbose=True, to_stderr=False)
    get_logger("agent.sync").debug("shown detail")
    text = _log_text(tmp_path)
    assert "hidden detail" not in text
    assert text.count("shown detail") == 1


def test_records_do_not_reach_unredacted_root_handlers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup_logging(tmp_path, verbose=False, to_stderr=False)
    with caplog.at_level(logging.INFO):
        get_logger("agent.sync").warning("only in our own handlers")
    assert caplog.records == []
    assert "only in our own handlers" in _log_text(tmp_path)


def test_journald_stream_gets_priorities_and_no_timestamps(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    st = os.fstat(sys.stderr.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    setup_logging(tmp_path, verbose=False, to_stderr=True)
    get_logger("agent.daemon").warning("share unreachable")
    get_logger("agent.daemon").info("pass done")
    lines = capfd.readouterr().err.splitlines()
    assert lines == [
        "<4>WARNING hoso.daemon: share unreachable",
        "<6>INFO hoso.daemon: pass done",
    ]


def test_terminal_lines_carry_a_time_when_not_journald(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stale JOURNAL_STREAM (inherited, stderr since redirected) must not switch formats.
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    setup_logging(tmp_path, verbose=False, to_stderr=True)
    get_logger("agent.cli").warning("check the records folder")
    err = capfd.readouterr().err
    assert re.fullmatch(r"\d\d:\d\d:\d\d WARNING check the records folder\n", err)
