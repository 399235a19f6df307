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
from pathlib import Path
from typing import Any

import pytest
from agents import Agent, hoso_command, hoso_env, stop_agent
from servers import PRINCIPAL, SCHOOL_PASSWORDS, SchoolShare, Share, wait_until
from test_handover import ACCOUNT, PASSWORD, WITNESS, all_files
from test_school_folder import _school_passes as school_passes  # (reads .state_dir only)

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
        sync_overrides={"poll_interval": POLL},
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
    `hoso run` going: everything travels through the school folder on the share. Returns
    once minh's confirmation of the password change is on lan's PC."""
    keeper = {"name": NAMES["lan"], "position": POSITIONS["lan"]}
    lan = pc(tmp_path, school, "lan", **SCHOOL, mailbox_keeper=keeper)
    minh = pc(tmp_path, school, "minh", **SCHOOL)
    principal = pc(tmp_path, school, PRINCIPAL, **SCHOOL)
    fields = [arg for k, v in ACCOUNT.items() for arg in ("--field", f"{k}={v}")]
    lan.ok("vault", "set", "school-mailbox", *fields, stdin=PASSWORD + "\n")
    running(stopped, lan, minh, principal)

    key = dict(line.split(": ", 1) for line in minh.ok("handover", "keygen").splitlines())
    giver = dict(line.split(": ", 1) for line in lan.ok("handover", "keygen").splitlines())
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
    for computer in (done.lan, done.minh, done.principal):
        computer.stop()
    assert_handover_complete(done, school)
    # The principal's PC saw every entry through the share, and verifies them too.
    log = handover_log(done.principal)
    assert log["verified"] is True, log["problems"]
    [entry] = log["entries"]
    assert entry["password_changed_at"] and entry["witness"] == WITNESS


@pytest.mark.parametrize("school", ["apache"], indirect=True)  # the wait is the cost
@pytest.mark.xfail(
    strict=True,
    reason="the running agent runs the handover job every 10 minutes (JOB_EVERY), not after "
    "the school pass that brought the receiver's confirmation: the giver's copy stays up to "
    "10 minutes unless a `hoso handover` command runs (daemon wiring, see the report)",
)
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
