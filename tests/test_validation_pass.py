"""`hoso sync` checks what it sends and brings while it transfers (issue 15, section 2).

The one-shot pass used to check every record it changed after its last transfer; now the
records it uploads are checked once the plan is made and each download once it lands, on a
thread of their own, and the pass takes those findings only while the file is still as it was
checked. What it stores and reports must be what checking after the pass gives: compared
here with the old way (a pass without validation, then ``check_changes`` of its report) on
twin folders of one share, with real documents, the real plugin and its reader processes.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from agents import Agent, remote_tree
from conftest import Share
from docs_factory import Para, lesson_plan, make_docx, make_raw_docx, shared_stream_pdf, tcvn3
from servers import wait_until

from agent.documents.model import Unreadable
from agent.documents.sandbox import shared
from agent.model import Action, Report
from agent.records import Finding
from agent.sync import PassResult
from agent.validation import PassChecks, open_validator
from plugins.validation.settings import settings_of

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))

WEEK = "Kế hoạch bài dạy/Tuần 3"
SHARED = "Kế hoạch bài dạy/Tuần 4"  # what a colleague put on the share


def no_reflection() -> list:
    return lesson_plan()[:-2]


def in_vntime() -> list:
    return [
        *lesson_plan()[:-2],
        Para((tcvn3("IV. Điều chỉnh sau bài dạy", bold=True),), "Heading 1"),
        tcvn3("Học sinh hiểu bài, cần luyện đọc thêm."),
    ]


def records(folder: Path, week: str) -> dict[str, Path]:
    """Lesson plans with each classic problem, and one without any."""
    target = folder / week
    target.mkdir(parents=True, exist_ok=True)
    return {
        "good": make_docx(target / "Tiếng Việt - Bài 5.docx", lesson_plan()),
        "no_reflection": make_docx(target / "Tiếng Việt - Bài 6.docx", no_reflection()),
        "two_lessons": make_docx(target / "Tiếng Việt - Bài 7.docx", lesson_plan() * 2),
        "vntime": make_docx(target / "Toán - Bài 9.docx", in_vntime()),
    }


def twin_share(share: Share, name: str) -> Share:
    """Another empty folder on the same server."""
    status, _ = share.server.request("MKCOL", f"{name}/")
    assert status == 201
    return Share(
        share.server, share.url, name, share.user, share.password, share.server.data_dir / name
    )


def put_on_share(share: Share) -> None:
    """Records a colleague saved on the share: downloaded by the pass."""
    records(share.path, SHARED)
    share.server.own(share.path)


def stored(agent: Agent) -> list[tuple[str, str, str, str, str]]:
    with open_validator(agent.config) as validator:
        return [
            (f.path, f.rule, f.severity.value, f.message, f.fix)
            for f in (s.finding for s in validator.journal.findings())
        ]


def the_old_way(agent: Agent) -> tuple[PassResult, list[Finding]]:
    """A pass that checks what it changed after its last transfer, as `hoso sync` did."""
    with agent.syncer(plugins=True) as syncer:
        result = syncer.run_pass(validate=False)
        assert syncer.validator is not None
        return result, syncer.validator.check_changes(result.report).findings


def rules(findings: list[Finding], path: str) -> set[str]:
    return {f.rule for f in findings if f.path == path}


@pytest.fixture
def wsgidav_twins(tmp_path: Path, wsgidav_share: Share) -> Iterator[tuple[Agent, Agent]]:
    now = Agent(tmp_path, wsgidav_share, name="now")
    before = Agent(tmp_path, twin_share(wsgidav_share, f"{wsgidav_share.remote_dir}-before"))
    yield now, before


def test_the_pass_stores_and_reports_what_checking_after_it_gives(
    wsgidav_twins: tuple[Agent, Agent],
) -> None:
    now, before = wsgidav_twins
    for agent in (now, before):
        assert agent.root is not None
        records(agent.root, WEEK)
        put_on_share(agent.share)

    with now.syncer(plugins=True) as syncer:
        result = syncer.run_pass()
    old_result, old_findings = the_old_way(before)

    assert result.validation is not None
    report = result.report
    assert sorted(report.uploaded) == sorted(old_result.report.uploaded)
    assert sorted(report.downloaded) == sorted(old_result.report.downloaded)
    assert len(report.uploaded) == 4 and len(report.downloaded) == 4
    assert result.validation.findings == old_findings
    assert stored(now) == stored(before)
    for week in (WEEK, SHARED):  # sent and brought alike
        findings = result.validation.findings
        assert rules(findings, f"{week}/Tiếng Việt - Bài 6.docx") == {"khbd.reflection-missing"}
        assert "khbd.several-lessons" in rules(findings, f"{week}/Tiếng Việt - Bài 7.docx")
        assert "text.legacy-encoding" in rules(findings, f"{week}/Toán - Bài 9.docx")
        assert rules(findings, f"{week}/Tiếng Việt - Bài 5.docx") == set()
    assert set(remote_tree(now.share)) >= {f"{WEEK}/Toán - Bài 9.docx"}


def test_hoso_sync_says_how_many_records_need_fixing_as_before(
    wsgidav_twins: tuple[Agent, Agent],
) -> None:
    now, before = wsgidav_twins
    for agent in (now, before):
        assert agent.root is not None
        records(agent.root, WEEK)
        put_on_share(agent.share)
    done = now.cli("sync")
    assert done.returncode == 0, done.stderr
    _result, old_findings = the_old_way(before)
    to_fix = len({f.path for f in old_findings})
    assert to_fix == 6
    assert f"Records with problems to fix: {to_fix}." in done.stdout
    assert stored(now) == stored(before)
    status = json.loads(now.cli("status", "--json").stdout)
    assert status["plugin_failures"] == []


def test_a_record_changed_again_during_the_pass_is_checked_as_it_ends(
    wsgidav_twins: tuple[Agent, Agent],
) -> None:
    now, _before = wsgidav_twins
    assert now.root is not None
    plans = records(now.root, WEEK)
    path = f"{WEEK}/{plans['no_reflection'].name}"
    with now.syncer(plugins=True) as syncer:

        def fixed_once_sent(done: int, total: int, action: Action) -> None:
            # The teacher adds the missing section right after the upload.
            if action.path == path:
                make_docx(plans["no_reflection"], lesson_plan())

        syncer.on_progress = fixed_once_sent
        result = syncer.run_pass()
    assert result.validation is not None
    assert path in result.report.uploaded
    assert rules(result.validation.findings, path) == set()  # as the file is now
    assert path not in {row[0] for row in stored(now)}
    with open_validator(now.config) as validator:
        assert validator.check([path], force=True).findings == [
            f for f in result.validation.findings if f.path == path
        ]


def test_early_findings_of_a_file_that_changed_since_are_not_used(tmp_path: Path) -> None:
    """Deterministically: checked early, then changed, then the pass ends."""
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)
    assert agent.root is not None
    plan = records(agent.root, WEEK)["good"]
    path = f"{WEEK}/{plan.name}"
    sandbox = shared(settings_of(agent.config).limits(agent.config.plugins.timeout))
    with open_validator(agent.config) as validator:
        checks = PassChecks(validator, today=date.today())
        checks.ahead([path])
        wait_until(lambda: path in checks.ready, 60, "the early check")
        assert rules(list(checks.ready[path].findings), path) == set()
        make_docx(plan, no_reflection())  # saved again before the pass ends
        reads = sandbox.reads
        result = checks.finish(Report(uploaded=[path]))
        assert sandbox.reads - reads == 1  # read again, as it is now
        assert rules(result.findings, path) == {"khbd.reflection-missing"}
        assert [s.finding for s in validator.journal.findings()] == result.findings

        # Unchanged since its early check: not read again.
        again = PassChecks(validator, today=date.today())
        make_docx(plan, lesson_plan())
        again.ahead([path])
        wait_until(lambda: path in again.ready, 60, "the early check")
        reads = sandbox.reads
        assert again.finish(Report(uploaded=[path])).findings == []
        assert sandbox.reads == reads


def test_a_pass_that_fails_stops_checking_and_stores_nothing(
    tmp_path: Path, wsgidav_share: Share
) -> None:
    agent = Agent(tmp_path, wsgidav_share, password="wrong")
    assert agent.root is not None
    records(agent.root, WEEK)
    done = agent.cli("sync")
    assert done.returncode == 3, done.stderr  # login refused, as before
    assert stored(agent) == []


@pytest.fixture(scope="module")
def shared_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 pages drawing one content stream: stopped at the processor-time limit."""
    return shared_stream_pdf(tmp_path_factory.mktemp("pdf") / "Toán - Bài 3.pdf", 300)


def heavy_docx(path: Path) -> Path:
    """Under every size cap, but 150,000 paragraphs need about 100 MB to parse."""
    return make_raw_docx(path, "<w:p><w:r><w:t>a</w:t></w:r></w:p>" * 150_000)


def test_documents_that_stop_their_reader_get_todays_findings_and_the_sync_returns(
    tmp_path: Path, wsgidav_share: Share, shared_pdf: Path
) -> None:
    # The worker is killed by the kernel at 1 s of processor time (the PDF), or ends past
    # 128 MB (the .docx); the pass carries on and returns.
    limits = {"timeout": 10, "validation": {"document_seconds": 1, "document_memory_mb": 128}}
    now = Agent(tmp_path, wsgidav_share, name="now", plugins=limits)
    before_share = twin_share(wsgidav_share, f"{wsgidav_share.remote_dir}-before")
    before = Agent(tmp_path, before_share, plugins=limits)
    for agent in (now, before):
        assert agent.root is not None
        week = agent.root / WEEK
        week.mkdir(parents=True)
        (week / shared_pdf.name).write_bytes(shared_pdf.read_bytes())
        make_docx(week / "Toán - Bài 4.docx", no_reflection())
        heavy_docx(agent.share.path / "Toán - Bài 8.docx")  # brought from the share
        agent.share.server.own(agent.share.path)

    done = now.cli("sync", timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Records with problems to fix: 3." in done.stdout
    _result, old_findings = the_old_way(before)

    def kept(agent: Agent) -> list[tuple[str, ...]]:
        # Which of its limits the heavy .docx hits first (memory, or the clock on a busy
        # computer) is the computer's doing: its message may name either.
        return [row[:2] if row[0] == "Toán - Bài 8.docx" else row for row in stored(agent)]

    assert kept(now) == kept(before)
    assert rules(old_findings, f"{WEEK}/{shared_pdf.name}") == {"file.too-complex"}
    assert rules(old_findings, "Toán - Bài 8.docx") == {"file.too-complex"}
    assert rules(old_findings, f"{WEEK}/Toán - Bài 4.docx") == {"khbd.reflection-missing"}
    status = json.loads(now.cli("status", "--json").stdout)
    assert status["plugin_failures"] == []
    assert f"{WEEK}/{shared_pdf.name}" in remote_tree(now.share)  # still synced


# --- the checks run in the reader process -------------------------------------------------------


def test_the_worker_finds_what_checking_here_finds(tmp_path: Path) -> None:
    """The lesson-plan checks now run in the reader process beside the reading: the same
    findings, word for word and in either language, as reading there and checking here."""
    from agent.documents.readers import read_document
    from agent.i18n import language
    from agent.records import classify
    from agent.recordtypes import load_types_file, shipped_types_file
    from bench import lessonplans
    from plugins.validation.checks import check_record

    paths = lessonplans.generate(tmp_path / "corpus", 40, seed=5)
    week = tmp_path / "corpus" / WEEK
    paths += records(tmp_path / "corpus", WEEK).values()
    broken = week / "Toán - Bài 10.docx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    types = load_types_file(shipped_types_file())
    sandbox = shared(settings_of(Agent(tmp_path, _offline(tmp_path)).config).limits(30.0))
    rules_seen: set[str] = set()
    for code in ("en", "vi"):
        with language(code):
            for path in [*paths, broken]:
                rel = path.relative_to(tmp_path / "corpus").as_posix()
                args = {
                    "size": path.stat().st_size,
                    "today": date(2026, 12, 7),
                    "year_start": date(2026, 9, 7),
                    "limits": sandbox.limits,
                }
                here = check_record(path, rel, classify(rel, types), read=read_document, **args)
                there = check_record(path, rel, classify(rel, types), **args)
                assert there == here, rel
                rules_seen |= {f.rule for f in there}
    assert {
        "khbd.reflection-missing",
        "khbd.several-lessons",
        "text.legacy-encoding",
        "file.unreadable-corrupt",
    } <= rules_seen


def _offline(tmp_path: Path) -> Share:
    return Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]


def test_an_analysis_that_fails_is_a_fault_of_the_caller_and_the_worker_goes_on(
    tmp_path: Path,
) -> None:
    from agent.documents.readers import read_document
    from agent.documents.sandbox import Analysis, DocumentSandbox, Limits

    plan = make_docx(tmp_path / "plan.docx", lesson_plan())
    box = DocumentSandbox(Limits(wall_seconds=30.0))
    try:
        wrong = Analysis("plugins.validation.checks:found_in", {"path": "x"}, "en")  # arguments
        with pytest.raises(RuntimeError, match="the analysis failed in the reader: TypeError"):
            box.analyse(plan, wrong)
        assert box.read(plan) == read_document(plan)  # the same worker reads on
        broken = tmp_path / "broken.docx"
        broken.write_bytes(b"PK\x03\x04 not really a zip")
        with pytest.raises(Unreadable):  # the file's own error, as read() gives it
            box.analyse(broken, wrong)
    finally:
        box.close()


def same_size(first: Path, second: Path) -> None:
    """Pad the smaller .docx with a zip comment so that both have one size."""
    small, large = sorted((first, second), key=lambda p: p.stat().st_size)
    with zipfile.ZipFile(small, "a") as archive:
        archive.comment = b"x" * (large.stat().st_size - small.stat().st_size)
    assert first.stat().st_size == second.stat().st_size


def test_early_findings_are_not_used_for_a_same_size_file_with_its_time_set_back(
    tmp_path: Path,
) -> None:
    """A tool that saves a file of the same size and sets its modification time back (a
    copy keeping times, an unzip) leaves size and mtime as they were checked: the content
    changed all the same, so the early findings must not be stored for it."""
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)
    assert agent.root is not None
    plan = records(agent.root, WEEK)["good"]
    path = f"{WEEK}/{plan.name}"
    other = make_docx(tmp_path / "other.docx", no_reflection())
    same_size(plan, other)
    with open_validator(agent.config) as validator:
        checks = PassChecks(validator, today=date.today())
        checks.ahead([path])
        wait_until(lambda: path in checks.ready, 60, "the early check")
        assert rules(list(checks.ready[path].findings), path) == set()
        before = plan.stat()
        other.replace(plan)
        os.utime(plan, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert (plan.stat().st_size, plan.stat().st_mtime_ns) == (
            before.st_size,
            before.st_mtime_ns,
        )
        result = checks.finish(Report(uploaded=[path]))
        assert rules(result.findings, path) == {"khbd.reflection-missing"}
        assert [s.finding for s in validator.journal.findings()] == result.findings
