"""Watcher on real files (inotify), OwnWrites and Debouncer with an injected clock.

Events are awaited with a deadline. To show that something was *not* reported, the test
then touches a marker file and waits for it: inotify delivers events in order, so an
unwanted event would have arrived before the marker's.
"""

from __future__ import annotations

import os
import queue
import shutil
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from watchdog.events import EventsLostEvent, FileModifiedEvent

from agent.errors import LocalError
from agent.model import RelPath
from agent.watcher import _EVENTS, Debouncer, OwnWrites, Watcher

DEADLINE = 10.0
MARKER = "zz-marker"


@dataclass
class Seen:
    """Paths reported by the watcher, in order, awaited with a deadline."""

    events: queue.Queue[RelPath] = field(default_factory=queue.Queue)
    paths: list[RelPath] = field(default_factory=list)

    def __call__(self, path: RelPath) -> None:
        self.events.put(path)

    def wait_for(self, *expected: RelPath) -> list[RelPath]:
        deadline = time.monotonic() + DEADLINE
        missing = set(expected) - set(self.paths)
        while missing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no event for {sorted(missing)}; saw {self.paths}")
            try:
                path = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.paths.append(path)
            missing.discard(path)
        return self.paths

    def settle_with_marker(self, root: Path) -> list[RelPath]:
        """Everything reported before a marker file written now."""
        marker = root / MARKER
        marker.write_text(str(time.monotonic_ns()))
        self.wait_for(MARKER)
        return self.paths


def _ignore_tmp(path: RelPath, is_dir: bool) -> bool:
    return path.endswith(".tmp") or path == "bỏ qua" or path.startswith("bỏ qua/")


@pytest.fixture
def own() -> OwnWrites:
    return OwnWrites(ttl=60.0)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "HoSo"
    folder.mkdir()
    return folder


@pytest.fixture
def watch(root: Path, own: OwnWrites) -> Iterator[tuple[Watcher, Seen]]:
    seen = Seen()
    watcher = Watcher(root, seen, ignore=_ignore_tmp, own_writes=own)
    watcher.start()
    yield watcher, seen
    watcher.stop()


def test_create_modify_delete_are_reported(root: Path, watch: tuple[Watcher, Seen]) -> None:
    watcher, seen = watch
    assert watcher.alive
    (root / "KHBD.docx").write_bytes(b"v1")
    seen.wait_for("KHBD.docx")
    seen.paths.clear()
    with (root / "KHBD.docx").open("ab") as fh:
        fh.write(b" v2")
    seen.wait_for("KHBD.docx")
    seen.paths.clear()
    (root / "KHBD.docx").unlink()
    seen.wait_for("KHBD.docx")


# watchdog's benign double-watch warning (see agent/watcher.py); pytest resets filters.
@pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")
def test_nested_folders_created_at_once(root: Path, watch: tuple[Watcher, Seen]) -> None:
    _, seen = watch
    deep = root / "Tuần 1" / "Toán" / "Bài 3"
    deep.mkdir(parents=True)
    (deep / "phiếu.docx").write_bytes(b"x")
    seen.wait_for("Tuần 1", "Tuần 1/Toán", "Tuần 1/Toán/Bài 3", "Tuần 1/Toán/Bài 3/phiếu.docx")


def test_both_ends_of_a_rename(root: Path, watch: tuple[Watcher, Seen]) -> None:
    _, seen = watch
    (root / "Tuần 2").mkdir()
    (root / "cũ.docx").write_bytes(b"x")
    seen.wait_for("Tuần 2", "cũ.docx")
    (root / "cũ.docx").rename(root / "Tuần 2" / "mới.docx")
    seen.wait_for("cũ.docx", "Tuần 2/mới.docx")


def test_folder_rename_reports_folder_and_contents(root: Path, watch: tuple[Watcher, Seen]) -> None:
    _, seen = watch
    (root / "Tuan 3").mkdir()
    (root / "Tuan 3" / "a.txt").write_text("a")
    seen.wait_for("Tuan 3/a.txt")
    (root / "Tuan 3").rename(root / "Tuần 3")
    seen.wait_for("Tuan 3", "Tuần 3", "Tuần 3/a.txt")


def test_moves_across_the_root_edge(
    tmp_path: Path, root: Path, watch: tuple[Watcher, Seen]
) -> None:
    _, seen = watch
    outside = tmp_path / "Downloads"
    outside.mkdir()
    (outside / "tải về.pdf").write_bytes(b"x")
    (outside / "tải về.pdf").rename(root / "tải về.pdf")
    seen.wait_for("tải về.pdf")
    (root / "tải về.pdf").rename(outside / "lại.pdf")
    paths = seen.settle_with_marker(root)
    assert paths.count("tải về.pdf") >= 2  # moved in, then moved out
    assert all(not p.startswith("..") and "Downloads" not in p for p in paths)


def test_nfd_names_arrive_as_nfc(root: Path, watch: tuple[Watcher, Seen]) -> None:
    _, seen = watch
    nfd_folder = unicodedata.normalize("NFD", "Tuần 4")
    nfd_file = unicodedata.normalize("NFD", "Kế hoạch bài dạy.docx")
    assert nfd_file != "Kế hoạch bài dạy.docx"
    (root / nfd_folder).mkdir()
    (root / nfd_folder / nfd_file).write_bytes(b"x")
    paths = seen.wait_for("Tuần 4", "Tuần 4/Kế hoạch bài dạy.docx")
    assert all(p == unicodedata.normalize("NFC", p) for p in paths)


def test_own_writes_and_temp_files_are_not_echoed(
    root: Path, own: OwnWrites, watch: tuple[Watcher, Seen]
) -> None:
    _, seen = watch
    # How propagate downloads: temp file in the same folder, then replace.
    own.add("Tuần 5/tải xuống.docx")
    own.add("Tuần 5")
    (root / "Tuần 5").mkdir()
    temp = root / "Tuần 5" / ".~hoso-1234-tải xuống.docx"
    temp.write_bytes(b"from the share")
    os.replace(temp, root / "Tuần 5" / "tải xuống.docx")
    (root / "Tuần 5" / "giáo viên sửa.docx").write_bytes(b"teacher")
    paths = seen.settle_with_marker(root)
    assert "Tuần 5/giáo viên sửa.docx" in paths
    assert "Tuần 5/tải xuống.docx" not in paths
    assert "Tuần 5" not in paths
    assert not [p for p in paths if ".~hoso-" in p]


def test_ignored_paths_dropped_but_office_lock_files_reported(
    root: Path, watch: tuple[Watcher, Seen]
) -> None:
    _, seen = watch
    (root / "nháp.tmp").write_text("x")
    (root / "bỏ qua").mkdir()
    (root / "bỏ qua" / "a.docx").write_text("x")
    (root / "~$KHBD.docx").write_bytes(b"owner")
    (root / ".~lock.KHBD.odt#").write_text("lan")
    (root / "~$KHBD.docx").unlink()
    paths = seen.settle_with_marker(root)
    assert "~$KHBD.docx" in paths
    assert ".~lock.KHBD.odt#" in paths
    assert not [p for p in paths if p.endswith(".tmp") or p.startswith("bỏ qua")]


def test_a_failing_callback_does_not_end_watching(root: Path, own: OwnWrites) -> None:
    seen = Seen()

    def flaky(path: RelPath) -> None:
        seen(path)
        if path == "first.txt":
            raise RuntimeError("bug in the daemon's handler")

    watcher = Watcher(root, flaky, ignore=_ignore_tmp, own_writes=own)
    watcher.start()
    try:
        (root / "first.txt").write_text("1")
        seen.wait_for("first.txt")
        (root / "second.txt").write_text("2")
        seen.wait_for("second.txt")
        assert watcher.alive
    finally:
        watcher.stop()


def test_lost_events_are_a_hint_without_a_path(root: Path, own: OwnWrites) -> None:
    # The kernel's queue overflowed: watchdog says so with one event naming the watched root,
    # which must reach the daemon (as None: anything may have changed), not be filtered out.
    assert EventsLostEvent in _EVENTS
    seen: list[RelPath | None] = []
    watcher = Watcher(root, seen.append, ignore=_ignore_tmp, own_writes=own)
    watcher.dispatch(EventsLostEvent(str(root), is_directory=True))
    watcher.dispatch(FileModifiedEvent(str(root / "KHBD.docx")))
    assert seen == [None, "KHBD.docx"]


def test_stop_ends_reporting_and_alive(
    root: Path, own: OwnWrites, watch: tuple[Watcher, Seen]
) -> None:
    watcher, seen = watch
    watcher.stop()
    assert not watcher.alive
    watcher.stop()  # idempotent
    witness = Seen()
    other = Watcher(root, witness, ignore=_ignore_tmp, own_writes=own)
    other.start()
    try:
        (root / "after.txt").write_text("x")
        witness.wait_for("after.txt")
        witness.settle_with_marker(root)
    finally:
        other.stop()
    assert seen.events.empty()


def test_removed_root_ends_the_watch(root: Path, watch: tuple[Watcher, Seen]) -> None:
    watcher, seen = watch
    shutil.rmtree(root)
    seen.wait_for("")  # the root itself, as the empty path
    deadline = time.monotonic() + DEADLINE
    while watcher.alive and time.monotonic() < deadline:
        time.sleep(0.02)  # polling a condition with a deadline
    assert not watcher.alive


def test_missing_root_cannot_be_watched(tmp_path: Path, own: OwnWrites) -> None:
    watcher = Watcher(tmp_path / "absent", Seen(), ignore=_ignore_tmp, own_writes=own)
    with pytest.raises(LocalError) as info:
        watcher.start()
    assert "absent" in str(info.value)
    assert not watcher.alive


# --- OwnWrites ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_own_writes_expire_after_ttl() -> None:
    clock = FakeClock()
    own = OwnWrites(ttl=5.0, clock=clock)
    own.add("Tuần 1/a.docx")
    assert own.is_own("Tuần 1/a.docx")
    assert own.is_own(unicodedata.normalize("NFD", "Tuần 1/a.docx"))  # one name, one file
    assert not own.is_own("Tuần 1/b.docx")
    clock.now += 4.9
    assert own.is_own("Tuần 1/a.docx")
    own.add("Tuần 1/a.docx")  # written again: the window restarts
    clock.now += 4.9
    assert own.is_own("Tuần 1/a.docx")
    clock.now += 0.2
    assert not own.is_own("Tuần 1/a.docx")


# --- Debouncer ------------------------------------------------------------------------------


def test_debouncer_waits_for_a_path_to_be_quiet() -> None:
    d = Debouncer(settle=2.0, max_wait=30.0)
    assert d.next_deadline() is None
    assert not d.due(0.0)
    d.touch("a.docx", 10.0)
    assert d.pending
    assert d.next_deadline() == 12.0
    d.touch("a.docx", 11.5)
    assert d.next_deadline() == 13.5
    assert not d.take(13.4)
    assert d.due(13.5)
    assert d.due(13.5)  # due() does not clear
    assert d.take(13.5)
    assert not d.pending
    assert d.next_deadline() is None
    assert not d.take(100.0)


def _passes(d: Debouncer, writes: list[tuple[float, str]], until: float) -> list[float]:
    """The times the debouncer asks for a pass, driven event by event: each write's hint at
    its time, a take at each deadline (the daemon's loop, with an instant pass)."""
    passes: list[float] = []
    pending = sorted(writes)
    while True:
        deadline = d.next_deadline()
        if pending and (deadline is None or pending[0][0] <= deadline):
            at, path = pending.pop(0)
            d.touch(path, at)
            continue
        if deadline is None or deadline > until:
            return passes
        assert d.take(deadline)
        passes.append(deadline)


def test_a_stream_of_saves_passes_for_each_file_after_its_own_settle() -> None:
    # A file every 2 s for 20 s (pages scanned into the folder): each is due settle after its
    # own save, not once the stream stops.
    d = Debouncer(settle=2.25, max_wait=60.0)
    writes = [(100.0 + 2 * k, f"Quét/trang-{k:02d}.pdf") for k in range(10)]
    assert _passes(d, writes, until=200.0) == [102.25 + 2 * k for k in range(10)]
    assert not d.pending


def test_a_pass_takes_only_the_settled_paths() -> None:
    d = Debouncer(settle=2.0, max_wait=60.0)
    d.touch("a.docx", 0.0)
    d.touch("b.docx", 1.5)  # still being written when a.docx has settled
    assert d.take(2.0)
    assert d.pending
    assert d.next_deadline() == 3.5
    assert not d.take(3.4)
    assert d.take(3.5)
    assert not d.pending


def test_a_storm_of_files_makes_a_pass_per_spacing_not_per_file() -> None:
    # 1,000 files copied 10 ms apart (a USB stick): one pass a second, each taking every
    # file settled by then, and no file waits more than settle + spacing.
    d = Debouncer(settle=2.25, max_wait=60.0, spacing=1.0)
    writes = [(k * 0.01, f"USB/{k:04d}.docx") for k in range(1000)]
    passes = _passes(d, writes, until=100.0)
    assert len(passes) == 11  # 2.25, 3.25, … 12.25: the last file was written at 9.99
    assert passes[0] == 2.25
    assert all(b - a >= 1.0 for a, b in zip(passes, passes[1:], strict=False))
    for at, _path in writes:
        taken = next(p for p in passes if p >= at + 2.25)
        assert taken <= at + 2.25 + 1.0
    assert not d.pending


def test_a_quick_save_after_a_quiet_while_is_not_held_by_the_spacing() -> None:
    d = Debouncer(settle=2.0, max_wait=60.0, spacing=1.0)
    d.touch("a.docx", 0.0)
    assert d.take(2.0)
    d.touch("b.docx", 2.5)
    assert d.next_deadline() == 4.5
    d2 = Debouncer(settle=0.0, max_wait=60.0, spacing=1.0)
    d2.touch("a.docx", 0.0)
    assert d2.take(0.0)
    d2.touch("b.docx", 0.2)
    assert d2.next_deadline() == 1.0  # the spacing: no pass per event with settle 0


def test_debouncer_caps_a_continuous_writer_at_max_wait() -> None:
    d = Debouncer(settle=2.0, max_wait=30.0)
    passes: list[float] = []
    now = 0.0
    while now < 95.0:  # a hint every second, never quiet for two
        d.touch("sổ điểm.xlsx", now)
        if d.take(now):
            passes.append(now)
        now += 1.0
    assert passes == [30.0, 61.0, 92.0]


def test_a_continuous_writer_does_not_hold_back_the_other_files() -> None:
    d = Debouncer(settle=2.0, max_wait=30.0)
    writes = [(float(t), "sổ điểm.xlsx") for t in range(40)]  # rewritten every second
    writes += [(5.0, "a.docx"), (11.0, "b.docx")]
    assert _passes(d, writes, until=45.0) == [7.0, 13.0, 30.0, 41.0]


def test_a_hint_without_a_path_waits_for_the_whole_folder() -> None:
    # Events were lost (None) or the records folder itself changed (""): nothing tells which
    # file settled, so the pass waits until no hint of any kind came for settle.
    for unknown in (None, ""):
        d = Debouncer(settle=2.0, max_wait=30.0)
        d.touch(unknown, 0.0)
        d.touch("a.docx", 1.0)
        d.touch("b.docx", 2.5)
        assert d.next_deadline() == 3.0  # a.docx has settled
        assert d.take(3.0)
        assert d.next_deadline() == 4.5  # the folder is quiet from 2.5 + 2
        d.touch("b.docx", 4.0)
        assert d.next_deadline() == 6.0
        assert d.take(6.0)
        assert not d.pending


def test_a_hint_without_a_path_is_capped_at_max_wait() -> None:
    d = Debouncer(settle=2.0, max_wait=10.0)
    writes = [(float(t), f"file-{t}.docx") for t in range(1, 20)]  # never quiet for two
    writes.append((0.0, None))  # type: ignore[arg-type]
    passes = _passes(d, writes, until=25.0)
    # Each file after its own settle, and the lost events' pass no later than max_wait.
    assert passes == [float(t) + 2 for t in range(1, 20)]
    d = Debouncer(settle=2.0, max_wait=10.0)
    for t in range(0, 20):
        d.touch(None, float(t))
    assert d.next_deadline() == 10.0


def test_debouncer_hint_after_take_starts_a_new_burst() -> None:
    d = Debouncer(settle=1.0, max_wait=5.0, spacing=0.0)
    d.touch("a.docx", 0.0)
    assert d.take(1.0)
    d.touch("a.docx", 1.0)  # arrived while the pass ran
    assert d.pending
    assert d.next_deadline() == 2.0


def test_debouncer_max_below_settle_is_raised_to_settle() -> None:
    d = Debouncer(settle=3.0, max_wait=1.0)
    d.touch("a.docx", 0.0)
    assert d.next_deadline() == 3.0
