"""Issue 16 end to end: one school share, every teacher on an account of their own.

Real school servers (tests/servers.py ``school_share``: Apache with a folder per login and a
shared /truong/, wsgidav with a share per login and a shared mapping), real `hoso run`
agents and `hoso` commands in subprocesses. Each PC has its own HOME, XDG folders, config,
vault (the key file beside the config: no keyring), state folder, records folder on its own
account and local copy of the school folder; nothing moves between PCs but through the share.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, hoso_command, hoso_env, stop_agent
from servers import PRINCIPAL, SCHOOL_PASSWORDS, SchoolShare, Share, wait_until
from test_handover import ACCOUNT, PASSWORD, WITNESS, all_files
from test_school_folder import _school_passes as school_passes  # (reads .state_dir only)

from agent import schoolprofile
from agent.envelope import SigningKey
from agent.roles import public_key_fingerprint
from plugins.handover.ledger import FOLDER, PASSWORD_CHANGED

POLL = 0.5  # seconds: every agent polls the share this often
WAIT = 30.0  # seconds: the most any step may take (a few polls, on a busy machine)
SCHOOL = {
    "name": "Trường Tiểu học Hòa Bình",
    "mailbox": ACCOUNT["address"],
    "decision": {"number": "15/QĐ-THHB", "date": "2026-09-05"},
}
NAMES = {"lan": "Nguyễn Thị Lan", "minh": "Trần Văn Minh", PRINCIPAL: "Lê Văn Hiệu"}
POSITIONS = {"lan": "Văn thư", "minh": "Giáo viên", PRINCIPAL: "Hiệu trưởng"}


def party(login: str) -> str:
    return f"{NAMES[login]}, {POSITIONS[login]}"


@dataclass
class Pc:
    """One person's computer: HOME, XDG folders, config and vault of its own."""

    home: Path
    config_path: Path
    school_root: Path  # its copy of the school folder
    state_dir: Path
    proc: subprocess.Popen[str] | None = None
    logs: list[str] = field(default_factory=list)  # stderr of the agents that ran here

    @property
    def name(self) -> str:
        return self.home.name

    @property
    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "xdg-config"),
            "XDG_STATE_HOME": str(self.home / "xdg-state"),
            "XDG_DATA_HOME": str(self.home / "xdg-data"),
        }

    def hoso(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            hoso_command("--config", str(self.config_path), *args),
            input=stdin,
            capture_output=True,
            text=True,
            env=hoso_env({**self.env, **(env or {})}),
            timeout=120,
            cwd=self.home,
        )

    def ok(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> str:
        done = self.hoso(*args, stdin=stdin, env=env)
        assert done.returncode == 0, f"hoso {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            hoso_command("--config", str(self.config_path), "run"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=hoso_env(self.env),
            cwd=self.home,
        )

    def stop(self) -> str:
        """Stop the running agent; its log (stderr)."""
        if self.proc is None:
            return ""
        _out, err = stop_agent(self.proc)
        self.proc = None
        self.logs.append(err)
        return err

    def vault_names(self) -> list[str]:
        return [row["name"] for row in self.json("vault", "list")]


def records_share(school: SchoolShare, login: str) -> Share:
    """``login``'s own folder on the school's server (the principal's made here: the school
    servers give folders to the teachers only)."""
    if login != PRINCIPAL:
        return school.records(login)
    if not (school.server.data_dir / login).is_dir():
        status, _ = school.server.request("MKCOL", f"{login}/")
        assert status == 201, status
    return Share(
        school.server, school.server.url, login, login, SCHOOL_PASSWORDS[login],
        school.server.data_dir / login,
    )  # fmt: skip


def pc(tmp_path: Path, school: SchoolShare, login: str, **school_keys: Any) -> Pc:
    """``login``'s computer: records folder on their own account, the school folder beside."""
    table = {
        "folder_url": school.folder_url,
        "folder_root": str(tmp_path / login / "Trường"),
        **school_keys,
    }
    agent = Agent(
        tmp_path,
        records_share(school, login),
        name=login,
        # Others' changes here come by plain WebDAV requests (school.put): every poll lists
        # every folder, as a school whose admin sets walk_interval = poll_interval would.
        sync_overrides={
            "poll_interval": POLL, "recent_walk_interval": POLL, "walk_interval": POLL
        },
        school=table,
    )
    return Pc(agent.home, agent.config_path, Path(table["folder_root"]), agent.state_dir)


@pytest.fixture
def stopped() -> Any:
    """Every PC a test starts is stopped at its end, whatever happened."""
    started: list[Pc] = []
    yield started
    for computer in started:
        computer.stop()


def running(stopped: list[Pc], *computers: Pc) -> None:
    for computer in computers:
        computer.start()
        stopped.append(computer)
    for computer in computers:  # each agent's first school pass made and marked its copy
        wait_until(lambda c=computer: (c.school_root / ".hoso-root").is_file(), WAIT,
                   f"{computer.name}'s first school pass")  # fmt: skip


# --- 3. the mailbox handover across two accounts -------------------------------------------------


def handover_log(computer: Pc) -> dict[str, Any]:
    done = computer.hoso("handover", "history", "--json")
    document: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if document["verified"] else 1), done.stderr
    return document


def log_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("nhat-ky-ban-giao-*.jsonl"))}


@dataclass
class Handover:
    lan: Pc
    minh: Pc
    principal: Pc
    bundle: str  # the bundle's file name
    giver_fingerprint: str


def handover_until_confirmed(tmp_path: Path, school: SchoolShare, stopped: list[Pc]) -> Handover:
    """lan (keeper) hands the school mailbox to minh, each on their own PC and account with
    `hoso run` going: everything travels through the school folder on the share, and lan's
    keeper key is pinned for every PC by the principal's signed school profile. Returns
    once minh's confirmation of the password change is on lan's PC."""
    keeper = {"name": NAMES["lan"], "position": POSITIONS["lan"]}
    lan = pc(tmp_path, school, "lan", **SCHOOL, mailbox_keeper=keeper)
    minh = pc(tmp_path, school, "minh", **SCHOOL)
    principal = pc(tmp_path, school, PRINCIPAL, **SCHOOL)
    fields = [arg for k, v in ACCOUNT.items() for arg in ("--field", f"{k}={v}")]
    lan.ok("vault", "set", "school-mailbox", *fields, stdin=PASSWORD + "\n")
    giver = dict(line.split(": ", 1) for line in lan.ok("handover", "keygen").splitlines())
    principal.ok("school", "sync")  # the school folder's copy, for the profile
    profile = tmp_path / "keepers.toml"
    profile.write_text(
        f'[[keepers]]\nname = "{NAMES["lan"]}"\nkey = "{giver["fingerprint"]}"\n',
        encoding="utf-8",
    )
    edit_profile(principal, f"cp {profile}")
    running(stopped, lan, minh, principal)
    for computer in (lan, minh):
        wait_until(
            lambda c=computer: serial_in_force(c) == 1, WAIT, f"the profile on {computer.name}"
        )

    key = dict(line.split(": ", 1) for line in minh.ok("handover", "keygen").splitlines())
    printed = lan.ok(
        "handover", "prepare", "--to", key["public key"], "--receiver", party("minh"),
        "--witness", WITNESS,
    )  # fmt: skip
    [bundle] = [Path(line.split(": ", 1)[1]) for line in printed.splitlines() if "bundle:" in line]
    # Bundle, minutes and log went into lan's copy of the school folder, nowhere else.
    assert bundle.parent == lan.school_root / FOLDER
    assert [p.name for p in lan.home.glob("*.hoso-handover")] == []
    assert len(list(bundle.parent.glob("bien-ban-ban-giao-*.docx"))) == 1
    [lan_log] = log_files(bundle.parent)

    # lan's agent sends them up; minh's brings them down, with nothing done by anyone.
    arrived = minh.school_root / FOLDER / bundle.name
    wait_until(arrived.is_file, WAIT, "the bundle on minh's PC")
    accepted = minh.ok("handover", "accept", "--fingerprint", giver["fingerprint"])
    assert f"Bundle found in the school folder: {arrived}" in accepted
    assert "school-mailbox" in minh.vault_names()

    # minh's acceptance reaches lan's PC through the share; lan keeps her copy until the
    # password is changed.
    [minh_log] = set(log_files(minh.school_root / FOLDER)) - {lan_log}
    wait_until((lan.school_root / FOLDER / minh_log).is_file, WAIT, "minh's entries on lan's PC")
    assert "school-mailbox" in lan.vault_names()

    minh.ok("handover", "confirm", "--password-changed")
    confirmed = minh.school_root / FOLDER / minh_log
    assert PASSWORD_CHANGED.encode() in confirmed.read_bytes()
    wait_until(
        lambda: (lan.school_root / FOLDER / minh_log).read_bytes() == confirmed.read_bytes(),
        WAIT, "minh's confirmation on lan's PC",
    )  # fmt: skip
    # Never by hand: both log files are on the share, under the school folder.
    assert set(log_files(school.path(FOLDER))) == {lan_log, minh_log}
    return Handover(lan, minh, principal, bundle.name, giver["fingerprint"])


def assert_handover_complete(done: Handover, school: SchoolShare) -> None:
    assert "school-mailbox" not in done.lan.vault_names()
    assert "school-mailbox" in done.minh.vault_names()
    for computer in (done.lan, done.minh):
        log = handover_log(computer)
        assert log["verified"] is True and log["problems"] == []
        [entry] = log["entries"]
        assert (entry["giver"], entry["receiver"], entry["witness"]) == (
            party("lan"), party("minh"), WITNESS,
        )  # fmt: skip
        assert entry["accepted_at"] and entry["password_changed_at"]
    # The mailbox password is in no file of the share, nor in any agent's log.
    for path in all_files(school.server.data_dir):
        assert PASSWORD.encode() not in path.read_bytes(), path
    for computer in (done.lan, done.minh, done.principal):
        assert all(PASSWORD not in log for log in computer.logs)


def test_a_handover_between_two_accounts_completes_through_the_share(
    school: SchoolShare, tmp_path: Path, stopped: list[Pc]
) -> None:
    done = handover_until_confirmed(tmp_path, school, stopped)
    # lan's next handover command runs the job that removes her copy (as the agent's does).
    said = done.lan.hoso("handover", "status")
    assert said.returncode == 0, said.stderr
    assert "school-mailbox" not in done.lan.vault_names()
    wait_until(
        lambda: (
            log_files(done.principal.school_root / FOLDER)
            == log_files(done.lan.school_root / FOLDER)
        ),
        WAIT,
        "every handover log entry on the principal's PC",
    )
    for computer in (done.lan, done.minh, done.principal):
        computer.stop()
    assert_handover_complete(done, school)
    # The principal's PC saw every entry through the share, and verifies them too, trusting
    # lan's key as the profile pins it (not on first use).
    log = handover_log(done.principal)
    assert log["verified"] is True, log["problems"]
    assert {k["fingerprint"]: k["how"] for k in log["keys"]}[done.giver_fingerprint] == "pinned"
    [entry] = log["entries"]
    assert entry["password_changed_at"] and entry["witness"] == WITNESS


@pytest.mark.parametrize("school", ["apache"], indirect=True)  # the wait is the cost
def test_the_givers_running_agent_removes_her_copy_within_a_poll(
    school: SchoolShare, tmp_path: Path, stopped: list[Pc]
) -> None:
    done = handover_until_confirmed(tmp_path, school, stopped)
    wait_until(lambda: "school-mailbox" not in done.lan.vault_names(), 10 * POLL + 5,
               "lan's agent removing her copy")  # fmt: skip
    for computer in (done.lan, done.minh, done.principal):
        computer.stop()
    assert_handover_complete(done, school)


# --- 4. a teacher who may only read the school folder ------------------------------------------


def test_a_read_only_teachers_running_agent_keeps_a_refused_file_and_asks_once(
    school_read_only: SchoolShare, tmp_path: Path, stopped: list[Pc]
) -> None:
    school = school_read_only
    school.put("Biểu mẫu/Kế hoạch bài dạy.docx", b"mau")
    minh = pc(tmp_path, school, "minh")
    running(stopped, minh)
    saved = minh.school_root / "Góp ý của Minh.txt"
    saved.write_bytes(b"y kien")
    wait_until(lambda: school.requests("PUT", saved.name, 403), WAIT, "the refused PUT")
    refused_at = school_passes(minh)
    # Several polls later: still one refused request, the file kept as it was, the rest
    # of the folder still synced.
    school.put("Biểu mẫu/Biên bản họp.docx", b"bien ban")
    wait_until(lambda: school_passes(minh) >= refused_at + 4, WAIT, "four more school passes")
    assert (minh.school_root / "Biểu mẫu/Biên bản họp.docx").read_bytes() == b"bien ban"
    assert len(school.requests("PUT", saved.name, 403)) == 1
    assert saved.read_bytes() == b"y kien"
    assert not school.path(saved.name).exists()

    state = minh.json("status")["school_folder"]
    assert state["state"] == "refused", state
    assert [r["path"] for r in state["refused"]] == [saved.name]
    text = minh.ok("status")
    assert "1 file refused by the server (kept on this computer)" in text
    assert saved.name in text
    log = minh.stop()
    # Said once when refused, and once that it is held back: not at every poll.
    assert log.count(f"does not let minh change {saved.name} (HTTP 403)") == 1, log
    assert log.count(f"Held back, not synced until someone acts: {saved.name}") == 1, log
    assert list((minh.home / "HoSo").iterdir()) == [minh.home / "HoSo/.hoso-root"]


# --- 1. the signed profile, pushed once, followed by every PC ------------------------------------

T0 = 1_796_000_000.0  # 2026-11-30: when the forger below signs (a literal time)
TODAY = date.today()  # `hoso status` reminds by the real clock (its process has no other)
FIRST, MOVED = TODAY + timedelta(days=10), TODAY + timedelta(days=20)
PROFILE = f"""\
[school]
name = "Trường Tiểu học Hòa Bình"
mailbox = "{ACCOUNT["address"]}"
decision = {{ number = "15/QĐ-THHB", date = 2026-09-05 }}

[[school.reviewers]]
name = "Lê Văn Cường"
position = "Phó hiệu trưởng"
email = "cuong.lv@hcm.edu.vn"
groups = ["Tổ 1"]

[inspection]
remind_days = 30

[[inspection.schedule]]
date = {FIRST.isoformat()}
weeks = "10-13"
"""
# Others change the school folder here by plain WebDAV requests (school.put): every poll
# lists every folder, as for a school whose admin sets walk_interval = poll_interval.
TEACHER = """
[sync]
poll_interval = {poll}
recent_walk_interval = {poll}
walk_interval = {poll}
settle_seconds = 0.0

[teacher]
name = "{name}"
group = "Tổ 1"
"""


def init_pc(tmp_path: Path, school: SchoolShare, login: str, *extra: str) -> Pc:
    """``login``'s computer set up as the README says: `hoso init … --school-url …` in a
    fresh HOME; then a short poll and who the teacher is, in the config it wrote."""
    home = tmp_path / login
    home.mkdir()
    share = records_share(school, login)
    computer = Pc(home, home / "xdg-config" / "hoso" / "agent.toml", Path(), Path())
    computer.ok(
        "init", "--root", str(home / "HoSo"), "--url", share.url, "--remote-dir", login,
        "--user", login, "--school-url", school.folder_url, *extra,
        env={"HOSO_WEBDAV_PASSWORD": share.password},
    )  # fmt: skip
    with computer.config_path.open("a", encoding="utf-8") as config:
        config.write(TEACHER.format(poll=POLL, name=NAMES[login]))
    folder = computer.json("status")["school_folder"]
    computer.school_root = Path(folder["root"])
    computer.state_dir = home / "xdg-state" / "hoso"
    return computer


def edit_profile(principal: Pc, editor: str) -> str:
    """`hoso school edit` on the principal's PC with ``editor`` as $EDITOR, then `hoso
    school sync` sends it; the signing key's fingerprint."""
    signed = principal.ok("school", "edit", env={"EDITOR": editor, "VISUAL": ""})
    fingerprint = signed.split("Signing key fingerprint: ")[1].split()[0]
    sent = json.loads(principal.ok("school", "sync", "--json"))
    assert set(sent["uploaded"]) >= {"hoso-truong.toml", "hoso-truong.toml.sig"}, sent
    return fingerprint


def roles(computer: Pc) -> dict[str, Any]:
    found: dict[str, Any] = computer.json("roles")
    return found


def serial_in_force(computer: Pc) -> int | None:
    profile = roles(computer).get("profile")
    return profile["serial"] if profile else None


def reminders(computer: Pc) -> list[str]:
    notes = computer.json("status")["plugin_notes"]
    return [n["text"] for n in notes if n["text"].startswith("Inspection on")]


@dataclass
class School:
    principal: Pc
    teachers: tuple[Pc, Pc]
    signer: str  # the principal's signing key fingerprint


def school_with_profile(tmp_path: Path, school: SchoolShare, stopped: list[Pc]) -> School:
    """The principal signs the profile and syncs it; lan and minh, each `hoso init … --school-key`
    with the principal's key, run their agents and take it in within a poll."""
    principal = init_pc(tmp_path, school, PRINCIPAL)
    principal.ok("school", "sync")  # the folder's local copy, before the first profile
    source = tmp_path / "hoso-truong.toml"
    source.write_text(PROFILE, encoding="utf-8")
    signer = edit_profile(principal, f"cp {source}")
    assert school.path("hoso-truong.toml").read_text(encoding="utf-8") == PROFILE
    lan, minh = (
        init_pc(tmp_path, school, login, "--school-key", signer) for login in ("lan", "minh")
    )
    running(stopped, lan, minh)
    for teacher in (lan, minh):
        wait_until(
            lambda t=teacher: serial_in_force(t) == 1, WAIT, f"the profile on {teacher.name}"
        )
    return School(principal, (lan, minh), signer)


def test_a_profile_signed_once_is_followed_by_every_pc_within_a_poll(
    school: SchoolShare, tmp_path: Path, stopped: list[Pc]
) -> None:
    found = school_with_profile(tmp_path, school, stopped)
    for teacher in found.teachers:
        taken = roles(teacher)
        assert [r["name"] for r in taken["my_reviewers"]] == ["Lê Văn Cường"]
        assert taken["profile"]["signer"] == found.signer
        assert taken["sources"]["school.reviewers"] == "profile"
        assert taken["school"]["name"] == "Trường Tiểu học Hòa Bình"
        [reminder] = reminders(teacher)
        assert f"Inspection on {FIRST:%d/%m/%Y}" in reminder
        assert teacher.json("school", "show")["trusted_on_first_use"] is False  # pinned

    # The principal changes one reviewer and moves the inspection, once.
    edit_profile(found.principal, (
        "sed -i -e 's/Lê Văn Cường/Phạm Thu Hà/' "
        f"-e 's/date = {FIRST.isoformat()}/date = {MOVED.isoformat()}/'"
    ))  # fmt: skip
    for teacher in found.teachers:
        wait_until(lambda t=teacher: serial_in_force(t) == 2, WAIT, f"the change on {teacher.name}")
        assert teacher.proc is not None and teacher.proc.poll() is None  # never restarted
        taken = roles(teacher)
        assert [r["name"] for r in taken["my_reviewers"]] == ["Phạm Thu Hà"]
        assert [r["name"] for r in taken["school"]["reviewers"]] == ["Phạm Thu Hà"]
        [reminder] = reminders(teacher)
        assert f"Inspection on {MOVED:%d/%m/%Y}" in reminder
    for teacher in found.teachers:
        log = teacher.stop()
        for serial in (1, 2):  # each taken by the running agent itself, once
            assert log.count(f"school profile serial {serial} is in force") == 1, log
        assert "refused" not in log.lower(), log


# --- 2. a profile tampered with, or signed by an unknown key -------------------------------------


def agent_log(computer: Pc) -> str:
    """What the running agent logged so far (<state_dir>/logs/hoso.log)."""
    path = computer.state_dir / "logs" / "hoso.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def refused_everywhere(computers: tuple[Pc, ...], said: str, why: str) -> None:
    """Each running agent took the school folder's new copy, refused it (its log and `hoso
    school show` say ``said``), and several polls later has said it once; the last good
    profile in force; `hoso status` says it was refused, ``why``."""
    for computer in computers:
        wait_until(lambda c=computer: said in agent_log(c), WAIT, f"{computer.name} refusing")
    passes = {c.name: school_passes(c) for c in computers}
    for computer in computers:
        wait_until(lambda c=computer: school_passes(c) >= passes[c.name] + 4, WAIT, "polls")
        assert agent_log(computer).count(said) == 1, agent_log(computer)
        done = computer.hoso("school", "show")
        assert done.returncode == 4, done.stdout + done.stderr
        assert done.stdout.count(said) == 1 and "In force: serial 1" in done.stdout
        taken = roles(computer)
        assert taken["profile"]["serial"] == 1
        [reviewer] = taken["my_reviewers"]
        assert (reviewer["name"], reviewer["email"]) == ("Lê Văn Cường", "cuong.lv@hcm.edu.vn")
        status = computer.ok("status")
        assert f"The school profile in the school folder was refused ({why})" in status, status


def test_a_tampered_or_foreign_profile_is_refused_and_the_last_good_one_kept(
    school: SchoolShare, tmp_path: Path, stopped: list[Pc]
) -> None:
    found = school_with_profile(tmp_path, school, stopped)
    good = school.path("hoso-truong.toml").read_bytes()

    # lan may write the school folder: from her WebDAV client she changes one byte of the
    # profile (the reviewer's mail address); it reaches every PC, and every PC refuses it.
    tampered = good.replace(b"cuong.lv@", b"cuong.lx@")
    assert len(tampered) == len(good) and tampered != good
    assert school.put("hoso-truong.toml", tampered, as_user="lan") in (200, 201, 204)
    refused_everywhere(
        found.teachers, "was changed after it was signed", "it was changed after it was signed"
    )

    # minh drops a profile signed by a key of his own making (the signature first: the
    # copies in between are "changed after signing" too).
    forger = SigningKey.generate()
    unknown = public_key_fingerprint(forger.public())
    forged = PROFILE.replace("Lê Văn Cường", "Trần Văn Minh").encode()
    signature = schoolprofile.make_signature(forger, forged, 7, T0).to_bytes()
    assert school.put("hoso-truong.toml.sig", signature, as_user="minh") in (200, 201, 204)
    assert school.put("hoso-truong.toml", forged, as_user="minh") in (200, 201, 204)
    refused_everywhere(
        found.teachers,
        f"signed by the key {unknown}",
        "it is signed by a key this computer does not trust",
    )
    for teacher in found.teachers:
        assert (teacher.school_root / "hoso-truong.toml").read_bytes() == forged
        teacher.stop()


# --- 5. no school folder: as before -----------------------------------------------------------


def test_without_a_school_folder_a_signed_profile_in_the_records_is_just_a_file(
    school: SchoolShare, tmp_path: Path, stopped: list[Pc]
) -> None:
    """An agent with no school folder (the rest of that case: tests/test_school_folder.py,
    test_school_profile.py) syncs a signed profile found in its records folder as any file,
    and takes nothing into force: its roles stay its config's."""
    source = PROFILE.encode()
    key = SigningKey.generate()
    share = school.records("lan")
    for name, data in (
        ("hoso-truong.toml", source),
        ("hoso-truong.toml.sig", schoolprofile.make_signature(key, source, 1, T0).to_bytes()),
    ):
        status, _ = school.server.request("PUT", f"lan/{name}", data, login=("lan", share.password))
        assert status in (200, 201, 204)
    agent = Agent(
        tmp_path, share, name="lan", sync_overrides={"poll_interval": POLL},
        school={"name": "Trường của máy này"},
    )  # fmt: skip
    lan = Pc(agent.home, agent.config_path, Path(), agent.state_dir)
    lan.start()
    stopped.append(lan)
    wait_until((agent.root / "hoso-truong.toml.sig").is_file, WAIT, "the records' first pass")
    found = lan.json("roles")
    assert set(found) == {"school", "teacher", "my_reviewers"}  # no profile, no sources
    assert found["school"]["name"] == "Trường của máy này"
    assert found["school"]["reviewers"] == []
    assert lan.json("status")["school_folder"] is None
    log = lan.stop()
    assert not (agent.state_dir / "school-profile").exists()
    assert not (agent.state_dir / "school").exists()
    assert "school folder" not in log and "profile" not in log, log
