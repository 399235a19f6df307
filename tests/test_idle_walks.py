"""How an idle agent finds changes on a plain WebDAV share (docs/sync.md): the change beacon,
recent and full walks, and the folders a local change makes the pass list.

The agent's passes are driven as `hoso run` drives them (Syncer.run_pass with the walk the
schedule picks), with literal times: the agent's wall clock (the journal dates a folder is
recent by) is NOW, a month after the records were written, and the schedule's monotonic
times are literal seconds. What the share was asked is read from its access log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from agents import Agent, conflict_copies, remote_mkdir, remote_put, remote_tree
from conftest import Share
from servers import ROOT, Answer, FaultServer, dav_response, multistatus
from test_faults import PASSWORD, USER, FaultProxy

from agent import beacon, config, serverinfo, walks
from agent.config import SyncConfig
from agent.errors import ConfigError
from agent.model import JournalEntry, Kind, LocalEntry, Walk
from agent.remote import CAUTIOUS
from agent.schedule import Hints, Outcome, PassEnd, Schedule
from agent.sync import Syncer

APACHE = pytest.mark.parametrize("dav_server", ["apache"], indirect=True)
DAY = 86_400.0
NOW = time.time() + 30 * DAY  # the agent's wall clock: what was written today is a month old
WEEKS = 8
SUBJECTS = ("Toán", "Tiếng Việt", "Đạo đức", "TNXH")
THIS_WEEK = f"Tuần {WEEKS}"
FOLDERS = {f"Tuần {w}" for w in range(1, WEEKS + 1)} | {
    f"Tuần {w}/{s}" for w in range(1, WEEKS + 1) for s in SUBJECTS
}


def school_year(agent: Agent) -> None:
    """Eight weeks × four subjects (40 folders), one plan each; this week's dated yesterday."""
    for week in range(1, WEEKS + 1):
        for subject in SUBJECTS:
            path = agent.write(f"Tuần {week}/{subject}/KHBD.docx", f"{week} {subject}".encode())
            if week == WEEKS:
                os.utime(path, (NOW - DAY, NOW - DAY))


@contextlib.contextmanager
def engine(agent: Agent) -> Iterator[Syncer]:
    syncer = Syncer(agent.config, clock=lambda: NOW)
    try:
        yield syncer
    finally:
        syncer.close()


def asked(share: Share, since: int) -> list[tuple[str, str]]:
    """(method, path below the share folder) of the requests the server logged since (each
    one sent before this call: servers log a request after answering it)."""
    share.server.settled_request_count()
    found = []
    for line in share.server.logged_requests()[since:]:
        match = re.search(r'"([A-Z]+) (\S+) HTTP', line)
        if match is None:
            continue
        path = unquote(match.group(2)).lstrip("/")
        if path.startswith(share.remote_dir):
            found.append((match.group(1), path[len(share.remote_dir) :].strip("/")))
    return found


def listed(requests: list[tuple[str, str]]) -> list[str]:
    return sorted(path for method, path in requests if method == "PROPFIND")


def poll(syncer: Syncer, walk: Walk = Walk.POLL, *, local: bool = False):
    return syncer.run_pass(local_changed=local, walk=walk, validate=False).report


# --- pure parts ----------------------------------------------------------------------------------


def test_a_folder_is_recent_when_it_or_a_direct_entry_changed_within_the_days() -> None:
    now = 1_800_000_000.0
    known = {
        "Tuần 1": JournalEntry("Tuần 1", Kind.DIR, local_mtime_ns=int((now - 40 * DAY) * 1e9)),
        "Tuần 1/a.docx": JournalEntry("Tuần 1/a.docx", Kind.FILE, remote_mtime=int(now - 30 * DAY)),
        "Tuần 2": JournalEntry("Tuần 2", Kind.DIR, remote_mtime=int(now - 2 * DAY)),
        "Tuần 3/b.docx": JournalEntry("Tuần 3/b.docx", Kind.FILE, local_mtime_ns=int((now - DAY) * 1e9)),
    }
    assert walks.recent_folders(known, now=now, days=14) == {"", "Tuần 2", "Tuần 3"}
    assert walks.recent_folders(known, now=now, days=31) == {"", "Tuần 1", "Tuần 2", "Tuần 3"}


def test_a_local_change_names_the_nearest_folder_the_share_is_known_to_have() -> None:
    known = {
        "A": JournalEntry("A", Kind.DIR),
        "A/x.docx": JournalEntry("A/x.docx", Kind.FILE, local_size=1, local_mtime_ns=5, local_inode=7),
        "A/gone.docx": JournalEntry("A/gone.docx", Kind.FILE),
    }
    entries = {
        "A": LocalEntry("A", Kind.DIR, 0, 0, 1),
        "A/x.docx": LocalEntry("A/x.docx", Kind.FILE, 2, 5, 7),  # edited
        "A/New/B/y.docx": LocalEntry("A/New/B/y.docx", Kind.FILE, 1, 1, 9),  # new folders
    }
    changed = walks.local_changes(entries, known)
    assert changed == {"A/x.docx", "A/gone.docx", "A/New/B/y.docx"}
    assert walks.holding(changed, known) == {"A"}
    assert walks.holding(["top.docx"], known) == {""}


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"hoso-changes 1\ntoken = xyz\n", b"hoso-changes 1\n" + b"x" * 5000,
     "hoso-changes 1\ntoken = \u0661".encode()],
)
def test_anything_but_a_well_formed_beacon_has_no_token(data: bytes) -> None:
    assert beacon.parse(data) is None


def test_a_beacon_holds_its_token_and_who_wrote_it_when() -> None:
    from datetime import UTC, datetime

    token = "0123456789abcdef" * 2
    data = beacon.render(token, "may-lan", datetime(2026, 12, 8, 7, 0, tzinfo=UTC))
    assert beacon.parse(data) == token
    assert b"may-lan" in data and b"2026-12-08T07:00:00Z" in data and len(data) < 200
    assert beacon.Seen(present=False).key == beacon.ABSENT
    assert beacon.Seen(present=True).key is None  # garbage: never the same as anything


# --- an idle agent on Apache ------------------------------------------------------------------------


@APACHE
def test_an_idle_agent_reads_one_beacon_per_poll_and_lists_only_at_walks(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    school_year(agent)
    with engine(agent) as syncer:
        assert len(poll(syncer, Walk.FULL, local=True).uploaded) == 4 * WEEKS
        since = share.server.settled_request_count()
        for _ in range(6):
            assert not poll(syncer).changed_anything
        assert asked(share, since) == [("GET", beacon.NAME)] * 6

        since = share.server.settled_request_count()
        assert not poll(syncer, Walk.RECENT).changed_anything
        recent = asked(share, since)
        # The root (its own entry, then its folders), this week's folder and its subject
        # folders only.
        assert listed(recent) == sorted(
            ["", "", THIS_WEEK, *(f"{THIS_WEEK}/{s}" for s in SUBJECTS)]
        )
        assert ("GET", beacon.NAME) in recent and len(recent) == 1 + 3 + len(SUBJECTS)

        since = share.server.settled_request_count()
        assert not poll(syncer, Walk.FULL).changed_anything
        assert listed(asked(share, since)) == sorted(["", "", *FOLDERS])


@APACHE
def test_a_change_by_another_hoso_agent_arrives_at_the_next_poll(
    tmp_path: Path, share: Share
) -> None:
    a = Agent(tmp_path, share, name="may-a")
    b = Agent(tmp_path, share, name="may-b")
    school_year(a)
    with engine(a) as first, engine(b) as second:
        poll(first, Walk.FULL, local=True)
        assert len(poll(second, Walk.FULL, local=True).downloaded) == 4 * WEEKS
        assert not poll(first).changed_anything  # the beacon as it was walked

        b.write("Tuần 1/Toán/Rút kinh nghiệm.docx", b"rut kinh nghiem")
        since = share.server.settled_request_count()
        assert poll(second, local=True).uploaded == ["Tuần 1/Toán/Rút kinh nghiệm.docx"]
        # B listed the folder holding its change (old, not due otherwise), through the
        # folders above it, and no other.
        assert sorted(set(listed(asked(share, since)))) == ["", "Tuần 1", "Tuần 1/Toán"]

        assert poll(first).downloaded == ["Tuần 1/Toán/Rút kinh nghiệm.docx"]
        assert a.read("Tuần 1/Toán/Rút kinh nghiệm.docx") == b"rut kinh nghiem"
        # Both remembered the token written after the change: idle again.
        since = share.server.settled_request_count()
        assert not poll(first).changed_anything and not poll(second).changed_anything
        assert asked(share, since) == [("GET", beacon.NAME)] * 2


@APACHE
def test_a_plain_webdav_change_arrives_at_the_walk_that_lists_its_folder(
    tmp_path: Path, share: Share
) -> None:
    """The manager drops files through another WebDAV client: in this week's folder it comes
    at the next recent walk (300 s), in an old one at the full walk (3600 s), not before."""
    agent = Agent(tmp_path, share)
    school_year(agent)
    sync = SyncConfig(poll_interval=30.0, walk_interval=3600.0, recent_walk_interval=300.0)
    schedule = Schedule.start(sync)
    recent_file, old_file = f"{THIS_WEEK}/Toán/Nhận xét.docx", "Tuần 1/TNXH/Nhận xét.docx"
    arrived: dict[str, float] = {}
    with engine(agent) as syncer:
        for now in range(0, 3700, 30):
            if now == 60:
                remote_put(share, recent_file, b"nhan xet tuan nay")
                remote_put(share, old_file, b"nhan xet tuan 1")
            due = schedule.due(float(now), Hints())
            assert due is not None  # a poll every 30 s
            passed = syncer.run_pass(local_changed=due.scan_local, walk=due.walk, validate=False)
            for path in passed.report.downloaded:
                arrived[path] = now
            schedule = schedule.after_pass(float(now), due, PassEnd(Outcome.DONE))
    assert arrived == {recent_file: 300, old_file: 3600}
    assert agent.tree() == remote_tree(share)


class _WriteDuringWalk(FaultProxy):
    """Forwards to the share; once the walk has listed ``after`` folders, another agent's
    change lands in a folder already listed: a new file and a new beacon token."""

    def __init__(self, share: Share, after: int) -> None:
        super().__init__(share.server)
        self.share = share
        self.after = after
        self.armed = False
        self.done: list[str] = []
        self.listed: list[str] = []

    def _respond(self, method, path, raw_path, headers, body):  # type: ignore[no-untyped-def]
        answer = super()._respond(method, path, raw_path, headers, body)
        if method == "PROPFIND" and self.armed and "Tuần" in path and path.endswith("/"):
            folder = path.rstrip("/").split(self.share.remote_dir + "/", 1)[1]
            self.listed.append(folder)
            if len(self.listed) == self.after and "/" in folder:
                change = f"{folder}/Bổ sung.docx"
                remote_put(self.share, change, b"bo sung")
                token = beacon.render(beacon.new_token(), "may-b", _now())
                remote_put(self.share, beacon.NAME, token)
                self.done.append(change)
        return answer


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


@APACHE
def test_a_change_made_during_a_full_walk_is_found_by_the_next_poll(
    tmp_path: Path, share: Share
) -> None:
    proxy = _WriteDuringWalk(share, after=30)
    try:
        agent = Agent(tmp_path, share, remote_overrides={"url": proxy.url})
        school_year(agent)
        with engine(agent) as syncer:
            poll(syncer, Walk.FULL, local=True)
            proxy.armed = True
            walked = poll(syncer, Walk.FULL)
            (change,) = proxy.done
            assert change not in walked.downloaded  # its folder was listed before it came
            proxy.armed = False
            assert poll(syncer).downloaded == [change]
            assert agent.read(change) == b"bo sung"
    finally:
        proxy.stop()


# --- a beacon someone else broke ----------------------------------------------------------------


@APACHE
@pytest.mark.parametrize("damage", ["deleted", "garbage", "huge"])
def test_a_broken_beacon_means_a_walk_never_a_deletion(
    tmp_path: Path, share: Share, damage: str
) -> None:
    agent = Agent(tmp_path, share)
    school_year(agent)
    beacon_file = share.path / beacon.NAME
    with engine(agent) as syncer:
        poll(syncer, Walk.FULL, local=True)
        b = Agent(tmp_path, share, name="may-b")
        with engine(b) as other:
            poll(other, Walk.FULL, local=True)
            b.write("Tuần 2/Toán/Thêm.docx", b"them")
            poll(other, local=True)  # writes the beacon
        assert beacon_file.is_file()
        before = agent.tree()
        match damage:
            case "deleted":
                assert share.server.request("DELETE", f"{share.remote_dir}/{beacon.NAME}")[0] == 204
            case "garbage":
                remote_put(share, beacon.NAME, b"\x00\xff not a beacon \n" * 3)
            case "huge":
                remote_put(share, beacon.NAME, b"hoso-changes 1\n" + b"x" * (8 * 2**20))
        since = share.server.settled_request_count()
        report = poll(syncer)
        # A walk of everything: the change of may-b is found; nothing is deleted anywhere.
        assert len(set(listed(asked(share, since)))) == 1 + len(FOLDERS)
        assert report.downloaded == ["Tuần 2/Toán/Thêm.docx"]
        assert not report.deleted_local and not report.deleted_remote
        assert agent.tree() == {**before, "Tuần 2/Toán/Thêm.docx": b"them"}
        assert agent.tree() == remote_tree(share)
        # Then idle again: a missing beacon stays remembered as missing, a broken one is
        # written anew.
        since = share.server.settled_request_count()
        assert not poll(syncer).changed_anything
        assert asked(share, since) == [("GET", beacon.NAME)]
        if damage != "deleted":
            assert beacon.parse(beacon_file.read_bytes()) is not None


@APACHE
def test_a_huge_beacon_is_not_read_past_a_few_kib(tmp_path: Path, share: Share) -> None:
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        yield b"hoso-changes 1\n"
        for _ in range(64 * 1024):
            yield b"x" * 1024

    proxy = FaultProxy(share.server)
    try:
        agent = Agent(tmp_path, share, remote_overrides={"url": proxy.url})
        agent.write("Tuần 1/a.docx", b"a")
        with engine(agent) as syncer:
            poll(syncer, Walk.FULL, local=True)
            proxy.script("GET", re.escape(beacon.NAME), Answer(200, stream=endless, sent=sent))
            report = poll(syncer)
        assert not report.changed_anything and agent.tree() == {"Tuần 1/a.docx": b"a"}
        assert sent and sent[0] < 8 * 2**20  # of 64 MiB: the agent hung up early
    finally:
        proxy.stop()


# --- a local change is never reconciled against a folder not listed -------------------------------


@pytest.mark.parametrize("dav_server", ["apache", "nginx"], indirect=True)
def test_a_local_edit_in_an_old_folder_meets_the_managers_edit_as_a_conflict(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share)
    school_year(agent)
    plan = "Tuần 1/Toán/KHBD.docx"
    with engine(agent) as syncer:
        poll(syncer, Walk.FULL, local=True)
        assert not poll(syncer).changed_anything
        # The manager edits the plan through the share's web page: no beacon changes.
        remote_put(share, plan, b"sua boi to truong, dai hon")
        agent.write(plan, b"sua boi giao vien")
        report = poll(syncer, local=True)
    assert [c["path"] for c in report.conflicts] == [plan]
    tree = agent.tree()
    assert tree[plan] == b"sua boi to truong, dai hon"  # the share's version keeps the name
    (copy,) = conflict_copies(tree)
    assert tree[copy] == b"sua boi giao vien"
    assert remote_tree(share) == tree


# --- Nextcloud: one request per idle poll ------------------------------------------------------


class NextcloudStandIn(FaultServer):
    """A small server of this test's own answering as Nextcloud does what a sync asks:
    PROPFIND (Depth 0 or 1) with ``oc:fileid``, folder ETags that change whenever anything
    below them changes, and GET. ``edit`` changes a file as the web page would."""

    def __init__(self) -> None:
        super().__init__()
        self.files = {"Tuần 1/a.docx": b"abc", "Tuần 2/b.docx": b"bcd"}
        self.versions = {path: 1 for path in self.files}
        self.seen: list[tuple[str, str, str]] = []  # (method, path, Depth)

    def edit(self, path: str, data: bytes) -> None:
        self.files[path] = data
        self.versions[path] += 1

    def _etag(self, folder: str) -> str:
        below = [f"{p}{v}" for p, v in sorted(self.versions.items()) if p.startswith(folder)]
        return "d" + str(abs(hash(tuple(below))))

    def _respond(self, method, path, raw_path, headers, body) -> Answer:  # type: ignore[no-untyped-def]
        depth = headers.get("Depth", "")
        self.seen.append((method, path, depth))
        rel = path.removeprefix(f"/{ROOT}").strip("/")
        if method == "GET" and rel in self.files:
            etag = f'"f{self.versions[rel]}"'
            return Answer(200, {"ETag": etag, "OC-ETag": etag}, self.files[rel])
        if method != "PROPFIND":
            return Answer(404)
        folders = sorted({p.rpartition("/")[0] for p in self.files})
        if rel and rel not in folders:
            return Answer(404)
        oc = "<oc:fileid>7</oc:fileid><oc:data-fingerprint>fp</oc:data-fingerprint>"
        href = lambda p: "/" + ROOT + "/" + quote(p)  # noqa: E731
        own = dav_response(href(rel + "/" if rel else ""), self._etag(rel), folder=True, extra=oc)
        children = []
        if depth == "1":
            if rel:
                children = [dav_response(href(p), f"f{self.versions[p]}", extra=oc)
                            for p in self.files if p.startswith(rel + "/")]
            else:
                children = [dav_response(href(f + "/"), self._etag(f), folder=True, extra=oc)
                            for f in folders]
        return Answer(207, body=multistatus(own, *children))


def test_on_nextcloud_an_idle_poll_is_one_depth_0_propfind(tmp_path: Path) -> None:
    cloud = NextcloudStandIn()
    cloud.start()
    try:
        share = Share(None, cloud.url, ROOT, USER, PASSWORD, tmp_path / "no-disk")  # type: ignore[arg-type]
        agent = Agent(tmp_path, share)
        with engine(agent) as syncer:
            # What a probe of this server learnt (its writes are not what this test is about).
            known = dataclasses.replace(CAUTIOUS, etags_in_listings=True)
            caps = syncer.remote.adopt(known)
            serverinfo.remember(syncer.journal, syncer.remote.identity, caps, now=NOW)
            assert sorted(poll(syncer, Walk.FULL, local=True).downloaded) == sorted(cloud.files)
            assert not poll(syncer).changed_anything  # learns the root's ETag as listed
            cloud.seen.clear()
            for _ in range(5):
                assert not poll(syncer).changed_anything
            assert cloud.seen == [("PROPFIND", f"/{ROOT}/", "0")] * 5
            # Changed through the web page: the root's ETag moves, the next poll lists what moved.
            cloud.edit("Tuần 2/b.docx", b"xyz")
            cloud.seen.clear()
            assert poll(syncer).downloaded == ["Tuần 2/b.docx"]
            listed_now = [(p, d) for m, p, d in cloud.seen if m == "PROPFIND"]
            assert (f"/{ROOT}/Tuần 1/", "1") not in listed_now  # unchanged: not listed
            assert agent.read("Tuần 2/b.docx") == b"xyz"
            cloud.seen.clear()
            assert not poll(syncer).changed_anything
            assert not poll(syncer).changed_anything
            assert cloud.seen == [("PROPFIND", f"/{ROOT}/", "0")] * 2
    finally:
        cloud.stop()


@APACHE
def test_a_managers_copy_of_the_whole_share_follows_each_teachers_beacon(
    tmp_path: Path, share: Share
) -> None:
    teacher = Agent(tmp_path, dataclasses.replace(share, remote_dir=f"{share.remote_dir}/GV Lan"))
    manager = Agent(tmp_path, share, name="to-truong")
    teacher.write("Tuần 1/KHBD.docx", b"khbd")
    with engine(teacher) as lan, engine(manager) as head:
        poll(lan, Walk.FULL, local=True)
        assert poll(head, Walk.FULL, local=True).downloaded == ["GV Lan/Tuần 1/KHBD.docx"]
        assert not (manager.root / "GV Lan" / beacon.NAME).exists()  # never a record
        poll(head)  # reads the teacher's beacon it met in the walk for the first time
        since = share.server.settled_request_count()
        assert not poll(head).changed_anything
        assert sorted(asked(share, since)) == [("GET", beacon.NAME), ("GET", f"GV Lan/{beacon.NAME}")]

        teacher.write("Tuần 1/Rút kinh nghiệm.docx", b"rkn")
        poll(lan, local=True)
        assert poll(head).downloaded == ["GV Lan/Tuần 1/Rút kinh nghiệm.docx"]

        # The manager's comment lands in the teacher's folder: its beacon moves too.
        manager.write("GV Lan/Tuần 1/Góp ý.docx", b"gop y")
        assert poll(head, local=True).uploaded == ["GV Lan/Tuần 1/Góp ý.docx"]
        assert poll(lan).downloaded == ["Tuần 1/Góp ý.docx"]
        assert teacher.read("Tuần 1/Góp ý.docx") == b"gop y"


# --- the settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sync", "key", "problem"),
    [
        ({"walk_interval": 0.0}, "sync.walk_interval", "must be greater than 0"),
        ({"recent_walk_interval": 20.0}, "sync.recent_walk_interval",
         "must be at least poll_interval (30 s)"),
        ({"walk_interval": 200.0}, "sync.walk_interval",
         "must be at least recent_walk_interval (300 s)"),
        ({"recent_days": -1.0}, "sync.recent_days", "must be greater than 0"),
        ({"start_spread": -5.0}, "sync.start_spread", "must be 0 or more"),
    ],
)
def test_walk_settings_out_of_order_are_refused_with_one_clear_message(
    tmp_path: Path, sync: dict[str, float], key: str, problem: str
) -> None:
    raw = {"root": str(tmp_path / "HoSo"), "language": "en",
           "remote": {"url": "http://127.0.0.1:9/"}, "sync": sync}
    with pytest.raises(ConfigError) as refused:
        config.from_dict(raw, tmp_path / "agent.toml")
    assert f"setting `{key}`: {problem}." in str(refused.value)


def test_a_config_that_only_polls_rarely_walks_no_more_often_than_it_polls(tmp_path: Path) -> None:
    raw = {"root": str(tmp_path / "HoSo"), "remote": {"url": "http://127.0.0.1:9/"},
           "sync": {"poll_interval": 3600.0}}
    sync = config.from_dict(raw, tmp_path / "agent.toml").sync
    assert (sync.recent_walk_interval, sync.walk_interval) == (3600.0, 3600.0)


# --- found in review: a beacon the share answers oddly ------------------------------------------


@APACHE
@pytest.mark.parametrize(
    "answer",
    [Answer(302, {"Location": "http://192.0.2.1/login"}, b""), Answer(405, {}, b"no")],
    ids=["redirect-elsewhere", "405"],
)
def test_a_beacon_answered_oddly_is_a_walk_and_the_teachers_work_still_goes_up(
    tmp_path: Path, share: Share, answer: Answer
) -> None:
    """A beacon GET redirected elsewhere (never followed) or refused oddly says nothing about
    the share: like garbage it means a walk, not a pass that fails before anything is synced
    (every poll, for as long as the share answers so)."""
    proxy = FaultProxy(share.server)
    try:
        agent = Agent(tmp_path, share, remote_overrides={"url": proxy.url})
        agent.write("Tuần 1/a.docx", b"a")
        with engine(agent) as syncer:
            poll(syncer, Walk.FULL, local=True)
            proxy.script("GET", re.escape(beacon.NAME), *[answer] * 4)
            agent.write("Tuần 1/b.docx", b"b")
            assert poll(syncer, local=True).uploaded == ["Tuần 1/b.docx"]
            assert poll(syncer, Walk.FULL).uploaded == []
        assert remote_tree(share) == {"Tuần 1/a.docx": b"a", "Tuần 1/b.docx": b"b"}
    finally:
        proxy.stop()


@APACHE
def test_a_beacon_write_that_failed_is_written_at_the_agents_next_pass(
    tmp_path: Path, share: Share
) -> None:
    """The change went up, the beacon write after it did not (the share busy for a moment, or
    the agent killed in between): the other PCs would not hear of it until their full walk.
    The agent owes the beacon until the share answered its write, and its next pass writes it."""
    proxy = FaultProxy(share.server)
    try:
        a = Agent(tmp_path, share, name="may-a")
        b = Agent(tmp_path, share, name="may-b", remote_overrides={"url": proxy.url, "retries": 0})
        school_year(a)
        with engine(a) as first, engine(b) as second:
            poll(first, Walk.FULL, local=True)
            poll(second, Walk.FULL, local=True)
            assert not poll(first).changed_anything
            b.write("Tuần 1/Toán/Rút kinh nghiệm.docx", b"rkn")
            proxy.script("PUT", re.escape(beacon.NAME), Answer(503, {}, b"busy"))
            assert poll(second, local=True).uploaded == ["Tuần 1/Toán/Rút kinh nghiệm.docx"]
            assert proxy.count("PUT", re.escape(beacon.NAME)) == 1
            assert not poll(first).changed_anything  # the beacon did not move: not seen yet
            assert not poll(second).changed_anything  # ... until B's next pass writes it
            assert proxy.count("PUT", re.escape(beacon.NAME)) == 2
            assert poll(first).downloaded == ["Tuần 1/Toán/Rút kinh nghiệm.docx"]
            assert a.read("Tuần 1/Toán/Rút kinh nghiệm.docx") == b"rkn"
            # Owed no more: idle again, one GET each.
            since = share.server.settled_request_count()
            assert not poll(first).changed_anything and not poll(second).changed_anything
            assert proxy.count("PUT", re.escape(beacon.NAME)) == 2
            assert asked(share, since) == [("GET", beacon.NAME)] * 2
    finally:
        proxy.stop()


@APACHE
def test_an_agent_killed_before_its_beacon_write_writes_it_when_it_starts_again(
    tmp_path: Path, share: Share
) -> None:
    """`hoso sync` SIGKILLed while the share holds its beacon write: the upload is on the share,
    the beacon is not. Started again, the agent's first pass writes it."""
    import signal
    import threading

    release = threading.Event()

    def hang() -> Iterator[bytes]:
        release.wait(60)
        yield b""

    proxy = FaultProxy(share.server)
    try:
        a = Agent(tmp_path, share, name="may-a")
        b = Agent(tmp_path, share, name="may-b", remote_overrides={"url": proxy.url})
        school_year(a)
        with engine(a) as first:
            poll(first, Walk.FULL, local=True)
            with engine(b) as second:
                poll(second, Walk.FULL, local=True)
            b.write("Tuần 1/Toán/Rút kinh nghiệm.docx", b"rkn")
            proxy.script("PUT", re.escape(beacon.NAME), Answer(200, stream=hang))
            sync = b.popen("sync")
            try:
                deadline = time.monotonic() + 60
                while not proxy.count("PUT", re.escape(beacon.NAME)):
                    assert sync.poll() is None and time.monotonic() < deadline, sync.stderr
                    time.sleep(0.05)  # waits for the write, stands in for nothing
                sync.send_signal(signal.SIGKILL)
                sync.wait(30)
            finally:
                release.set()
            assert remote_tree(share)["Tuần 1/Toán/Rút kinh nghiệm.docx"] == b"rkn"
            assert not poll(first).changed_anything  # the beacon did not move
            with engine(b) as again:
                assert not poll(again, Walk.FULL).changed_anything  # the first pass after start
            assert poll(first).downloaded == ["Tuần 1/Toán/Rút kinh nghiệm.docx"]
    finally:
        proxy.stop()


@APACHE
def test_a_local_edit_below_a_folder_the_share_spells_nfd_is_listed_by_that_spelling(
    tmp_path: Path, share: Share
) -> None:
    """A subject folder a Mac made on the share (NFD), inside an old week folder not due: the
    folder holding a local edit is listed by the share's own spelling, never as missing (its
    files then looked deleted on the share, went to the trash here, and the edit went up as an
    NFC twin folder)."""
    from agents import nfd

    agent = Agent(tmp_path, share)
    school_year(agent)
    folder = share.path / "Tuần 1" / nfd("Âm nhạc")
    with engine(agent) as syncer:
        poll(syncer, Walk.FULL, local=True)
        remote_mkdir(share, f"Tuần 1/{nfd('Âm nhạc')}")  # a Mac's WebDAV client, as it spells
        remote_put(share, f"Tuần 1/{nfd('Âm nhạc')}/Bài hát.docx", b"bai hat")
        remote_put(share, f"Tuần 1/{nfd('Âm nhạc')}/KHBD.docx", b"khbd")
        assert sorted(poll(syncer, Walk.FULL).downloaded) == [
            "Tuần 1/Âm nhạc/Bài hát.docx", "Tuần 1/Âm nhạc/KHBD.docx"
        ]
        assert not poll(syncer).changed_anything
        before = agent.tree()
        path = agent.root / "Tuần 1" / "Âm nhạc" / "KHBD.docx"
        if not path.exists():
            path = agent.root / "Tuần 1" / nfd("Âm nhạc") / "KHBD.docx"
        path.write_bytes(b"khbd sua")
        report = poll(syncer, local=True)
        assert report.uploaded == ["Tuần 1/Âm nhạc/KHBD.docx"]
        assert not report.deleted_local and not report.deleted_remote
        assert agent.tree() == {**before, "Tuần 1/Âm nhạc/KHBD.docx": b"khbd sua"}
        assert (folder / "KHBD.docx").read_bytes() == b"khbd sua"
        assert sorted(p.name for p in (share.path / "Tuần 1").iterdir()) == sorted(
            [nfd("Âm nhạc"), *SUBJECTS]
        )


@APACHE
def test_a_teachers_folder_without_a_beacon_gets_one_so_the_managers_change_comes_at_the_next_poll(
    tmp_path: Path, share: Share
) -> None:
    """A school that upgraded: the teacher's records were already on the share, so her agent
    changed nothing there and wrote no beacon; the manager's agent could then not tell her
    agent of its comment before her next walk. A full walk that finds no beacon at the
    agent's root creates it."""
    remote_mkdir(share, "GV Lan")
    remote_mkdir(share, "GV Lan/Tuần 1")
    remote_put(share, "GV Lan/Tuần 1/KHBD.docx", b"khbd")
    teacher = Agent(tmp_path, dataclasses.replace(share, remote_dir=f"{share.remote_dir}/GV Lan"))
    manager = Agent(tmp_path, share, name="to-truong")
    with engine(teacher) as lan, engine(manager) as head:
        assert poll(lan, Walk.FULL, local=True).downloaded == ["Tuần 1/KHBD.docx"]
        assert (share.path / "GV Lan" / beacon.NAME).is_file()
        assert poll(head, Walk.FULL, local=True).downloaded == ["GV Lan/Tuần 1/KHBD.docx"]
        poll(head)  # reads the teacher's beacon it met in the walk for the first time
        assert not poll(lan).changed_anything
        manager.write("GV Lan/Tuần 1/Góp ý.docx", b"gop y")
        assert poll(head, local=True).uploaded == ["GV Lan/Tuần 1/Góp ý.docx"]
        assert poll(lan).downloaded == ["Tuần 1/Góp ý.docx"]
        assert teacher.read("Tuần 1/Góp ý.docx") == b"gop y"


@pytest.mark.parametrize("dav_server", ["apache", "nginx"], indirect=True)
def test_a_local_delete_or_move_out_of_an_old_folder_never_loses_the_managers_edit(
    tmp_path: Path, share: Share
) -> None:
    """The manager edited two plans of an old week through the web page (no beacon moves);
    the teacher meanwhile deleted one and moved the other into this week's folder: both
    folders are listed, and the manager's versions come back (none deleted, none overwritten),
    on nginx (no conditional writes) as on Apache."""
    agent = Agent(tmp_path, share)
    school_year(agent)
    gone, moved = "Tuần 1/Toán/KHBD.docx", "Tuần 2/TNXH/KHBD.docx"
    with engine(agent) as syncer:
        poll(syncer, Walk.FULL, local=True)
        assert not poll(syncer).changed_anything
        remote_put(share, gone, b"to truong sua 1")
        remote_put(share, moved, b"to truong sua 2")
        agent.delete(gone)
        agent.rename(moved, f"{THIS_WEEK}/TNXH/KHBD tuan 2.docx")
        poll(syncer, local=True)
        assert not poll(syncer, Walk.FULL, local=True).changed_anything  # settled
    tree = agent.tree()
    assert tree[gone] == b"to truong sua 1"
    assert b"to truong sua 2" in tree.values()
    assert tree == remote_tree(share)
