"""Validation as a teacher and a manager meet it: the running agent, the commands, real files.

The acceptance of issue 4: a lesson plan without its reflection section, with two lessons, or
typed in .VnTime gets a clear Vietnamese message on the next save (once, not on every pass);
`hoso check` reports it with exit 1; a manager gets the week's report in one command; the
template passes the checks once filled; a .VnTime document is converted to Unicode.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from agents import Agent, remote_tree, run_hoso, stop_agent
from conftest import Share
from docs_factory import Para, lesson_plan, make_docx, tcvn3
from docx import Document
from servers import wait_until

from agent.errors import ExitCode

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
VIETNAMESE_LETTERS = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def write_plans(folder: Path) -> dict[str, Path]:
    """Three lesson plans with the three classic problems, and one that is fine, each
    saved the way Word saves (a whole file renamed into place)."""
    week = folder / "Kế hoạch bài dạy" / "Tuần 3"
    week.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / ".staging"
    staging.mkdir(exist_ok=True)

    def save(name: str, items: list) -> Path:
        make_docx(staging / name, items)
        return (staging / name).replace(week / name)

    good = lesson_plan()
    no_reflection = good[:-2]
    typed_in_vntime = [
        *good[:-2],
        Para((tcvn3("IV. Điều chỉnh sau bài dạy", bold=True),), "Heading 1"),
        tcvn3("Học sinh hiểu bài, cần luyện đọc thêm."),
    ]
    return {
        "good": save("Tiếng Việt - Bài 5.docx", good),
        "no_reflection": save("Tiếng Việt - Bài 6.docx", no_reflection),
        "two_lessons": save("Tiếng Việt - Bài 7 và 8.docx", good + good),
        "vntime": save("Toán - Bài 9.docx", typed_in_vntime),
    }


def rel(agent: Agent, path: Path) -> str:
    assert agent.root is not None
    return path.relative_to(agent.root).as_posix()


def findings_by_path(out: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for f in json.loads(out)["findings"]:
        found.setdefault(f["path"], set()).add(f["rule"])
    return found


@WSGIDAV_ONLY
def test_the_running_agent_tells_the_teacher_in_vietnamese_once(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, language="vi")
    log_file = agent.state_dir / "logs" / "hoso.log"
    proc = agent.popen("run", env={"DBUS_SESSION_BUS_ADDRESS": ""})
    try:
        wait_until(lambda: log_file.exists(), 30, "the agent to start")
        plans = write_plans(agent.root)  # saved while the agent runs
        wanted = {rel(agent, p) for p in plans.values()}
        wait_until(lambda: wanted <= set(remote_tree(share)), 60, "the plans to be uploaded")

        def told() -> dict[str, set[str]]:
            return findings_by_path(agent.cli("check", "--json").stdout)

        wait_until(lambda: len(told()) >= 3, 30, "the findings of the saved plans")
        found = told()
        assert "khbd.reflection-missing" in found[rel(agent, plans["no_reflection"])]
        assert "khbd.several-lessons" in found[rel(agent, plans["two_lessons"])]
        assert "text.legacy-encoding" in found[rel(agent, plans["vntime"])]
        # The .VnTime reflection heading is read as Vietnamese: no "missing" for it.
        assert "khbd.reflection-missing" not in found[rel(agent, plans["vntime"])]
        assert rel(agent, plans["good"]) not in found

        messages = json.loads(agent.cli("check", "--json").stdout)["findings"]
        missing = next(m for m in messages if m["rule"] == "khbd.reflection-missing")
        # Told in the log (no desktop here): alone, or named in its pass's one summary.
        plan = rel(agent, plans["no_reflection"])

        def told_lines() -> list[str]:
            lines = log_file.read_text().splitlines()
            return [line for line in lines if plan in line and "ồ sơ cần sửa" in line]

        wait_until(told_lines, 30, "the notification")
        assert VIETNAMESE_LETTERS & set(missing["message"].lower())  # the teacher's language
        assert "Rút kinh nghiệm" in missing["fix"] or "Điều chỉnh" in missing["fix"]

        agent.write("Ghi chú.txt", b"another save, another pass")
        wait_until(lambda: "Ghi chú.txt" in remote_tree(share), 30, "the next pass")
        stop_agent(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert len(told_lines()) == 1  # once, not on every pass
    status = json.loads(agent.cli("status", "--json").stdout)
    assert {f["rule"] for f in status["findings"]} >= {"khbd.several-lessons"}


def fake_notify_send(folder: Path) -> Path:
    """A real `notify-send` program that writes its arguments where the test can read them."""
    folder.mkdir(parents=True)
    program = folder / "notify-send"
    program.write_text(
        '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> "$(dirname "$0")/shown"\n'
    )
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return folder / "shown"


@WSGIDAV_ONLY
def test_a_desktop_session_gets_a_popup_instead_of_a_log_line(tmp_path: Path, share: Share) -> None:
    shown = fake_notify_send(tmp_path / "bin")
    agent = Agent(tmp_path, share)
    write_plans(agent.root)
    env = {
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
    }
    done = agent.cli("sync", env=env)
    assert done.returncode == 0, done.stderr
    assert "hoso check" in done.stdout  # the sync tells there is something to fix
    proc = agent.popen("run", env=env)
    try:
        wait_until(lambda: shown.exists() and "Bài 6" in shown.read_text(), 30, "a popup")
    finally:
        stop_agent(proc, timeout=30)
    lines = shown.read_text().splitlines()
    # A finding is no emergency: a normal popup, whose click opens the problems page.
    assert "--app-name=hoso" in lines and "--urgency=normal" in lines
    assert "--action=default=Open the page" in lines


# --- the commands -------------------------------------------------------------------------------


def offline_agent(tmp_path: Path, **kw: object) -> Agent:
    """An agent whose share is never contacted (validation needs none)."""
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    return Agent(tmp_path, share, **kw)  # type: ignore[arg-type]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.docx")}


def test_check_reports_errors_with_exit_1_and_checks_only_what_changed(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    plans = write_plans(agent.root)
    before = tree_bytes(agent.root)
    done = agent.cli("check", "--json")
    assert done.returncode == ExitCode.PARTIAL, done.stderr
    for finding in json.loads(done.stdout)["findings"]:
        assert set(finding) == {"path", "rule", "severity", "message", "fix"}
        assert finding["severity"] in {"error", "warning", "info"}
    assert tree_bytes(agent.root) == before  # checking changes nothing

    text = agent.cli("check").stdout
    assert "checked now: 0; unchanged since the last check: 4" in text  # nothing re-read
    good = agent.cli("check", str(plans["good"]), "--json")
    assert good.returncode == 0 and json.loads(good.stdout) == {"findings": []}
    again = agent.cli("check", "--again", "Kế hoạch bài dạy")  # a folder, relative to the root
    assert "checked now: 4;" in again.stdout


def test_check_refuses_a_path_outside_the_records_folder(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    stray = tmp_path / "elsewhere.docx"
    stray.write_bytes(b"x")
    done = agent.cli("check", str(stray))
    assert done.returncode == ExitCode.USAGE
    assert "not a file or folder inside the records folder" in done.stderr
    assert done.stdout == ""


def test_the_template_passes_the_checks_once_filled(tmp_path: Path) -> None:
    # The school year starts this week, so week 35 lies ahead whatever the date of the run.
    monday = date.today() - timedelta(days=date.today().weekday())
    agent = offline_agent(tmp_path, plugins={"validation": {"year_start": monday.isoformat()}})
    # A plan for a lesson still to come: its reflection is not due yet.
    target = agent.root / "Kế hoạch bài dạy" / "Tuần 35" / "Toán - Bài 20.docx"
    target.parent.mkdir(parents=True)
    done = agent.cli("template", "khbd", "--out", str(target))
    assert done.returncode == 0, done.stderr
    again = agent.cli("template", "khbd", "--out", str(target))
    assert again.returncode == ExitCode.USAGE and "already exists" in again.stderr

    blank = findings_by_path(agent.cli("check", "--json").stdout)
    assert blank.get(rel(agent, target), set()) <= {"khbd.header-incomplete", "khbd.blank"}

    document = Document(str(target))
    fill = {
        "Môn học": "Môn học/hoạt động giáo dục: Toán",
        "Lớp": "Lớp: 2A",
        "Tên bài học": "Tên bài học: Bài 20: Phép cộng có nhớ; Số tiết: 1",
        "Tuần": "Tuần: 35",
        "Thời gian": "Thời gian thực hiện: tuần 35",
    }
    for paragraph in document.paragraphs:
        for start, text in fill.items():
            if paragraph.text.startswith(start):
                paragraph.text = text
    reflection = next(
        i for i, p in enumerate(document.paragraphs) if "RÚT KINH NGHIỆM" in p.text.upper()
    )
    for paragraph in document.paragraphs[reflection + 1 :]:
        paragraph.text = "Học sinh làm tốt bài tập 2; cần thêm thời gian cho bài 3."
    document.save(str(target))
    filled = agent.cli("check", str(target), "--json")
    assert filled.returncode == 0, filled.stdout
    assert json.loads(filled.stdout) == {"findings": []}


def test_a_manager_gets_the_weeks_report_in_one_command(tmp_path: Path) -> None:
    school = tmp_path / "Trường"
    write_plans(school / "Nguyễn Thị Lan")
    (school / "Trần Văn Minh" / "Tuần 2").mkdir(parents=True)
    for fmt in ("html", "csv", "json"):
        done = run_hoso(
            "report",
            "--folder",
            str(school),
            "--week",
            "3",
            "--format",
            fmt,
            env={"HOSO_CONFIG": str(tmp_path / "none.toml")},
        )
        assert done.returncode == 0, done.stderr
        if fmt == "json":
            report = json.loads(done.stdout)
            teachers = {t["teacher"]: t for t in report["teachers"]}
            assert set(teachers) == {"Nguyễn Thị Lan", "Trần Văn Minh"}
        elif fmt == "csv":
            rows = list(csv.reader(io.StringIO(done.stdout.lstrip("\ufeff"))))
            minh = next(r for r in rows if r[0] == "Trần Văn Minh")
            assert minh[1:5] == ["3", "0", "0", "1"]  # week 3: nothing handed in
        else:
            assert done.stdout.lstrip().startswith("<!DOCTYPE html>")
            assert "Nguyễn Thị Lan" in done.stdout


def test_the_managers_report_names_teachers_and_speaks_the_managers_language(
    tmp_path: Path,
) -> None:
    manager = offline_agent(tmp_path, language="vi")
    with manager.config_path.open("a", encoding="utf-8") as config:
        config.write('\n[school.teachers]\nlan = "Nguyễn Thị Lan"\n')
    school = tmp_path / "Trường"
    write_plans(school / "lan")
    (school / "minh" / "Tuần 3").mkdir(parents=True)
    blank = school / "minh" / "Tuần 3" / "Toán - Bài 9.docx"
    assert manager.cli("template", "khbd", "--out", str(blank)).returncode == 0  # untouched
    done = manager.cli("report", "--folder", str(school), "--week", "3", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout.lstrip("\ufeff"))))
    assert rows[0][:3] == ["Giáo viên", "Tuần", "Số kế hoạch bài dạy"]
    assert [r[0] for r in rows[1:]] == ["Nguyễn Thị Lan", "minh"]  # no name given: the login
    data = json.loads(
        manager.cli("report", "--folder", str(school), "--week", "3", "--format", "json").stdout
    )
    assert [(t["teacher"], t["folder"]) for t in data["teachers"]] == [
        ("Nguyễn Thị Lan", "lan"),
        ("minh", "minh"),
    ]
    [minh_week] = data["teachers"][1]["weeks"]
    assert (minh_week["present"], minh_week["missing"]) == (0, True)  # a blank plan is no plan
    assert minh_week["blank"] == ["minh/Tuần 3/Toán - Bài 9.docx"]
    assert rows[2][1:3] == ["3", "0"] and rows[2][-1] == "1"
    page = manager.cli("report", "--folder", str(school), "--week", "3").stdout
    assert "Nguyễn Thị Lan" in page and "Giáo viên" in page


def test_a_vntime_document_is_converted_to_a_unicode_copy(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    plans = write_plans(agent.root)
    original = plans["vntime"].read_bytes()
    done = agent.cli("convert", rel(agent, plans["vntime"]))
    assert done.returncode == 0, done.stderr
    copy = plans["vntime"].with_name("Toán - Bài 9 (Unicode).docx")
    assert plans["vntime"].read_bytes() == original
    found = findings_by_path(agent.cli("check", str(copy), "--json").stdout)
    assert "text.legacy-encoding" not in found.get(rel(agent, copy), set())
    assert "Điều chỉnh sau bài dạy" in "\n".join(p.text for p in Document(str(copy)).paragraphs)
    twice = agent.cli("convert", rel(agent, plans["vntime"]))
    assert twice.returncode == ExitCode.USAGE and "already exists" in twice.stderr


def test_findings_are_shown_in_the_language_of_whoever_reads_them(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path, language="auto")
    write_plans(agent.root)
    english = json.loads(agent.cli("check", "--json", env={"LANGUAGE": "en"}).stdout)
    vietnamese = json.loads(agent.cli("check", "--json", env={"LANGUAGE": "vi"}).stdout)
    rules = [(f["path"], f["rule"]) for f in english["findings"]]
    assert rules == [(f["path"], f["rule"]) for f in vietnamese["findings"]]
    for en, vi in zip(english["findings"], vietnamese["findings"], strict=True):
        assert en["message"] != vi["message"]
        assert VIETNAMESE_LETTERS & set(vi["message"].lower())
