"""Change detection from whatever a share's listing gives: its ETag, else size and time.

Each scenario runs on every server of the interop tier (the ``share`` fixture), and again
behind :class:`EtaglessProxy`: wsgidav with ``getetag`` taken out of every PROPFIND answer,
while its GET and PUT answers keep their ``ETag`` header. That is what nginx does (no ETag in
listings, one on GET), and a journal that stores an answer's ETag sees a phantom change on
the share at every pass. Share-side edits set the file's time to literal values, so nothing
depends on when the test runs or on the server's time resolution.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from agents import (
    Agent,
    assert_nothing_lost,
    conflict_copies,
    logged_methods,
    remote_put,
    remote_tree,
    trash_contents,
    versions,
)
from conftest import Share
from servers import Answer, DavServer
from test_faults import FaultProxy

from agent.journal import Journal

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
T = 1_790_000_000  # a getlastmodified in whole seconds (2026-09-21)
SCORES = "Tuần 3/Sổ điểm lớp 2A.xlsx"
# Unchanged companions keep a single deletion far below the mass-delete threshold.
COMPANIONS = {f"Tuần 1/Bài {n}.docx": f"bài {n}\n".encode() for n in range(1, 6)}
TRANSFERS = {"GET", "PUT", "MOVE", "COPY", "DELETE"}
RECORDS = r"^(?!.*\.hoso-changes)"  # any path but the agents' change beacon (no record)


class EtaglessProxy(FaultProxy):
    """A share whose listings carry no ETag (nginx's): ``getetag`` is cut out of every
    PROPFIND answer on its way through. With ``put_etags`` False the PUT answers lose their
    ``ETag`` too, as on nginx; with True they keep wsgidav's, which a listing never shows.
    With ``ignore_conditions`` it drops If-Match and If-None-Match from every request it
    forwards, as nginx ignores them on PUT, DELETE and MOVE."""

    _GETETAG = re.compile(rb"<([\w.-]+:)?getetag\b[^>]*?(/>|>.*?</\1getetag\s*>)", re.DOTALL)

    def __init__(
        self, target: DavServer, *, put_etags: bool = False, ignore_conditions: bool = False
    ) -> None:
        super().__init__(target)
        self.put_etags = put_etags
        self.ignore_conditions = ignore_conditions

    def _forward(self, method: str, raw_path: str, headers: dict[str, str], body: bytes):
        if self.ignore_conditions:
            conditions = ("if-match", "if-none-match")
            headers = {k: v for k, v in headers.items() if k.lower() not in conditions}
        return super()._forward(method, raw_path, headers, body)

    def _respond(
        self, method: str, path: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        answer = super()._respond(method, path, raw_path, headers, body)
        if method == "PROPFIND":
            return dataclasses.replace(answer, body=self._GETETAG.sub(b"", answer.body))
        if method == "PUT" and not self.put_etags:
            kept = {k: v for k, v in answer.headers.items() if k.lower() != "etag"}
            return dataclasses.replace(answer, headers=kept)
        return answer


@pytest.fixture(params=[False, True], ids=["nginx-like", "put-etags"])
def etagless(share: Share, request: pytest.FixtureRequest) -> Iterator[EtaglessProxy]:
    running = EtaglessProxy(share.server, put_etags=request.param)
    yield running
    running.stop()


def etagless_agent(tmp_path: Path, share: Share, proxy: EtaglessProxy) -> Agent:
    return Agent(tmp_path, dataclasses.replace(share, url=proxy.url))


def share_edit(share: Share, rel: str, data: bytes, mtime: int) -> None:
    """A colleague saves ``rel`` on the share; its time is set to ``mtime`` (literal)."""
    remote_put(share, rel, data)
    os.utime(share.path / rel, (mtime, mtime))


def downloaded(agent: Agent, share: Share, files: dict[str, bytes]) -> None:
    """``files`` were put on the share by a colleague, and the agent brought them down."""
    for rel, data in files.items():
        share_edit(share, rel, data, T)
    report = agent.sync()
    assert sorted(report.downloaded) == sorted(files)
    assert agent.tree() == remote_tree(share) == files


# --- the scenarios, each on a share given directly and through the ETag-less proxy --------------


def same_size_edit_comes_down(agent: Agent, share: Share) -> None:
    downloaded(agent, share, {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"})
    share_edit(share, SCORES, b"2A: 7 8 9 9\n", T + 60)  # one mark changed: same size

    report = agent.sync()

    assert report.downloaded == [SCORES] and not report.conflicts
    assert agent.read(SCORES) == b"2A: 7 8 9 9\n"
    assert not agent.sync().changed_anything


def same_size_edit_of_an_uploaded_file_comes_down(agent: Agent, share: Share) -> None:
    for rel, data in {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"}.items():
        agent.write(rel, data)
    assert len(agent.sync().uploaded) == len(COMPANIONS) + 1
    share_edit(share, SCORES, b"2A: 7 8 9 9\n", T)  # a time no upload of today's can have

    report = agent.sync()

    assert report.downloaded == [SCORES] and not report.conflicts
    assert agent.read(SCORES) == b"2A: 7 8 9 9\n"
    assert not agent.sync().changed_anything


def downloaded_then_edited_goes_up(agent: Agent, share: Share) -> None:
    downloaded(agent, share, {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"})
    agent.write(SCORES, b"2A: 7 8 9 6, and the teacher's remarks\n")
    before = versions(share, agent)

    report = agent.sync()

    assert report.uploaded == [SCORES] and not report.conflicts and not report.downloaded
    assert conflict_copies(agent.tree()) == []
    assert remote_tree(share)[SCORES] == b"2A: 7 8 9 6, and the teacher's remarks\n"
    assert agent.tree() == remote_tree(share)
    assert b"2A: 7 8 9 6\n" in trash_contents(agent, share)  # the replaced share version
    assert_nothing_lost(before, share, agent)
    assert not agent.sync().changed_anything


def downloaded_then_deleted_goes_on_the_share(agent: Agent, share: Share) -> None:
    downloaded(agent, share, {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"})
    agent.delete(SCORES)

    report = agent.sync()

    assert report.deleted_remote == [SCORES] and not report.downloaded
    assert SCORES not in remote_tree(share)
    assert b"2A: 7 8 9 6\n" in trash_contents(agent, share)
    again = agent.sync()
    assert not again.changed_anything and SCORES not in agent.tree()  # not resurrected


def uploads_and_downloads_are_not_repeated(agent: Agent, share: Share) -> list[str]:
    """Returns the methods the share saw during the pass with nothing to do."""
    downloaded(agent, share, COMPANIONS)
    agent.write("Tuần 2/Kế hoạch.docx", b"ke hoach tuan 2\n")
    agent.write(SCORES, b"2A: 7 8 9 6\n")
    share_edit(share, "Tuần 2/Nhận xét.docx", b"nhan xet cua to truong\n", T + 5)
    first = agent.sync()
    assert sorted(first.uploaded) == ["Tuần 2/Kế hoạch.docx", SCORES]
    assert first.downloaded == ["Tuần 2/Nhận xét.docx"]
    since = share.server.settled_request_count()

    quiet = agent.sync()

    assert not quiet.changed_anything and not quiet.skipped
    assert agent.tree() == remote_tree(share)
    return logged_methods(share, since)


SCENARIOS = [
    same_size_edit_comes_down,
    same_size_edit_of_an_uploaded_file_comes_down,
    downloaded_then_edited_goes_up,
    downloaded_then_deleted_goes_on_the_share,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_on_each_server(tmp_path: Path, share: Share, scenario) -> None:
    scenario(Agent(tmp_path, share), share)


@WSGIDAV_ONLY
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_without_etags_in_listings(
    tmp_path: Path, share: Share, etagless: EtaglessProxy, scenario
) -> None:
    scenario(etagless_agent(tmp_path, share, etagless), share)
    assert etagless.count("PROPFIND", r".") > 0  # it did go through the proxy


def test_a_pass_with_nothing_to_do_transfers_nothing(tmp_path: Path, share: Share) -> None:
    methods = uploads_and_downloads_are_not_repeated(Agent(tmp_path, share), share)
    assert not TRANSFERS & set(methods), methods


@WSGIDAV_ONLY
def test_without_etags_a_pass_with_nothing_to_do_downloads_nothing(
    tmp_path: Path, share: Share, etagless: EtaglessProxy
) -> None:
    agent = etagless_agent(tmp_path, share, etagless)
    gets_before = etagless.count("GET", RECORDS)
    methods = uploads_and_downloads_are_not_repeated(agent, share)
    assert not TRANSFERS & set(methods), methods
    # Only the pass that brought the colleague's files down read anything from the share.
    assert etagless.count("GET", RECORDS) - gets_before == len(COMPANIONS) + 1
    # What the journal holds for the share is what its listing shows: no ETag (not even the
    # PUT answer's), the file's own time, confirmed.
    with journal_of(agent) as journal:
        files = {p: e for p, e in journal.entries().items() if e.kind.value == "file"}
    assert sorted(files) == sorted(remote_tree(share))
    for rel, entry in files.items():
        assert entry.remote_etag == "" and entry.remote_confirmed, rel
        assert entry.remote_mtime == int((share.path / rel).stat().st_mtime), rel


# --- a change between the listing and the write -----------------------------------------------


def test_a_share_edit_after_the_listing_is_not_written_over(tmp_path: Path, share: Share) -> None:
    """The PUT cannot carry If-Match (no ETag listed): the entry is looked at right before.
    Through the proxy in front of each server of the tier."""
    proxy = EtaglessProxy(share.server)
    try:
        agent = etagless_agent(tmp_path, share, proxy)
        downloaded(agent, share, {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"})
        agent.write(SCORES, b"2A: 7 8 9 6, teacher's version\n")
        with agent.syncer() as syncer:
            prepared = syncer.prepare()
            share_edit(share, SCORES, b"2A: 7 8 9 9\n", T + 60)  # same size as before
            before = versions(share, agent)
            result = syncer.execute(prepared)

        assert result.retry_soon is True and SCORES not in result.report.uploaded
        assert remote_tree(share)[SCORES] == b"2A: 7 8 9 9\n"

        report = agent.sync()  # planned again: both sides changed, both kept

        assert [c["path"] for c in report.conflicts] == [SCORES]
        copy = report.conflicts[0]["copy"]
        assert agent.tree() == remote_tree(share)
        assert {agent.read(SCORES), agent.read(copy)} == {
            b"2A: 7 8 9 9\n",
            b"2A: 7 8 9 6, teacher's version\n",
        }
        assert_nothing_lost(before, share, agent)
    finally:
        proxy.stop()


def test_a_share_edit_after_the_listing_is_not_deleted(tmp_path: Path, share: Share) -> None:
    """A deletion is a MOVE into the share's trash without If-Match on every server: the
    entry is looked at right before, and an edit made meanwhile beats the delete."""
    agent = Agent(tmp_path, share)
    downloaded(agent, share, {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"})
    agent.delete(SCORES)
    with agent.syncer() as syncer:
        prepared = syncer.prepare()
        share_edit(share, SCORES, b"2A: 7 8 9 9, corrected\n", T + 60)
        result = syncer.execute(prepared)

    assert result.retry_soon is True and not result.report.deleted_remote
    assert remote_tree(share)[SCORES] == b"2A: 7 8 9 9, corrected\n"

    report = agent.sync()

    assert report.downloaded == [SCORES] and not report.deleted_remote
    assert agent.read(SCORES) == b"2A: 7 8 9 9, corrected\n"


# --- journals written by an older hoso ---------------------------------------------------------


def journal_of(agent: Agent) -> Journal:
    return Journal.open(agent.state_dir / "journal.sqlite3")


def older_hoso_journal(agent: Agent, **remote: object) -> None:
    """Rewrite the share side of every file entry as an older hoso left it on nginx: the
    download's ETag ("<hex mtime>-<hex size>"), or no time at all."""
    with journal_of(agent) as journal:
        entries = [e for e in journal.entries().values() if e.kind.value == "file"]
        journal.put_many(
            dataclasses.replace(e, remote_etag=f"{e.remote_mtime:x}-{e.remote_size:x}", **remote)
            for e in entries
        )


@WSGIDAV_ONLY
def test_an_older_journal_with_download_etags_sees_no_change(
    tmp_path: Path, share: Share, etagless: EtaglessProxy
) -> None:
    agent = etagless_agent(tmp_path, share, etagless)
    downloaded(agent, share, {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"})
    older_hoso_journal(agent)
    gets = etagless.count("GET", RECORDS)

    assert not agent.sync().changed_anything
    assert etagless.count("GET", RECORDS) == gets

    agent.write(SCORES, b"2A: 7 8 9 6, and the teacher's remarks\n")
    agent.delete("Tuần 1/Bài 1.docx")
    report = agent.sync()

    assert report.uploaded == [SCORES] and report.deleted_remote == ["Tuần 1/Bài 1.docx"]
    assert not report.conflicts and not report.downloaded
    assert agent.tree() == remote_tree(share)


@WSGIDAV_ONLY
def test_an_older_journal_without_times_compares_bytes_before_deciding(
    tmp_path: Path, share: Share, etagless: EtaglessProxy
) -> None:
    """No time was ever recorded: size alone proves nothing, so the share's bytes are read
    once and compared with the journal's, never written over a local edit."""
    agent = etagless_agent(tmp_path, share, etagless)
    downloaded(agent, share, {**COMPANIONS, SCORES: b"2A: 7 8 9 6\n"})
    older_hoso_journal(agent, remote_mtime=0)
    agent.write(SCORES, b"2A: 7 8 9 6, and the teacher's remarks\n")
    before = versions(share, agent)

    report = agent.sync()

    assert report.uploaded == [SCORES] and not report.conflicts
    assert conflict_copies(agent.tree()) == []
    assert agent.tree() == remote_tree(share)
    assert remote_tree(share)[SCORES] == b"2A: 7 8 9 6, and the teacher's remarks\n"
    assert not report.downloaded  # the unchanged companions were compared, not replaced
    assert_nothing_lost(before, share, agent)
    gets = etagless.count("GET", RECORDS)
    assert not agent.sync().changed_anything  # the times are known now
    assert etagless.count("GET", RECORDS) == gets


@WSGIDAV_ONLY
def test_where_the_server_ignores_conditions_a_new_name_is_looked_at_before_the_put(
    tmp_path: Path, share: Share
) -> None:
    """If-None-Match: * cannot protect a colleague's file that appeared after the listing."""
    proxy = EtaglessProxy(share.server, ignore_conditions=True)
    try:
        via_proxy = dataclasses.replace(share, url=proxy.url)
        agent = Agent(tmp_path, via_proxy, remote_overrides={"atomic_uploads": "always"})
        downloaded(agent, share, COMPANIONS)
        plan = "Tuần 4/Kế hoạch bài dạy.docx"
        agent.write(plan, b"the teacher's plan\n")
        with agent.syncer() as syncer:
            prepared = syncer.prepare()
            share_edit(share, plan, b"the colleague's plan, same name\n", T + 60)
            before = versions(share, agent)
            caps = dataclasses.replace(prepared.caps, conditional_writes=False)
            result = syncer.execute(dataclasses.replace(prepared, caps=caps))

        assert result.retry_soon is True and plan not in result.report.uploaded
        assert remote_tree(share)[plan] == b"the colleague's plan, same name\n"
        # The proxy does ignore the condition: the same PUT would have gone through.
        status, _body = raw_put(proxy, f"{share.remote_dir}/{plan}", headers={"If-None-Match": "*"})
        assert status == 204

        report = agent.sync()

        assert [c["path"] for c in report.conflicts] == [plan]
        assert agent.tree() == remote_tree(share)
        assert_nothing_lost(before, share, agent)
    finally:
        proxy.stop()


def raw_put(proxy: EtaglessProxy, path: str, *, headers: dict[str, str]) -> tuple[int, bytes]:
    """One PUT through the proxy, with the share's login, of the bytes already there."""
    server = proxy.target
    current = (server.data_dir / path).read_bytes()
    token = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    try:
        conn.request(
            "PUT",
            "/" + quote(path),
            body=current,
            headers={"Authorization": f"Basic {token}", **headers},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
