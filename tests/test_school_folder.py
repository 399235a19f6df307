"""The school folder: a second folder of the share every agent keeps (issue 16, item 1).

Real school shares (tests/servers.py: Apache with per-user folders and a shared /truong/,
wsgidav with per-user shares and a shared mapping), real `hoso` processes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from agents import MARKER, Agent, hoso_command, hoso_env, run_hoso, stop_agent
from servers import PRINCIPAL, SchoolShare, free_port, wait_until

from agent import config as configmod
from agent import refusals, schoolfolder
from agent.daemon import Daemon
from agent.model import Action, ActionKind, Kind, LocalEntry, Plan, Reason, RemoteEntry
from agent.sync import PassResult

TEMPLATE = "Biểu mẫu/Kế hoạch bài dạy.docx"
PROFILE = "hoso-truong.toml"
LOG = "Bàn giao tài khoản/nhat-ky.txt"


def teacher(tmp_path: Path, school: SchoolShare, user: str, **kw) -> Agent:
    """A teacher's agent: their own folder as the records folder, the school folder beside."""
    home = tmp_path / user
    return Agent(
        tmp_path,
        school.records(user),
        name=user,
        school={"folder_url": school.folder_url, "folder_root": str(home / "Truong")},
        **kw,
    )


def school_root(agent: Agent) -> Path:
    assert agent.config.school_folder is not None
    return agent.config.school_folder.root


def school_sync(agent: Agent, *args: str) -> tuple[int, dict, str]:
    done = agent.cli("school", "sync", "--json", *args)
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def _school_passes(agent: Agent) -> int:
    journal = agent.state_dir / "school" / "journal.sqlite3"
    if not journal.exists():
        return 0
    with contextlib.closing(sqlite3.connect(journal)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if "passes" not in tables:  # being made
            return 0
        return int(db.execute("SELECT count(*) FROM passes").fetchone()[0])


def status(agent: Agent) -> dict:
    done = agent.cli("status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- both teachers get the school folder ---------------------------------------------------


def test_two_teachers_on_their_own_accounts_get_the_school_folder(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(TEMPLATE, b"mau ke hoach")
    lan, minh = teacher(tmp_path, school, "lan"), teacher(tmp_path, school, "minh")
    for agent in (lan, minh):
        code, report, err = school_sync(agent)
        assert code == 0, err
        assert report["downloaded"] == [TEMPLATE]
        assert (school_root(agent) / TEMPLATE).read_bytes() == b"mau ke hoach"
        assert (school_root(agent) / MARKER).is_file()  # its own marker, as the records'
        assert agent.tree() == {}  # the records folder is another folder
    # The principal puts the profile there: the next pass of each brings it.
    assert school.put(PROFILE, b'name = "TH Hoa Binh"\n') == 201
    for agent in (lan, minh):
        code, report, err = school_sync(agent)
        assert (code, report["downloaded"]) == (0, [PROFILE]), err
        assert (school_root(agent) / PROFILE).read_bytes() == b'name = "TH Hoa Binh"\n'
    # Each teacher's own folder on the share holds nothing of the school's.
    assert sorted(p.name for p in (school.server.data_dir / "lan").iterdir()) == []
    # The school folder has a journal of its own beside the records folder's.
    assert (lan.state_dir / "school" / "journal.sqlite3").is_file()
    assert not (lan.state_dir / "journal.sqlite3").exists()


def test_a_teacher_allowed_to_write_sends_a_change_up(school: SchoolShare, tmp_path: Path) -> None:
    lan = teacher(tmp_path, school, "lan")
    assert school_sync(lan)[0] == 0
    (school_root(lan) / "Bàn giao tài khoản").mkdir()
    (school_root(lan) / LOG).write_bytes(b"nhan ban giao")
    code, report, err = school_sync(lan)
    assert code == 0, err
    assert report["uploaded"] == [LOG]
    assert school.path(LOG).read_bytes() == b"nhan ban giao"


def test_dry_run_changes_nothing(school: SchoolShare, tmp_path: Path) -> None:
    school.put(TEMPLATE, b"mau")
    lan = teacher(tmp_path, school, "lan")
    code, report, err = school_sync(lan, "--dry-run")
    assert (code, report["downloaded"]) == (0, [TEMPLATE]), err
    assert not (school_root(lan) / TEMPLATE).exists()


def test_without_a_school_folder_the_command_says_how_to_set_it(
    school: SchoolShare, tmp_path: Path
) -> None:
    lan = Agent(tmp_path, school.records("lan"), name="lan")
    done = lan.cli("school", "sync")
    assert done.returncode == 2
    assert "folder_url" in done.stderr and "[school]" in done.stderr
    assert done.stdout == ""
    assert not (lan.state_dir / "school").exists()


def test_a_school_folder_not_on_the_share_is_never_created(
    school: SchoolShare, tmp_path: Path
) -> None:
    lan = teacher(tmp_path, school, "lan")
    wrong = dict(lan.raw["school"], folder_url=school.folder_url + "nam-truoc/")
    lan = Agent(tmp_path, school.records("lan"), name="lan", school=wrong)
    code, _report, err = school_sync(lan)
    assert code == 2, err
    assert "nam-truoc" in err and "folder_url" in err
    assert not school.path("nam-truoc").exists()


# --- a teacher who may only read the school folder -------------------------------------------


def test_a_refused_write_is_kept_reported_and_sent_once(
    school_read_only: SchoolShare, tmp_path: Path
) -> None:
    school = school_read_only
    school.put(TEMPLATE, b"mau")
    minh = teacher(tmp_path, school, "minh")
    assert school_sync(minh)[0] == 0
    (school_root(minh) / "Bàn giao tài khoản").mkdir()
    (school_root(minh) / LOG).write_bytes(b"minh nhan")
    (school_root(minh) / "ghi-chu.txt").write_bytes(b"ghi chu")

    code, report, err = school_sync(minh)
    assert code == 1  # as `hoso sync`: some items failed
    failed = {f["path"]: f["error"] for f in report["failed"]}
    assert set(failed) == {"Bàn giao tài khoản", LOG, "ghi-chu.txt"}
    assert "HTTP 403" in failed[LOG] and "minh" in failed[LOG]
    assert "HTTP 403" in err

    # Later passes leave it alone: nothing sent, reported as held back, exit 0.
    school.put("Biểu mẫu/Biên bản họp.docx", b"bien ban")  # the rest still comes down
    for _ in range(3):
        code, report, err = school_sync(minh)
        assert code == 0, err
        assert report["failed"] == []
        assert {s["path"]: s["reason"] for s in report["skipped"]} == {
            "Bàn giao tài khoản": refusals.REASON,
            LOG: refusals.REASON,
            "ghi-chu.txt": refusals.REASON,
        }
    assert (school_root(minh) / "Biểu mẫu/Biên bản họp.docx").read_bytes() == b"bien ban"
    assert (school_root(minh) / LOG).read_bytes() == b"minh nhan"  # kept, untouched
    assert not school.path("Bàn giao tài khoản").exists()
    # The server saw each refused request once, not once per pass (the probe's neither).
    assert len(school.requests("PUT", LOG, 403)) == 1
    assert len(school.requests("MKCOL", "Bàn giao tài khoản/", 403)) == 1
    lines = school.server.logged_requests()
    probes = [line for line in lines if "MKCOL" in line and "probe" in line]
    assert len(probes) == 1

    state = status(minh)["school_folder"]
    assert state["state"] == "refused"
    assert {r["path"] for r in state["refused"]} == {"Bàn giao tài khoản", LOG, "ghi-chu.txt"}
    text = minh.cli("status").stdout
    assert "3 files refused by the server (kept on this computer)" in text

    # A change here is worth one more try (refused again: still one request per change);
    # what is in a folder the share would not create waits with its folder.
    time.sleep(0.01)
    (school_root(minh) / "ghi-chu.txt").write_bytes(b"ghi chu, sua lai")
    (school_root(minh) / LOG).write_bytes(b"minh nhan, sua lai")
    code, report, _err = school_sync(minh)
    assert code == 1 and [f["path"] for f in report["failed"]] == ["ghi-chu.txt"]
    assert len(school.requests("PUT", "ghi-chu.txt", 403)) == 2
    assert len(school.requests("PUT", LOG, 403)) == 1
    assert (school_root(minh) / "ghi-chu.txt").read_bytes() == b"ghi chu, sua lai"


def test_the_records_folder_gets_the_same_treatment(
    school_read_only: SchoolShare, tmp_path: Path
) -> None:
    """A read-only folder as the records folder (minh on /truong/): the same refusal, kept,
    sent once; before, a 403 stopped every pass (exit 3) and was sent again at each poll."""
    school = school_read_only
    school.put(TEMPLATE, b"mau")
    share = school.records("minh")
    share = type(share)(share.server, share.url, "truong", "minh", share.password, school.path())
    minh = Agent(tmp_path, share, name="minh")
    minh.write("giao-an.docx", b"cua minh")
    first = minh.cli("sync", "--json")
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert report["downloaded"] == [TEMPLATE]  # the rest of the pass went on
    assert [f["path"] for f in report["failed"]] == ["giao-an.docx"]
    for _ in range(2):
        again = minh.cli("sync", "--json")
        assert again.returncode == 0, again.stderr
    assert minh.read("giao-an.docx") == b"cua minh"
    assert len(school.requests("PUT", "giao-an.docx", 403)) == 1


def test_refusals_hold_until_the_version_changes_or_a_day_passes() -> None:
    local = LocalEntry("Bàn giao/log.txt", Kind.FILE, size=5, mtime_ns=100)
    upload = Action(ActionKind.UPLOAD, "Bàn giao/log.txt", Reason.NEW_LOCAL, local=local)
    below = Action(ActionKind.UPLOAD, "Bàn giao/khac.txt", Reason.NEW_LOCAL, local=local)
    down = Action(
        ActionKind.DOWNLOAD,
        "Bàn giao/mau.docx",
        Reason.NEW_REMOTE,
        remote=RemoteEntry("Bàn giao/mau.docx", Kind.FILE, etag="e1", size=3),
    )
    folder = refusals.Refusal("Bàn giao", "here:dir", "403", retry_after=1000.0)
    refused = refusals.Refusal("Bàn giao/log.txt", refusals.version(upload), "403", 1000.0)
    plan = Plan((upload, below, down))

    held = refusals.hold(plan, [folder, refused], now=500.0)
    assert held.plan.actions == (down,)  # a download into the folder is no write
    assert {r.path for r in held.held} == {"Bàn giao", "Bàn giao/log.txt"}

    changed = Action(
        ActionKind.UPLOAD,
        "Bàn giao/log.txt",
        Reason.CHANGED_LOCAL,
        local=LocalEntry("Bàn giao/log.txt", Kind.FILE, size=6, mtime_ns=200),
    )
    assert refusals.hold(Plan((changed,)), [refused], now=500.0).plan.actions == (changed,)
    assert refusals.hold(plan, [refused], now=1000.0).plan.actions == plan.actions  # a day on
    gone = refusals.hold(Plan((down,)), [refused], now=500.0)
    assert gone.stale == ("Bàn giao/log.txt",) and gone.plan.actions == (down,)


# --- the agent keeps it ------------------------------------------------------------------------


def test_the_agent_keeps_the_school_folder_beside_the_records(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(TEMPLATE, b"mau")
    # The root is always a recent folder: listed at each recent walk (docs/sync.md).
    overrides = {"poll_interval": 1.0, "recent_walk_interval": 2.0}
    lan = teacher(tmp_path, school, "lan", sync_overrides=overrides)
    proc = lan.popen("run")
    try:
        wait_until(lambda: (school_root(lan) / TEMPLATE).is_file(), 30, "the first school pass")
        # A hoso command writes a handover entry there: it goes up as soon as it settles.
        (school_root(lan) / "Bàn giao tài khoản").mkdir()
        (school_root(lan) / LOG).write_bytes(b"ban giao")
        wait_until(lambda: school.path(LOG).is_file(), 30, "the entry on the share")
        # The principal changes something there with another WebDAV client: it comes down
        # at the next recent walk.
        school.put(PROFILE, b"v1")
        wait_until(lambda: (school_root(lan) / PROFILE).is_file(), 30, "the profile here")
        # The records folder goes on as always.
        lan.write("Tuần 1/giao-an.docx", b"ke hoach")
        records = school.server.data_dir / "lan" / "Tuần 1" / "giao-an.docx"
        wait_until(records.is_file, 30, "the record on the share")
        state = status(lan)["school_folder"]
        assert state["state"] == "synced", state
    finally:
        _out, err = stop_agent(proc)
    assert school.path(LOG).read_bytes() == b"ban giao"
    assert (school_root(lan) / PROFILE).read_bytes() == b"v1"
    assert "WARNING school folder" not in err and "ERROR school folder" not in err, err


def test_an_unreachable_school_folder_never_stops_the_records(
    school: SchoolShare, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/truong/"
    lan = Agent(
        tmp_path,
        school.records("lan"),
        name="lan",
        sync_overrides={"poll_interval": 0.5},
        school={"folder_url": dead, "folder_root": str(tmp_path / "lan" / "Truong")},
    )
    proc = lan.popen("run")
    try:
        wait_until(
            lambda: status(lan)["school_folder"]["state"] == "unreachable",
            30,
            "the school lane's first attempt",
        )
        for n in range(3):  # several polls of both lanes, the school one failing each time
            lan.write(f"ghi-chu-{n}.txt", b"x")
            target = school.server.data_dir / "lan" / f"ghi-chu-{n}.txt"
            wait_until(target.is_file, 30, "the record on the share")
        state = status(lan)["school_folder"]
        assert state["state"] == "unreachable", state
        assert "Cannot reach the share" in state["error"]
        text = lan.cli("status").stdout
        assert "the share could not be reached; hoso tries again" in text
    finally:
        _out, err = stop_agent(proc)
    assert err.count("school folder: Cannot reach") == 1, err  # once, not once per poll


def test_a_school_folder_root_that_vanished_is_not_everything_deleted(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(TEMPLATE, b"mau")
    school.put(PROFILE, b"v1")
    lan = teacher(tmp_path, school, "lan")
    assert school_sync(lan)[0] == 0
    root = school_root(lan)
    root.rename(tmp_path / "unmounted")  # the drive it was on is gone
    code, _report, err = school_sync(lan)
    assert code == 4, err
    assert "missing or not mounted" in err and "Nothing was deleted" in err
    assert school.path(TEMPLATE).read_bytes() == b"mau"
    assert school.path(PROFILE).read_bytes() == b"v1"
    assert not root.exists()  # not recreated empty
    root.mkdir()  # an empty folder in its place: not the one that was synced
    code, _report, err = school_sync(lan)
    assert code == 4, err
    assert "The school folder" in err and "`hoso school sync --allow-mass-delete`" in err
    assert school.path(TEMPLATE).read_bytes() == b"mau"
    assert school_sync(lan, "--dry-run")[0] == 4


# --- no school folder: as before ---------------------------------------------------------------

STATUS_KEYS_BEFORE = {  # `hoso status --json` before the school folder (b15ebfe)
    "last_pass",
    "pending",
    "conflicts",
    "errors",
    "trash_items",
    "backup",
    "findings",
    "plugin_failures",
    "plugin_notes",
    "symlinks",
    "insecure_http",
    "warnings",
    "server",
    "unlisted",
    "held",
}


def test_without_a_school_folder_the_agent_asks_nothing_more(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(TEMPLATE, b"mau")  # there, but this agent has no school folder
    lan = Agent(tmp_path, school.records("lan"), name="lan", sync_overrides={"poll_interval": 0.5})
    lan.write("giao-an.docx", b"ke hoach")
    assert lan.cli("sync").returncode == 0
    proc = lan.popen("run")
    try:
        lan.write("ghi-chu.txt", b"x")
        wait_until((school.server.data_dir / "lan" / "ghi-chu.txt").is_file, 30, "the record")
        school.server.settled_request_count()
        time.sleep(1.5)  # a few polls of an idle agent
    finally:
        stop_agent(proc)
    mine = [line for line in school.server.logged_requests() if " lan " in line]
    paths = [line.split('"')[1].split()[1] for line in mine]
    if school.server.kind == "apache":
        outside = [p for p in paths if not p.startswith("/lan/")]
    else:  # wsgidav logs paths within the share each request went to
        outside = [p for p in paths if "Bi" in p or "hoso-truong" in p]
    assert paths and outside == []
    assert not (lan.state_dir / "school").exists()
    found = status(lan)
    assert set(found) == STATUS_KEYS_BEFORE | {"school_folder"}
    assert found["school_folder"] is None
    assert "School folder" not in lan.cli("status").stdout


# --- hoso init --school-url ----------------------------------------------------------------------


def _init(tmp_path: Path, school: SchoolShare, *extra: str) -> tuple[Path, object]:
    config = tmp_path / "cfg" / "agent.toml"
    account = school.account("lan")
    done = run_hoso(
        "--config",
        str(config),
        "init",
        "--root",
        str(tmp_path / "HoSo"),
        "--url",
        account.url,
        "--remote-dir",
        account.home,
        "--user",
        account.user,
        *extra,
        env={
            "HOSO_WEBDAV_PASSWORD": account.password,
            "HOME": str(tmp_path),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "HOSO_VAULT_PASSPHRASE": "vault-passphrase-for-tests",
        },
        timeout=60,
    )
    return config, done


def test_init_writes_the_school_folder_after_listing_it(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(TEMPLATE, b"mau")
    config, done = _init(tmp_path, school, "--school-url", school.folder_url)
    assert done.returncode == 0, done.stderr
    assert f'folder_url = "{school.folder_url}"' in config.read_text()
    assert "School folder:" in done.stdout
    assert school.requests("PROPFIND", "")  # the folder was listed with the login


def test_init_refuses_a_school_folder_it_cannot_list(school: SchoolShare, tmp_path: Path) -> None:
    wrong = school.server.url + "khong-co/"
    config, done = _init(tmp_path, school, "--school-url", wrong)
    # Not there (Apache: 404, exit 2); wsgidav's root share is the principal's alone (401).
    assert done.returncode == (2 if school.server.kind == "apache" else 3), done.stderr
    assert "Nothing was written" in done.stderr
    assert not config.exists()
    assert not (school.server.data_dir / "khong-co").exists()  # never created
    # Another teacher's folder: the login may not go there (403).
    config, done = _init(tmp_path, school, "--school-url", school.server.url + "minh/")
    assert done.returncode == 3, done.stderr
    assert not config.exists()
    config, done = _init(tmp_path, school, "--school-url", wrong, "--no-check")
    assert done.returncode == 0, done.stderr
    assert "khong-co" in config.read_text()


def test_init_without_the_flag_writes_no_school_folder(school: SchoolShare, tmp_path: Path) -> None:
    config, done = _init(tmp_path, school)
    assert done.returncode == 0, done.stderr
    assert "[school]" not in config.read_text()
    assert "School folder" not in done.stdout


def test_the_vault_s_school_folder_entry_is_its_login(school: SchoolShare, tmp_path: Path) -> None:
    """The school folder is reached with the vault's `school-folder` login when there is one
    (here the principal's account), else with the share's."""
    school.put(TEMPLATE, b"mau")
    lan = teacher(tmp_path, school, "lan")
    assert lan.cli("sync").returncode == 0  # the share's password goes into the vault
    principal = school.account(PRINCIPAL)
    stored = subprocess.run(
        hoso_command(
            "--config",
            str(lan.config_path),
            "vault",
            "set",
            "school-folder",
            "--field",
            f"user={principal.user}",
        ),
        input=principal.password + "\n",
        capture_output=True,
        text=True,
        env=hoso_env(),
        timeout=60,
    )
    assert stored.returncode == 0, stored.stderr
    code, report, err = school_sync(lan)
    assert (code, report["downloaded"]) == (0, [TEMPLATE]), err
    listings = school.requests("PROPFIND", "")
    assert any(f" {PRINCIPAL} " in line for line in listings), listings
    if school.server.kind == "apache":  # (wsgidav logs lan's own share's "/" alike)
        assert not any(" lan " in line for line in listings), listings
    assert principal.password not in err + json.dumps(report)


# --- the agent's hook and its control channel ----------------------------------------------------


def test_after_school_pass_callbacks_run_after_each_school_pass(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(PROFILE, b"v1")
    # The principal's change comes by another WebDAV client: at the root's recent walk.
    overrides = {"poll_interval": 0.5, "recent_walk_interval": 1.0}
    lan = teacher(tmp_path, school, "lan", sync_overrides=overrides)
    seen: list[list[str]] = []

    def broken(result: PassResult) -> None:
        raise RuntimeError("a reaction with a bug")

    stop = threading.Event()
    daemon = Daemon(lan.config, stop)
    daemon.after_school_pass += [broken, lambda result: seen.append(result.report.downloaded)]
    loop = threading.Thread(target=daemon.run)
    loop.start()
    try:
        wait_until(lambda: [PROFILE] in seen, 30, "the first school pass's callback")
        school.put(PROFILE, b"version 2")
        wait_until(lambda: seen.count([PROFILE]) >= 2, 30, "the callback after the change")
    finally:
        stop.set()
        daemon.poke()
        loop.join(30)
    assert not loop.is_alive()
    assert (school_root(lan) / PROFILE).read_bytes() == b"version 2"


def test_school_sync_is_run_by_the_running_agent(school: SchoolShare, tmp_path: Path) -> None:
    lan = teacher(tmp_path, school, "lan", sync_overrides={"poll_interval": 3600.0})
    proc = lan.popen("run")
    try:
        # The first pass, then the scan once the watcher is on: the lane is idle after them.
        wait_until(lambda: _school_passes(lan) >= 2, 30, "the lane's first passes")
        school.put(TEMPLATE, b"mau")  # not seen before the next poll, an hour away
        code, report, err = school_sync(lan)
        assert (code, report["downloaded"]) == (0, [TEMPLATE]), err
        assert (school_root(lan) / TEMPLATE).read_bytes() == b"mau"
    finally:
        _out, log = stop_agent(proc)
    assert "request school.sync carried out" in log


def test_a_school_file_deleted_on_the_share_is_restored_by_the_running_agent(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(TEMPLATE, b"mau")
    lan = teacher(tmp_path, school, "lan", sync_overrides={"poll_interval": 3600.0})
    assert school_sync(lan)[0] == 0
    school.path(TEMPLATE).unlink()  # someone who may write the school folder deleted it
    proc = lan.popen("run")
    try:
        gone = school_root(lan) / TEMPLATE
        wait_until(lambda: not gone.exists(), 30, "the lane's pass deleting it here")
        listed = lan.cli("trash", "list", "--school", "--json")
        [item] = json.loads(listed.stdout)
        assert (item["path"], item["side"]) == (TEMPLATE, "local"), item
        done = lan.cli("trash", "restore", "--school", str(item["id"]))
        assert done.returncode == 0, done.stderr
        assert (school_root(lan) / TEMPLATE).read_bytes() == b"mau"
        # The lane's watcher sees it back and uploads it: everyone has it again.
        wait_until(lambda: school.path(TEMPLATE).is_file(), 30, "the template on the share")
        assert school.path(TEMPLATE).read_bytes() == b"mau"
    finally:
        _out, log = stop_agent(proc)
    assert "request school.trash.restore carried out" in log
    assert json.loads(lan.cli("trash", "list", "--school", "--json").stdout) == []


def test_a_school_file_deleted_here_is_restored_on_the_share_with_the_school_login(
    school: SchoolShare, tmp_path: Path
) -> None:
    school.put(TEMPLATE, b"mau")
    lan = teacher(tmp_path, school, "lan")
    assert school_sync(lan)[0] == 0
    (school_root(lan) / TEMPLATE).unlink()
    assert school_sync(lan)[0] == 0
    assert not school.path(TEMPLATE).exists()  # into the school folder's trash on the share
    [item] = json.loads(lan.cli("trash", "list", "--school", "--json").stdout)
    assert (item["path"], item["side"]) == (TEMPLATE, "remote"), item
    done = lan.cli("trash", "restore", "--school", str(item["id"]))
    assert done.returncode == 0, done.stderr
    assert school.path(TEMPLATE).read_bytes() == b"mau"
    assert school_sync(lan)[0] == 0
    assert (school_root(lan) / TEMPLATE).read_bytes() == b"mau"


def test_a_school_server_that_does_not_answer_never_slows_the_records(
    school: SchoolShare, tmp_path: Path
) -> None:
    """The lanes run on threads of their own: the school lane waiting out its timeouts on a
    server that takes the connection and never answers does not hold the records' passes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections are taken by the kernel, never answered
        port = silent.getsockname()[1]
        lan = Agent(
            tmp_path,
            school.records("lan"),
            name="lan",
            remote_overrides={"timeout": 5.0},  # each of its two attempts waits this long
            school={
                "folder_url": f"http://127.0.0.1:{port}/truong/",
                "folder_root": str(tmp_path / "lan" / "Truong"),
            },
        )
        lan.write("giao-an.docx", b"ke hoach")
        proc = lan.popen("run")
        try:
            target = school.server.data_dir / "lan" / "giao-an.docx"
            wait_until(target.is_file, 30, "the record on the share")
            assert _school_passes(lan) == 0  # the school lane is still waiting for an answer
        finally:
            stop_agent(proc)


def test_a_school_folder_that_cannot_be_created_here_names_the_service_drop_in(
    school: SchoolShare, tmp_path: Path
) -> None:
    # As under the service's sandbox (a home read-only but for the folders the unit lists):
    # the local folder cannot be made. A file where its parent should be does the same here.
    blocked = tmp_path / "blocked"
    blocked.write_bytes(b"")
    school.put(TEMPLATE, b"mau")
    lan = Agent(
        tmp_path,
        school.records("lan"),
        name="lan",
        school={"folder_url": school.folder_url, "folder_root": str(blocked / "Truong")},
    )
    code, report, err = school_sync(lan)
    assert code == 2, err
    assert f'ReadWritePaths="{blocked / "Truong"}"' in err
    assert "systemctl --user edit hoso-agent.service" in err
    assert report == {}
    assert school.path(TEMPLATE).read_bytes() == b"mau"  # the share is left as it was


def test_two_pcs_of_one_host_name_never_share_temp_names_in_the_school_folder(
    school: SchoolShare, tmp_path: Path
) -> None:
    # PCs cloned from one image keep one host name; each teacher logs in as themselves. Their
    # temp uploads in the school folder must not look like each other's leftovers.
    lan = Agent(
        tmp_path, school.records("lan"), name="lan", school={"folder_url": school.folder_url}
    )
    minh = Agent(
        tmp_path, school.records("minh"), name="minh", school={"folder_url": school.folder_url}
    )
    tags = set()
    for agent in (lan, minh):
        config = configmod.from_dict({**agent.raw, "host_name": "PC-GV"}, agent.config_path)
        lane = schoolfolder.lane_config(config)
        assert lane is not None
        tags.add(lane.host_name)
    assert tags == {"PC-GV-lan", "PC-GV-minh"}
    # The records folder keeps its own name as before.
    assert (
        configmod.from_dict({**lan.raw, "host_name": "PC-GV"}, lan.config_path).host_name == "PC-GV"
    )
