"""Hostile review of issue 16 (school folder, signed school profile): each test shows a
problem found by the review and is expected to fail until it is fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_school_profile import PROFILE, T0, Pc, publish, sign_with, signed_by

from agent import profilestore, schoolprofile
from agent.envelope import SigningKey
from agent.roles import public_key_fingerprint
from agent.schoolprofile import Reason, State

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


@pytest.mark.xfail(
    strict=True,
    reason="review16: a .sig of deeply nested JSON raises RecursionError out of "
    "profilestore.parse_signature (only ValueError/KeyError/TypeError are caught)",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review16: `hoso school sign` takes the serial of the folder's unverified .sig: "
    "a teacher's .sig with serial 2**53-2 pushes the admin to the ceiling, after which "
    "every profile the admin signs is unreadable (serial 2**53) and refused everywhere",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review16: a profile taken on first use from a forger stays in force after the "
    "admin's key is pinned, silently (the first-use warning disappears), and the forger's "
    "[[signers]] entry keeps the forger trusted",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review16: agent/daemon.py _school_profile reloads only on State.ACCEPTED; a "
    "profile a command put in force (`hoso school sign` on the admin's PC, `hoso school "
    "show`) is IN_FORCE for the agent's refresh, so the running agent keeps the old "
    "reviewers/calendar/keepers until restarted",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review16: agent/config.py _school_folder derives the default folder_root from "
    "the MERGED [school] name, so the first profile naming the school moves the local "
    "school folder: the lane then meets a 'missing' folder (safety stop) and the profile, "
    "the handover log and the templates are looked for in an empty place",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review16: profilestore.refusal_warning reads the folder's profile whole (no "
    "size cap) and digests it, while refresh digested only its first MAX_PROFILE_BYTES+1: "
    "an oversized profile is refused but `hoso status` never says so (and reads any size "
    "into memory)",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review16: agent/refusals.py hold() trusts a retry date recorded by a clock a "
    "year ahead: once the clock is put right, an unchanged refused path is not tried again "
    "for a year instead of a day",
)
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


@pytest.mark.xfail(
    strict=True,
    reason="review16: agent/control.py school_sync (served by the running agent) takes the "
    "new profile into force itself; the after-pass callback then finds it IN_FORCE and "
    "agent/daemon.py never reloads: a teacher's `hoso school sync` leaves the running agent "
    "on the old reviewers/calendar/keepers",
)
def test_the_running_agent_follows_a_profile_its_school_sync_request_brought(
    school_read_only,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    import threading
    import time

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
            assert json.loads(done.stdout)["profile"]["state"] == "accepted"
            served = [r.getMessage() for r in caplog.records]
            assert "request school.sync carried out" in served  # by the agent, not the CLI
            deadline = time.monotonic() + 5
            while reviewers() != ["Phạm Thu Hà"] and time.monotonic() < deadline:
                time.sleep(0.1)
            assert reviewers() == ["Phạm Thu Hà"]
        finally:
            stop.set()
            daemon.poke()
            loop.join(30)
    assert not loop.is_alive()


@pytest.mark.xfail(
    strict=True,
    reason="review16: schoolprofile.template (`hoso school edit`) starts from the school "
    "folder's copy as it stands, even when a teacher changed it after it was signed: the "
    "admin edits one date, saves, and signs the teacher's hidden [[signers]]/[[keepers]] "
    "lines into force on every PC",
)
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
