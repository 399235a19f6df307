"""Booby-trapped documents are read in a worker process with limits (issue 11, item 6).

Crafted files are made by the tests themselves: a .docx whose document.xml unpacks to 190 MB,
one whose XML parses past a memory limit, a small PDF whose many pages share one large content
stream, a FIFO that never answers. Each one gets one `file.too-complex` finding within its
limit; this process's memory does not grow; the file is not read again until it changes; the
other records are still checked; the running agent keeps validating.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from agents import Agent, remote_tree
from conftest import Share
from docs_factory import bloated_docx, lesson_plan, make_docx, make_raw_docx, shared_stream_pdf
from servers import wait_until

from agent.config import Config
from agent.errors import ConfigError, ExitCode
from agent.records import RecordType, Severity
from agent.validation import open_validator
from plugins.validation.checks import check_record
from agent.documents.model import Limit, TooComplex, Unreadable, UnreadableReason
from agent.documents.readers import read_document
from plugins.validation.remembered import FILE_NAME
from agent.documents.sandbox import MIB, DocumentSandbox, Limits, ReaderUnavailable, _Worker, shared
from plugins.validation.settings import Settings, settings_of

TODAY = date(2026, 12, 7)
YEAR_START = date(2026, 9, 7)
WEEK = "Kế hoạch bài dạy/Tuần 3"
BOMB_BYTES = 190 * MIB


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .docx of the issue: a few hundred KB whose document.xml unpacks to 190 MB."""
    return bloated_docx(tmp_path_factory.mktemp("bomb") / "Toán - Bài 1.docx", BOMB_BYTES)


@pytest.fixture(scope="module")
def heavy_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .docx under every size cap whose 150,000 paragraphs need about 100 MB to parse."""
    path = tmp_path_factory.mktemp("heavy") / "Toán - Bài 2.docx"
    return make_raw_docx(path, "<w:p><w:r><w:t>a</w:t></w:r></w:p>" * 150_000)


@pytest.fixture(scope="module")
def shared_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PDF of 300 pages drawing one content stream of 20,000 lines: minutes of parsing."""
    return shared_stream_pdf(tmp_path_factory.mktemp("pdf") / "Toán - Bài 3.pdf", 300)


@pytest.fixture
def sandbox() -> Iterator[DocumentSandbox]:
    box = DocumentSandbox(Limits(memory_bytes=96 * MIB, cpu_seconds=1, wall_seconds=10))
    yield box
    box.close()


@pytest.fixture
def cpu_sandbox() -> Iterator[DocumentSandbox]:
    """Memory to spare (pypdf needs tens of MB per page of the shared stream): the processor
    time is what runs out."""
    box = DocumentSandbox(Limits(memory_bytes=512 * MIB, cpu_seconds=1, wall_seconds=10))
    yield box
    box.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def children() -> set[int]:
    """This process's child processes (any thread's)."""
    found: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def limit_hit(box: DocumentSandbox, path: Path) -> Limit:
    with pytest.raises(TooComplex) as raised:
        box.read(path)
    return raised.value.limit


# --- the sandbox --------------------------------------------------------------------------------


def test_a_normal_document_reads_as_it_does_in_process(
    sandbox: DocumentSandbox, tmp_path: Path
) -> None:
    plan = make_docx(tmp_path / "plan.docx", lesson_plan())
    assert sandbox.read(plan) == read_document(plan)
    assert sandbox.read(plan) == read_document(plan)  # the same worker, again


def test_the_zip_bomb_is_refused_without_unpacking_it(sandbox: DocumentSandbox, bomb: Path) -> None:
    assert bomb.stat().st_size < 2 * MIB
    before = peak_rss_mb()
    assert limit_hit(sandbox, bomb) is Limit.SIZE
    assert peak_rss_mb() - before < 50


def test_xml_past_the_memory_limit_stops_the_worker_not_us(
    sandbox: DocumentSandbox, heavy_xml: Path, tmp_path: Path
) -> None:
    before = peak_rss_mb()
    assert limit_hit(sandbox, heavy_xml) is Limit.MEMORY
    assert peak_rss_mb() - before < 50
    # The next file gets a fresh worker and reads normally.
    plan = make_docx(tmp_path / "plan.docx", lesson_plan())
    assert sandbox.read(plan) == read_document(plan)


def test_a_pdf_of_pages_sharing_one_stream_is_stopped_at_the_cpu_limit(
    cpu_sandbox: DocumentSandbox, shared_pdf: Path
) -> None:
    assert shared_pdf.stat().st_size < 64 * 1024
    before = peak_rss_mb()
    assert limit_hit(cpu_sandbox, shared_pdf) is Limit.CPU  # 1 s of processor time, not minutes
    assert peak_rss_mb() - before < 50


def test_a_reader_that_never_answers_is_killed_at_the_wall_clock_limit(tmp_path: Path) -> None:
    # A FIFO with no writer blocks its reader forever without using the processor.
    fifo = tmp_path / "stuck.docx"
    os.mkfifo(fifo)
    box = DocumentSandbox(Limits(memory_bytes=96 * MIB, cpu_seconds=60, wall_seconds=1))
    before = children()
    try:
        assert limit_hit(box, fifo) is Limit.TIME
        assert not children() - before  # the worker is gone, not left reading
    finally:
        box.close()


def test_errors_of_the_document_come_back_as_they_are(
    sandbox: DocumentSandbox, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.docx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(Unreadable) as raised:
        sandbox.read(broken)
    assert raised.value.reason is UnreadableReason.CORRUPT
    with pytest.raises(FileNotFoundError):
        sandbox.read(tmp_path / "gone.docx")


def test_a_worker_that_cannot_run_is_a_failure_of_ours_not_a_verdict_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", shutil.which("false"))  # exits at once, code 1
    box = DocumentSandbox(Limits())
    plan = make_docx(tmp_path / "plan.docx", lesson_plan())
    with pytest.raises(ReaderUnavailable) as raised:
        box.read(plan)
    assert "exit code 1" in str(raised.value) or "quit before" in str(raised.value)


def test_names_and_text_survive_any_locale(
    sandbox: DocumentSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.setenv("LANG", "C")
    # A Vietnamese folder, and a byte that is not UTF-8 (a name from an old zip tool).
    folder = tmp_path / "Tuần 3" / os.fsdecode(b"Gi\xe1o \xff")
    folder.mkdir(parents=True)
    plan = make_docx(folder / "Tiếng Việt - Bài 5.docx", lesson_plan())
    assert sandbox.read(plan) == read_document(plan)


def test_the_worker_never_imports_from_the_current_folder(
    sandbox: DocumentSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A records folder (the teacher's current folder) holding a planted package of our name.
    planted = tmp_path / "cwd" / "plugins" / "validation"
    planted.mkdir(parents=True)
    marker = tmp_path / "ran"
    for folder in (planted.parent, planted):
        (folder / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (planted / "worker.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "cwd"))
    plan = make_docx(tmp_path / "plan.docx", lesson_plan())
    assert sandbox.read(plan) == read_document(plan)
    assert not marker.exists()


# --- the finding, and remembering ---------------------------------------------------------------


def test_check_record_gives_one_warning_saying_what_to_do(
    cpu_sandbox: DocumentSandbox, shared_pdf: Path
) -> None:
    khbd = RecordType("KHBD", "Kế hoạch bài dạy", "Lesson plan", checks=("lesson_plan",))
    path = f"{WEEK}/{shared_pdf.name}"
    findings = check_record(
        shared_pdf,
        path,
        khbd,
        size=shared_pdf.stat().st_size,
        today=TODAY,
        year_start=YEAR_START,
        limits=cpu_sandbox.limits,
        read=cpu_sandbox.read,
    )
    assert [(f.rule, f.severity) for f in findings] == [("file.too-complex", Severity.WARNING)]
    assert "more than 1 seconds" in findings[0].message  # the processor-time limit
    assert "save it again" in findings[0].fix and "split" in findings[0].fix


def offline_agent(tmp_path: Path, **validation: object) -> Agent:
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    plugins = {"validation": {"document_memory_mb": 128, "document_seconds": 1, **validation}}
    return Agent(tmp_path, share, plugins=plugins)


def hook_sandbox(config: Config) -> DocumentSandbox:
    """The sandbox the validation hook uses for this config (shared in this process)."""
    return shared(settings_of(config).limits(config.plugins.timeout))


def place(agent: Agent, source: Path) -> Path:
    assert agent.root is not None
    target = agent.root / WEEK / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def test_a_file_that_hit_a_limit_is_not_read_again_until_it_changes(
    tmp_path: Path, shared_pdf: Path
) -> None:
    agent = offline_agent(tmp_path)
    trap = place(agent, shared_pdf)
    plan = make_docx(trap.parent / "Toán - Bài 4.docx", lesson_plan()[:-2])  # no reflection
    box = hook_sandbox(agent.config)
    with open_validator(agent.config) as validator:
        reads = box.reads
        first = validator.check(today=TODAY)
        assert box.reads - reads == 2
        rules = {(f.path.rsplit("/", 1)[1], f.rule) for f in first.findings}
        assert (trap.name, "file.too-complex") in rules
        assert (plan.name, "khbd.reflection-missing") in rules  # the others are still checked
        assert not validator.host.suspended and not validator.host.failures

        reads = box.reads
        again = validator.check(today=TODAY, force=True)  # as the daily check does
        assert box.reads - reads == 1  # the plan only
        assert {f.rule for f in again.findings} == {f.rule for f in first.findings}
        stored = json.loads((agent.state_dir / FILE_NAME).read_text())
        assert [Path(p).name for p in stored["files"]] == [trap.name]

        os.utime(trap, ns=(trap.stat().st_atime_ns, trap.stat().st_mtime_ns + 10**9))
        reads = box.reads
        validator.check([f"{WEEK}/{trap.name}"], today=TODAY, force=True)
        assert box.reads - reads == 1  # changed: read again (and stopped again)


def test_hoso_check_reports_the_bomb_and_does_not_reread_it(tmp_path: Path, bomb: Path) -> None:
    agent = offline_agent(tmp_path)
    trap = place(agent, bomb)
    make_docx(trap.parent / "Toán - Bài 4.docx", lesson_plan()[:-2])
    done = agent.cli("check", "--json")
    assert done.returncode == ExitCode.PARTIAL, done.stderr  # the plan's error
    assert done.stderr == ""  # no plugin failed or was suspended
    found = {(f["path"].rsplit("/", 1)[1], f["rule"]) for f in json.loads(done.stdout)["findings"]}
    assert (trap.name, "file.too-complex") in found
    assert ("Toán - Bài 4.docx", "khbd.reflection-missing") in found

    # Garbage of the same size under the same inode and modification time: read again, it
    # would be reported as damaged instead.
    before = trap.stat()
    with trap.open("r+b") as file:
        file.write(bytes(before.st_size))
    os.utime(trap, ns=(before.st_atime_ns, before.st_mtime_ns))
    again = agent.cli("check", "--again", "--json")
    assert again.stderr == ""
    assert json.loads(again.stdout) == json.loads(done.stdout)
    trap.touch()  # changed: read again
    third = agent.cli("check", "--json")
    found = {(f["path"].rsplit("/", 1)[1], f["rule"]) for f in json.loads(third.stdout)["findings"]}
    assert (trap.name, "file.unreadable-corrupt") in found


def test_the_limits_are_checked_in_the_config(tmp_path: Path) -> None:
    cases = [{"document_memory_mb": 64}, {"document_seconds": 0}, {"document_seconds": "5"}]
    for number, bad in enumerate(cases):
        agent = offline_agent(tmp_path / str(number), **bad)
        with pytest.raises(ConfigError) as raised:
            settings_of(agent.config)
        assert f"plugins.validation.{next(iter(bad))}" in str(raised.value)
        done = agent.cli("check")
        assert done.returncode == ExitCode.USAGE and "plugins.validation" in done.stderr


def test_the_wall_clock_limit_stays_inside_the_plugin_timeout() -> None:
    settings = Settings(document_seconds=20)
    assert settings.limits(30.0) == Limits(512 * MIB, 20, 24.0)
    assert settings.limits(None).wall_seconds == 30.0
    assert settings.limits(5.0).wall_seconds == 4.0


# --- the running agent --------------------------------------------------------------------------


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_the_running_agent_keeps_validating_after_a_hostile_pdf(
    tmp_path: Path, share: Share, shared_pdf: Path
) -> None:
    # A plugin timeout the PDF would take many times over: the reader is stopped first.
    agent = Agent(
        tmp_path,
        share,
        plugins={"timeout": 5, "validation": {"document_seconds": 1}},
    )
    assert agent.root is not None
    log_file = agent.state_dir / "logs" / "hoso.log"
    trap = place(agent, shared_pdf)
    proc = agent.popen("run", env={"DBUS_SESSION_BUS_ADDRESS": ""})
    try:
        wait_until(lambda: log_file.exists(), 30, "the agent to start")

        def found() -> set[tuple[str, str]]:  # what the agent stored, not checked here
            out = agent.cli("status", "--json").stdout
            return {(f["path"].rsplit("/", 1)[1], f["rule"]) for f in json.loads(out)["findings"]}

        wait_until(lambda: (trap.name, "file.too-complex") in found(), 60, "the PDF's finding")
        # Saved afterwards: still uploaded and checked by the same agent.
        plan = make_docx(trap.parent / "Toán - Bài 5.docx", lesson_plan()[:-2])
        wanted = f"{WEEK}/{plan.name}"
        wait_until(lambda: wanted in remote_tree(share), 60, "the plan to be uploaded")
        wait_until(
            lambda: (plan.name, "khbd.reflection-missing") in found(), 60, "the plan's finding"
        )
        status = json.loads(agent.cli("status", "--json").stdout)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "suspended" not in log_file.read_text()
    assert status["plugin_failures"] == []
    assert f"{WEEK}/{trap.name}" in remote_tree(share)  # a hostile file is still synced


def test_a_worker_gone_before_the_question_closes_without_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The question stays in stdin's buffer when the worker is gone; closing must not raise
    # BrokenPipeError again, or the sandbox's own retry path turns into a crash.
    monkeypatch.setattr(sys, "executable", shutil.which("false"))
    worker = _Worker(Limits().memory_bytes)
    assert worker.process.wait() == 1
    with pytest.raises(BrokenPipeError):
        worker.ask(tmp_path / "plan.docx", Limits())
    worker.close()
    assert worker.process.stdin is not None and worker.process.stdin.closed
