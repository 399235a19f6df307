"""The school's roles in the config ([school], [teacher]) and `hoso roles`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from agents import run_hoso

from agent import config as configmod
from agent.errors import ExitCode

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "agent.example.toml"


def write_config(tmp_path: Path, tables: str) -> Path:
    path = tmp_path / "agent.toml"
    configmod.write_private(
        path, f'root = "{tmp_path / "HoSo"}"\n[remote]\nurl = "http://127.0.0.1:9/"\n{tables}'
    )
    return path


def test_the_example_config_names_every_role_and_who_reviews_this_teacher(tmp_path: Path) -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    roles = configmod.from_dict(raw, EXAMPLE).roles
    assert roles.school.decision is not None and roles.school.decision.number == "15/QĐ-THBC"
    assert roles.school.mailbox_keeper is not None
    assert [r.name for r in roles.my_reviewers()] == ["Lê Văn Cường"]


def test_roles_json_and_text(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
[school]
name = "Trường Tiểu học Bình Chánh"
mailbox = "th.binhchanh@hcm.edu.vn"
decision = { number = "15/QĐ-THBC", date = 2026-09-05 }
mailbox_keeper = { name = "Trần Thị Bích", position = "Văn thư", email = "bich@hcm.edu.vn" }

[[school.reviewers]]
name = "Lê Văn Cường"
email = "cuong@hcm.edu.vn"
teachers = ["Nguyễn Thị Lan"]

[[school.reviewers]]
name = "Phạm Thu Hà"
groups = ["Tổ 2"]

[teacher]
name = "Nguyễn Thị Lan"
group = "Tổ 1"
""",
    )
    done = run_hoso("--config", str(config), "roles", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["school"]["decision"] == {"number": "15/QĐ-THBC", "date": "2026-09-05"}
    assert found["school"]["mailbox_keeper"]["email"] == "bich@hcm.edu.vn"
    assert [r["name"] for r in found["my_reviewers"]] == ["Lê Văn Cường"]
    text = run_hoso("--config", str(config), "roles", env={"LANGUAGE": "vi"}).stdout
    assert "15/QĐ-THBC" in text and "05/09/2026" in text and "Trần Thị Bích" in text


@pytest.mark.parametrize(
    ("tables", "key"),
    [
        ('[school]\nmailbox = "not an address"\n', "school.mailbox"),
        ('[school]\ndecision = { number = "15/QĐ" }\n', "school.decision"),
        ("[school]\nmailbox_keeper = { position = \"Văn thư\" }\n", "school.mailbox_keeper.name"),
        ('[school]\nreviewers = "Cường"\n', "school.reviewers"),
        ('[[school.reviewers]]\nname = "Cường"\ngroups = "Tổ 1"\n', "school.reviewers[0].groups"),
        ('[teacher]\nnam = "Lan"\n', "teacher.nam"),
        ("[school.teachers]\nlan = 3\n", "school.teachers.lan"),
        ('[school.teachers]\nlan = ""\n', "school.teachers.lan"),
        ('[school]\nteachers = ["lan"]\n', "school.teachers"),
    ],
)
def test_a_wrong_role_setting_names_the_key_and_exits_2(
    tmp_path: Path, tables: str, key: str
) -> None:
    done = run_hoso("--config", str(write_config(tmp_path, tables)), "roles")
    assert done.returncode == ExitCode.USAGE
    assert f"`{key}`" in done.stderr and done.stdout == ""


def test_teachers_are_named_by_their_login_for_the_managers_report(tmp_path: Path) -> None:
    tables = '[school.teachers]\nlan = "Nguyễn Thị Lan"\n"Cô Hà" = "Phạm Thu Hà"\n'
    school = configmod.load(write_config(tmp_path, tables)).roles.school
    assert school.teacher_name("lan") == "Nguyễn Thị Lan"
    assert school.teacher_name("LAN") == "Nguyễn Thị Lan"  # logins ignore case
    assert school.teacher_name("Cô Hà") == "Phạm Thu Hà"
    assert school.teacher_name("minh") == "minh"  # not named: the login itself
    done = run_hoso("--config", str(write_config(tmp_path, tables)), "roles", "--json")
    assert json.loads(done.stdout)["school"]["teachers"] == {
        "lan": "Nguyễn Thị Lan",
        "Cô Hà": "Phạm Thu Hà",
    }
