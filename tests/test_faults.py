"""Faults during a pass: a dying server, a killed agent, refused logins, and odd answers.

Faults come from real things: a server process killed in the middle of a pass, the agent
killed with SIGKILL, a wrong password, a share changed between planning and executing, and a
fault-injecting reverse proxy in front of the real wsgidav server that answers scripted
requests itself (423, 507, 401, broken XML) and forwards everything else. After each fault
the agent must lose nothing and the next pass must bring both sides together.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from agents import (
    BEACON,
    Agent,
    assert_nothing_lost,
    conflict_copies,
    remote_delete,
    remote_dirs,
    remote_put,
    remote_tree,
    temp_files,
    trash_contents,
    versions,
)
from conftest import Share
from servers import (
    HOSTILE_DEEPER,
    HOSTILE_ROOT_HREFS,
    PASSWORD,
    ROOT,
    USER,
    Answer,
    DavServer,
    FaultServer,
    dav_response,
    handler_for,
    hostile_listing,
    multistatus,
    wait_until,
)

from agent.errors import AuthError, ExitCode, ProtocolError, UnreachableError
from agent.journal import Journal
from agent.model import JournalEntry, Kind

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)


def landed(folder: Path) -> int:
    """Completed files below ``folder`` (temp uploads and partial downloads not counted)."""
    return sum(
        1
        for _d, _s, files in os.walk(folder)
        for name in files
        if not name.startswith(".~hoso-") and name != ".hoso-root"
    )


def kill_server(server: DavServer) -> None:
    """The server dies at once, connections in flight included (no graceful shutdown)."""
    proc = server._proc
    assert proc is not None
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    server.stop()


def assert_journal_consistent(agent: Agent) -> None:
    """Every journal file entry is on both sides with the size the journal says."""
    local, remote = agent.tree(), remote_tree(agent.share)
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        files = {p: e for p, e in journal.entries().items() if e.kind.value == "file"}
    assert sorted(files) == sorted(local) == sorted(remote)
    for path, entry in files.items():
        assert entry.local_size == entry.remote_size == len(local[path]), path


# --- the server dies mid-pass ----------------------------------------------------------------


def test_server_killed_mid_pass_then_restarted(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share, sync_overrides={"transfers": 1})
    files = {f"Tuần {n % 5}/Tệp {n:03d}.txt": f"{n}".encode() * 2000 for n in range(200)}
    for rel, data in files.items():
        agent.write(rel, data)
    outcome: dict[str, object] = {}

    def first_pass() -> None:
        try:
            outcome["report"] = agent.sync()
        except Exception as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=first_pass)
    worker.start()
    try:
        wait_until(lambda: landed(share.path) >= 1, 30, "the first upload to land")
        kill_server(share.server)
        worker.join(60)
        assert not worker.is_alive()
        assert isinstance(outcome.get("error"), UnreachableError), outcome
        offline = agent.cli("sync")
        assert offline.returncode == ExitCode.UNREACHABLE, offline.stderr
    finally:
        share.server.start()

    report = agent.sync()
    assert not report.failed and not report.conflicts
    assert agent.tree() == remote_tree(share) == files
    assert conflict_copies(agent.tree()) == []
    assert_journal_consistent(agent)


# --- the agent is killed mid-pass -------------------------------------------------------------


def _kill_cli_sync_once(agent: Agent, in_flight: Path, what: str) -> None:
    """SIGKILL `hoso sync` once 20 files have landed in ``in_flight`` while a transfer into it
    is half done. The agent is frozen (SIGSTOP) while we look, so what we see is what the
    kill leaves behind."""
    proc = agent.popen("sync")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            assert proc.poll() is None, f"the pass ended before it could be killed: {what}"
            if landed(in_flight) >= 20 and temp_files(in_flight):
                os.kill(proc.pid, signal.SIGSTOP)
                if temp_files(in_flight):
                    break
                os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _recover(agent: Agent) -> None:
    rerun = agent.cli("sync", "--json")
    assert rerun.returncode == 0, rerun.stderr
    quiet = agent.cli("sync", "--json")
    assert quiet.returncode == 0, quiet.stderr
    assert '"uploaded": []' in quiet.stdout and '"downloaded": []' in quiet.stdout, quiet.stdout


@WSGIDAV_ONLY
def test_sigkill_during_upload_then_rerun(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    files = {f"Tuần {n % 6}/Bài {n:03d}.docx": f"bài {n} ".encode() * 5000 for n in range(300)}
    for rel, data in files.items():
        agent.write(rel, data)

    _kill_cli_sync_once(agent, share.path, "20 uploads to land")
    _recover(agent)

    assert agent.tree() == remote_tree(share) == files
    assert conflict_copies(agent.tree()) == []
    assert temp_files(agent.root) == []
    assert_journal_consistent(agent)
    assert temp_files(share.path) == [], "temp uploads of the killed pass are left on the share"


NGINX_ONLY = pytest.mark.parametrize("dav_server", ["nginx"], indirect=True)


@NGINX_ONLY
def test_sigkill_between_a_temp_upload_and_its_rename_on_nginx(
    tmp_path: Path, share: Share
) -> None:
    """Uploads through a temp name (forced: nginx's own PUT is atomic) killed while a temp
    file is on the share: nginx never lists it (a dot-name), so the next pass removes it by
    the name the journal recorded before the upload started."""
    agent = Agent(tmp_path, share, remote_overrides={"atomic_uploads": "never"})
    files = {f"Tuần {n % 6}/Bài {n:03d}.docx": f"bài {n} ".encode() * 5000 for n in range(300)}
    for rel, data in files.items():
        agent.write(rel, data)

    _kill_cli_sync_once(agent, share.path, "20 uploads to land")
    _recover(agent)

    assert agent.tree() == remote_tree(share) == files
    assert_journal_consistent(agent)
    assert temp_files(share.path) == [], "temp uploads of the killed pass are left on the share"
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        assert journal.meta_get("temp_uploads") is None  # none in flight, none left to remove


def _video_body_on_its_way(body_dir: Path) -> bool:
    """nginx holds a body of over 1 MiB: the video's, not the probe's few bytes, whose body a
    loaded machine can catch there first (the pass was then killed in its probe)."""
    for body in body_dir.iterdir():
        with contextlib.suppress(FileNotFoundError):  # nginx renames it when complete
            if body.stat().st_size > 2**20:
                return True
    return False


@NGINX_ONLY
def test_sigkill_mid_upload_to_nginx_leaves_nothing(tmp_path: Path, share: Share) -> None:
    """nginx's PUT is atomic (its own body file, renamed when complete), so hoso PUTs there
    directly: a pass killed while the body is on its way leaves nothing under any name."""
    agent = Agent(tmp_path, share)
    big = os.urandom(96 * 2**20)
    agent.write("Tuần 1/Video tiết dạy.mp4", big)
    body_dir = share.server.base_dir / "body"  # nginx's own file for a body on its way
    proc = agent.popen("sync")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "timed out waiting for the upload's body"
            assert proc.poll() is None, "the pass ended before it could be killed"
            if _video_body_on_its_way(body_dir):
                os.kill(proc.pid, signal.SIGSTOP)  # frozen while we look
                if _video_body_on_its_way(body_dir):
                    break
                os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    wait_until(lambda: not any(body_dir.iterdir()), 10, "nginx to drop the cut body")
    assert [p for p in share.path.rglob("*") if p.is_file()] == []

    _recover(agent)
    assert remote_tree(share) == {"Tuần 1/Video tiết dạy.mp4": big}
    on_disk = sorted(
        str(p.relative_to(share.path))
        for p in share.path.rglob("*")
        if p.is_file() and p.name != BEACON  # (the agents' change beacon)
    )
    assert on_disk == ["Tuần 1/Video tiết dạy.mp4"]


@WSGIDAV_ONLY
def test_sigkill_during_download_then_rerun(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    files = {f"Tuần {n % 6}/Bài {n:03d}.docx": f"bài {n} ".encode() * 5000 for n in range(300)}
    for rel, data in files.items():  # wsgidav serves its folder as it is on disk
        (share.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (share.path / rel).write_bytes(data)

    _kill_cli_sync_once(agent, agent.root, "20 downloads to land")
    _recover(agent)

    assert agent.tree() == remote_tree(share) == files
    assert conflict_copies(agent.tree()) == []
    assert_journal_consistent(agent)
    assert temp_files(agent.root) == [], "partial downloads of the killed pass are left behind"


# --- refused logins and a share changed meanwhile ----------------------------------------------


def test_wrong_password_changes_nothing(tmp_path: Path, share: Share) -> None:
    if not share.server.auth:
        pytest.skip("a share without a login takes any password")
    agent = Agent(tmp_path, share, password="not-the-password")
    agent.write("Bài 1.docx", b"lesson")
    remote_put(share, "Bài 2.docx", b"on the share")

    with pytest.raises(AuthError):
        agent.sync()
    result = agent.cli("sync")
    assert result.returncode == ExitCode.UNREACHABLE, result.stderr
    assert "not-the-password" not in result.stderr + result.stdout

    assert agent.tree() == {"Bài 1.docx": b"lesson"}
    assert remote_tree(share) == {"Bài 2.docx": b"on the share"}


def test_share_changed_between_planning_and_executing(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    for n in range(4):
        agent.write(f"other {n}.txt", b"unchanged")
    agent.write("Sổ điểm.xlsx", b"v1")
    agent.sync()
    agent.write("Sổ điểm.xlsx", b"v2 typed by the teacher")

    with agent.syncer() as syncer:
        prepared = syncer.prepare()
        # The manager saves a new version after the plan was made (a different size, so
        # wsgidav's whole-second ETag changes too).
        remote_put(share, "Sổ điểm.xlsx", b"v2 saved by the manager, longer")
        before = versions(share, agent)
        result = syncer.execute(prepared)

    assert result.retry_soon is True
    assert "Sổ điểm.xlsx" not in result.report.uploaded
    assert remote_tree(share)["Sổ điểm.xlsx"] == b"v2 saved by the manager, longer"

    report = agent.sync()
    assert not report.failed
    assert agent.tree() == remote_tree(share)
    copies = conflict_copies(agent.tree())
    assert len(copies) == 1
    assert {agent.read("Sổ điểm.xlsx"), agent.read(copies[0])} == {
        b"v2 typed by the teacher",
        b"v2 saved by the manager, longer",
    }
    assert_nothing_lost(before, share, agent)


def test_file_vanishing_while_a_folder_deleted_on_the_share_is_checked(
    tmp_path: Path, share: Share, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teacher deletes a file while the agent walks its folder to remove it (deleted
    on the share): the folder is planned again, not forgotten and uploaded back."""
    agent = Agent(tmp_path, share)
    for n in range(4):
        agent.write(f"other {n}.txt", b"unchanged")
    agent.write("Tuần 4/a.docx", b"a")
    agent.write("Tuần 4/b.docx", b"b")
    agent.sync()
    remote_delete(share, "Tuần 4")
    real_fwalk = os.fwalk

    def racing_fwalk(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for step in real_fwalk(*args, **kwargs):
            (agent.root / "Tuần 4/a.docx").unlink(missing_ok=True)
            yield step

    with agent.syncer() as syncer:
        prepared = syncer.prepare()
        monkeypatch.setattr(os, "fwalk", racing_fwalk)
        result = syncer.execute(prepared)
        monkeypatch.undo()

    assert result.report.deleted_local == []
    assert result.retry_soon is True
    agent.sync()

    assert "Tuần 4" not in remote_dirs(share)
    assert not (agent.root / "Tuần 4").exists()
    assert b"b" in trash_contents(agent, share)


# --- a fault-injecting reverse proxy in front of wsgidav ---------------------------------------


@dataclasses.dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    answers: collections.deque[Answer]  # each match takes one; then requests pass through


class FaultProxy:
    """Forwards every request to a real WebDAV server, except scripted ones it answers itself."""

    def __init__(self, target: DavServer) -> None:
        self.target = target
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status sent)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self._respond))
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, method: str, path_regex: str, *answers: Answer) -> None:
        with self._lock:
            self.rules.append(Rule(method, re.compile(path_regex), collections.deque(answers)))

    def count(self, method: str, path_regex: str) -> int:
        pattern = re.compile(path_regex)
        with self._lock:
            return sum(1 for m, p, _s in self.seen if m == method and pattern.search(p))

    def _scripted(self, method: str, path: str) -> Answer | None:
        with self._lock:
            for rule in self.rules:
                if rule.method == method and rule.path.search(path) and rule.answers:
                    return rule.answers.popleft()
        return None

    def _forward(self, method: str, raw_path: str, headers: dict[str, str], body: bytes):
        headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
        if "Destination" in headers:
            headers["Destination"] = headers["Destination"].replace(self.url, self.target.url)
        conn = http.client.HTTPConnection("127.0.0.1", self.target.port, timeout=30)
        try:
            conn.request(method, raw_path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def _respond(
        self, method: str, path: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        answer = self._scripted(method, path)
        if answer is None:
            status, got, content = self._forward(method, raw_path, headers, body)
            hop_by_hop = ("content-length", "transfer-encoding", "connection")
            answer = Answer(status, {k: v for k, v in got if k.lower() not in hop_by_hop}, content)
        with self._lock:
            self.seen.append((method, path, answer.status))
        return answer


@pytest.fixture
def proxy(share: Share) -> Iterator[FaultProxy]:
    running = FaultProxy(share.server)
    yield running
    running.stop()


def proxied_agent(tmp_path: Path, share: Share, proxy: FaultProxy, **remote: object) -> Agent:
    # Direct PUTs to the real name (not temp name + MOVE) so a rule can target one file.
    via_proxy = dataclasses.replace(share, url=proxy.url)
    return Agent(tmp_path, via_proxy, remote_overrides={"atomic_uploads": "always", **remote})


@WSGIDAV_ONLY
def test_locked_file_is_retried_transparently(tmp_path: Path, share: Share, proxy: FaultProxy) -> None:
    agent = proxied_agent(tmp_path, share, proxy, retries=3)
    agent.write("Bài 1.docx", b"lesson one")
    proxy.script("PUT", r"/Bài 1\.docx$", Answer(423, {"Retry-After": "0"}, b"locked"))

    report = agent.sync()

    assert report.uploaded == ["Bài 1.docx"] and not report.failed
    assert proxy.count("PUT", r"/Bài 1\.docx$") == 2
    assert remote_tree(share) == {"Bài 1.docx": b"lesson one"}


@WSGIDAV_ONLY
def test_quota_exceeded_fails_that_file_only(tmp_path: Path, share: Share, proxy: FaultProxy) -> None:
    agent = proxied_agent(tmp_path, share, proxy)
    base = {f"cũ {n}.txt": b"old" for n in range(4)}
    for rel, data in base.items():
        agent.write(rel, data)
    agent.sync()
    agent.write("Video.mp4", b"v" * 50_000)
    proxy.script("PUT", r"/Video\.mp4$", Answer(507, {}, b"Insufficient Storage"))
    before = versions(share, agent)

    report = agent.sync()

    assert [f["path"] for f in report.failed] == ["Video.mp4"]
    assert "full" in report.failed[0]["error"]
    assert not report.deleted_local and not report.deleted_remote
    assert remote_tree(share) == base
    assert agent.tree() == {**base, "Video.mp4": b"v" * 50_000}
    assert_nothing_lost(before, share, agent)

    status = agent.cli("status", "--json")
    assert status.returncode == 0 and "Video.mp4" in status.stdout

    assert agent.sync().uploaded == ["Video.mp4"]  # the share has room again
    assert remote_tree(share) == agent.tree()


BROKEN_LISTINGS = {
    "malformed": Answer(
        207,
        {"Content-Type": "application/xml"},
        b"<?xml version='1.0'?><d:multistatus xmlns:d='DAV:'><d:response>",
    ),
    "truncated": Answer(
        207,
        {"Content-Type": "application/xml"},
        b"<?xml version='1.0'?><d:multistatus xmlns:d='DAV:'>",
        declared_length=5000,
    ),
    "not-dav": Answer(207, {"Content-Type": "text/html"}, b"<html><body>Login</body></html>"),
    "empty-207": Answer(207, {"Content-Type": "application/xml"}, b""),
}


@WSGIDAV_ONLY
@pytest.mark.parametrize("kind", list(BROKEN_LISTINGS))
def test_broken_listing_deletes_nothing(
    tmp_path: Path, share: Share, proxy: FaultProxy, kind: str
) -> None:
    agent = proxied_agent(tmp_path, share, proxy)
    files = {f"Tuần 1/Bài {n}.docx": b"week one" for n in range(3)} | {"Sổ.xlsx": b"so"}
    for rel, data in files.items():
        agent.write(rel, data)
    agent.sync()
    agent.delete("Sổ.xlsx")  # a pending local deletion must wait for a trustworthy listing
    proxy.script("PROPFIND", r"/Tuần 1/?$", *[BROKEN_LISTINGS[kind]] * 4)

    with pytest.raises(ProtocolError):
        agent.sync()

    assert agent.tree() == {k: v for k, v in files.items() if k != "Sổ.xlsx"}
    assert remote_tree(share) == files


@WSGIDAV_ONLY
def test_login_refused_midway_stops_the_pass(
    tmp_path: Path, share: Share, proxy: FaultProxy
) -> None:
    agent = proxied_agent(tmp_path, share, proxy)
    for n in range(6):
        agent.write(f"Bài {n}.docx", f"lesson {n}".encode())
    refused = Answer(401, {"WWW-Authenticate": 'Basic realm="x"'})
    proxy.script("PUT", r"/Bài 3\.docx$", *[refused] * 4)

    with pytest.raises(AuthError):
        agent.sync()

    assert len(agent.tree()) == 6
    assert "Bài 3.docx" not in remote_tree(share)
    assert conflict_copies(agent.tree()) == []


# --- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@WSGIDAV_ONLY
def test_download_into_a_full_disk_keeps_the_old_file(
    tmp_path: Path, share: Share, tiny_disk: Path
) -> None:
    agent = Agent(tmp_path, share, root=tiny_disk / "HoSo")  # state and trash stay off it
    files = {f"nhỏ {n}.txt": b"small" for n in range(4)} | {"Sổ.docx": b"old local version"}
    for rel, data in files.items():
        agent.write(rel, data)
    agent.sync()
    remote_put(share, "Sổ.docx", b"x" * (2 * 1024 * 1024))  # larger than the whole disk

    report = agent.sync()

    assert [f["path"] for f in report.failed] == ["Sổ.docx"]
    assert "full" in report.failed[0]["error"]
    assert agent.read("Sổ.docx") == b"old local version"
    assert temp_files(agent.root) == []
    assert agent.tree() == files


# --- a hostile share of the test's own ---------------------------------------------------------


def hostile_agent(tmp_path: Path, fault: FaultServer, **sync: object) -> Agent:
    share = Share(fault, fault.url, ROOT, USER, PASSWORD, tmp_path / "no-disk")  # type: ignore[arg-type]
    return Agent(tmp_path, share, sync_overrides=dict(sync))


def files_below(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def outside_the_agents_folders(agent: Agent) -> set[Path]:
    """Files below the test's folder but not in the records, state or config folder."""
    own = (agent.root, agent.state_dir, agent.config_path.parent)
    return {p for p in files_below(agent.base) if not any(p.is_relative_to(f) for f in own)}


def test_a_hostile_listing_writes_nothing_outside_the_records_folder(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    hostile_listing(fault_server)
    fault_server.script("GET", f"{ROOT}/Tuần 1/ok.txt", Answer(200, {"ETag": '"ok"'}, b"abc"))
    fault_server.script("GET", f"{ROOT}/%2E%2E/x.txt", Answer(200, {"ETag": '"x"'}, b"xyz"))
    # Nothing may ever be deleted because of a refused entry: the journal knows a file whose
    # name the share now spells with a backslash (an older hoso accepted such names), and
    # the mass-delete guard is off, so only the gate stands between it and the trash.
    agent = hostile_agent(tmp_path, fault_server, max_delete_percent=100.0)
    kept = agent.write("Tuần 1/a\\b.txt", b"kept")
    st = kept.stat()
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        journal.put(JournalEntry("Tuần 1", Kind.DIR))
        journal.put(JournalEntry(
            "Tuần 1/a\\b.txt", Kind.FILE, local_size=4, local_mtime_ns=st.st_mtime_ns,
            local_inode=st.st_ino, remote_etag="e", remote_size=3,
        ))
    outside_before = outside_the_agents_folders(agent)
    hostile = set(HOSTILE_ROOT_HREFS.values()) | HOSTILE_DEEPER
    dry = agent.sync(dry_run=True)  # a dry run names them too
    assert {item["path"] for item in dry.failed} == hostile

    result = agent.cli("sync", "--json")

    assert result.returncode == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    assert report["downloaded"] == ["%2E%2E/x.txt", "Tuần 1/ok.txt"]
    refused = {item["path"]: item["error"] for item in report["failed"]}
    assert set(refused) == hostile
    assert all("neither downloaded nor deleted" in error for error in refused.values())
    assert "empty, . or .." in refused[".."] and "control character" in refused["bel\x07.txt"]
    assert report["deleted_local"] == report["deleted_remote"] == report["uploaded"] == []
    # On disk: the two sound files and the kept one; nothing anywhere else, nothing trashed.
    assert agent.tree() == {
        "Tuần 1/ok.txt": b"abc", "%2E%2E/x.txt": b"xyz", "Tuần 1/a\\b.txt": b"kept"
    }
    assert outside_the_agents_folders(agent) == outside_before == set()
    assert not [p for p in files_below(tmp_path) if "evil" in p.name]
    assert files_below(agent.local_trash()) == set()
    # On the share: only the two sound files were read; nothing was changed there.
    assert sorted(
        r.path for r in fault_server.requests_for("GET") if not r.path.endswith(BEACON)
    ) == [f"/{ROOT}/%2E%2E/x.txt", f"/{ROOT}/Tuần 1/ok.txt"]
    changing = {"PUT", "DELETE", "MOVE", "COPY", "MKCOL", "PROPPATCH"}
    # The first pass's probe may only try to make a folder of its own (refused here).
    probe = f"/{ROOT}/.hoso-probe-"
    # ... and a full walk that found no change beacon at the root creates it (agent/beacon.py).
    assert [
        r for r in fault_server.received
        if r.method in changing and not (r.method == "MKCOL" and r.path.startswith(probe))
        and r.path != f"/{ROOT}/{BEACON}"
    ] == []

    again = agent.sync()  # the next pass says the same and still changes nothing
    assert {item["path"] for item in again.failed} == set(refused)
    assert not (again.downloaded or again.deleted_local or again.uploaded)
    assert agent.read("Tuần 1/a\\b.txt") == b"kept"


def test_a_download_of_the_wrong_size_fails_that_file_only(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    fault_server.script("PROPFIND", ROOT, Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/", "r", folder=True),
        dav_response(f"/{ROOT}/long.txt", "l"),  # listed with 3 bytes, as every file here
        dav_response(f"/{ROOT}/short.txt", "s"),
        dav_response(f"/{ROOT}/sound.txt", "o"),
    )))
    fault_server.script("GET", f"{ROOT}/long.txt", Answer(200, {"ETag": '"l"'}, b"x" * 5000))
    fault_server.script("GET", f"{ROOT}/short.txt", Answer(200, {"ETag": '"s"'}, b"x"))
    fault_server.script("GET", f"{ROOT}/sound.txt", Answer(200, {"ETag": '"o"'}, b"abc"))
    agent = hostile_agent(tmp_path, fault_server)

    report = agent.sync()

    assert report.downloaded == ["sound.txt"]
    failed = {item["path"]: item["error"] for item in report.failed}
    assert set(failed) == {"long.txt", "short.txt"}
    assert "listed long.txt with 3 bytes" in failed["long.txt"]
    assert "listed short.txt with 3 bytes" in failed["short.txt"]
    # Nothing under the real names, no partial download left behind.
    assert sorted(p.name for p in agent.root.iterdir()) == [".hoso-root", "sound.txt"]


def test_a_redirect_elsewhere_stops_the_pass_and_status_says_why(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    other = FaultServer().start()
    try:
        moved = Answer(301, {"Location": f"{other.url}{ROOT}/"})
        fault_server.script("PROPFIND", ROOT, moved)
        agent = hostile_agent(tmp_path, fault_server)
        agent.write("Bài 1.docx", b"lesson")

        result = agent.cli("sync")

        assert result.returncode == ExitCode.PARTIAL, result.stderr
        assert f"redirected PROPFIND / to {other.url}{ROOT}/" in result.stderr
        status = agent.cli("status")
        assert status.returncode == 0, status.stderr
        assert "redirected PROPFIND" in status.stdout  # the reason, not just the class name
        assert other.received == []  # the login never went there
        assert [r.method for r in fault_server.received] == ["PROPFIND"]
        assert agent.tree() == {"Bài 1.docx": b"lesson"}
    finally:
        other.stop()


def test_a_file_missing_from_the_listing_is_trashed_only_once_the_share_confirms(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    """A listing that leaves out a file the share still has (as nginx does with dot-names)
    is not a deletion: the path itself is asked for before the local file is trashed."""
    fault_server.script("PROPFIND", ROOT, Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/", "r", folder=True),
        dav_response(f"/{ROOT}/b.txt", "b"),
    )))
    fault_server.script("PROPFIND", f"{ROOT}/a.txt", Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/a.txt", "a"),
    )))
    agent = hostile_agent(tmp_path, fault_server, max_delete_percent=100.0)
    with Journal.open(agent.state_dir / "journal.sqlite3") as journal:
        for name, etag in (("a.txt", "a"), ("b.txt", "b")):
            st = agent.write(name, b"abc").stat()
            journal.put(JournalEntry(
                name, Kind.FILE, local_size=3, local_mtime_ns=st.st_mtime_ns,
                local_inode=st.st_ino, remote_etag=etag, remote_size=3,
            ))

    kept = agent.sync()

    assert kept.deleted_local == [] and agent.read("a.txt") == b"abc"
    assert [w for w in kept.warnings if w.startswith("a.txt:")], kept.warnings
    assert not any(agent.local_trash().rglob("*"))
    asked = [r.path for r in fault_server.requests_for("PROPFIND")]
    assert f"/{ROOT}/a.txt" in asked

    # An answer about that one path that is neither "there" nor "gone" keeps the file too,
    # and the rest of the pass goes on.
    fault_server.script("PROPFIND", f"{ROOT}/a.txt", Answer(405))
    unsure = agent.sync()

    assert unsure.deleted_local == [] and agent.read("a.txt") == b"abc"
    assert not any(agent.local_trash().rglob("*"))

    fault_server.script("PROPFIND", f"{ROOT}/a.txt", Answer(404))
    gone = agent.sync()

    assert gone.deleted_local == ["a.txt"]
    assert not (agent.root / "a.txt").exists()
    assert [p.read_bytes() for p in agent.local_trash().rglob("*") if p.is_file()] == [b"abc"]


@pytest.mark.parametrize(
    "location",
    [
        # As UTF-8 bytes (the header goes out as Latin-1): C1 CSI, ESC ]0; retitle, ESC [2J.
        "http://evil.example/\x1b]0;pwned\x07\x1b[2J\xc2\x9b31m",
        # A byte that is not UTF-8 at all: requests fails to decode it, even following nothing.
        "http://evil.example/\x9b31m",
    ],
    ids=["controls", "not-utf8"],
)
def test_a_redirect_to_a_crafted_address_is_one_clear_message(
    tmp_path: Path, fault_server: FaultServer, location: str
) -> None:
    fault_server.script("PROPFIND", ROOT, Answer(301, {"Location": location}))
    agent = hostile_agent(tmp_path, fault_server)
    agent.write("Bài 1.docx", b"lesson")

    result = agent.cli("sync")
    status = agent.cli("status")

    assert result.returncode == ExitCode.PARTIAL, result.stderr
    assert "a bug in hoso" not in result.stderr
    assert status.returncode == 0, status.stderr
    for shown in (result.stderr, status.stdout):
        assert "redirected" in shown, shown
        assert not any(c in shown for c in "\x1b\x07\x9b"), repr(shown)
    assert [r.method for r in fault_server.received] == ["PROPFIND"]
    assert agent.tree() == {"Bài 1.docx": b"lesson"}


def test_a_share_whose_folders_never_end_stops_the_pass_at_max_entries(tmp_path: Path) -> None:
    """Every folder this share lists holds two new sub-folders, at any depth: a walk without
    a bound never ends (10,000 PROPFINDs a minute, the pass never finishes). It stops once
    more than max_entries entries were met, with one message, and nothing is changed."""
    asked: list[str] = []

    def respond(method: str, path: str, raw: str, headers: dict[str, str], body: bytes) -> Answer:
        asked.append((method, path))
        if method != "PROPFIND":
            return Answer(404)
        href = raw if raw.endswith("/") else raw + "/"
        return Answer(207, body=multistatus(
            dav_response(href, "f", folder=True),
            dav_response(f"{href}a/", "a", folder=True),
            dav_response(f"{href}b/", "b", folder=True),
        ))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(respond))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        share = Share(None, url, ROOT, USER, PASSWORD, tmp_path / "no-disk")  # type: ignore[arg-type]
        agent = Agent(tmp_path, share, sync_overrides={"max_entries": 1000})
        agent.write("Bài 1.docx", b"lesson")

        result = agent.cli("sync", timeout=60)

        assert result.returncode == ExitCode.PARTIAL, result.stderr
        assert "more than 1000 files and folders (max_entries" in result.stderr
        # Nothing but listings, apart from the capability probe in its own folder.
        # (and the read of the agents' change beacon)
        writes = {
            m for m, p in asked if m != "PROPFIND" and ".hoso-probe-" not in p and BEACON not in p
        }
        assert writes == set() and len(asked) < 1000
        assert agent.tree() == {"Bài 1.docx": b"lesson"}
        assert [p for p in agent.root.rglob("*") if p.is_dir()] == []
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_an_etag_with_a_line_break_is_refused_not_sent_back(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    """An ETag goes back to the share in If-Match. One listed as "a&#13;&#10;X-Evil: 1" (legal
    XML) made requests refuse the header, and every pass that touched the file stopped as
    "Cannot reach the share" (exit 3). The entry is refused by the gate instead."""
    def listing(etag: str) -> Answer:
        return Answer(207, body=multistatus(
            dav_response(f"/{ROOT}/", "r", folder=True),
            dav_response(f"/{ROOT}/a.txt", etag),
            dav_response(f"/{ROOT}/b.txt", "b"),
        ))

    fault_server.script("PROPFIND", ROOT, listing("a"))
    fault_server.script("GET", f"{ROOT}/a.txt", Answer(200, {"ETag": '"a"'}, b"abc"))
    fault_server.script("GET", f"{ROOT}/b.txt", Answer(200, {"ETag": '"b"'}, b"abc"))
    agent = hostile_agent(tmp_path, fault_server)
    assert sorted(agent.sync().downloaded) == ["a.txt", "b.txt"]
    fault_server.script("PROPFIND", ROOT, listing("a&#13;&#10;X-Evil: 1"))
    agent.write("a.txt", b"edited here")

    result = agent.cli("sync", "--json")

    assert result.returncode == ExitCode.PARTIAL, result.stderr
    report = json.loads(result.stdout)
    (failed,) = report["failed"]
    assert failed["path"] == "a.txt" and "ETag holds a control character" in failed["error"]
    assert report["uploaded"] == report["downloaded"] == report["deleted_local"] == []
    assert agent.tree() == {"a.txt": b"edited here", "b.txt": b"abc"}
    changing = {"PUT", "DELETE", "MOVE", "COPY", "MKCOL"}
    writes = [r for r in fault_server.received if r.method in changing]
    # (the probe's own folder, and the change beacon a full walk creates at the root)
    assert [r for r in writes if ".hoso-probe-" not in r.path and BEACON not in r.path] == []


def test_an_entry_spelt_as_the_folder_with_a_double_slash_holds_back_nothing(
    tmp_path: Path, fault_server: FaultServer
) -> None:
    """"/dav//", or the root listed inside a sub-folder, claims the empty path. Taken as a path
    to leave alone, "" held back the whole tree: one such entry and nothing was uploaded or
    downloaded, pass after pass."""
    fault_server.script("PROPFIND", ROOT, Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/", "r", folder=True, extra="<oc:fileid>1</oc:fileid>"),
        dav_response(f"/{ROOT}//", "x", folder=True),
        dav_response(f"/{ROOT}/ok.txt", "o"),
        dav_response(f"/{ROOT}/sub/", "s", folder=True),
    )))
    fault_server.script("PROPFIND", f"{ROOT}/sub", Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/sub/", "s", folder=True),
        dav_response(f"/{ROOT}/", "r", folder=True),  # its parent, listed as if inside it
    )))
    fault_server.script("GET", f"{ROOT}/ok.txt", Answer(200, {"ETag": '"o"'}, b"abc"))
    fault_server.script("PUT", f"{ROOT}/new.txt", Answer(201, {"ETag": '"n"'}))
    agent = hostile_agent(tmp_path, fault_server)
    agent.write("new.txt", b"new")

    report = agent.sync()

    assert report.downloaded == ["ok.txt"] and report.uploaded == ["new.txt"]
    assert [item["path"] for item in report.failed] == ["", ""]
    assert agent.tree() == {"new.txt": b"new", "ok.txt": b"abc"} and agent.dirs() == {"sub"}
    assert [r.body for r in fault_server.requests_for("PUT")] == [b"new"]
