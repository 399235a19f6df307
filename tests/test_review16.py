"""Hostile review of issue 16 (school folder, signed school profile): each test shows a
problem found by the review and is expected to fail until it is fixed."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest
from test_school_profile import (
    PROFILE,
    T0,
    Pc,
    in_terminal,
    publish,
    sign_with,
    signed_by,
    subprocess_with_input,
)

from agent import profilestore, schoolprofile
from agent.envelope import SigningKey
from agent.errors import ExitCode, SafetyStop
from agent.roles import public_key_fingerprint
from agent.schoolprofile import Reason, State
from agent.vault import Vault

pytestmark = pytest.mark.usefixtures("_vault_passphrase")


@pytest.fixture
def _vault_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSO_VAULT_PASSPHRASE", "cụm mật khẩu của kho bí mật")


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


def test_a_sig_of_deeply_nested_json_is_refused_as_damaged(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    signed = signed_by(admin, PROFILE, school)
    teacher.key = signed.fingerprint
    teacher.write()
    assert teacher.refresh().state is State.ACCEPTED
    # A teacher who can write the school folder replaces the signature with 4000 "[":
    # well under MAX_SIGNATURE_BYTES.
    (school / "hoso-truong.toml.sig").write_bytes(b"[" * 4000)
    outcome = teacher.refresh(T0 + 60)
    assert outcome.state is State.REFUSED and outcome.reason is Reason.DAMAGED_SIGNATURE


def test_a_forged_sig_serial_cannot_wedge_the_admins_future_profiles(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    signed = signed_by(admin, PROFILE, school)
    teacher.key = signed.fingerprint
    teacher.write()
    assert teacher.refresh().state is State.ACCEPTED
    # The teacher writes a signature file of the right shape with a huge serial, signed by
    # a key of their own (the signature need not even verify).
    sign_with(SigningKey.generate(), school, PROFILE, 2**53 - 2)
    # The admin changes the profile twice, as admins do, signing each time.
    first = signed_by(admin, PROFILE.replace("Lê Văn Cường", "Phạm Thu Hà"), school, T0 + 60)
    assert first.outcome.state is State.ACCEPTED
    assert teacher.refresh(T0 + 61).state is State.ACCEPTED
    second = signed_by(admin, PROFILE.replace("Lê Văn Cường", "Đỗ Văn Bình"), school, T0 + 120)
    # The admin's own, trusted, valid profile must go into force on the teacher's computer.
    assert second.outcome.state is State.ACCEPTED, second.outcome.message
    assert teacher.refresh(T0 + 121).state is State.ACCEPTED


def test_pinning_the_admins_key_ends_a_forgers_first_use_profile(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    # Before the admin publishes, a teacher with write access signs a profile of their own,
    # listing themselves in [[signers]], with a serial the admin will never reach.
    forger = SigningKey.generate()
    forged_fp = public_key_fingerprint(forger.public())
    forged = PROFILE.replace("Lê Văn Cường", "Kẻ Giả Mạo") + (
        f'\n[[signers]]\nname = "Kẻ Giả Mạo"\nkey = "{forged_fp}"\n'
    )
    sign_with(forger, school, forged, 2**53 - 1)
    outcome = teacher.refresh()
    assert outcome.state is State.ACCEPTED and outcome.first_use  # trust on first use (warned)
    # The admin's real profile; the school pins the admin's key on this PC, as the warning
    # told them to.
    real = signed_by(admin, PROFILE, school, T0 + 60)
    teacher.key = real.fingerprint
    teacher.write()
    teacher.refresh(T0 + 61)
    reviewers = [r.name for r in teacher.config().roles.school.reviewers]
    info = profilestore.in_force_info(teacher.state)
    assert info is not None and info.signer == real.fingerprint
    assert reviewers == ["Lê Văn Cường"]


# --- the handover log moved into a school folder this teacher may only read ----------------


def test_a_moved_log_is_never_left_only_on_this_computer(
    school_read_only,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from agents import Agent

    from plugins.handover.moving import move_earlier_logs

    school = school_read_only
    name = "Bàn giao tài khoản/nhat-ky-ban-giao-abcdefghijklmnop.jsonl"
    # A former keeper, now an ordinary teacher who may only read the school folder: the log
    # an earlier hoso kept in the records folder, synced to their own folder on the share.
    minh = Agent(tmp_path, school.records("minh"), name="minh")
    minh.write(name, b'{"v":1,"kind":"prepared"}\n{"v":1,"kind":"password_changed"}\n')
    assert minh.cli("sync").returncode == 0
    records_on_share = school.records("minh").path / name
    assert records_on_share.exists()
    # The upgrade: the school folder is configured and synced down.
    minh = Agent(
        tmp_path,
        school.records("minh"),
        name="minh",
        school={"folder_url": school.folder_url, "folder_root": str(tmp_path / "minh-truong")},
    )
    assert minh.cli("school", "sync").returncode == 0
    moved = move_earlier_logs(minh.config)  # what every handover command and the job do
    assert moved.failed == []
    minh.cli("school", "sync")  # the share refuses the copy (403): kept on this PC only
    minh.cli("sync")  # the records folder's pass
    assert records_on_share.exists() or school.path(name).exists(), (
        "the handover log is on no share any more: only on this computer's disk"
    )


# --- the running agent and a profile another process put in force -------------------------

OWN_WRITES_TTL = 5.5  # agent/watcher.py OwnWrites: events of a path just downloaded are dropped
_SMALL = """\
[school]
name = "Trường Tiểu học Hòa Bình"

[[school.reviewers]]
name = "{reviewer}"
email = "pho.ht@hcm.edu.vn"
groups = ["Tổ 1"]
"""


def test_the_running_agent_follows_a_profile_a_command_put_in_force(
    school_read_only,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import threading
    import time

    from agents import Agent
    from servers import wait_until

    from agent.daemon import Daemon

    school = school_read_only
    key = SigningKey.generate()
    fingerprint = public_key_fingerprint(key.public())

    def signed(reviewer: str, serial: int) -> tuple[bytes, bytes]:
        data = _SMALL.format(reviewer=reviewer).encode()
        return data, schoolprofile.make_signature(key, data, serial, T0 + serial).to_bytes()

    data, sig = signed("Lê Văn Cường", 1)
    school.put("hoso-truong.toml", data)
    school.put("hoso-truong.toml.sig", sig)
    folder = tmp_path / "lan-truong"
    lan = Agent(  # the admin's own PC (lan may write the school folder)
        tmp_path,
        school.records("lan"),
        name="lan",
        sync_overrides={"poll_interval": 0.5},
        school={
            "folder_url": school.folder_url,
            "folder_root": str(folder),
            "profile_key": fingerprint,
        },
    )
    stop = threading.Event()
    daemon = Daemon(lan.config, stop)
    loop = threading.Thread(target=daemon.run)
    loop.start()

    def reviewers() -> list[str]:
        return [r.name for r in daemon.config.roles.school.reviewers]

    try:
        wait_until(lambda: reviewers() == ["Lê Văn Cường"], 30, "the first profile")
        time.sleep(OWN_WRITES_TTL)  # the admin edits later than the agent's own download
        # `hoso school sign` on this PC: the files written into the local school folder,
        # and the profile put in force here by the command's own refresh.
        data, sig = signed("Phạm Thu Hà", 2)
        (folder / "hoso-truong.toml").write_bytes(data)
        (folder / "hoso-truong.toml.sig").write_bytes(sig)
        done = schoolprofile.refresh(lan.config, time.time())
        assert done.state is State.ACCEPTED
        wait_until(lambda: school.path("hoso-truong.toml.sig").read_bytes() == sig, 15, "upload")
        deadline = time.monotonic() + 10  # twenty polls
        while reviewers() != ["Phạm Thu Hà"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reviewers() == ["Phạm Thu Hà"]
    finally:
        stop.set()
        daemon.poke()
        loop.join(30)
    assert not loop.is_alive()


# --- the local school folder's place follows the profile's school name ----------------------


def test_a_profile_naming_the_school_does_not_move_the_local_school_folder(
    school_read_only,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from agents import Agent

    school = school_read_only
    key = SigningKey.generate()
    data = _SMALL.format(reviewer="Lê Văn Cường").encode()
    school.put("hoso-truong.toml", data)
    school.put("hoso-truong.toml.sig", schoolprofile.make_signature(key, data, 1, T0).to_bytes())
    # As `hoso init --school-url … --school-key …` writes it: no folder_root, no local name.
    lan = Agent(
        tmp_path,
        school.records("lan"),
        name="lan",
        school={
            "folder_url": school.folder_url,
            "profile_key": public_key_fingerprint(key.public()),
        },
    )
    before = lan.config.school_folder
    assert before is not None
    first = lan.cli("school", "sync", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["profile"]["state"] == "accepted"
    from agent import config as configmod

    after = configmod.load(lan.config_path).school_folder
    assert after is not None and after.root == before.root
    again = lan.cli("school", "sync")
    assert again.returncode == 0, again.stderr


# --- the handover log deleted on the share by anyone who may write there --------------------


def test_a_handover_log_deleted_on_the_share_can_be_restored(
    school_read_only,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from agents import Agent

    school = school_read_only
    name = "Bàn giao tài khoản/nhat-ky-ban-giao-abcdefghijklmnop.jsonl"
    school.put(name, b'{"v":1,"kind":"prepared"}\n')
    lan = Agent(
        tmp_path,
        school.records("lan"),
        name="lan",
        school={"folder_url": school.folder_url, "folder_root": str(tmp_path / "lan-truong")},
    )
    assert lan.cli("school", "sync").returncode == 0
    assert (tmp_path / "lan-truong" / name).exists()
    school.path(name).unlink()  # a teacher allowed to write there deletes the log
    assert lan.cli("school", "sync").returncode == 0
    assert not (tmp_path / "lan-truong" / name).exists()
    # The records folder's trash does not hold it; the school folder's does.
    assert json.loads(lan.cli("trash", "list", "--json").stdout) == []
    listed = lan.cli("trash", "list", "--school", "--json")
    [item] = [i for i in json.loads(listed.stdout or "[]") if i["path"] == name]
    assert item["reason"] == "deleted_on_share"
    done = lan.cli("trash", "restore", "--school", str(item["id"]))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lan-truong" / name).read_bytes() == b'{"v":1,"kind":"prepared"}\n'
    assert json.loads(lan.cli("trash", "list", "--school", "--json").stdout) == []
    assert lan.cli("school", "sync").returncode == 0  # and back on the share for everyone
    assert school.path(name).read_bytes() == b'{"v":1,"kind":"prepared"}\n'


def test_the_school_trash_needs_a_school_folder(
    school_read_only,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from agents import Agent

    lan = Agent(tmp_path, school_read_only.records("lan"), name="lan")
    for args in (("list", "--school"), ("restore", "--school", "1")):
        done = lan.cli("trash", *args)
        assert done.returncode == 2 and "No school folder is set" in done.stderr, done
        assert done.stdout == ""


def test_hoso_status_warns_of_an_oversized_profile_it_refused(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    signed = signed_by(admin, PROFILE, school)
    teacher.key = signed.fingerprint
    teacher.write()
    assert teacher.refresh().state is State.ACCEPTED
    publish(school, PROFILE + "#" * (schoolprofile.MAX_PROFILE_BYTES + 10) + "\n")
    outcome = teacher.refresh(T0 + 60)
    assert outcome.state is State.REFUSED
    assert profilestore.refusal_warning(teacher.config()) is not None


# --- a clock a year off -------------------------------------------------------------------------


def test_a_refusal_recorded_by_a_clock_a_year_ahead_is_retried_within_a_day() -> None:
    from agent import refusals
    from agent.model import Action, ActionKind, Kind, LocalEntry, Plan, Reason

    local = LocalEntry("Bàn giao/log.txt", Kind.FILE, size=5, mtime_ns=100)
    upload = Action(ActionKind.UPLOAD, "Bàn giao/log.txt", Reason.NEW_LOCAL, local=local)
    year = 365 * 86400.0
    right_now = T0
    # Refused while the PC's clock said a year later: retry "a day later" than that.
    refused = refusals.Refusal(
        "Bàn giao/log.txt", refusals.version(upload), "403", right_now + year + refusals.RETRY_AFTER
    )
    # The clock was put right; two days pass, the file unchanged: it is worth one more try.
    held = refusals.hold(Plan((upload,)), [refused], now=right_now + 2 * 86400)
    assert held.plan.actions == (upload,)


def test_the_running_agent_follows_a_profile_its_school_sync_request_brought(
    school_read_only,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    import threading

    from agents import Agent
    from servers import wait_until

    from agent.daemon import Daemon, _take_lock

    school = school_read_only
    key = SigningKey.generate()

    def put(reviewer: str, serial: int) -> None:
        data = _SMALL.format(reviewer=reviewer).encode()
        school.put("hoso-truong.toml", data)
        school.put(
            "hoso-truong.toml.sig",
            schoolprofile.make_signature(key, data, serial, T0 + serial).to_bytes(),
        )

    put("Lê Văn Cường", 1)
    lan = Agent(
        tmp_path,
        school.records("lan"),
        name="lan",
        sync_overrides={"poll_interval": 3600.0},  # only the teacher's request brings it
        school={
            "folder_url": school.folder_url,
            "folder_root": str(tmp_path / "lan-truong"),
            "profile_key": public_key_fingerprint(key.public()),
        },
    )
    stop = threading.Event()
    lock = _take_lock(lan.config, stop)
    assert lock is not None
    daemon = Daemon(lan.config, stop, serve_requests=True)
    loop = threading.Thread(target=daemon.run)
    with lock:
        loop.start()

        def reviewers() -> list[str]:
            return [r.name for r in daemon.config.roles.school.reviewers]

        try:
            wait_until(lambda: reviewers() == ["Lê Văn Cường"], 30, "the first profile")
            put("Phạm Thu Hà", 2)
            done = lan.cli("school", "sync", "--json")
            assert done.returncode == 0, done.stderr
            # Taken by this request, or a moment before by the lane's own first scan pass:
            # either way the running agent must follow it.
            assert json.loads(done.stdout)["profile"]["state"] in ("accepted", "in-force")
            served = [r.getMessage() for r in caplog.records]
            assert "request school.sync carried out" in served  # by the agent, not the CLI
            wait_until(lambda: reviewers() == ["Phạm Thu Hà"], 5, "the agent on serial 2")
        finally:
            stop.set()
            daemon.poke()
            loop.join(30)
    assert not loop.is_alive()


def test_school_edit_starts_from_the_profile_in_force_not_a_tampered_copy(
    admin: Pc, school: Path
) -> None:
    signed_by(admin, PROFILE, school)
    forger = public_key_fingerprint(SigningKey.generate().public())
    # A teacher who can write the school folder adds a signer of their own, far below.
    tampered = PROFILE + f'\n[[signers]]\nname = "Văn thư"\nkey = "{forger}"\n'
    publish(school, tampered)
    assert admin.refresh(T0 + 60).reason is Reason.CHANGED
    text = schoolprofile.template(admin.config())
    assert forger not in text


# --- what the fixes above needed besides ------------------------------------------------------


def _tampered(admin: Pc, school: Path) -> tuple[str, bytes]:
    """The admin's signed profile with a signer a teacher slipped in below; the forger's
    fingerprint and the admin's signature file."""
    signed_by(admin, PROFILE, school)
    forger = public_key_fingerprint(SigningKey.generate().public())
    publish(school, PROFILE + f'\n[[signers]]\nname = "Văn thư"\nkey = "{forger}"\n')
    return forger, (school / "hoso-truong.toml.sig").read_bytes()


def test_school_sign_without_a_terminal_refuses_a_tampered_copy_naming_the_change(
    admin: Pc, school: Path
) -> None:
    forger, signature = _tampered(admin, school)
    done = admin.hoso("school", "sign")
    assert done.returncode == ExitCode.SAFETY_STOP, done.stderr
    assert "is not a copy a trusted key signed" in done.stderr
    assert "the profile in force (serial 1)" in done.stderr
    assert f'+key = "{forger}"' in done.stderr and "+[[signers]]" in done.stderr
    assert "hoso school edit" in done.stderr
    assert (school / "hoso-truong.toml.sig").read_bytes() == signature
    assert profilestore.in_force_info(admin.state).serial == 1  # type: ignore[union-attr]
    # The refusal of the folder's copy no longer tells the admin to just sign it again.
    outcome = admin.refresh(T0 + 60)
    assert (
        outcome.reason is Reason.CHANGED and "starts from the profile in force" in outcome.message
    )


def test_school_sign_does_not_sign_an_older_signed_copy_put_back_without_asking(
    admin: Pc, school: Path
) -> None:
    signed_by(admin, PROFILE.replace("Lê Văn Cường", "Người Cũ"), school)
    old = (school / "hoso-truong.toml").read_bytes(), (school / "hoso-truong.toml.sig").read_bytes()
    signed_by(admin, PROFILE, school, T0 + 60)
    (school / "hoso-truong.toml").write_bytes(old[0])
    (school / "hoso-truong.toml.sig").write_bytes(old[1])
    assert admin.refresh(T0 + 120).reason is Reason.OLDER
    done = admin.hoso("school", "sign")
    assert done.returncode == ExitCode.SAFETY_STOP, done.stdout
    assert '-name = "Lê Văn Cường"' in done.stderr and '+name = "Người Cũ"' in done.stderr
    assert (school / "hoso-truong.toml.sig").read_bytes() == old[1]
    assert profilestore.in_force_info(admin.state).serial == 2  # type: ignore[union-attr]


def test_school_sign_in_a_terminal_shows_the_difference_and_signs_only_on_yes(
    admin: Pc, school: Path
) -> None:
    forger, signature = _tampered(admin, school)
    refused = in_terminal(admin, ["school", "sign"], "n\n")
    assert refused.returncode == ExitCode.SAFETY_STOP
    assert (
        f'+key = "{forger}"' in refused.stdout and "Sign it with these changes?" in refused.stdout
    )
    assert (school / "hoso-truong.toml.sig").read_bytes() == signature
    done = in_terminal(admin, ["school", "sign"], "y\n")
    assert done.returncode == 0, done.stderr
    assert "Signed: serial 2." in done.stdout
    assert profilestore.in_force_info(admin.state).serial == 2  # type: ignore[union-attr]


def test_school_edit_with_a_tampered_copy_opens_the_profile_in_force_and_signs_what_was_saved(
    tmp_path: Path, admin: Pc, school: Path
) -> None:
    forger, _signature = _tampered(admin, school)
    script = tmp_path / "editor.py"
    script.write_text(
        "import pathlib, sys\n"
        "target = pathlib.Path(sys.argv[1])\n"
        "text = target.read_text(encoding='utf-8')\n"
        "pathlib.Path(sys.argv[0]).with_suffix('.seen').write_text(text, encoding='utf-8')\n"
        "target.write_text(text.replace('remind_days = 7', 'remind_days = 5'), "
        "encoding='utf-8')\n",
        encoding="utf-8",
    )
    done = subprocess_with_input(
        admin, ["school", "edit"], "", {"EDITOR": f"{sys.executable} {script}", "VISUAL": ""}
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "editor.seen").read_text(encoding="utf-8") == PROFILE
    assert "Signed: serial 2." in done.stdout
    in_force = profilestore.in_force(admin.state)
    assert in_force is not None and forger not in in_force.data.decode()
    assert in_force.data.decode() == PROFILE.replace("remind_days = 7", "remind_days = 5")


def test_signing_past_the_largest_serial_is_refused_with_one_message(
    admin: Pc, school: Path
) -> None:
    key = schoolprofile.signing_key(Vault.open(admin.config(), create=True))[0]
    sign_with(key, school, PROFILE, profilestore.MAX_SERIAL)
    assert admin.refresh().state is State.ACCEPTED
    signature = (school / "hoso-truong.toml.sig").read_bytes()
    with pytest.raises(SafetyStop, match="would pass the largest one the format allows"):
        schoolprofile.sign(admin.config(), T0 + 60)
    assert (school / "hoso-truong.toml.sig").read_bytes() == signature


def test_a_set_aside_first_use_profile_is_warned_of_and_its_values_no_longer_apply(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    forger = SigningKey.generate()
    forged_fp = public_key_fingerprint(forger.public())
    sign_with(forger, school, PROFILE.replace("Lê Văn Cường", "Kẻ Giả Mạo"), 7)
    assert teacher.refresh().first_use
    admin_key = schoolprofile.signing_key(Vault.open(admin.config(), create=True))[0]
    pinned = public_key_fingerprint(admin_key.public())
    teacher.key = pinned
    teacher.write()
    # From the moment the key is pinned, before any check, the forger's values stop applying.
    assert teacher.config().roles.school.reviewers == ()
    early = profilestore.first_use_warning(teacher.config())
    assert early is not None and forged_fp in early
    # The folder still holds the forger's copy: refused, and nothing of it applies here.
    assert teacher.refresh(T0 + 60).reason is Reason.UNKNOWN_KEY
    assert profilestore.in_force(teacher.state) is None
    assert teacher.config().roles.school.reviewers == ()
    warning = profilestore.first_use_warning(teacher.config())
    assert warning is not None and forged_fp in warning and pinned in warning
    status = teacher.hoso("status")
    assert forged_fp in status.stdout + status.stderr
    signed_by(admin, PROFILE, school, T0 + 120)
    assert teacher.refresh(T0 + 121).state is State.ACCEPTED
    assert profilestore.first_use_warning(teacher.config()) is None


def test_after_a_first_use_profile_is_set_aside_the_pinned_keys_older_profiles_stay_refused(
    teacher: Pc, school: Path
) -> None:
    forger, admin = SigningKey.generate(), SigningKey.generate()
    pinned = public_key_fingerprint(admin.public())
    # The forger came first, once listed the admin as a signer, the admin signed twice, then
    # the forger signed a serial the admin would never reach.
    listing = PROFILE + f'\n[[signers]]\nname = "Hiệu trưởng"\nkey = "{pinned}"\n'
    sign_with(forger, school, listing, 1)
    assert teacher.refresh().first_use
    sign_with(admin, school, listing.replace("Lê Văn Cường", "Người Cũ"), 2)
    old = (school / "hoso-truong.toml").read_bytes(), (school / "hoso-truong.toml.sig").read_bytes()
    assert teacher.refresh(T0 + 60).state is State.ACCEPTED
    sign_with(admin, school, listing, 3)
    admins = (
        (school / "hoso-truong.toml").read_bytes(),
        (school / "hoso-truong.toml.sig").read_bytes(),
    )
    assert teacher.refresh(T0 + 120).state is State.ACCEPTED
    sign_with(forger, school, listing.replace("Lê Văn Cường", "Kẻ Giả Mạo"), 2**53 - 1)
    assert teacher.refresh(T0 + 180).state is State.ACCEPTED
    teacher.key = pinned
    teacher.write()
    # The admin's older profile put back is refused: this computer had serial 3 of that key.
    (school / "hoso-truong.toml").write_bytes(old[0])
    (school / "hoso-truong.toml.sig").write_bytes(old[1])
    outcome = teacher.refresh(T0 + 240)
    assert outcome.reason is Reason.OLDER, outcome.message
    assert "already took (serial 3)" in outcome.message
    assert profilestore.in_force(teacher.state) is None
    (school / "hoso-truong.toml").write_bytes(admins[0])
    (school / "hoso-truong.toml.sig").write_bytes(admins[1])
    assert teacher.refresh(T0 + 300).state is State.ACCEPTED
    assert [r.name for r in teacher.config().roles.school.reviewers] == ["Lê Văn Cường"]


def test_a_refresh_waits_for_another_holding_the_profile_memory(
    admin: Pc, teacher: Pc, school: Path
) -> None:
    signed_by(admin, PROFILE, school)
    outcomes: list[schoolprofile.Outcome] = []
    with profilestore.memory_lock(teacher.state):
        waiting = threading.Thread(target=lambda: outcomes.append(teacher.refresh()))
        waiting.start()
        waiting.join(1.0)  # a bound, not a synchronisation: it must still be waiting after
        assert waiting.is_alive() and outcomes == []
        assert profilestore.in_force(teacher.state) is None
    waiting.join(30)
    assert [o.state for o in outcomes] == [State.ACCEPTED]
