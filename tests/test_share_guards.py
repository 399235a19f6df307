"""The sync guards against a share that lies or went back in time, and a clock that is off,
end to end on real servers.

- A share put back to an older copy of itself (the served folder replaced by a copy taken
  earlier, with its older modification times) stops the pass (exit 4) with nothing changed on
  either side; confirmed, it is merged: the newer local versions go back up, nothing local
  goes to the trash.
- A share that answers 201 to a PUT but never lists the file (a proxy of the test's own in
  front of wsgidav swallows the PUT): the file is never read as deleted on the share; the
  next pass sends it again and says so.
- A clock 31 days ahead of the share's (the pass's clock is injected) removes nothing from
  either trash, and says so in the pass report and in `hoso status`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import SHARE_TRASH, Agent, assert_nothing_lost, remote_put, remote_tree, versions
from conftest import Share
from servers import Answer
from test_faults import FaultProxy

from agent import trash
from agent.errors import ExitCode
from agent.guards import DAY
from agent.journal import Journal
from agent.model import Side
from agent.sync import Syncer

HOUR = 3600
LESSONS = {f"Tuần 1/Toán/Bài {n}.docx": f"bài {n}, bản đầu\n".encode() for n in range(1, 7)}
WSGIDAV_AND_APACHE = pytest.mark.parametrize("dav_server", ["wsgidav", "apache"], indirect=True)


def journal_of(agent: Agent) -> Journal:
    return Journal.open(agent.state_dir / "journal.sqlite3")


def trash_items(agent: Agent, side: Side | None = None) -> list:
    with journal_of(agent) as journal:
        return [i for i in journal.trash_items() if side is None or i.side is side]


def files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def copy_of_the_share(share: Share, dest: Path, *, older: dict[str, int]) -> Path:
    """A copy of the share's folder as a backup keeps it (modification times kept).

    A test cannot wait hours between the first sync and the edits, so the files in ``older``
    (path → hours) are dated that much earlier in the copy, as the versions those edits
    replace would be on a real school day; every other file keeps its time.
    """
    shutil.copytree(share.path, dest, copy_function=shutil.copy2)
    for rel, hours in older.items():
        stat = (dest / rel).stat()
        os.utime(dest / rel, ns=(stat.st_atime_ns, stat.st_mtime_ns - hours * HOUR * 10**9))
    return dest


def put_back(share: Share, copy: Path) -> None:
    """The school's admin restores the share's folder from ``copy`` (mtimes kept)."""
    shutil.rmtree(share.path)
    shutil.copytree(copy, share.path, copy_function=shutil.copy2)
    share.server.own(share.path)


# --- a share restored from an older copy ----------------------------------------------------


@WSGIDAV_AND_APACHE
def test_a_share_restored_from_an_older_copy_stops_then_merges(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    for rel, data in LESSONS.items():
        agent.write(rel, data)
    assert sorted(agent.sync().uploaded) == sorted(LESSONS)
    edits = {
        "Tuần 1/Toán/Bài 1.docx": "bài 1, sửa sau khi sao lưu, dài hơn\n".encode(),
        "Tuần 1/Toán/Bài 2.docx": "bài 2, sửa sau khi sao lưu, dài hơn\n".encode(),
        "Tuần 1/Toán/Bài 3.docx": "bài 3, sửa sau khi sao lưu, dài hơn\n".encode(),
        "Tuần 2/Bài mới.docx": "bài mới, sau khi sao lưu\n".encode(),
    }
    edited = {rel: 5 for rel in edits if rel in LESSONS}
    older_copy = copy_of_the_share(share, tmp_path / "backup-of-the-share", older=edited)
    for rel, data in edits.items():
        agent.write(rel, data)
    assert sorted(agent.sync().uploaded) == sorted(edits)
    newest = {**LESSONS, **edits}
    assert remote_tree(share) == agent.tree() == newest

    put_back(share, older_copy)
    restored = remote_tree(share)
    assert restored == LESSONS
    # The teacher goes on working meanwhile: a third version of a file the share lost.
    edits["Tuần 1/Toán/Bài 1.docx"] = "bài 1, bản thứ ba, viết sau khi khôi phục\n".encode()
    agent.write("Tuần 1/Toán/Bài 1.docx", edits["Tuần 1/Toán/Bài 1.docx"])
    newest = {**LESSONS, **edits}
    before = versions(share, agent)
    kept_before = trash_items(agent)  # the versions the edits replaced on the share

    stopped = agent.cli("sync")

    assert stopped.returncode == ExitCode.SAFETY_STOP, stopped.stderr
    assert "restored from an older copy" in stopped.stderr
    assert "--allow-restored-share" in stopped.stderr
    assert agent.tree() == newest and remote_tree(share) == restored  # nothing changed
    assert trash_items(agent) == kept_before and files_below(agent.local_trash()) == []
    assert agent.cli("sync", "--dry-run").returncode == ExitCode.SAFETY_STOP

    merged = agent.cli("sync", "--json", "--allow-restored-share")

    assert merged.returncode == 0, merged.stderr
    report = json.loads(merged.stdout)
    assert sorted(report["uploaded"]) == sorted(edits)
    assert report["downloaded"] == report["deleted_local"] == report["deleted_remote"] == []
    assert report["conflicts"] == []
    assert agent.tree() == remote_tree(share) == newest  # the newer local edits are on the share
    assert trash_items(agent, Side.LOCAL) == [] and files_below(agent.local_trash()) == []
    # The older share copies that were replaced are kept in the share's trash, as ever.
    added = [i for i in trash_items(agent) if i not in kept_before]
    assert sorted(i.path for i in added) == sorted(p for p in edits if p in restored)
    assert {i.reason for i in added} == {"replaced_by_local"}
    kept = {p.read_bytes() for p in files_below(share.path / SHARE_TRASH)}
    assert {restored[p] for p in edits if p in restored} <= kept
    assert_nothing_lost(before, share, agent)
    again = agent.cli("sync", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["uploaded"] == []


@WSGIDAV_AND_APACHE
def test_one_file_put_back_to_an_older_copy_by_a_colleague_is_an_ordinary_change(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    for rel, data in LESSONS.items():
        agent.write(rel, data)
    agent.sync()
    colleague = "Tuần 1/Toán/Bài 4.docx"
    remote_put(share, colleague, "bài 4, bản cũ trong USB của tổ trưởng\n".encode())
    on_disk = share.path / colleague
    stat = on_disk.stat()
    month = 30 * 24 * HOUR * 10**9
    os.utime(on_disk, ns=(stat.st_atime_ns, stat.st_mtime_ns - month))  # a month-old copy

    report = agent.sync()

    assert report.downloaded == [colleague] and not report.uploaded
    assert agent.tree() == remote_tree(share)
    assert agent.read(colleague) == "bài 4, bản cũ trong USB của tổ trưởng\n".encode()
    assert [i.path for i in trash_items(agent, Side.LOCAL)] == [colleague]  # the replaced version


# --- seen before trusted ----------------------------------------------------------------------


@pytest.fixture
def swallowing_proxy(share: Share) -> Iterator[FaultProxy]:
    running = FaultProxy(share.server)
    yield running
    running.stop()


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_an_upload_the_share_never_lists_is_sent_again_not_deleted(
    tmp_path: Path, share: Share, swallowing_proxy: FaultProxy
) -> None:
    proxy = swallowing_proxy
    via_proxy = dataclasses.replace(share, url=proxy.url)
    agent = Agent(tmp_path, via_proxy, remote_overrides={"atomic_uploads": "always"})
    kept = {"Tuần 1/Kế hoạch.docx": b"ke hoach", "Tuần 1/Nhận xét.docx": b"nhan xet"}
    for rel, data in kept.items():
        agent.write(rel, data)
    agent.sync()
    swallowed = "Tuần 1/Bài 7.docx"
    agent.write(swallowed, "bài 7, bản duy nhất\n".encode())
    # 201 Created, no ETag, and the bytes go nowhere: twice, then the share behaves.
    proxy.script("PUT", r"/Bài 7\.docx$", Answer(201), Answer(201))

    first = agent.sync()

    assert first.uploaded == [swallowed] and not first.warnings
    assert swallowed not in remote_tree(share)
    with journal_of(agent) as journal:
        assert journal.get(swallowed).remote_confirmed is False

    second = agent.cli("sync", "--json")

    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["uploaded"] == [swallowed] and report["deleted_local"] == []
    assert len(report["warnings"]) == 1 and swallowed in report["warnings"][0]
    assert "never listed it" in second.stderr
    assert agent.read(swallowed) == "bài 7, bản duy nhất\n".encode()  # still here
    assert trash_items(agent) == [] and files_below(agent.local_trash()) == []
    assert proxy.count("PUT", r"/Bài 7\.docx$") == 2

    third = agent.sync()  # the share keeps it this time

    assert third.uploaded == [swallowed] and not third.deleted_local
    everything = {**kept, swallowed: "bài 7, bản duy nhất\n".encode()}
    assert remote_tree(share) == agent.tree() == everything
    with journal_of(agent) as journal:
        assert journal.get(swallowed).remote_confirmed is True
    quiet = agent.sync()
    assert not quiet.changed_anything and not quiet.warnings


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_an_unconfirmed_upload_listed_as_other_bytes_keeps_both(
    tmp_path: Path, share: Share, swallowing_proxy: FaultProxy
) -> None:
    proxy = swallowing_proxy
    agent = Agent(tmp_path, dataclasses.replace(share, url=proxy.url),
                  remote_overrides={"atomic_uploads": "always"})
    ours = "Tuần 1/Sổ điểm.xlsx"
    agent.write(ours, "điểm cả lớp, bản đầy đủ\n".encode())
    proxy.script("PUT", r"/Sổ điểm\.xlsx$", Answer(201))
    assert agent.sync().uploaded == [ours]
    # What the share ends up holding is not what was sent (a cut body, or someone's file).
    remote_put(share, ours, b"cut")

    report = agent.sync()

    assert not report.downloaded and not report.deleted_local
    assert [c["path"] for c in report.conflicts] == [ours]
    copy = report.conflicts[0]["copy"]
    assert agent.tree() == remote_tree(share) == {
        ours: b"cut", copy: "điểm cả lớp, bản đầy đủ\n".encode()}
    assert trash_items(agent, Side.LOCAL) == [] and files_below(agent.local_trash()) == []


# --- the trash and the clock -------------------------------------------------------------------


def _trash_on_both_sides(agent: Agent, share: Share) -> tuple[Path, Path]:
    """One file in the share's trash (deleted here) and one in the local trash (deleted on
    the share); returns where each kept copy is."""
    for rel, data in LESSONS.items():
        agent.write(rel, data)
    agent.sync()
    agent.delete("Tuần 1/Toán/Bài 1.docx")
    status, _body = share.server.request("DELETE", f"{share.remote_dir}/Tuần 1/Toán/Bài 2.docx")
    assert status in (200, 204)
    report = agent.sync()
    assert report.deleted_remote == ["Tuần 1/Toán/Bài 1.docx"]
    assert report.deleted_local == ["Tuần 1/Toán/Bài 2.docx"]
    remote_item, = trash_items(agent, Side.REMOTE)
    local_item, = trash_items(agent, Side.LOCAL)
    return share.path / remote_item.stored_as, Path(local_item.stored_as)


@WSGIDAV_AND_APACHE
def test_a_clock_a_month_ahead_empties_neither_trash(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    in_share_trash, in_local_trash = _trash_on_both_sides(agent, share)
    assert in_share_trash.is_file() and in_local_trash.is_file()
    ahead = Syncer(agent.config, clock=lambda: time.time() + 31 * DAY)  # trash_days is 30

    try:
        report = ahead.run_pass().report
    finally:
        ahead.close()

    assert len(report.warnings) == 1 and "31 days ahead of the share's" in report.warnings[0]
    assert in_share_trash.is_file() and in_local_trash.is_file()
    assert len(trash_items(agent)) == 2
    status = agent.cli("status")
    assert status.returncode == 0 and "31 days ahead of the share's" in status.stdout
    assert "--allow-clock-jump" in status.stdout
    as_json = json.loads(agent.cli("status", "--json").stdout)
    assert len(as_json["warnings"]) == 1

    confirmed = Syncer(agent.config, clock=lambda: time.time() + 31 * DAY)
    try:
        report = confirmed.run_pass(allow_clock_jump=True).report
    finally:
        confirmed.close()

    assert report.warnings == []
    assert not in_share_trash.exists() and not in_local_trash.exists()
    assert trash_items(agent) == []
    assert json.loads(agent.cli("status", "--json").stdout)["warnings"] == []


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_the_trash_expires_on_a_clock_the_share_agrees_with(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    in_share_trash, in_local_trash = _trash_on_both_sides(agent, share)
    later = time.time() + 31 * DAY
    syncer = Syncer(agent.config)
    try:
        # Literal times that agree within a day (the share's clock is a month on too).
        def no_clock() -> float | None:
            raise AssertionError("the share's clock is asked only when something is due")

        early = trash.purge_expired(
            agent.config, syncer.journal, syncer.remote, now=later - 2 * DAY, server_now=no_clock
        )
        assert early.trusted and len(syncer.journal.trash_items()) == 2  # nothing due yet
        clock = trash.purge_expired(
            agent.config, syncer.journal, syncer.remote, now=later, server_now=lambda: later - 120
        )
        assert clock.trusted and syncer.journal.trash_items() == []
    finally:
        syncer.close()
    assert not in_share_trash.exists() and not in_local_trash.exists()
