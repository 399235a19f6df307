"""A real `hoso run` on a real share while files keep coming: each goes up once it settled.

The scans a teacher drops into the folder one after the other, or a copy from a USB stick,
used to wait for the whole folder to be quiet (up to a minute). Here the test keeps saving a
new file every second, and goes on saving until the first files are on the share's disk: the
stream ends only once the agent has uploaded the earlier files while later ones were still
being written. Without per-file settling nothing arrives while the stream lasts, and the
deadline (well below the old one-minute cap) fails the test.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from agents import Agent, remote_tree, stop_agent
from conftest import Share
from servers import wait_until

WSGIDAV_ONLY = pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
SAVE_EVERY = 1.0  # seconds between two saves of the stream (the input, not a wait)
ARRIVED_FIRST = 4  # the stream goes on until this many of its files are on the share
STREAM_DEADLINE = 40.0  # seconds: below the old cap (60 s after the first save)


def _name(k: int) -> str:
    return f"Quét/trang-{k:02d}.pdf"


@WSGIDAV_ONLY
def test_files_saved_one_after_the_other_go_up_while_the_stream_goes_on(
    tmp_path: Path, share: Share
) -> None:
    agent = Agent(tmp_path, share, sync_overrides={"settle_seconds": 1.0, "poll_interval": 3600.0})
    agent.write("Bài 1.docx", b"lesson")
    proc = agent.popen("run")
    try:
        # The start-up pass has run (the seed file waited its settle time on disk already).
        wait_until(lambda: "Bài 1.docx" in remote_tree(share), 30, "the start-up pass")
        saved: dict[str, bytes] = {}
        deadline = time.monotonic() + STREAM_DEADLINE
        next_save = time.monotonic()
        while not all(_name(k) in remote_tree(share) for k in range(ARRIVED_FIRST)):
            assert time.monotonic() < deadline, (
                f"after {len(saved)} saves none of the first {ARRIVED_FIRST} files is complete "
                f"on the share: {sorted(remote_tree(share))}"
            )
            if time.monotonic() >= next_save:
                name = _name(len(saved))
                saved[name] = f"page {len(saved)} ".encode() * 200
                agent.write(name, saved[name])
                next_save += SAVE_EVERY
            time.sleep(0.05)  # the sampling period of the share's disk
        still_writing = len(saved)
        # The first files went up while the stream went on: later saves came after them.
        assert still_writing > ARRIVED_FIRST
        arrived = remote_tree(share)
        assert all(arrived[_name(k)] == saved[_name(k)] for k in range(ARRIVED_FIRST))
        # The stream has stopped: the rest follows, each file whole.
        wait_until(
            lambda: all(remote_tree(share).get(n) == body for n, body in saved.items()),
            30,
            "the files saved last",
        )
        _out, err = stop_agent(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert remote_tree(share) == {"Bài 1.docx": b"lesson", **saved}
    assert agent.tree() == remote_tree(share)
