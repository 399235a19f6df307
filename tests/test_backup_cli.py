"""`hoso backup …` as a teacher and an admin use it: real repositories, real processes.

Issue 3's acceptance: a wiped records folder comes back exactly with two commands; "that
lesson plan as it was last Tuesday" is one short command; bad input (wrong passphrase, no
repository, repository in use, a non-empty target) gets one clear message and changes
nothing; the share's copy holds only ciphertext; the running agent keeps backups current.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from agents import Agent, remote_delete, remote_tree
from conftest import Share
from servers import wait_until

from agent.backup import history
from agent.backup.repository import Repository
from agent.backup.service import new_restore_folder
from agent.backup.snapshots import create
from agent.config import from_dict
from agent.errors import ExitCode
from agent.schedule import backup_due as due

PASSPHRASE = "mật khẩu sao lưu của cô Lan"
WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)


def offline_agent(tmp_path: Path, **backup: object) -> Agent:
    share = Share(None, "http://127.0.0.1:9/", "/", "u", "p", tmp_path)  # type: ignore[arg-type]
    agent = Agent(tmp_path, share)
    if backup:
        agent.raw["backup"] = backup
        from agents import to_toml

        from agent import config as configmod

        configmod.write_private(agent.config_path, to_toml(agent.raw))
        agent.config = from_dict(agent.raw, agent.config_path)
    return agent


def records(agent: Agent) -> dict[str, bytes]:
    assert agent.root is not None
    agent.write("Kế hoạch bài dạy/Tuần 12/Toán - Bài 23.docx", b"bai 23 " * 5000)
    agent.write("Kế hoạch bài dạy/Tuần 12/Tiếng Việt - Bài 45.docx", b"bai 45 " * 300)
    agent.write("Sổ chủ nhiệm/Lớp 4A.xlsx", os.urandom(3_000_000))
    agent.write("Ghi chú trống.txt", b"")
    return agent.tree()


def hoso(agent: Agent, *args: str, passphrase: str | None = PASSPHRASE):
    env = {"HOSO_BACKUP_PASSPHRASE": passphrase} if passphrase is not None else {}
    return agent.cli("backup", *args, env=env)


def init(agent: Agent, tmp_path: Path) -> Path:
    repo = tmp_path / "USB" / "hoso-backup"
    done = hoso(agent, "init", "--repository", str(repo))
    assert done.returncode == 0, done.stderr
    return repo


def test_a_wiped_folder_comes_back_exactly_with_two_commands(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    before = records(agent)
    stats = {p: (agent.root / p).stat() for p in before}  # type: ignore[operator]
    repo = init(agent, tmp_path)
    assert "repository" in agent.config_path.read_text()  # recorded in the config
    made = hoso(agent, "create", "--json")
    assert made.returncode == 0, made.stderr
    snapshot = json.loads(made.stdout)
    assert set(snapshot) >= {"snapshot", "files", "bytes_added"} and snapshot["files"] == 4

    shutil.rmtree(agent.root)  # type: ignore[arg-type]
    assert hoso(agent, "list", "--json").returncode == 0
    back = hoso(agent, "restore", "latest", "--target", str(agent.root))
    assert back.returncode == 0, back.stderr
    assert agent.tree() == before
    for path, st in stats.items():
        assert (agent.root / path).stat().st_mtime_ns == st.st_mtime_ns  # type: ignore[operator]
    assert not any(PASSPHRASE.encode() in f.read_bytes() for f in repo.rglob("*") if f.is_file())


def test_list_json_has_the_contract_keys(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    records(agent)
    init(agent, tmp_path)
    assert hoso(agent, "create", "--tag", "thu-nghiem").returncode == 0
    [row] = json.loads(hoso(agent, "list", "--json").stdout)
    assert set(row) >= {"id", "time", "tags", "files", "bytes"}
    assert row["tags"] == ["thu-nghiem"] and row["files"] == 4


def test_the_lesson_plan_as_it_was_last_tuesday_is_one_command(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    records(agent)
    repo_path = init(agent, tmp_path)
    plan = "Kế hoạch bài dạy/Tuần 12/Toán - Bài 23.docx"
    tuesday = datetime(2026, 11, 24, 16, 0).astimezone()
    repo = Repository.open(repo_path, PASSPHRASE)
    agent.write(plan, b"as it was on Monday")
    create(repo, agent.root, host="may-a", now=tuesday - timedelta(days=1))  # type: ignore[arg-type]
    agent.write(plan, b"as it was on Tuesday")
    create(repo, agent.root, host="may-a", now=tuesday)  # type: ignore[arg-type]
    agent.write(plan, b"today's version")
    create(repo, agent.root, host="may-a")  # type: ignore[arg-type]

    out = tmp_path / "Desktop"
    done = hoso(agent, "restore", "2026-11-24", plan, "--target", str(out))
    assert done.returncode == 0, done.stderr
    assert (out / plan).read_bytes() == b"as it was on Tuesday"
    assert agent.read(plan) == b"today's version"  # the records folder is untouched
    vietnamese_style = hoso(agent, "restore", "23/11/2026", plan, "--target", str(tmp_path / "b"))
    assert vietnamese_style.returncode == 0, vietnamese_style.stderr
    assert (tmp_path / "b" / plan).read_bytes() == b"as it was on Monday"


def test_restoring_over_existing_files_needs_overwrite_and_backs_them_up_first(
    tmp_path: Path,
) -> None:
    agent = offline_agent(tmp_path)
    original = records(agent)
    init(agent, tmp_path)
    assert hoso(agent, "create").returncode == 0
    agent.write("Kế hoạch bài dạy/Tuần 12/Toán - Bài 23.docx", b"edited since")
    edited = agent.tree()

    refused = hoso(agent, "restore", "latest", "--target", str(agent.root))
    assert refused.returncode == ExitCode.USAGE, refused.stdout
    assert agent.tree() == edited  # nothing changed

    done = hoso(agent, "restore", "latest", "--target", str(agent.root), "--overwrite")
    assert done.returncode == 0, done.stderr
    assert agent.tree() == original
    snapshots = json.loads(hoso(agent, "list", "--json").stdout)
    assert snapshots[-1]["tags"] == ["before-restore"]  # what was replaced is kept
    back = tmp_path / "edited"
    hoso(agent, "restore", snapshots[-1]["id"], "--target", str(back))
    assert (back / "Kế hoạch bài dạy/Tuần 12/Toán - Bài 23.docx").read_bytes() == b"edited since"


def test_bad_input_gets_one_message_and_changes_nothing(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    records(agent)
    missing = hoso(agent, "list")
    assert missing.returncode == ExitCode.USAGE and "hoso backup init" in missing.stderr

    repo = init(agent, tmp_path)
    files_before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    wrong = hoso(agent, "create", passphrase="not the passphrase")
    assert wrong.returncode == ExitCode.USAGE
    assert "passphrase" in wrong.stderr.lower() and "Traceback" not in wrong.stderr
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == files_before

    # init kept the passphrase in the vault, so the agent (and this) need nobody to type it
    assert hoso(agent, "list", passphrase=None).returncode == 0
    assert agent.cli("vault", "remove", "backup").returncode == 0
    none = hoso(agent, "list", passphrase=None)
    assert none.returncode == ExitCode.USAGE and "HOSO_BACKUP_PASSPHRASE" in none.stderr

    with Repository.open(repo, PASSPHRASE).lock():
        busy = hoso(agent, "create")
    assert busy.returncode == ExitCode.USAGE and busy.stderr.strip()


def test_keys_recovery_key_and_the_last_key_kept(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    records(agent)
    init_done = hoso(agent, "init", "--repository", str(tmp_path / "repo"))
    recovery = init_done.stdout.strip().splitlines()[-1].strip()
    assert len(recovery.split("-")) == 8
    assert hoso(agent, "list", passphrase=recovery).returncode == 0  # the principal's key opens it

    env = {"HOSO_BACKUP_PASSPHRASE": PASSPHRASE, "HOSO_BACKUP_NEW_PASSPHRASE": "khoá của thầy Minh"}
    added = agent.cli("backup", "key", "add", "--label", "thầy Minh", env=env)
    assert added.returncode == 0, added.stderr
    slots = json.loads(hoso(agent, "key", "list", "--json").stdout)
    assert {s["label"] for s in slots} == {"passphrase", "recovery", "thầy Minh"}
    assert all("wrapped" not in s for s in slots)
    minh = next(s["id"] for s in slots if s["label"] == "thầy Minh")
    assert hoso(agent, "key", "remove", minh).returncode == 0
    assert hoso(agent, "list", passphrase="khoá của thầy Minh").returncode == ExitCode.USAGE


def test_status_shows_the_age_of_the_last_backup_and_warns_when_stale(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path, max_age=1.0)
    records(agent)
    assert "hoso backup init" in agent.cli("status").stdout
    init(agent, tmp_path)
    assert hoso(agent, "create").returncode == 0
    fresh = json.loads(agent.cli("status", "--json").stdout)["backup"]
    assert fresh["files"] == 4 and fresh["stale"] is False
    record_file = agent.state_dir / history.LAST_FILE
    record = json.loads(record_file.read_text())
    record["time"] -= 3 * 3600
    record_file.write_text(json.dumps(record))
    stale = agent.cli("status")
    assert "max_age" in stale.stderr
    assert json.loads(agent.cli("status", "--json").stdout)["backup"]["stale"] is True


def test_the_schedule_decides_when_a_backup_is_due(tmp_path: Path) -> None:
    daily = offline_agent(tmp_path / "a").config
    now = 1_800_000_000.0
    assert due(now=now, last_backup=None, last_change=None, config=daily) == "schedule"
    assert due(now=now, last_backup=now - 3600, last_change=None, config=daily) is None
    assert due(now=now, last_backup=now - 86400, last_change=None, config=daily) == "schedule"
    # Changes made after the last backup, quiet for 30 minutes: back them up.
    assert due(now=now, last_backup=now - 7200, last_change=now - 1000, config=daily) is None
    assert due(now=now, last_backup=now - 7200, last_change=now - 1900, config=daily) == "changes"
    off = offline_agent(tmp_path / "b", schedule="off", after_changes_minutes=0).config
    assert due(now=now, last_backup=None, last_change=now - 9999, config=off) is None


@WSGIDAV_ONLY
def test_the_running_agent_backs_up_and_the_share_sees_only_ciphertext(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    agent.raw["backup"] = {
        "repository": str(tmp_path / "USB"),
        "remote_copy": True,
        "schedule": "daily",
    }
    from agents import to_toml

    from agent import config as configmod

    configmod.write_private(agent.config_path, to_toml(agent.raw))
    names = records(agent)
    assert hoso(agent, "init").returncode == 0
    env = {"HOSO_BACKUP_PASSPHRASE": PASSPHRASE}
    proc = agent.popen("run", env=env)
    try:
        last = agent.state_dir / history.LAST_FILE
        wait_until(last.exists, 60, "the agent's first backup")
        wait_until(
            lambda: any(p.startswith(".hoso-backup/snapshots/") for p in remote_tree(share)),
            60,
            "the copy on the share",
        )
        wait_until(lambda: set(names) <= set(remote_tree(share)), 60, "the records on the share")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    copied = {p: b for p, b in remote_tree(share).items() if p.startswith(".hoso-backup/")}
    assert copied
    for path, data in copied.items():
        for name in names:
            stem = Path(name).stem.encode()
            assert stem not in data and stem not in path.encode()
    assert not (agent.root / ".hoso-backup").exists()  # never synced back into the records


@WSGIDAV_ONLY
def test_a_confirmed_mass_delete_is_backed_up_first(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    agent.raw["backup"] = {"repository": str(tmp_path / "USB")}
    from agents import to_toml

    from agent import config as configmod

    configmod.write_private(agent.config_path, to_toml(agent.raw))
    names = records(agent)
    assert hoso(agent, "init").returncode == 0
    assert agent.cli("sync").returncode == 0
    for name in names:  # someone empties the teacher's folder on the share
        remote_delete(share, name)
    env = {"HOSO_BACKUP_PASSPHRASE": PASSPHRASE}
    stopped = agent.cli("sync", env=env)
    assert stopped.returncode == ExitCode.SAFETY_STOP
    assert hoso(agent, "list", "--json").stdout.strip() == "[]"  # no backup for a refused pass

    done = agent.cli("sync", "--allow-mass-delete", env=env)
    assert done.returncode == 0, done.stderr
    assert not any((agent.root / n).exists() for n in names)  # type: ignore[operator]
    [snapshot] = json.loads(hoso(agent, "list", "--json").stdout)
    assert snapshot["tags"] == ["before-mass-delete"]
    back = tmp_path / "back"
    assert hoso(agent, "restore", snapshot["id"], "--target", str(back)).returncode == 0
    assert {p: (back / p).read_bytes() for p in names} == names


@WSGIDAV_ONLY
def test_a_restored_records_folder_syncs_on_as_before(tmp_path: Path, share: Share) -> None:
    """The marker file comes back with the records: the agent recognises its folder."""
    agent = Agent(tmp_path, share)
    names = records(agent)
    assert agent.cli("sync").returncode == 0
    init(agent, tmp_path)
    assert hoso(agent, "create").returncode == 0
    on_share = remote_tree(share)

    shutil.rmtree(agent.root)  # type: ignore[arg-type]
    refused = agent.cli("sync")
    assert refused.returncode == ExitCode.SAFETY_STOP  # the wipe never reaches the share
    assert hoso(agent, "restore", "latest", "--target", str(agent.root)).returncode == 0

    after = agent.cli("sync", "--json")
    assert after.returncode == 0, after.stderr
    report = json.loads(after.stdout)
    assert not report["deleted_remote"] and not report["uploaded"] and not report["conflicts"]
    assert remote_tree(share) == on_share and agent.tree() == names


def test_a_locked_vault_falls_back_to_the_typed_passphrase(tmp_path: Path) -> None:
    agent = offline_agent(tmp_path)
    records(agent)
    init(agent, tmp_path)
    # Wrap the vault's key with a passphrase nobody gives now: the vault is locked.
    protect = agent.cli("vault", "protect", env={"HOSO_VAULT_NEW_PASSPHRASE": "khóa kho 2026"})
    assert protect.returncode == 0, protect.stderr
    locked = hoso(agent, "list", passphrase=None)
    # Not stopped at the vault: the usual sources were tried, and none had it.
    assert locked.returncode == ExitCode.USAGE and "HOSO_BACKUP_PASSPHRASE" in locked.stderr
    assert hoso(agent, "list").returncode == 0  # HOSO_BACKUP_PASSPHRASE still works


def test_names_with_terminal_controls_are_shown_escaped(tmp_path: Path) -> None:
    """A file name may hold ESC or BEL (a name from a zip or a USB stick): ls, diff and the
    skipped list show it escaped, never as a sequence the terminal obeys."""
    agent = offline_agent(tmp_path)
    hidden = "Bài \x1b]0;pwned\x07\x1b[8m\x9b2J.docx"
    agent.write("Ghi chú.txt", b"ghi chu")
    init(agent, tmp_path)
    assert hoso(agent, "create").returncode == 0
    agent.write(hidden, b"bai")
    fifo = agent.root / "pipe \x1b[2J"  # type: ignore[operator]
    os.mkfifo(fifo)  # a special file: skipped and named

    made = hoso(agent, "create")
    listed = hoso(agent, "ls", "latest")
    [first, second] = [row["id"] for row in json.loads(hoso(agent, "list", "--json").stdout)]
    changed = hoso(agent, "diff", first, second)

    assert made.returncode == ExitCode.PARTIAL, made.stderr
    for done in (made, listed, changed):
        shown = done.stdout + done.stderr
        assert not any(c in shown for c in "\x1b\x07\x9b"), repr(shown)
    assert "Bài \\x1b]0;pwned\\x07\\x1b[8m\\u009b2J.docx" in listed.stdout
    assert "+ Bài \\x1b]0;pwned\\x07\\x1b[8m\\u009b2J.docx" in changed.stdout
    assert "pipe \\x1b[2J" in made.stderr
    fifo.unlink()  # the helper below reads every file; a FIFO would block it
    assert agent.tree() == {"Ghi chú.txt": b"ghi chu", hidden: b"bai"}


def test_a_restore_without_target_goes_into_a_new_folder(tmp_path: Path) -> None:
    snapshot_id = "0123456789abcdef" * 4
    first = new_restore_folder(tmp_path, snapshot_id)
    assert first == tmp_path / "hoso-khoi-phuc-01234567"
    first.mkdir()
    (tmp_path / "hoso-khoi-phuc-01234567-2").write_text("a file of the teacher's")
    assert new_restore_folder(tmp_path, snapshot_id) == tmp_path / "hoso-khoi-phuc-01234567-3"
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # nothing made or replaced
        "hoso-khoi-phuc-01234567",
        "hoso-khoi-phuc-01234567-2",
    ]
