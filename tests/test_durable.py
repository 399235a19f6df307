"""agent.durable: a file is written whole or not at all, under one folder-fsync policy.

The crash tests run a real child process that SIGKILLs itself at one step of a write (the
child script wraps the step's system call; no sleeps), then look at what is on disk.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent import durable, local

ROOT = Path(__file__).resolve().parent.parent
OLD = b"old version\n" * 1000
NEW = b"new version, longer\n" * 50_000


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(set(os.listdir(folder)) - keep)


# --- write_atomic -----------------------------------------------------------------------------


def test_write_atomic_replaces_whole_with_the_exact_mode_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "made" / "here" / "agent.toml"  # missing folders are made
    durable.write_atomic(target, OLD)
    old_umask = os.umask(0o077)
    try:
        durable.write_atomic(target, NEW, mode=0o644)
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == NEW
    assert target.stat().st_mode & 0o777 == 0o644  # the caller's mode, not the umask's
    assert os.listdir(target.parent) == ["agent.toml"]


def test_write_atomic_defaults_to_owner_only(tmp_path: Path) -> None:
    durable.write_atomic(tmp_path / "secret.json", b"{}")
    assert (tmp_path / "secret.json").stat().st_mode & 0o777 == 0o600


def test_write_atomic_replaces_a_link_never_writes_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    (tmp_path / "name").symlink_to(victim)
    durable.write_atomic(tmp_path / "name", NEW)
    assert victim.read_bytes() == b"keep me"
    assert not (tmp_path / "name").is_symlink()
    assert (tmp_path / "name").read_bytes() == NEW


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(OLD)

    with pytest.raises(TypeError):  # fails after the temp file was made
        durable.write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["f"]


def test_a_long_name_gets_a_temp_name_the_file_system_takes(tmp_path: Path) -> None:
    name = "Kế hoạch bài dạy " * 10 + ".docx"  # 245 bytes in UTF-8
    assert len(name.encode()) <= 255
    durable.write_atomic(tmp_path / name, NEW)
    assert (tmp_path / name).read_bytes() == NEW
    assert os.listdir(tmp_path) == [name]


# --- create_new -------------------------------------------------------------------------------


def test_create_new_writes_a_new_file(tmp_path: Path) -> None:
    durable.create_new(tmp_path / "biên bản.txt", NEW, mode=0o644)
    assert (tmp_path / "biên bản.txt").read_bytes() == NEW
    assert (tmp_path / "biên bản.txt").stat().st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["biên bản.txt"]


@pytest.mark.parametrize("taken_by", ["file", "dangling link", "folder"])
def test_create_new_never_replaces(tmp_path: Path, taken_by: str) -> None:
    target = tmp_path / "x"
    if taken_by == "file":
        target.write_bytes(OLD)
    elif taken_by == "folder":
        target.mkdir()
    else:
        target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        durable.create_new(target, NEW)
    assert os.listdir(tmp_path) == ["x"]
    if taken_by == "file":
        assert target.read_bytes() == OLD
    assert target.is_symlink() == (taken_by == "dangling link")


def test_create_new_without_renameat2_links_and_never_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable, "_libc_renameat2", None)  # e.g. macOS, old glibc
    durable.create_new(tmp_path / "a", NEW)
    with pytest.raises(FileExistsError):
        durable.create_new(tmp_path / "a", OLD)
    assert (tmp_path / "a").read_bytes() == NEW
    assert os.listdir(tmp_path) == ["a"]


# --- rename_no_replace ------------------------------------------------------------------------


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "link-fallback"])
def test_rename_no_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renameat2: bool
) -> None:
    if not renameat2:
        monkeypatch.setattr(durable, "_libc_renameat2", None)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "f").write_bytes(NEW)
    (tmp_path / "b" / "taken").write_bytes(OLD)
    with pytest.raises(FileExistsError):
        durable.rename_no_replace(tmp_path / "a" / "f", tmp_path / "b" / "taken")
    assert (tmp_path / "a" / "f").read_bytes() == NEW
    assert (tmp_path / "b" / "taken").read_bytes() == OLD
    durable.rename_no_replace(tmp_path / "a" / "f", tmp_path / "b" / "Tuần 5.docx")
    assert os.listdir(tmp_path / "a") == []
    assert (tmp_path / "b" / "Tuần 5.docx").read_bytes() == NEW
    # A folder too, and never onto a taken name.
    (tmp_path / "a" / "sub").mkdir()
    (tmp_path / "a" / "sub" / "inner").write_bytes(OLD)
    with pytest.raises(FileExistsError):
        durable.rename_no_replace(tmp_path / "a" / "sub", tmp_path / "b" / "taken")
    durable.rename_no_replace(tmp_path / "a" / "sub", tmp_path / "b" / "sub")
    assert (tmp_path / "b" / "sub" / "inner").read_bytes() == OLD
    assert os.listdir(tmp_path / "a") == []


# --- fsync_dir: the policy --------------------------------------------------------------------


def test_a_folder_the_file_system_cannot_fsync_is_tolerated_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # /proc answers EINVAL to a folder fsync, as vfat, some FUSE and network mounts do.
    with pytest.raises(OSError) as raw:
        fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    assert raw.value.errno == errno.EINVAL
    monkeypatch.setattr(durable, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="hoso.durable"):
        durable.fsync_dir(Path("/proc"))
        durable.fsync_dir(Path("/proc/self"))
    warnings = [r for r in caplog.records if r.name == "hoso.durable"]
    assert len(warnings) == 1
    assert "cannot make folder changes durable" in warnings[0].getMessage()


def test_a_failing_drive_is_raised_not_tolerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fsync

    def failing(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError) as raised:
        durable.fsync_dir(tmp_path)
    assert raised.value.errno == errno.EIO
    with pytest.raises(OSError):
        durable.write_atomic(tmp_path / "f", NEW)
    # The rename happened (the file is whole); the caller learns it may not be durable.
    assert (tmp_path / "f").read_bytes() == NEW
    assert os.listdir(tmp_path) == ["f"]


# --- leftovers --------------------------------------------------------------------------------


def test_leftover_temps_are_found_by_target_and_ignored_by_the_records_scan(
    tmp_path: Path,
) -> None:
    target = tmp_path / "vault.json"
    other = tmp_path / "agent.toml"
    left = tmp_path / f"{durable.TEMP_PREFIX}vault.json.0123456789ab{durable.TEMP_SUFFIX}"
    left_other = tmp_path / f"{durable.TEMP_PREFIX}agent.toml.0123456789ab{durable.TEMP_SUFFIX}"
    left.write_bytes(b"half")
    left_other.write_bytes(b"half")
    assert list(durable.stale_temps(target)) == [left]
    durable.write_atomic(target, NEW)  # a leftover never stands in the way
    assert durable.remove_stale_temps(target) == 1
    assert sorted(os.listdir(tmp_path)) == sorted([target.name, left_other.name])
    assert list(durable.stale_temps(other)) == [left_other]
    # In the records folder the sync ignores them and, as a plugin may be writing, leaves
    # them alone (only its own .part downloads are swept).
    assert local.IgnoreRules().is_ignored(left_other.name, False)
    assert not local.is_partial_download(left_other.name)


# --- streamed writes --------------------------------------------------------------------------


def _chunks(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_a_stream_is_installed_whole_with_the_mode_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "Giáo án.docx"
    target.write_bytes(OLD)
    with durable.open_temp(target, mode=0o640) as out:
        for chunk in _chunks(NEW):
            assert out.write(chunk) == len(chunk)
        assert target.read_bytes() == OLD  # nothing reaches the target before install
        out.install(replace=True)
    assert target.read_bytes() == NEW
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == [target.name]


def test_a_stream_installed_without_replace_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_bytes(OLD)
    with pytest.raises(FileExistsError), durable.open_temp(target) as out:
        out.write(NEW)
        out.install(replace=False)
    assert target.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["taken"]


def test_a_stream_failing_mid_write_leaves_the_target_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="connection lost"), durable.open_temp(target) as out:
        out.write(NEW[:1000])
        assert [p.name for p in durable.stale_temps(target)] == [out.name]  # the temp exists
        raise RuntimeError("connection lost")
    assert target.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["f"]


def test_a_stream_not_installed_is_removed_and_a_kept_one_stays(tmp_path: Path) -> None:
    folder_fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with durable.open_temp_at(folder_fd, "given up") as out:
            out.write(b"not wanted after all")
        with durable.open_temp_at(folder_fd, "kept", temp_suffix=".restore", sync=False) as out:
            out.write(NEW)
            out.keep()
        with pytest.raises(ValueError):
            out.write(b"more")  # finished: no write can slip in after the fsync
    finally:
        os.close(folder_fd)
    kept = tmp_path / out.name
    assert os.listdir(tmp_path) == [out.name]
    assert list(durable.stale_temps(tmp_path / "kept", temp_suffix=".restore")) == [kept]
    assert kept.read_bytes() == NEW


def test_a_stream_made_like_open_takes_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o027)
    try:
        with durable.open_temp(tmp_path / "f", mode=None) as out:
            out.write(b"x")
            out.install(replace=False)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o640


# --- crash at each step -----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from agent import durable

    call, target, where, owner, attr, nth = sys.argv[1:7]
    nth = int(nth)
    host = durable if owner == "durable" else os
    if owner == "nolink":
        durable._libc_renameat2 = None
        host = os
    real = getattr(host, attr)
    seen = [0]

    def wrapped(*args, **kwargs):
        seen[0] += 1
        if where == "before" and seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        result = real(*args, **kwargs)
        if where == "after" and seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(host, attr, wrapped)
    data = sys.stdin.buffer.read()
    if call == "write_atomic":
        durable.write_atomic(Path(target), data)
    elif call == "create_new":
        durable.create_new(Path(target), data)
    elif call == "stream":  # as a download does: pieces into a .part temp, then no-replace
        with durable.open_temp(Path(target), mode=None, temp_suffix=".part") as out:
            for start in range(0, len(data), 65536):
                out.write(data[start : start + 65536])
            out.install(replace=False)
    elif call == "copy_out":  # safepath's copy of a records file out, e.g. to the trash
        from agent.safepath import SafeRoot
        source = Path(target).parent.parent / "records" / (Path(target).name + ".src")
        with SafeRoot(source.parent).folder("") as folder:
            folder.copy_out(source.name, Path(target))
    else:
        durable.rename_no_replace(Path(target + ".src"), Path(target))
    """
)

# (where, module, call, nth, the new content is in place when killed)
WRITE_STEPS = [
    ("after", "os", "open", 2, False),  # temp created, empty (the 1st open is the folder)
    ("after", "os", "write", 1, False),  # temp written, not fsync'd
    ("after", "os", "fsync", 1, False),  # temp fsync'd
    ("before", "os", "replace", 1, False),
    ("after", "os", "replace", 1, True),  # renamed, folder not fsync'd
    ("after", "os", "fsync", 2, True),  # folder fsync'd
]
CREATE_STEPS = [
    ("after", "os", "write", 1, False),
    ("after", "os", "fsync", 1, False),
    ("before", "durable", "_renameat2", 1, False),
    ("after", "durable", "_renameat2", 1, True),
    ("after", "nolink", "link", 1, True),  # the link fallback: both names, one file
    ("after", "os", "fsync", 2, True),
]


STREAM_STEPS = [
    ("after", "os", "open", 2, False),  # temp created, empty
    ("after", "os", "write", 1, False),  # mid-stream: the first piece written
    ("after", "os", "write", 5, False),
    ("after", "os", "fsync", 1, False),  # all written and fsync'd
    ("before", "durable", "_renameat2", 1, False),
    ("after", "durable", "_renameat2", 1, True),
    ("after", "os", "fsync", 2, True),
]


def _run_child(tmp_path: Path, call: str, target: Path, step: tuple, data: bytes) -> None:
    where, owner, attr, nth, _ = step
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    done = subprocess.run(
        [sys.executable, str(script), call, str(target), where, owner, attr, str(nth)],
        input=data,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


@pytest.mark.parametrize("step", WRITE_STEPS, ids=lambda s: f"{s[0]}-{s[2]}-{s[3]}")
def test_write_atomic_killed_at_each_step(tmp_path: Path, step: tuple) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    target = folder / "vault.json"
    target.write_bytes(OLD)
    _run_child(tmp_path, "write_atomic", target, step, NEW)
    assert target.read_bytes() == (NEW if step[4] else OLD)  # whole old or whole new
    left = list(durable.stale_temps(target))
    assert _leftovers(folder, {target.name}) == sorted(p.name for p in left)  # only temps
    # A later write is not tripped by a leftover, and the leftovers can be swept.
    durable.write_atomic(target, b"later")
    assert target.read_bytes() == b"later"
    assert durable.remove_stale_temps(target) == len(left)
    assert os.listdir(folder) == [target.name]


@pytest.mark.parametrize("step", CREATE_STEPS, ids=lambda s: f"{s[0]}-{s[1]}-{s[2]}-{s[3]}")
def test_create_new_killed_at_each_step(tmp_path: Path, step: tuple) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "Biên bản bàn giao.txt"
    _run_child(tmp_path, "create_new", target, step, NEW)
    if step[4]:
        assert target.read_bytes() == NEW
    else:
        assert not target.exists()  # no file at all, never a partial one
    left = list(durable.stale_temps(target))
    assert _leftovers(folder, {target.name}) == sorted(p.name for p in left)
    if not step[4]:
        durable.create_new(target, b"later")  # a leftover temp does not block it
        assert target.read_bytes() == b"later"
    else:
        with pytest.raises(FileExistsError):
            durable.create_new(target, b"later")
        assert target.read_bytes() == NEW
    durable.remove_stale_temps(target)
    assert os.listdir(folder) == [target.name]


@pytest.mark.parametrize(
    "step",
    [
        ("before", "durable", "_renameat2", 1, False),
        ("after", "durable", "_renameat2", 1, True),
        ("after", "nolink", "link", 1, True),
        ("after", "os", "fsync", 1, True),
    ],
    ids=lambda s: f"{s[0]}-{s[1]}-{s[2]}",
)
def test_rename_no_replace_killed_at_each_step(tmp_path: Path, step: tuple) -> None:
    target = tmp_path / "dst"
    source = tmp_path / "dst.src"
    source.write_bytes(NEW)
    _run_child(tmp_path, "rename", target, step, b"")
    # The file is never lost: at its old name, its new one, or (link fallback) both.
    names = {p.name for p in tmp_path.iterdir()} - {"child.py"}
    assert names in ({"dst.src"}, {"dst"}, {"dst", "dst.src"})
    assert ("dst" in names) == step[4]
    for name in names:
        assert (tmp_path / name).read_bytes() == NEW


@pytest.mark.parametrize("step", STREAM_STEPS, ids=lambda s: f"{s[0]}-{s[1]}-{s[2]}-{s[3]}")
def test_a_stream_killed_at_each_step(tmp_path: Path, step: tuple) -> None:
    folder = tmp_path / "Tuần 3"
    folder.mkdir()
    target = folder / "Bài 1.docx"
    _run_child(tmp_path, "stream", target, step, NEW)
    if step[4]:
        assert target.read_bytes() == NEW
    else:
        assert not target.exists()  # no file at all, never a partial one
    left = list(durable.stale_temps(target, temp_suffix=".part"))
    assert _leftovers(folder, {target.name}) == sorted(p.name for p in left)
    # A leftover is the sync's own: ignored by the scan and swept as a partial download.
    assert all(local.is_partial_download(p.name) for p in left)
    assert all(local.IgnoreRules().is_ignored(p.name, False) for p in left)
    assert durable.remove_stale_temps(target, temp_suffix=".part") == len(left)
    assert os.listdir(folder) == ([target.name] if step[4] else [])


@pytest.mark.parametrize(
    "step",
    [
        ("after", "os", "write", 1, False),  # the first MiB of two copied
        ("after", "os", "fsync", 1, False),
        ("after", "durable", "_renameat2", 1, True),
    ],
    ids=lambda s: f"{s[0]}-{s[1]}-{s[2]}-{s[3]}",
)
def test_safepath_copy_out_killed_leaves_no_half_file(tmp_path: Path, step: tuple) -> None:
    records = tmp_path / "records"
    trash = tmp_path / "trash"
    records.mkdir()
    trash.mkdir()
    (records / "Bài 1.docx.src").write_bytes(NEW)
    target = trash / "Bài 1.docx"
    # The child copies records/Bài 1.docx.src to trash/Bài 1.docx.
    _run_child(tmp_path, "copy_out", target, step, b"")
    os.rename(records / "Bài 1.docx.src", records / "kept")  # the source is never touched
    assert (records / "kept").read_bytes() == NEW
    if step[4]:
        assert target.read_bytes() == NEW
    else:
        assert not target.exists()  # never a half copy under the real name
    left = list(durable.stale_temps(target))
    assert _leftovers(trash, {target.name}) == sorted(p.name for p in left)


def test_fsync_file_syncs_a_finished_file_and_never_follows_a_link(tmp_path: Path) -> None:
    produced = tmp_path / "biên bản.pdf"
    produced.write_bytes(b"%PDF-1.7 converted")
    durable.fsync_file(produced)  # another program's output, before it is published
    durable.rename_no_replace(produced, tmp_path / "Biên bản bàn giao.pdf")
    assert (tmp_path / "Biên bản bàn giao.pdf").read_bytes() == b"%PDF-1.7 converted"
    planted = tmp_path / "planted.pdf"
    planted.symlink_to(tmp_path / "Biên bản bàn giao.pdf")
    with pytest.raises(OSError) as raised:
        durable.fsync_file(planted)
    assert raised.value.errno == errno.ELOOP
