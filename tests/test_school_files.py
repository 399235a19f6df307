"""School-wide files for teachers (issue 16, item 4): `hoso template` takes the school's own
template from the school folder's `Biểu mẫu/`, checked; inspection evidence may go to the
school folder, one subfolder per teacher. Real `hoso` runs, a real SMTP server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import docx
import pytest
from agents import hoso_command, hoso_env, to_toml
from docs_factory import make_docx
from inspection_factory import blob, raw_config
from mailservers import MAIL_USER, SmtpServer
from servers import PASSWORD
from test_handover_school import synced_to_share

from agent import config as configmod
from plugins.inspection.service import teacher_folder
from plugins.validation.schooltemplate import MAX_BYTES

TEMPLATES = "Biểu mẫu"
EVIDENCE = "Minh chứng nộp hồ sơ"


def write_config(home: Path, root: Path, school: Path | None, **tables: object) -> Path:
    raw = raw_config(root, home / "state", **tables)
    reviewers = raw["school"].pop("reviewers")
    if school is not None:
        raw["school"] |= {"folder_url": "Truong", "folder_root": str(school)}
    text = to_toml(raw)
    for reviewer in reviewers:  # to_toml knows no arrays of tables
        text += "\n[[school.reviewers]]\n" + to_toml(reviewer)
    path = home / "config" / "agent.toml"
    configmod.write_private(path, text)
    return path


def hoso(home: Path, config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hoso_command("--config", str(config), *args),
        input=stdin,
        capture_output=True,
        text=True,
        env=hoso_env({"XDG_CONFIG_HOME": str(home / "xdg")}),
        timeout=120,
        cwd=home,
    )


def texts(path: Path) -> list[str]:
    return [p.text for p in docx.Document(str(path)).paragraphs]


# --- hoso template -------------------------------------------------------------------------------


@pytest.fixture
def teacher(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A teacher's computer with a school folder: home, config, school folder."""
    home, school = tmp_path / "lan", tmp_path / "Trường chung"
    (school / TEMPLATES).mkdir(parents=True)
    (home / "HoSo").mkdir(parents=True)
    return home, write_config(home, home / "HoSo", school), school


@pytest.mark.parametrize("name", ["KHBD.docx", "Kế hoạch bài dạy.docx", "KE HOACH BAI DAY.DOCX"])
def test_the_schools_template_is_copied_as_it_is(
    teacher: tuple[Path, Path, Path], name: str
) -> None:
    home, config, school = teacher
    ours = make_docx(school / TEMPLATES / name, ["MẪU KẾ HOẠCH BÀI DẠY CỦA TRƯỜNG", "Tuần: …"])
    out = home / "HoSo" / "Tuần 3" / "Bài 5.docx"
    done = hoso(home, config, "template", "khbd", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"from the school's template {ours}" in done.stdout
    assert out.read_bytes() == ours.read_bytes()
    # Asked for: hoso's own, all the same.
    own = home / "own.docx"
    done = hoso(home, config, "template", "khbd", "--builtin", "--out", str(own))
    assert done.returncode == 0 and "hoso's own" in done.stdout
    assert texts(own)[0] == "KẾ HOẠCH BÀI DẠY"


def test_without_a_school_template_hoso_writes_its_own(teacher: tuple[Path, Path, Path]) -> None:
    home, config, school = teacher
    make_docx(school / TEMPLATES / "SHCM.docx", ["Biên bản sinh hoạt chuyên môn"])  # not KHBD
    done = hoso(home, config, "template", "khbd")  # default name, in the current folder
    assert done.returncode == 0 and "hoso's own" in done.stdout
    assert texts(home / "KHBD - mẫu.docx")[0] == "KẾ HOẠCH BÀI DẠY"


def test_a_type_hoso_has_no_template_for_comes_only_from_the_school(
    teacher: tuple[Path, Path, Path],
) -> None:
    home, config, school = teacher
    missing = hoso(home, config, "template", "shcm")
    assert missing.returncode == 2 and "no template of its own for SHCM" in missing.stderr
    assert not (home / "SHCM - mẫu.docx").exists()
    notes = make_docx(school / TEMPLATES / "shcm.docx", ["Biên bản sinh hoạt chuyên môn"])
    done = hoso(home, config, "template", "shcm")
    assert done.returncode == 0, done.stderr
    assert (home / "SHCM - mẫu.docx").read_bytes() == notes.read_bytes()
    unknown = hoso(home, config, "template", "xyz")
    assert unknown.returncode == 2 and "There is no record type xyz" in unknown.stderr


def test_a_school_template_that_is_no_word_document_is_refused(
    teacher: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    home, config, school = teacher
    out = home / "out.docx"
    bad = school / TEMPLATES / "KHBD.docx"
    cases = {
        "renamed": lambda: bad.write_bytes(b"MZ\x90\x00 not a document"),
        "huge": lambda: bad.write_bytes(b"PK" + b"\0" * MAX_BYTES),
        "link": lambda: bad.symlink_to(make_docx(tmp_path / "elsewhere.docx", ["Mẫu"])),
    }
    for case, make in cases.items():
        bad.unlink(missing_ok=True)
        make()
        done = hoso(home, config, "template", "khbd", "--out", str(out))
        assert done.returncode == 2, case
        assert "The school's template" in done.stderr and "--builtin" in done.stderr, case
        assert not out.exists(), case


def test_without_a_school_folder_nothing_changes(tmp_path: Path) -> None:
    home = tmp_path / "lan"
    (home / "HoSo").mkdir(parents=True)
    config = write_config(home, home / "HoSo", None)
    done = hoso(home, config, "template", "khbd")
    assert done.returncode == 0 and "hoso's own" in done.stdout
    assert texts(home / "KHBD - mẫu.docx")[0] == "KẾ HOẠCH BÀI DẠY"


# --- inspection evidence in the school folder ---------------------------------------------------


def evidence_teacher(
    tmp_path: Path, server: SmtpServer, school: Path | None, evidence_in: str = "school"
) -> tuple[Path, Path]:
    home = tmp_path / "lan"
    root = home / "HoSo"
    blob(root / "Kế hoạch bài dạy" / "Tuần 10" / "Bài 1.pdf", 20_000)
    smtp = {"host": server.host, "port": server.port, "security": "none", "username": MAIL_USER}
    config = write_config(
        home, root, school, smtp=smtp, inspection={"evidence_in": evidence_in},
        remote={"url": "http://127.0.0.1:9/", "user": "lan/../Nguyễn: Lan"},
    )  # fmt: skip
    return home, config


def test_evidence_goes_to_the_teachers_folder_in_the_school_folder(tmp_path: Path) -> None:
    school = tmp_path / "Trường chung"
    with SmtpServer() as server:
        home, config = evidence_teacher(tmp_path, server, school)
        assert hoso(home, config, "vault", "set", "smtp", stdin=PASSWORD + "\n").returncode == 0
        # Not synced to this computer yet: sent all the same, the copy waits, nothing made.
        early = hoso(home, config, "inspect", "send", "--weeks", "10-13", "--json")
        assert early.returncode == 1, early.stderr
        sent = json.loads(early.stdout)
        assert sent["complete"] and sent["messages"][0]["eml"] == ""
        assert "not on this computer yet" in early.stdout + early.stderr
        assert not school.exists()
        [received] = server.wait_for(1)

        school.mkdir()
        again = hoso(home, config, "inspect", "send", "--weeks", "10-13")
        assert again.returncode == 0 and "--resend" in again.stdout
        assert len(server.received) == 1  # the copy came late; the mail went once
    [message] = json.loads(hoso(home, config, "inspect", "history", "--json").stdout)[
        "submissions"
    ][0]["messages"]
    eml = Path(message["eml"])
    # One folder per teacher, named safely after the login ("lan/../Nguyễn: Lan").
    assert eml.is_relative_to(school / EVIDENCE / "lan-..-Nguyễn- Lan")
    assert eml.parent.name == "Tuần 10–13"
    assert eml.read_bytes().replace(b"\r\n", b"\n") == received.content.replace(b"\r\n", b"\n")
    assert not (home / "HoSo" / EVIDENCE).exists()
    # On this computer only until the school folder's sync has put it on the share (a
    # school folder this teacher may only read refuses it): history says so.
    assert message["eml_on_share"] is False
    shown = hoso(home, config, "inspect", "history").stdout
    assert f"{eml} (on this computer only: not on the school share yet)" in shown
    state_dir = configmod.load(config).state_dir
    synced_to_share(state_dir, school, eml.relative_to(school).as_posix())
    [message] = json.loads(hoso(home, config, "inspect", "history", "--json").stdout)[
        "submissions"
    ][0]["messages"]
    assert message["eml_on_share"] is True
    shown = hoso(home, config, "inspect", "history").stdout
    assert str(eml) in shown and "not on the school share" not in shown


def test_evidence_in_records_is_as_before(tmp_path: Path) -> None:
    with SmtpServer() as server:
        home, config = evidence_teacher(tmp_path, server, tmp_path / "school", "records")
        (tmp_path / "school").mkdir()
        hoso(home, config, "vault", "set", "smtp", stdin=PASSWORD + "\n")
        done = hoso(home, config, "inspect", "send", "--weeks", "10-13", "--json")
        assert done.returncode == 0, done.stderr
        server.wait_for(1)
    eml = json.loads(done.stdout)["messages"][0]["eml"]
    assert eml.startswith(f"{EVIDENCE}/Tuần 10–13/")
    assert (home / "HoSo" / eml).is_file() and not (tmp_path / "school" / EVIDENCE).exists()
    history = json.loads(hoso(home, config, "inspect", "history", "--json").stdout)
    assert history["submissions"][0]["messages"][0]["eml_on_share"] is None


@pytest.mark.parametrize("school", [True, False])
def test_a_bad_evidence_in_is_a_config_error_naming_the_key(tmp_path: Path, school: bool) -> None:
    with SmtpServer() as server:
        value = "cloud" if school else "school"  # "school" needs a school folder
        home, config = evidence_teacher(tmp_path, server, tmp_path / "s" if school else None, value)
        done = hoso(home, config, "inspect", "plan", "--weeks", "10-13")
    assert done.returncode == 2 and "inspection.evidence_in" in done.stderr
    assert server.received == []


@pytest.mark.parametrize(
    ("user", "name", "folder"),
    [
        ("lan", "", "lan"),
        ("", "Nguyễn Thị Lan", "Nguyễn Thị Lan"),
        ("../..", "", "may-a"),  # nothing left of the login: the computer's name
        ("~$x\x1b:y", "", "$x--y"),
        (" .hidden. ", "", "hidden"),
    ],
)
def test_the_teachers_folder_is_one_safe_name(user: str, name: str, folder: str) -> None:
    raw = {
        "root": "/home/lan/HoSo",
        "host_name": "may-a",
        "remote": {"url": "http://127.0.0.1:9/", "user": user},
        "teacher": {"name": name},
    }
    found = teacher_folder(configmod.from_dict(raw, Path("/etc/hoso/agent.toml")))
    assert found == folder and "/" not in found and not found.startswith(".")
    assert os.sep not in found
