"""Second hostile review of the issue-16 fixes: each test here showed a hole, and failed
before its fix."""

from __future__ import annotations

from pathlib import Path

from agents import Agent
from servers import SHARED, SchoolShare


def _teacher_without_folder_root(tmp_path: Path, school: SchoolShare, user: str) -> Agent:
    return Agent(
        tmp_path, school.records(user), name=user, school={"folder_url": school.folder_url}
    )


def test_default_school_folder_never_adopts_a_teacher_folder_beside_the_records(
    school: SchoolShare, tmp_path: Path
) -> None:
    lan = _teacher_without_folder_root(tmp_path, school, "lan")
    assert lan.root is not None
    # The teacher's own folder beside the records folder, named as the share's school folder
    # happens to be (think ~/Documents beside ~/HoSo, and a group folder "Documents").
    mine = lan.root.parent / SHARED
    mine.mkdir()
    (mine / "luong-va-suc-khoe.txt").write_bytes(b"private: salary and health notes")
    done = lan.cli("school", "sync", "--json")
    # Whatever hoso does (another folder name, or a stop asking for folder_root), the
    # teacher's file must not reach the school share.
    assert not school.path("luong-va-suc-khoe.txt").exists(), done.stdout + done.stderr


def test_a_share_folder_named_as_the_records_folder_does_not_stop_the_records() -> None:
    from agent import config as configmod

    raw = {
        "root": "/home/lan/HoSo",
        "remote": {"url": "https://nc.truong.vn/remote.php/dav/files/lan/", "remote_dir": "/HoSo"},
        # The school's group folder, seen in each teacher's files, is also called "HoSo".
        "school": {"folder_url": "/remote.php/dav/groupfolders/3/HoSo"},
    }
    found = configmod.from_dict(raw, Path("/etc/hoso/agent.toml")).school_folder
    assert found is not None
    assert found.root != Path("/home/lan/HoSo")


def test_a_share_folder_named_as_the_records_folder_but_for_case_is_not_taken() -> None:
    from agent import config as configmod

    raw = {
        "root": "/media/lan/USB/HoSo",
        "remote": {"url": "https://nc.truong.vn/remote.php/dav/files/lan/", "remote_dir": "/HoSo"},
        "school": {"folder_url": "/remote.php/dav/groupfolders/3/hoso"},
    }
    try:
        found = configmod.from_dict(raw, Path("/etc/hoso/agent.toml")).school_folder
    except configmod.ConfigError:
        return  # refused: fine
    assert found is not None
    assert found.root.name.casefold() != "hoso"


def test_an_admin_pc_with_nothing_in_force_never_signs_below_the_schools_serial(
    tmp_path: Path,
) -> None:
    import shutil

    from test_school_profile import PROFILE, T0, Pc, signed_by

    from agent import profilestore
    from agent.errors import SafetyStop
    from agent.schoolprofile import State

    school = tmp_path / "Trường"
    school.mkdir()
    admin, teacher = Pc(tmp_path / "admin", school), Pc(tmp_path / "lan", school)
    for n in range(3):  # three changes over the year: serial 3 in force everywhere
        signed = signed_by(admin, PROFILE + f"# thay đổi {n}\n", school, T0 + n)
        teacher.key = admin.key = signed.fingerprint
        teacher.write()
        admin.write()
        assert teacher.refresh(T0 + n).state is State.ACCEPTED
    assert profilestore.read_memory(teacher.state).serial == 3
    # The admin's new PC (same key, restored into the vault; no profile state yet), and a
    # teacher has changed a line of the folder's copy meanwhile.
    shutil.rmtree(admin.state / profilestore.FOLDER)
    tampered = PROFILE.replace("Lê Văn Cường", "Trần Văn Giả")
    (school / "hoso-truong.toml").write_text(tampered, encoding="utf-8")
    assert admin.refresh(T0 + 10).state is State.REFUSED
    # The admin fixes the line and signs (confirming the change shown).
    try:
        signed_by(admin, PROFILE + "# năm học mới\n", school, T0 + 11)
    except SafetyStop:
        return  # refusing to sign below the school's serial is fine too
    outcome = teacher.refresh(T0 + 12)
    assert outcome.state is State.ACCEPTED, outcome.message
