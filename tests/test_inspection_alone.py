"""The inspection plugin needs no other plugin: with validation switched off, or not there
at all, a plan still selects the period's records (by folder, else by last save) and a send
still delivers them."""

from __future__ import annotations

import os
import sys
from datetime import date, datetime
from pathlib import Path

import pytest
from inspection_factory import MANAGER, SCHOOL_MAILBOX, blob, lesson, make_config
from mailservers import MAIL_USER, SmtpServer
from servers import PASSWORD
from test_hooks import install_plugin

from agent.api import Config, HosoError, Secret
from agent.hooks import BUILTIN_PLUGINS
from plugins.inspection.ledger import Ledger
from plugins.inspection.mail import Credentials
from plugins.inspection.model import SelectedBy
from plugins.inspection.package import read_message
from plugins.inspection.selection import Period
from plugins.inspection.send import submit
from plugins.inspection.service import make_plan
from plugins.inspection.settings import smtp_settings

TODAY = date(2026, 11, 29)
KHBD = "Kế hoạch bài dạy"
WITHOUT_VALIDATION = {"validation": {"enabled": False}, "desktop": {"enabled": False}}


@pytest.fixture()
def records(tmp_path: Path) -> Path:
    root = tmp_path / "HoSo"
    lesson(root / KHBD / "Tuần 10" / "Toán" / "Bài 56.docx")
    lesson(root / KHBD / "Tuần 14" / "Toán" / "Bài 60.docx")
    # Its lesson date (11/11, week 10) needs the validation plugin's reader; without it the
    # day it was saved (12/11, week 10 too) places it.
    lesson(root / KHBD / "Khác" / "Bài dạy thêm.docx", taught="ngày 11/11/2026")
    saved = datetime(2026, 11, 12, 9).timestamp()
    os.utime(root / KHBD / "Khác" / "Bài dạy thêm.docx", (saved, saved))
    blob(root / KHBD / "Tuần 11" / "Phiếu.pdf", 2000)
    return root


def _plan_paths(config: Config) -> dict[str, SelectedBy]:
    plan = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
    return {f.path: f.selected_by for f in plan.selection.files}


def test_a_plan_selects_by_folder_and_save_time_with_validation_switched_off(
    records: Path, tmp_path: Path
) -> None:
    config = make_config(records, tmp_path / "state", plugins=WITHOUT_VALIDATION)
    assert _plan_paths(config) == {
        f"{KHBD}/Khác/Bài dạy thêm.docx": SelectedBy.MODIFIED_TIME,
        f"{KHBD}/Tuần 10/Toán/Bài 56.docx": SelectedBy.FOLDER,
        f"{KHBD}/Tuần 11/Phiếu.pdf": SelectedBy.FOLDER,
    }
    # with validation on, the same records, the lesson plan placed by its own date
    config = make_config(records, tmp_path / "state2", plugins={"desktop": {"enabled": False}})
    assert _plan_paths(config)[f"{KHBD}/Khác/Bài dạy thêm.docx"] is SelectedBy.LESSON_DATE


def test_a_plan_works_when_the_validation_plugin_cannot_even_be_imported(
    records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m.startswith("plugins.validation")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plugins.validation", None)  # import raises ImportError
    with pytest.raises(ImportError):
        import plugins.validation  # noqa: F401
    config = make_config(records, tmp_path / "state", plugins={"desktop": {"enabled": False}})
    assert "plugins.validation" in BUILTIN_PLUGINS  # still listed: loading it fails, reported
    assert _plan_paths(config)[f"{KHBD}/Khác/Bài dạy thêm.docx"] is SelectedBy.MODIFIED_TIME
    assert len(_plan_paths(config)) == 3


def test_a_send_delivers_with_validation_switched_off(records: Path, tmp_path: Path) -> None:
    with SmtpServer() as server:
        smtp = {"host": server.host, "port": server.port, "security": "none"}
        config = make_config(
            records,
            tmp_path / "state",
            plugins=WITHOUT_VALIDATION,
            smtp={**smtp, "username": MAIL_USER, "timeout": 2, "retries": 1},
        )
        plan = make_plan(config, Period((10, 13), None, ("KHBD",)), today=TODAY)
        with Ledger.opened(config) as ledger:
            submission = submit(
                selection=plan.selection,
                envelope=plan.envelope,
                smtp=smtp_settings(config),
                credentials=lambda: Credentials(MAIL_USER, Secret(PASSWORD)),
                ledger=ledger,
                root=config.root,
                state_dir=config.state_dir,
                evidence_folder="Minh chứng nộp hồ sơ",
                resend=False,
            )
        received = server.wait_for(len(submission.messages))
    assert submission.complete and not submission.problems
    assert all(m.rcpt_tos == (SCHOOL_MAILBOX, MANAGER) for m in received)
    attached = {name for m in received for name, _data in read_message(m.content).attachments}
    assert len(attached) == 3
    with Ledger.opened(config) as ledger:
        assert [m.complete for m in ledger.sent_messages()] == [True] * len(received)
    assert (tmp_path / "state" / "plugins" / "inspection.sqlite3").is_file()


def test_a_plugin_that_fails_to_date_a_record_stops_the_plan_rather_than_guess(
    records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    install_plugin(
        site,
        "hoso_dater",
        """
        from agent.hooks import hookimpl

        @hookimpl
        def hoso_record_date(record):
            raise RuntimeError("the reader could not start")
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    config = make_config(records, tmp_path / "state", plugins=WITHOUT_VALIDATION)
    with pytest.raises(HosoError, match="Bài dạy thêm.docx could not be read"):
        _plan_paths(config)
    assert not (tmp_path / "state" / "plugins" / "inspection.sqlite3").exists()  # nothing sent
