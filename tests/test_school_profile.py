"""The signed school profile (agent/schoolprofile.py, agent/profilestore.py, `hoso school`).

Two "computers" share one school folder on disk (the server-level sync is tests of the school
folder's own): the admin's signs, a teacher's takes it in. Real files, real `hoso` processes
for the commands, literal times.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from agents import hoso_command, hoso_env, run_hoso

from agent import config as configmod
from agent import profilestore, schoolprofile
from agent.envelope import SigningKey
from agent.errors import ConfigError, ExitCode
from agent.roles import public_key_fingerprint
from agent.schoolprofile import Reason, State

T0 = 1_796_000_000.0  # 2026-11-30, a literal time
PASSPHRASE = "cụm mật khẩu của kho bí mật"

PROFILE = """\
[school]
name = "Trường Tiểu học Bình Chánh"
mailbox = "th.binhchanh@hcm.edu.vn"
decision = { number = "15/QĐ-THBC", date = 2026-09-05 }
mailbox_keeper = { name = "Trần Thị Bích", position = "Văn thư", email = "bich@hcm.edu.vn" }

[[school.reviewers]]
name = "Lê Văn Cường"
email = "cuong@hcm.edu.vn"
groups = ["Tổ 1"]

[[keepers]]
name = "Trần Thị Bích"
key = "FEZS-GJCZ-MRPZ-L7U3"

[[types]]
code = "NHATKY"
name_vi = "Nhật ký lớp"
name_en = "Class diary"
folders = ["nhat ky*"]
formats = [".docx"]

[inspection]
remind_days = 7

[[inspection.schedule]]
date = 2026-12-04
weeks = "10-13"
types = ["KHBD"]
"""


@dataclass
class Pc:
    """One computer: its own config, state folder and vault, the shared school folder."""

    home: Path
    school: Path
    local: str = ""  # extra lines of this computer's own [school] table
    extra: str = ""  # extra tables of its config
    key: str = ""  # [school] profile_key
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config_path = self.home / "agent.toml"
        self.state = self.home / "state"
        self.write()
        self.env = {
            "HOSO_VAULT_PASSPHRASE": PASSPHRASE,
            "XDG_CONFIG_HOME": str(self.home / "xdg-config"),
            "XDG_STATE_HOME": str(self.home / "xdg-state"),
            "XDG_DATA_HOME": str(self.home / "xdg-data"),
        }

    def write(self) -> None:
        pin = f'profile_key = "{self.key}"\n' if self.key else ""
        configmod.write_private(
            self.config_path,
            f'root = "{self.home / "HoSo"}"\nstate_dir = "{self.state}"\nlanguage = "en"\n'
            f'[remote]\nurl = "http://127.0.0.1:9/"\n'
            f'[school]\nfolder_url = "Trường"\nfolder_root = "{self.school}"\n{pin}{self.local}\n'
            f'[teacher]\nname = "Nguyễn Thị Lan"\ngroup = "Tổ 1"\n{self.extra}',
        )

    def config(self) -> configmod.Config:
        return configmod.load(self.config_path)

    def hoso(self, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return run_hoso("--config", str(self.config_path), *args, env={**self.env, **(env or {})})

    def refresh(self, now: float = T0) -> schoolprofile.Outcome:
        return schoolprofile.refresh(self.config(), now)


@pytest.fixture
def school(tmp_path: Path) -> Path:
    folder = tmp_path / "Trường"
    folder.mkdir()
    return folder


@pytest.fixture
def admin(tmp_path: Path, school: Path) -> Pc:
    return Pc(tmp_path / "admin", school)


@pytest.fixture
def teacher(tmp_path: Path, school: Path) -> Pc:
    return Pc(tmp_path / "lan", school)


def publish(school: Path, text: str) -> None:
    (school / "hoso-truong.toml").write_text(text, encoding="utf-8")


def signed_by(pc: Pc, text: str, school: Path, now: float = T0) -> schoolprofile.Signed:
    publish(school, text)
    return schoolprofile.sign(pc.config(), now, confirm=lambda difference: True)


def sign_with(key: SigningKey, school: Path, text: str, serial: int) -> None:
    """A profile signed by ``key`` (another admin's computer, or a forger's)."""
    data = text.encode()
    (school / "hoso-truong.toml").write_bytes(data)
    signature = schoolprofile.make_signature(key, data, serial, T0)
    (school / "hoso-truong.toml.sig").write_bytes(signature.to_bytes())


@pytest.fixture(autouse=True)
def _vault_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSO_VAULT_PASSPHRASE", PASSPHRASE)


# --- signing and taking in ---------------------------------------------------------------------


def test_signed_on_the_admins_computer_taken_in_on_the_teachers(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    signed = signed_by(admin, PROFILE, school)
    assert signed.serial == 1 and signed.key_created
    assert signed.outcome.state is State.ACCEPTED  # the admin's own computer took it
    sig = json.loads((school / "hoso-truong.toml.sig").read_text())
    assert sig["serial"] == 1 and sig["signed_at"] == "2026-11-30T00:53:20+00:00"
    assert public_key_fingerprint(base64.b64decode(sig["key"])) == signed.fingerprint
    # The private key is in the vault only: not in the school folder, not in the state folder.
    key = schoolprofile.signing_key(schoolprofile.Vault.open(admin.config()))[0]
    for top in (school, admin.state):
        for path in (p for p in top.rglob("*") if p.is_file()):
            data = path.read_bytes()
            assert key.secret not in data and base64.b64encode(key.secret) not in data

    outcome = teacher.refresh()
    assert outcome.state is State.ACCEPTED and outcome.first_use
    assert outcome.signer == signed.fingerprint and outcome.serial == 1
    config = teacher.config()
    assert config.roles.school.name == "Trường Tiểu học Bình Chánh"
    assert [r.name for r in config.roles.my_reviewers()] == ["Lê Văn Cường"]
    assert config.school_sources["school.reviewers"] == "profile"
    kept = teacher.state / "school-profile" / "1" / "hoso-truong.toml"
    assert kept.read_text(encoding="utf-8") == PROFILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(kept.parent.parent.stat().st_mode) == 0o700
    # Nothing new: the same copy is the one in force.
    assert teacher.refresh().state is State.IN_FORCE


def test_a_change_signed_again_is_followed_by_roles_validation_inspection_and_handover(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    signed_by(admin, PROFILE, school)
    teacher.refresh()
    changed = PROFILE.replace("Lê Văn Cường", "Phạm Thu Hà").replace(
        "date = 2026-12-04", "date = 2026-12-11"
    )
    changed = changed.replace("FEZS-GJCZ-MRPZ-L7U3", "ABCD-EFGH-IJKL-MNOP")
    signed = signed_by(admin, changed, school, T0 + 60)
    assert signed.serial == 2
    assert teacher.refresh(T0 + 120).state is State.ACCEPTED

    done = teacher.hoso("roles", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [r["name"] for r in found["my_reviewers"]] == ["Phạm Thu Hà"]
    assert found["profile"]["serial"] == 2 and found["profile"]["signer"] == signed.fingerprint
    assert found["sources"]["school.reviewers"] == "profile"
    # The previous generation stays (a running agent may read it until it reloads), no more.
    assert sorted(p.name for p in (teacher.state / "school-profile").iterdir()) == [
        "1",
        "2",
        "memory.json",
        "memory.lock",
    ]
    signed_by(admin, changed.replace("remind_days = 7", "remind_days = 5"), school, T0 + 180)
    assert teacher.refresh(T0 + 240).state is State.ACCEPTED
    assert sorted(p.name for p in (teacher.state / "school-profile").iterdir()) == [
        "2",
        "3",
        "memory.json",
        "memory.lock",
    ]

    config = teacher.config()
    # Inspection: the profile's calendar.
    from plugins.inspection.reminders import reminders
    from plugins.inspection.settings import inspection_settings

    assert [i.day for i in inspection_settings(config).schedule] == [date(2026, 12, 11)]
    assert [r.inspection.day for r in reminders(config, date(2026, 12, 7))] == [date(2026, 12, 11)]
    # Validation: the profile's record types, the shipped ones after.
    from plugins.validation.settings import record_types

    codes = [t.code for t in record_types(config)]
    assert codes[0] == "NHATKY" and "KHBD" in codes
    # Handover: the profile's keepers are the pinned keys.
    from plugins.handover import trust

    assert trust.load(config, None).roots == {"ABCD-EFGH-IJKL-MNOP": trust.PINNED}


def test_hoso_status_reminds_of_the_inspection_on_the_profiles_calendar(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    # The reminder `hoso status` shows comes from the calendar of the profile in force.
    soon = date.today().isoformat()
    signed_by(admin, PROFILE.replace("date = 2026-12-04", f"date = {soon}"), school)
    teacher.refresh()
    done = teacher.hoso("status", "--json")
    assert done.returncode == 0, done.stderr
    notes = [n["text"] for n in json.loads(done.stdout)["plugin_notes"]]
    assert any("weeks 10" in n.lower() or "10-13" in n for n in notes), notes


# --- refusals ----------------------------------------------------------------------------------


def _taken(teacher: Pc, admin: Pc, school: Path) -> None:
    signed_by(admin, PROFILE, school)
    assert teacher.refresh().state is State.ACCEPTED


def _refused(teacher: Pc, reason: Reason) -> schoolprofile.Outcome:
    outcome = teacher.refresh(T0 + 300)
    assert outcome.state is State.REFUSED and outcome.reason is reason, outcome
    assert outcome.new
    # The last good profile stays in force, and the same bad file is reported once.
    config = teacher.config()
    assert [r.name for r in config.roles.school.reviewers] == ["Lê Văn Cường"]
    assert profilestore.in_force(teacher.state).data == PROFILE.encode()  # type: ignore[union-attr]
    again = teacher.refresh(T0 + 600)
    assert again.state is State.REFUSED and not again.new
    return outcome


def test_a_teacher_changing_one_byte_is_refused(admin: Pc, teacher: Pc, school: Path) -> None:
    _taken(teacher, admin, school)
    publish(school, PROFILE.replace("Lê Văn Cường", "Lê Văn Cuong"))
    outcome = _refused(teacher, Reason.CHANGED)
    assert "changed after it was signed" in outcome.message
    assert "The last good profile (serial 1) stays in force." in outcome.message
    assert "hoso school sign" in outcome.message


def test_school_show_names_a_tampered_copy_once_and_exits_4(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    _taken(teacher, admin, school)
    publish(school, PROFILE.replace("Lê Văn Cường", "Lê Văn Cuong"))
    done = teacher.hoso("school", "show")
    assert done.returncode == ExitCode.SAFETY_STOP
    assert done.stdout.count("was changed after it was signed") == 1
    assert "In force: serial 1" in done.stdout
    shown = json.loads(teacher.hoso("school", "show", "--json").stdout)
    assert shown["folder_copy"]["reason"] == "changed-after-signing"
    assert shown["in_force"]["serial"] == 1
    assert teacher.hoso("roles", "--json").stdout.count("Lê Văn Cường") >= 1


def test_an_unsigned_profile_is_refused(admin: Pc, teacher: Pc, school: Path) -> None:
    _taken(teacher, admin, school)
    (school / "hoso-truong.toml.sig").unlink()
    assert "is not signed" in _refused(teacher, Reason.UNSIGNED).message


def test_a_damaged_signature_is_refused(admin: Pc, teacher: Pc, school: Path) -> None:
    _taken(teacher, admin, school)
    (school / "hoso-truong.toml.sig").write_text('{"format": "x"}')
    _refused(teacher, Reason.DAMAGED_SIGNATURE)


def test_a_profile_signed_by_an_unknown_key_is_refused(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    _taken(teacher, admin, school)
    forger = SigningKey.generate()
    sign_with(forger, school, PROFILE.replace("Lê Văn Cường", "Kẻ Giả Mạo"), 7)
    outcome = _refused(teacher, Reason.UNKNOWN_KEY)
    fingerprint = public_key_fingerprint(forger.public())
    assert f"signed by the key {fingerprint}" in outcome.message
    assert f"hoso init --school-key {fingerprint}" in outcome.message


def test_an_older_signed_profile_put_back_is_refused(admin: Pc, teacher: Pc, school: Path) -> None:
    signed_by(admin, PROFILE.replace("Lê Văn Cường", "Người Cũ"), school)
    old = (school / "hoso-truong.toml").read_bytes(), (school / "hoso-truong.toml.sig").read_bytes()
    signed_by(admin, PROFILE, school, T0 + 60)
    assert teacher.refresh().serial == 2
    (school / "hoso-truong.toml").write_bytes(old[0])
    (school / "hoso-truong.toml.sig").write_bytes(old[1])
    outcome = teacher.refresh(T0 + 300)
    assert outcome.state is State.REFUSED and outcome.reason is Reason.OLDER
    assert "(serial 1) is older than one this computer already took (serial 2)" in outcome.message
    assert profilestore.in_force(teacher.state).serial == 2  # type: ignore[union-attr]


def test_the_same_serial_with_other_content_is_refused(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    _taken(teacher, admin, school)
    key = schoolprofile.signing_key(schoolprofile.Vault.open(admin.config()))[0]
    sign_with(key, school, PROFILE.replace("Lê Văn Cường", "Lê Văn Khác"), 1)
    _refused(teacher, Reason.SAME_SERIAL)


def test_a_signed_but_invalid_profile_is_refused_with_the_configs_message(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    _taken(teacher, admin, school)
    key = schoolprofile.signing_key(schoolprofile.Vault.open(admin.config()))[0]
    sign_with(key, school, PROFILE.replace("date = 2026-12-04", 'date = "soon"'), 5)
    outcome = _refused(teacher, Reason.INVALID)
    assert "setting `inspection.schedule[0].date`: must be a date like 2026-11-30" in (
        outcome.message
    )


def test_nothing_in_force_before_the_first_good_profile(teacher: Pc, school: Path) -> None:
    assert teacher.refresh().state is State.ABSENT
    publish(school, PROFILE)
    outcome = teacher.refresh()
    assert outcome.reason is Reason.UNSIGNED
    assert "No school profile is in force on this computer" in outcome.message
    assert teacher.config().roles.school.name == ""


# --- trust ---------------------------------------------------------------------------------------


def test_trust_on_first_use_is_warned_until_a_key_is_pinned(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    signed = signed_by(admin, PROFILE, school)
    done = teacher.hoso("school", "show", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["folder_copy"]["state"] == "accepted" and shown["trusted_on_first_use"]
    assert shown["in_force"]["signer"] == signed.fingerprint
    status = teacher.hoso("status", "--json")
    assert any(signed.fingerprint in w for w in json.loads(status.stdout)["warnings"])
    text = teacher.hoso("school", "show")
    assert f"hoso init --school-key {signed.fingerprint}" in text.stderr

    teacher.key = signed.fingerprint
    teacher.write()
    shown = json.loads(teacher.hoso("school", "show", "--json").stdout)
    assert not shown["trusted_on_first_use"] and shown["pinned_key"] == signed.fingerprint
    assert json.loads(teacher.hoso("status", "--json").stdout)["warnings"] == []


def test_a_pinned_key_refuses_the_first_signer_seen(
    admin: Pc, school: Path, tmp_path: Path
) -> None:
    signed_by(admin, PROFILE, school)
    other = Pc(tmp_path / "minh", school, key="ABCD-EFGH-IJKL-MNOP")
    outcome = other.refresh()
    assert outcome.reason is Reason.UNKNOWN_KEY and not outcome.first_use
    assert profilestore.in_force(other.state) is None


def test_signing_is_handed_to_a_new_key_through_signers(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    first = signed_by(admin, PROFILE, school)
    teacher.key = first.fingerprint
    teacher.write()
    teacher.refresh()
    successor = SigningKey.generate()
    new = public_key_fingerprint(successor.public())
    # Before the trusted signer lists it, the new key is refused...
    sign_with(successor, school, PROFILE, 2)
    assert teacher.refresh().reason is Reason.UNKNOWN_KEY
    # ...after, it signs.
    handed = PROFILE + f'\n[[signers]]\nname = "Phó hiệu trưởng"\nkey = "{new}"\n'
    signed_by(admin, handed, school, T0 + 60)
    assert teacher.refresh().state is State.ACCEPTED
    sign_with(successor, school, handed.replace("Lê Văn Cường", "Phạm Thu Hà"), 4)
    outcome = teacher.refresh(T0 + 120)
    assert outcome.state is State.ACCEPTED and outcome.signer == new
    assert [r.name for r in teacher.config().roles.school.reviewers] == ["Phạm Thu Hà"]


def test_signing_with_a_key_this_computer_does_not_trust_is_a_safety_stop(
    admin: Pc, school: Path
) -> None:
    admin.key = "ABCD-EFGH-IJKL-MNOP"
    admin.write()
    publish(school, PROFILE)
    done = admin.hoso("school", "sign")
    assert done.returncode == ExitCode.SAFETY_STOP, done.stderr
    assert "nothing was signed" in done.stderr
    assert not (school / "hoso-truong.toml.sig").exists()


# --- this computer's own values ------------------------------------------------------------------


def test_a_local_school_value_overrides_the_profile_and_roles_says_so(
    admin: Pc, school: Path, tmp_path: Path
) -> None:
    signed_by(admin, PROFILE, school)
    local = (
        '[[school.reviewers]]\nname = "Võ Thị Riêng"\nemail = "rieng@hcm.edu.vn"\n'
        'groups = ["Tổ 1"]\n'
    )
    pc = Pc(
        tmp_path / "rieng",
        school,
        local=local,
        extra='[[inspection.schedule]]\ndate = 2027-01-15\nperiod = "2026-12"\n',
    )
    pc.refresh()
    done = pc.hoso("roles", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [r["name"] for r in found["my_reviewers"]] == ["Võ Thị Riêng"]
    assert found["sources"]["school.reviewers"] == "config"
    assert found["sources"]["school.name"] == "profile"
    assert found["sources"]["inspection.schedule"] == "config"
    assert found["sources"]["inspection.remind_days"] == "profile"
    text = pc.hoso("roles")
    assert "school.reviewers: from this PC's config" in text.stdout
    assert "school.mailbox: from the school profile" in text.stdout
    assert "School profile in force: serial 1" in text.stdout


def test_without_a_school_folder_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    configmod.write_private(
        path,
        f'root = "{tmp_path / "HoSo"}"\nstate_dir = "{tmp_path / "state"}"\n'
        '[remote]\nurl = "http://127.0.0.1:9/"\n[school]\nname = "Trường A"\n',
    )
    # A profile left in the state folder is not read without a school folder.
    profilestore.store(tmp_path / "state", 3, PROFILE.encode(), b"{}", profilestore.Memory())
    config = configmod.load(path)
    assert config.roles.school.name == "Trường A" and config.school_sources == {}
    done = run_hoso("--config", str(path), "roles", "--json")
    assert set(json.loads(done.stdout)) == {"school", "teacher", "my_reviewers"}
    refused = run_hoso("--config", str(path), "school", "sign")
    assert refused.returncode == ExitCode.USAGE and "No school folder" in refused.stderr


# --- checks key by key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[school]\nmailbox = 42\n", "setting `school.mailbox`: must be text."),
        ('[school]\nfolder_url = "x"\n', "setting `school.folder_url`: belongs in each"),
        ('[[keepers]]\nname = "A"\nkey = "nope"\n', "setting `keepers[0].key`: must be the key"),
        ('[[signers]]\nname = "A"\nkey = "nope"\n', "`hoso school sign` prints it"),
        ("[[types]]\ncode = 5\n", "hoso-truong.toml, type number 1"),
        ("[inspection]\nremind_days = -1\n", "setting `inspection.remind_days`"),
        ("[other]\n", "setting `other`: is not a known setting."),
        ("[school\n", "is not valid TOML"),
    ],
)
def test_each_mistake_is_named_with_the_configs_message(
    admin: Pc, school: Path, text: str, message: str
) -> None:
    path = school / "hoso-truong.toml"
    with pytest.raises(ConfigError) as caught:
        schoolprofile.check(text.encode(), path, admin.config())
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_sign_refuses_an_invalid_profile_and_writes_nothing(admin: Pc, school: Path) -> None:
    publish(school, "[school]\nmailbox = 42\n")
    done = admin.hoso("school", "sign")
    assert done.returncode == ExitCode.USAGE
    assert "setting `school.mailbox`: must be text." in done.stderr
    assert not (school / "hoso-truong.toml.sig").exists()
    assert profilestore.in_force(admin.state) is None


def test_sign_prints_the_fingerprint_to_pin(admin: Pc, teacher: Pc, school: Path) -> None:
    publish(school, PROFILE)
    # Nothing signed it yet: the admin sees it all as the difference and says yes.
    done = in_terminal(admin, ["school", "sign"], "y\n")
    assert done.returncode == 0, done.stderr
    assert "+[[keepers]]" in done.stdout and "Sign it with these changes?" in done.stdout
    fingerprint = done.stdout.split("Signing key fingerprint: ")[1].split()[0]
    assert f"hoso init --school-key {fingerprint}" in done.stdout
    assert "Signed: serial 1." in done.stdout
    # The private key shows nowhere: not in the output, not in the school folder.
    key = schoolprofile.signing_key(schoolprofile.Vault.open(admin.config()))[0]
    secret = base64.b64encode(key.secret).decode()
    assert secret not in done.stdout + done.stderr
    assert all(secret.encode() not in p.read_bytes() for p in school.iterdir())
    again = admin.hoso("school", "sign")
    assert "Signed: serial 2." in again.stdout and fingerprint in again.stdout


# --- hoso school edit ----------------------------------------------------------------------------

EDITOR = """\
import pathlib, sys
count = pathlib.Path(sys.argv[0]).with_suffix(".count")
n = int(count.read_text()) if count.exists() else 0
count.write_text(str(n + 1))
target = pathlib.Path(sys.argv[1])
text = target.read_text(encoding="utf-8")
pathlib.Path(sys.argv[0]).with_suffix(f".seen{n}").write_text(text, encoding="utf-8")
bad = 'date = "soon"' if n == 0 else "date = 2026-12-18"
target.write_text(text.replace("date = 2026-11-30", bad).replace('date = "soon"', bad),
                  encoding="utf-8")
"""


def test_edit_starts_from_this_pcs_values_shows_a_mistake_and_signs_when_valid(
    tmp_path: Path, school: Path
) -> None:
    extra = '[[inspection.schedule]]\ndate = 2026-11-30\nweeks = "10-13"\n'
    local = 'name = "Trường Tiểu học Bình Chánh"\nmailbox = "th.binhchanh@hcm.edu.vn"\n'
    pc = Pc(tmp_path / "admin", school, local=local, extra=extra)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR, encoding="utf-8")
    editor = f"{sys.executable} {script}"
    done = subprocess_with_input(pc, ["school", "edit"], "y\n", {"EDITOR": editor, "VISUAL": ""})
    assert done.returncode == 0, done.stderr
    first = (tmp_path / "editor.seen0").read_text(encoding="utf-8")
    assert 'name = "Trường Tiểu học Bình Chánh"' in first and "[[inspection.schedule]]" in first
    assert "setting `inspection.schedule[0].date`: must be a date like 2026-11-30" in done.stderr
    assert "Signed: serial 1." in done.stdout
    saved = (school / "hoso-truong.toml").read_text(encoding="utf-8")
    assert "date = 2026-12-18" in saved and "soon" not in saved
    assert (school / "hoso-truong.toml.sig").exists()


def test_edit_given_up_after_a_mistake_leaves_the_folders_file(
    tmp_path: Path, admin: Pc, school: Path
) -> None:
    signed_by(admin, PROFILE.replace("2026-12-04", "2026-11-30"), school)
    before = (school / "hoso-truong.toml").read_bytes()
    signature = (school / "hoso-truong.toml.sig").read_bytes()
    script = tmp_path / "editor.py"
    script.write_text(EDITOR, encoding="utf-8")
    done = subprocess_with_input(
        admin, ["school", "edit"], "n\n", {"EDITOR": f"{sys.executable} {script}", "VISUAL": ""}
    )
    assert done.returncode == ExitCode.USAGE
    assert "must be a date like 2026-11-30" in done.stderr
    assert (school / "hoso-truong.toml").read_bytes() == before
    assert (school / "hoso-truong.toml.sig").read_bytes() == signature


def subprocess_with_input(pc: Pc, args: list[str], text: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    return subprocess.run(
        hoso_command("--config", str(pc.config_path), *args),
        input=text,
        capture_output=True,
        text=True,
        env=hoso_env({**pc.env, **env}),
        timeout=120,
    )


def in_terminal(pc: Pc, args: list[str], answer: str):  # type: ignore[no-untyped-def]
    """``hoso`` with a terminal as its input (what it asks is answered by ``answer``)."""
    main, side = os.openpty()
    try:
        os.write(main, answer.encode())
        return subprocess.run(
            hoso_command("--config", str(pc.config_path), *args),
            stdin=side,
            capture_output=True,
            text=True,
            env=hoso_env(pc.env),
            timeout=120,
        )
    finally:
        os.close(side)
        os.close(main)


def test_init_refuses_a_school_key_that_is_no_fingerprint(tmp_path: Path) -> None:
    done = run_hoso(
        "--config", str(tmp_path / "agent.toml"), "init", "--root", str(tmp_path / "HoSo"),
        "--url", "http://127.0.0.1:9/", "--no-check", "--school-key", "not-a-key",
        env={"HOSO_WEBDAV_PASSWORD": "x"},
    )  # fmt: skip
    assert done.returncode == ExitCode.USAGE
    assert "--school-key not-a-key: not a key fingerprint" in done.stderr
    assert not (tmp_path / "agent.toml").exists()


def test_the_config_init_writes_pins_the_school_key(tmp_path: Path) -> None:
    text = configmod.render(
        tmp_path / "HoSo", "http://127.0.0.1:9/", "/", "", school_key="ABCD-EFGH-IJKL-MNOP"
    )
    text += 'folder_url = "Trường"\n'  # --school-url (the school folder's own option) adds it
    config = configmod.from_dict(tomllib.loads(text), tmp_path / "agent.toml")
    assert config.school_folder is not None
    assert config.school_folder.profile_key == "ABCD-EFGH-IJKL-MNOP"


def test_loading_the_config_with_a_profile_in_force_needs_no_cryptography(
    admin: Pc, school: Path
) -> None:
    # The signature is checked when a profile goes into force, not at every config load.
    signed_by(admin, PROFILE, school)
    code = (
        "import sys\nfrom agent import config\n"
        f"cfg = config.load(config.Path({str(admin.config_path)!r}))\n"
        "print(cfg.roles.school.name, 'cryptography' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=hoso_env(), timeout=60
    )
    assert done.stdout.strip() == "Trường Tiểu học Bình Chánh False", done.stdout + done.stderr


def test_envelope_signatures_refuse_any_change() -> None:
    from agent.envelope import verify_signature

    key = SigningKey(bytes(range(32)))
    signature = key.sign(b"hoso")
    assert verify_signature(key.public(), b"hoso", signature)
    assert not verify_signature(key.public(), b"hosO", signature)
    assert not verify_signature(key.public(), b"hoso", signature[:-1] + b"\0")
    assert not verify_signature(SigningKey.generate().public(), b"hoso", signature)
    assert not verify_signature(b"short", b"hoso", signature)
    assert repr(bytes(range(32))) not in repr(key) and bytes(range(32)).hex() not in repr(key)
    assert SigningKey.generate().public() != SigningKey.generate().public()


# --- the format, and the decision alone ----------------------------------------------------------

VECTORS = Path(__file__).resolve().parent / "school_profile_vectors"
VECTOR_KEY = SigningKey(bytes(range(32)))  # the key the committed sample was signed with


def test_the_committed_sample_verifies_and_is_signed_byte_for_byte_the_same() -> None:
    data = (VECTORS / "hoso-truong.toml").read_bytes()
    sig = (VECTORS / "hoso-truong.toml.sig").read_bytes()
    # Ed25519 is deterministic: the same key, bytes, serial and time give the same file. A
    # change of the signed message's layout fails here; bump the version then, keep this one.
    assert schoolprofile.make_signature(VECTOR_KEY, data, 3, T0).to_bytes() == sig
    trust = schoolprofile.Trust(pinned="KZDV-VJ2U-MNDU-YAUF", first_use=None, signers=frozenset())
    verdict = schoolprofile.judge(data, sig, None, trust)
    assert verdict.refused is None and verdict.signature is not None
    assert verdict.signature.serial == 3 and verdict.signer == "KZDV-VJ2U-MNDU-YAUF"


@pytest.mark.parametrize("field", ["key", "serial", "signed_at", "signature"])
def test_every_field_of_the_signature_is_bound(field: str) -> None:
    data = (VECTORS / "hoso-truong.toml").read_bytes()
    document = json.loads((VECTORS / "hoso-truong.toml.sig").read_bytes())
    other = schoolprofile.make_signature(SigningKey(bytes(range(1, 33))), data, 4, T0 + 1)
    document[field] = json.loads(other.to_bytes())[field]
    trust = schoolprofile.Trust("", None, frozenset({other.fingerprint(), "KZDV-VJ2U-MNDU-YAUF"}))
    verdict = schoolprofile.judge(data, json.dumps(document).encode(), None, trust)
    assert verdict.refused is Reason.CHANGED


def _in_force(serial: int, data: bytes = b"x") -> profilestore.InForce:
    return profilestore.InForce(serial, Path("/nowhere/hoso-truong.toml"), data, b"", {})


@pytest.mark.parametrize(
    ("trust", "current", "expected"),
    [
        # Nothing pinned, nothing taken yet: the first signer seen is trusted.
        (schoolprofile.Trust("", None, frozenset()), None, None),
        # Nothing pinned, but a profile was taken before (first use is over): refused.
        (schoolprofile.Trust("", None, frozenset()), 2, Reason.UNKNOWN_KEY),
        # Another signer remembered from first use: refused.
        (schoolprofile.Trust("", "ABCD-EFGH-IJKL-MNOP", frozenset()), None, Reason.UNKNOWN_KEY),
        # Pinned, another key: refused even before any profile.
        (schoolprofile.Trust("ABCD-EFGH-IJKL-MNOP", None, frozenset()), None, Reason.UNKNOWN_KEY),
        # Listed in [[signers]] of the profile in force: taken.
        (
            schoolprofile.Trust("ABCD-EFGH-IJKL-MNOP", None, frozenset({"KZDV-VJ2U-MNDU-YAUF"})),
            2,
            None,
        ),
        # Trusted, but the one in force is newer: an older copy put back.
        (schoolprofile.Trust("KZDV-VJ2U-MNDU-YAUF", None, frozenset()), 4, Reason.OLDER),
    ],
)
def test_who_is_trusted(
    trust: schoolprofile.Trust, current: int | None, expected: Reason | None
) -> None:
    data = (VECTORS / "hoso-truong.toml").read_bytes()
    sig = (VECTORS / "hoso-truong.toml.sig").read_bytes()
    verdict = schoolprofile.judge(data, sig, _in_force(current) if current else None, trust)
    assert verdict.refused is expected
    assert verdict.first_use == (current is None and not trust.pinned and not trust.first_use)


def test_a_damaged_memory_stops_with_one_message_naming_what_to_remove(
    admin: Pc, school: Path
) -> None:
    signed_by(admin, PROFILE, school)
    (admin.state / "school-profile" / "memory.json").write_text("{not json")
    done = admin.hoso("roles")
    assert done.returncode == ExitCode.USAGE
    assert "is damaged. Remove the folder" in done.stderr
    assert str(admin.state / "school-profile") in done.stderr


def test_edit_with_an_untrusted_key_stops_before_the_editor_opens(
    tmp_path: Path, admin: Pc, school: Path
) -> None:
    admin.key = "ABCD-EFGH-IJKL-MNOP"
    admin.write()
    publish(school, PROFILE)
    script = tmp_path / "editor.py"
    script.write_text(EDITOR, encoding="utf-8")
    done = subprocess_with_input(
        admin, ["school", "edit"], "y\n", {"EDITOR": f"{sys.executable} {script}", "VISUAL": ""}
    )
    assert done.returncode == ExitCode.SAFETY_STOP
    assert "is not trusted for the school profile here" in done.stderr
    assert not (tmp_path / "editor.count").exists()
    assert (school / "hoso-truong.toml").read_text(encoding="utf-8") == PROFILE
