"""What a probe learnt about the share's server is remembered per server for a day, and
forgotten when a listing contradicts it. Pure journal + literals: no clock, no server."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import serverinfo
from agent.journal import Journal
from agent.model import Kind, RemoteEntry
from agent.remote import CAUTIOUS, Behaviour, Capabilities

URL = "https://truong.example/dav/HoSo/"
NOW = 1_796_600_000.0
NGINX = Behaviour(
    etags_in_listings=False, conditional_writes=False, lists_dot_names=False, depth_infinity=False
)


def caps(behaviour: Behaviour = NGINX, *, probed: bool = True) -> Capabilities:
    return Capabilities(
        nextcloud=False, atomic_put=True, data_fingerprint=None, root_fileid=None, root_etag="",
        **behaviour.to_json(), probed=probed,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.sqlite3") as opened:
        yield opened


def test_a_probe_is_remembered_for_one_server_for_a_day(journal: Journal) -> None:
    serverinfo.remember(journal, URL, caps(), now=NOW)

    assert serverinfo.remembered(journal, URL, now=NOW + 3600) == NGINX
    assert serverinfo.remembered(journal, URL, now=NOW + 24 * 3600) is None  # probe again
    assert serverinfo.remembered(journal, URL, now=NOW - 60) is None  # the clock went back
    assert serverinfo.remembered(journal, "https://other.example/dav/", now=NOW) is None
    assert serverinfo.shown(journal) == {
        "url": URL, "probed_at": NOW, **NGINX.to_json(), "atomic_put": True,
    }


def test_only_what_a_probe_observed_is_remembered(journal: Journal) -> None:
    serverinfo.remember(journal, URL, caps(CAUTIOUS, probed=False), now=NOW)
    assert serverinfo.remembered(journal, URL, now=NOW) is None
    assert serverinfo.shown(journal) is None


def test_a_damaged_memory_means_probe_again(journal: Journal) -> None:
    journal.meta_set(serverinfo.BEHAVIOUR_META, '{"server": "x", "probed_at": "soon"')
    assert serverinfo.remembered(journal, URL, now=NOW) is None
    journal.meta_set(serverinfo.BEHAVIOUR_META, f'{{"server": "{URL}", "probed_at": {NOW}}}')
    assert serverinfo.remembered(journal, URL, now=NOW) is None


def file(path: str, etag: str = "") -> RemoteEntry:
    return RemoteEntry(path, Kind.FILE, etag=etag, size=3, href_path=path)


def test_a_listing_contradicts_what_the_server_was_seen_not_to_do() -> None:
    folder = RemoteEntry("Tuần 1", Kind.DIR, href_path="Tuần 1")
    quiet = {"a.txt": file("a.txt"), "Tuần 1": folder}
    assert not serverinfo.contradicted(caps(), quiet)
    assert serverinfo.contradicted(caps(), {"a.txt": file("a.txt", etag="e1")})
    assert serverinfo.contradicted(caps(), {"Tuần 1/.ghi chú.txt": file("Tuần 1/.ghi chú.txt")})
    lists_all = dataclasses.replace(NGINX, etags_in_listings=True, lists_dot_names=True)
    assert not serverinfo.contradicted(caps(lists_all), {"a.txt": file("a.txt")})


def test_dot_names_are_unlisted_only_where_the_server_hides_them() -> None:
    paths = ["Tuần 1/.ghi chú.txt", ".riêng/a.txt", "Tuần 1/Toán.docx", "a.b.txt"]
    hidden = [".riêng/a.txt", "Tuần 1/.ghi chú.txt"]
    assert serverinfo.unlisted_names(paths, caps()) == hidden
    shown = dataclasses.replace(NGINX, lists_dot_names=True)
    assert serverinfo.unlisted_names(paths, caps(shown)) == []
