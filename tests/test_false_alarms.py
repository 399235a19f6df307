"""False alarms of validation (issue 17, item 6): hoso's own files are no records, and a
finding never outlives its file.

Real documents (python-docx), the real `hoso` command line and, where files travel, a real
WebDAV share.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from agents import Agent, hoso_command, hoso_env, remote_delete, remote_tree
from conftest import Share
from docs_factory import lesson_plan, make_docx
from servers import wait_until

from agent.cli import cli
from agent.daemon import _ValidationWorker
from agent.errors import ExitCode
from agent.hooks import Notification
from agent.model import Report
from plugins.handover.bundle import SUFFIX
from plugins.handover.ledger import FOLDER, STEM
from plugins.inspection.settings import DEFAULT_EVIDENCE_FOLDER
from agent.documents import sandbox

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
NO_REFLECTION = lesson_plan()[:-2]  # a lesson plan without its "IV." section: an error


def offline_agent(tmp_path: Path) -> Agent:
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    return Agent(tmp_path, share)  # type: ignore[arg-type]


def findings(agent: Agent, *args: str) -> dict[str, set[str]]:
    done = agent.cli("check", "--json", *args)
    assert done.returncode in (0, 1), done.stderr
    found: dict[str, set[str]] = {}
    for finding in json.loads(done.stdout)["findings"]:
        found.setdefault(finding["path"], set()).add(finding["rule"])
    return found


def status_paths(agent: Agent) -> set[str]:
    """The paths `hoso status` lists findings for: it reads the store, checks nothing."""
    done = agent.cli("status", "--json")
    assert done.returncode == 0, done.stderr
    return {f["path"] for f in json.loads(done.stdout)["findings"]}


def test_hosos_own_files_in_the_records_folder_are_never_flagged(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    own = [
        f"{FOLDER}/{STEM}-3f9a0c1d2e4b5a6c.jsonl",  # the handover log, one file per key
        f"{FOLDER}/{STEM}.jsonl",  # the single log of older versions
        f"{FOLDER}/{STEM}-3f9a0c1d2e4b5a6c (bản xung đột, máy GV-LAN, 2026-11-29 09h30).jsonl",
        f"{FOLDER}/ban-giao-0123456789abcdef{SUFFIX}",  # a bundle saved beside the log
        f"ban-giao-fedcba9876543210{SUFFIX}",  # or anywhere else
        ".hoso-root",  # the records folder's marker
        f"{DEFAULT_EVIDENCE_FOLDER}/Tuần 1-4/2026-10-02 Phần 1-2.eml",  # sent-mail evidence
    ]
    for path in own:
        agent.write(path, b'{"v": 1}\n')
    # The minutes are a record like any other, in a format allowed for them: no finding.
    make_docx(agent.root / FOLDER / "bien-ban-ban-giao-01234567.docx", ["BIÊN BẢN BÀN GIAO"])
    stray = f"{FOLDER}/ghi chú.txt"  # a teacher's own file there is still checked
    agent.write(stray, b"notes")

    assert findings(agent) == {stray: {"file.format-not-allowed"}}
    for path in own:  # named one by one too
        assert findings(agent, str(agent.root / path)) == {}
    assert status_paths(agent) == {stray}


@WSGIDAV_ONLY
def test_a_finding_goes_with_its_file_without_a_recheck(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    plans = {
        "deleted here": "Tuần 3/Toán - Bài 12.docx",
        "deleted on the share": "Tuần 3/Toán - Bài 13.docx",
        "in a moved folder": "Tuần 5/Toán - Bài 20.docx",
        "renamed": "Tuần 3/Toán - Bài 14.docx",
    }
    for path in plans.values():
        target = agent.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        make_docx(target, NO_REFLECTION)
    done = agent.cli("sync")
    assert done.returncode == 0, done.stderr
    assert status_paths(agent) == set(plans.values())

    agent.delete(plans["deleted here"])
    remote_delete(share, plans["deleted on the share"])
    agent.rename("Tuần 5", "Tuần 6")
    agent.rename(plans["renamed"], "Tuần 3/Toán - Bài 14 (sửa).docx")
    done = agent.cli("sync")
    assert done.returncode == 0, done.stderr
    assert not (agent.root / plans["deleted on the share"]).exists()
    # What was moved or renamed is checked under its new name; nothing under the old ones.
    assert status_paths(agent) == {"Tuần 6/Toán - Bài 20.docx", "Tuần 3/Toán - Bài 14 (sửa).docx"}


@WSGIDAV_ONLY
def test_a_file_deleted_before_it_was_ever_synced_takes_its_findings(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    (agent.root / "Tuần 3").mkdir()
    make_docx(agent.root / "Tuần 3" / "Toán - Bài 12.docx", NO_REFLECTION)
    assert set(findings(agent)) == {"Tuần 3/Toán - Bài 12.docx"}
    agent.delete("Tuần 3")
    done = agent.cli("sync")  # a pass with nothing to do
    assert done.returncode == 0, done.stderr
    assert status_paths(agent) == set()


@WSGIDAV_ONLY
def test_the_running_agent_drops_the_findings_of_a_file_that_never_synced(
    tmp_path: Path, share: Share
) -> None:
    # Held back by [plugins] block_sync, the plan never reaches the share; when the teacher
    # deletes it, no pass has anything to report, and its findings must still go.
    agent = Agent(tmp_path, share, plugins={"block_sync": ["khbd.reflection-missing"]})
    proc = agent.popen("run", env={"DBUS_SESSION_BUS_ADDRESS": ""})
    try:
        wait_until(lambda: (agent.state_dir / "logs" / "hoso.log").exists(), 30, "the agent")
        (agent.root / "Tuần 3").mkdir()
        make_docx(agent.root / "Tuần 3" / "Toán - Bài 12.docx", NO_REFLECTION)
        wait_until(lambda: status_paths(agent) == {"Tuần 3/Toán - Bài 12.docx"}, 60, "the finding")
        assert remote_tree(share) == {}
        agent.delete("Tuần 3/Toán - Bài 12.docx")
        wait_until(lambda: status_paths(agent) == set(), 60, "the finding to go")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0


@WSGIDAV_ONLY
def test_an_unplugged_records_folder_keeps_its_findings(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    (agent.root / "Tuần 3").mkdir()
    make_docx(agent.root / "Tuần 3" / "Toán - Bài 12.docx", NO_REFLECTION)
    assert agent.cli("sync").returncode == 0
    assert agent.root is not None
    unplugged = agent.root.rename(agent.root.with_name("HoSo-unplugged"))
    with agent.syncer(plugins=True) as syncer:
        assert syncer.validator is not None
        syncer.validator.check_changes(Report())  # what the agent does after any pass
    unplugged.rename(agent.root)
    assert status_paths(agent) == {"Tuần 3/Toán - Bài 12.docx"}


NOBODY = 65534  # the tests run as root, whom no folder mode stops


def _as_nobody(agent: Agent, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         *hoso_command("--config", str(agent.config_path), *args)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env=hoso_env({"HOME": str(agent.home)}), cwd=agent.home,
    )  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root")
@WSGIDAV_ONLY
def test_a_finding_in_a_folder_that_became_unreadable_is_kept_and_crashes_nothing(
    share: Share,
) -> None:
    """Whether a finding's file is gone is asked of the disk; a folder hoso may not look into
    (copied from a USB stick with odd modes) answers "permission denied", which is no "gone":
    the finding stays, and `hoso sync` goes on instead of stopping with an unexpected error."""
    base = Path(tempfile.mkdtemp(prefix="hoso-unreadable-", dir="/tmp"))  # nobody can reach it
    try:
        os.chmod(base, 0o755)
        agent = Agent(base, share)
        assert agent.root is not None
        plan = agent.write("Kế hoạch bài dạy/Tuần 3/Bài 7.txt", b"ghi chu")  # a format not allowed
        for top, dirs, files in os.walk(base):
            for name in [top, *(os.path.join(top, n) for n in dirs + files)]:
                os.chown(name, NOBODY, NOBODY)
        assert _as_nobody(agent, "sync").returncode == 0
        checked = _as_nobody(agent, "check", "--json")
        found = {(f["path"], f["rule"]) for f in json.loads(checked.stdout)["findings"]}
        assert ("Kế hoạch bài dạy/Tuần 3/Bài 7.txt", "file.format-not-allowed") in found
        os.chmod(plan.parent, 0)

        again = _as_nobody(agent, "sync")

        assert again.returncode in (0, 1), again.stderr
        assert "Unexpected" not in again.stderr and "Error" not in again.stderr, again.stderr
        status = _as_nobody(agent, "status", "--json")
        assert status.returncode == 0, status.stderr
        kept = {f["path"] for f in json.loads(status.stdout)["findings"]}
        assert kept == {"Kế hoạch bài dạy/Tuần 3/Bài 7.txt"}
        assert plan.parent.stat().st_mode & 0o777 == 0  # nothing changed the folder
    finally:
        for top, dirs, _files in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(top, d), 0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_the_agents_validation_thread_survives_an_unexpected_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in one check is logged and the thread goes on: the next pass is checked and its
    findings told, instead of validation ending silently for the agent's lifetime."""
    agent = offline_agent(tmp_path)
    agent.write("Tuần 3/Bài 7.txt", b"ghi chu")  # a format not allowed
    told: list[Notification] = []
    with agent.syncer(plugins=True) as syncer:
        assert syncer.validator is not None

        def bug(report: Report) -> None:
            raise RuntimeError("a bug in a check")

        monkeypatch.setattr(syncer.validator, "check_changes", bug)
        worker = _ValidationWorker(syncer.validator, threading.Event(), told.append)
        worker.submit(Report())  # raises on the thread
        worker.submit(None)  # the whole folder: checked and told
        worker.finish()
    assert [n.path for n in told] == ["Tuần 3/Bài 7.txt"]


def test_a_document_reader_that_cannot_start_leaves_the_record_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker that reads documents cannot be started (here: its program is no program):
    a failure of this computer, said as such, never "no problems" stored for the record."""
    agent = offline_agent(tmp_path)
    (agent.root / "Tuần 3").mkdir()
    plan = "Tuần 3/Toán - Bài 12.docx"
    make_docx(agent.root / plan, NO_REFLECTION)
    not_a_program = tmp_path / "python3"
    not_a_program.write_text("#!/bin/sh\n")  # mode 0644: exec refuses it
    monkeypatch.setattr(sys, "executable", str(not_a_program))
    monkeypatch.setattr(sandbox, "_shared", {})  # no worker started earlier in this process
    with agent.syncer(plugins=True) as syncer:
        assert syncer.validator is not None
        result = syncer.validator.check()
        failures = list(syncer.validator.host.failures)
    assert result.checked == 0 and result.findings == []
    assert any("reads documents for the checks could not run" in f for f in failures), failures
    # `hoso check` itself (in this process, where the reader cannot start): not an all-clear.
    said = CliRunner().invoke(cli, ["--config", str(agent.config_path), "check"])
    assert said.exit_code == ExitCode.PARTIAL, said.output
    assert "No problems found." not in said.output
    assert "some checks could not run" in said.output
    monkeypatch.undo()
    assert plan in findings(agent)  # checked for real at the next chance
