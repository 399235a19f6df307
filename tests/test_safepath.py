"""The path gate for the agent's writes in the records folder, on real files: every bad path
form is refused before anything is opened, a symlink at any level is refused (never
followed), and a folder swapped for a symlink after it was opened never redirects a write."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agents import Agent, remote_put
from conftest import Share

from agent.errors import ExitCode, LocalError, Scope
from agent.local import MARKER_NAME, read_marker, write_marker
from agent.safepath import SafeRoot, UnsafePath, private_dir, rename_no_replace, split


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "HoSo"
    (folder / "Tuần 1" / "Toán").mkdir(parents=True)
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Stands for ~/.ssh: a folder outside the records folder that must stay untouched."""
    folder = tmp_path / "ssh"
    folder.mkdir()
    (folder / "authorized_keys").write_bytes(b"the teacher's own key\n")
    return folder


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def write_new(safe: SafeRoot, rel: str, data: bytes, *, create: bool = True) -> None:
    """What a download does: a temp file in the target's folder, then the atomic replace."""
    with safe.parent(rel, create=create) as (folder, name), folder.open_temp(name) as temp:
        temp.write(data)
        temp.install(replace=True)


# --- path forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    [
        "..",
        "../x",
        "a/../../x",
        "a/..",
        ".",
        "./a",
        "a/./b",
        "",
        "a//b",
        "a/",
        "/etc/passwd",
        "a\0b",
    ],
)
def test_every_bad_path_form_is_refused_before_anything_is_opened(root: Path, rel: str) -> None:
    before = sorted(p.relative_to(root.parent) for p in root.parent.rglob("*"))
    with pytest.raises(UnsafePath) as caught:
        write_new(SafeRoot(root), rel, b"planted")
    assert str(caught.value)  # one message for the per-file failure
    assert sorted(p.relative_to(root.parent) for p in root.parent.rglob("*")) == before


def test_a_refusal_is_a_per_file_local_error() -> None:
    with pytest.raises(UnsafePath) as caught:
        split("Tuần 1/../../.bashrc")
    assert isinstance(caught.value, LocalError)
    assert caught.value.scope is Scope.FILE and caught.value.exit_code is ExitCode.PARTIAL
    assert "Tuần 1/../../.bashrc" in str(caught.value)


def test_plain_names_pass_as_they_are() -> None:
    assert split("Tuần 1/Toán/Bài 1 ..docx") == ["Tuần 1", "Toán", "Bài 1 ..docx"]
    assert split("..hidden/...") == ["..hidden", "..."]


# --- symlinks at every level ----------------------------------------------------------------


@pytest.mark.parametrize("level", ["link", "Tuần 1/link", "Tuần 1/Toán/link"])
@pytest.mark.parametrize("create", [True, False])
def test_a_symlinked_folder_at_any_level_is_refused(
    root: Path, outside: Path, level: str, create: bool
) -> None:
    (root / level).symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath) as caught:
        write_new(SafeRoot(root), f"{level}/authorized_keys", b"attacker's key\n", create=create)
    assert "symbolic link" in str(caught.value) and level in str(caught.value)
    with pytest.raises(UnsafePath):
        write_new(SafeRoot(root), f"{level}/new/deeper.txt", b"x", create=create)
    assert listing(outside) == {"authorized_keys": b"the teacher's own key\n"}


def test_a_dangling_symlink_is_refused_and_nothing_is_created_at_its_target(
    root: Path, tmp_path: Path
) -> None:
    target = tmp_path / "autostart"
    (root / "Tuần 1" / "link").symlink_to(target)
    with pytest.raises(UnsafePath):
        write_new(SafeRoot(root), "Tuần 1/link/evil.desktop", b"[Desktop Entry]")
    with pytest.raises(UnsafePath):
        SafeRoot(root).makedirs("Tuần 1/link")
    assert not target.exists()
    assert (root / "Tuần 1" / "link").is_symlink()


def test_a_symlink_to_a_file_is_never_written_through(root: Path, outside: Path) -> None:
    link = root / "Tuần 1" / "notes.txt"
    link.symlink_to(outside / "authorized_keys")
    safe = SafeRoot(root)
    with safe.parent("Tuần 1/notes.txt") as (folder, name):
        with pytest.raises(UnsafePath):
            folder.regular_file(name)  # what a download checks before replacing
        with pytest.raises(OSError):
            os.close(folder.open_file(name))  # nor read through
    with pytest.raises(UnsafePath):
        write_new(safe, "Tuần 1/notes.txt/x", b"x")
    # An atomic replace of the name replaces the link itself, never its target.
    write_new(safe, "Tuần 1/notes.txt", b"downloaded\n")
    assert not link.is_symlink() and link.read_bytes() == b"downloaded\n"
    assert listing(outside) == {"authorized_keys": b"the teacher's own key\n"}


def test_a_file_where_a_folder_is_expected_is_refused(root: Path) -> None:
    (root / "Tuần 2").write_bytes(b"a file, not a folder")
    with pytest.raises(UnsafePath) as caught:
        write_new(SafeRoot(root), "Tuần 2/Bài 1.docx", b"x")
    assert "Tuần 2" in str(caught.value)
    assert (root / "Tuần 2").read_bytes() == b"a file, not a folder"


def test_the_root_itself_may_be_reached_through_a_link(tmp_path: Path, root: Path) -> None:
    # The teacher chose the records folder; only what is below it is the share's to shape.
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    write_new(SafeRoot(alias), "Tuần 1/Toán/Bài 1.docx", b"ok")
    assert (root / "Tuần 1" / "Toán" / "Bài 1.docx").read_bytes() == b"ok"


# --- swapped after resolution ---------------------------------------------------------------


def test_a_folder_swapped_for_a_symlink_before_it_is_opened_is_refused(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    safe = SafeRoot(root)
    assert safe.lstat("Tuần 1/Toán") is not None  # what the scan saw: a real folder
    os.rename(root / "Tuần 1" / "Toán", tmp_path / "moved away")
    (root / "Tuần 1" / "Toán").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePath):
        write_new(safe, "Tuần 1/Toán/authorized_keys", b"attacker's key\n")
    assert listing(outside) == {"authorized_keys": b"the teacher's own key\n"}


def test_a_folder_swapped_for_a_symlink_after_it_was_opened_keeps_the_write(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    safe = SafeRoot(root)
    with (
        safe.parent("Tuần 1/Toán/authorized_keys") as (folder, name),
        folder.open_temp(name) as temp,
    ):
        # Between the download's start and its replace, the folder becomes a link.
        os.rename(root / "Tuần 1" / "Toán", tmp_path / "moved away")
        (root / "Tuần 1" / "Toán").symlink_to(outside, target_is_directory=True)
        temp.write(b"downloaded\n")
        temp.finish()
        folder.replace(temp.name, name)
    assert listing(outside) == {"authorized_keys": b"the teacher's own key\n"}
    assert listing(tmp_path / "moved away") == {"authorized_keys": b"downloaded\n"}


# --- renames, trash and restore -------------------------------------------------------------


def test_rename_no_replace_never_replaces_anything(root: Path, outside: Path) -> None:
    (root / "a.txt").write_bytes(b"mine")
    (root / "taken.txt").write_bytes(b"theirs")
    (root / "dangling").symlink_to(root / "nowhere")
    safe = SafeRoot(root)
    with safe.folder("") as top:
        for target in ("taken.txt", "dangling"):
            with pytest.raises(FileExistsError):
                rename_no_replace(top, "a.txt", top, target)
        with safe.folder("Tuần 1", create=True) as sub:
            rename_no_replace(top, "a.txt", sub, "a (bản xung đột).txt")
    assert (root / "Tuần 1" / "a (bản xung đột).txt").read_bytes() == b"mine"
    assert (root / "taken.txt").read_bytes() == b"theirs"
    assert (root / "dangling").is_symlink() and not (root / "nowhere").exists()


def test_moving_a_folder_out_copies_links_as_links(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    (root / "Tuần 1" / "Toán" / "Bài 1.docx").write_bytes(b"bai 1")
    (root / "Tuần 1" / "Toán" / "keys").symlink_to(outside / "authorized_keys")
    trash = private_dir(tmp_path / "state" / "trash" / "slot")
    with SafeRoot(root).folder("Tuần 1") as folder:
        folder.copy_out("Toán", trash / "Toán")  # the cross-device path of move_out
    assert (trash / "Toán" / "Bài 1.docx").read_bytes() == b"bai 1"
    assert (trash / "Toán" / "keys").is_symlink()
    assert listing(outside) == {"authorized_keys": b"the teacher's own key\n"}


def test_bringing_back_from_the_trash_never_replaces_and_refuses_links(
    root: Path, outside: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.docx"
    kept.write_bytes(b"kept")
    (root / "Bài 1.docx").write_bytes(b"newer")
    link = tmp_path / "kept-link"
    link.symlink_to(outside / "authorized_keys")
    with SafeRoot(root).folder("") as folder:
        with pytest.raises(FileExistsError):
            folder.bring_in(kept, "Bài 1.docx")
        with pytest.raises(UnsafePath):
            folder.bring_in(link, "keys")
        folder.copy_in(kept, "copied.docx")  # the cross-device path
        folder.bring_in(kept, "Bài 1 (restored 1).docx")
    assert (root / "Bài 1.docx").read_bytes() == b"newer"
    assert (root / "copied.docx").read_bytes() == b"kept"
    assert (root / "Bài 1 (restored 1).docx").read_bytes() == b"kept"
    assert not (root / "keys").exists()


def test_private_folders_are_0700_at_every_level_made(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        made = private_dir(tmp_path / "state" / "hoso" / "trash")
    finally:
        os.umask(old)
    for folder in (made, made.parent, made.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    private_dir(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


# --- the agent's own folders, end to end ------------------------------------------------------


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_state_trash_and_log_folders_are_private(tmp_path: Path, share: Share) -> None:
    agent = Agent(tmp_path, share)
    agent.write("Tuần 1/Bài 1.docx", b"bai 1")
    old = os.umask(0o022)
    try:
        assert agent.cli("sync").returncode == 0
        remote_put(share, "Tuần 1/Bài 1.docx", b"the share's newer version")
        done = agent.cli("sync")
    finally:
        os.umask(old)
    assert done.returncode == 0, done.stderr
    trash = agent.local_trash()
    kept = [p for p in trash.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in kept] == [b"bai 1"]  # the replaced version, kept
    private = [
        agent.state_dir,
        agent.state_dir / "logs",
        trash,
        *(p for p in trash.rglob("*") if p.is_dir()),
    ]
    for folder in private:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for data in (agent.state_dir / "journal.sqlite3", agent.state_dir / "logs" / "hoso.log"):
        assert stat.S_IMODE(data.stat().st_mode) == 0o600, data


def test_a_link_planted_as_the_marker_is_replaced_never_written_through(
    root: Path, outside: Path
) -> None:
    (root / MARKER_NAME).symlink_to(outside / "authorized_keys")
    with pytest.raises(LocalError):
        read_marker(root)  # a link is no marker
    write_marker(root, "b1946ac92492d234")
    assert not (root / MARKER_NAME).is_symlink()
    assert read_marker(root) == "b1946ac92492d234"
    assert listing(outside) == {"authorized_keys": b"the teacher's own key\n"}


@pytest.fixture
def other_device(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system (tmpfs), where renames and hard links fail (EXDEV)."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    folder = Path(tempfile.mkdtemp(prefix="hoso-test-", dir=shm))
    yield folder
    shutil.rmtree(folder)


def test_moving_out_across_file_systems_copies_then_removes_without_following(
    root: Path, outside: Path, other_device: Path
) -> None:
    week = root / "Tuần 1" / "Toán"
    (week / "Bài 1.docx").write_bytes(b"bai 1")
    (week / "keys").symlink_to(outside, target_is_directory=True)
    (root / "Sổ.xlsx").write_bytes(b"so")
    with SafeRoot(root).folder("Tuần 1") as folder:
        folder.move_out("Toán", other_device / "Toán")
    with SafeRoot(root).folder("") as folder:
        folder.link_out("Sổ.xlsx", other_device / "Sổ.xlsx")
    assert not week.exists()
    assert (other_device / "Toán" / "Bài 1.docx").read_bytes() == b"bai 1"
    assert os.readlink(other_device / "Toán" / "keys") == str(outside)
    assert (other_device / "Sổ.xlsx").read_bytes() == b"so" and (root / "Sổ.xlsx").exists()
    assert listing(outside) == {"authorized_keys": b"the teacher's own key\n"}
