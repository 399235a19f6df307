"""Property: whatever teachers and managers do between passes, the agent loses nothing.

Hypothesis draws short interleavings of local and share-side create / modify / delete /
rename with sync passes in between, each example on a fresh share folder (on each of the three servers) and a
fresh records folder. Checked:

- no pass loses anything: every content present at the start of a pass (in either live tree
  or in a trash) is still present somewhere when it ends; only people overwrite or delete;
- after two final passes both sides hold exactly the same files.

Every written content is unique and of a unique length, so that a share-side edit is always
visible despite wsgidav's whole-second ETags (SERVERS.md) and so contents can be tracked.
"""

from __future__ import annotations

import itertools

import pytest
from agents import (
    Agent,
    everything,
    remote_delete,
    remote_move,
    remote_put,
    remote_tree,
)
from conftest import Share
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servers import DavServer

NAMES = ["a.txt", "Bài b.docx", "Tuần 1/c.txt", "Tuần 1/Đề d.docx"]
_folders = itertools.count(1)
_versions = itertools.count(1)

name = st.sampled_from(NAMES)
operations = st.one_of(
    st.tuples(st.just("local_write"), name),
    st.tuples(st.just("local_delete"), name),
    st.tuples(st.just("local_rename"), name, name),
    st.tuples(st.just("remote_write"), name),
    st.tuples(st.just("remote_delete"), name),
    st.tuples(st.just("remote_rename"), name, name),
    st.tuples(st.just("sync")),
)


def fresh_share(server: DavServer) -> Share:
    folder = f"prop-{next(_folders):04d}"
    status, _body = server.request("MKCOL", folder + "/")  # nginx wants a folder's slash
    assert status == 201
    return Share(server, server.url, folder, server.user, server.password, server.data_dir / folder)


def new_content() -> bytes:
    n = next(_versions)
    return f"v{n}:".encode() + b"x" * n


def apply(op: tuple[str, ...], agent: Agent, share: Share) -> None:
    kind, *args = op
    local = agent.tree()
    remote = remote_tree(share)
    if kind == "local_write":
        agent.write(args[0], new_content())
    elif kind == "local_delete" and args[0] in local:
        agent.delete(args[0])
    elif kind == "local_rename" and args[0] in local and args[1] not in local:
        agent.rename(args[0], args[1])
    elif kind == "remote_write":
        remote_put(share, args[0], new_content())
    elif kind == "remote_delete" and args[0] in remote:
        remote_delete(share, args[0])
    elif kind == "remote_rename" and args[0] in remote and args[1] not in remote:
        remote_move(share, args[0], args[1])


def checked_sync(agent: Agent, share: Share) -> None:
    before = set(everything(share, agent))
    report = agent.sync()
    assert not report.failed, report.failed
    after = set(everything(share, agent))
    lost = [v[:20] for v in before - after]
    assert not lost, f"lost by the pass: {lost}; report: {report}"


@settings(
    # Per server (wsgidav, Apache, rclone): a few hundred passes in all, under a minute.
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operations, min_size=1, max_size=8))
def test_random_interleavings_lose_nothing_and_converge(
    dav_server: DavServer, tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, ...]]
) -> None:
    share = fresh_share(dav_server)
    # Random deletions may well exceed the mass-delete guard, which is tested elsewhere.
    agent = Agent(
        tmp_path_factory.mktemp("prop"), share, sync_overrides={"max_delete_percent": 100.0}
    )
    for op in ops:
        if op[0] == "sync":
            checked_sync(agent, share)
        else:
            apply(op, agent, share)

    checked_sync(agent, share)
    checked_sync(agent, share)

    assert agent.tree() == remote_tree(share)
