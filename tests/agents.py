"""Test helpers for the end-to-end suites: a whole agent on a real share, and the share's side.

An :class:`Agent` is what one teacher PC has: its own records folder, its own state folder
(journal, trash, logs, lock) and its own config file with the password in the 0600 file beside
it, built exactly as `hoso init` would leave them. ``settle_seconds = 0`` so that a file written
by a test is synced by the very next pass, with no waiting.

The share side is changed the way a manager's WebDAV client would change it: raw requests
through ``share.server.request``. What is on the share is read straight from the server's disk
(``share.path``), leaving out the share trash and the agent's temp uploads.

"Nothing lost" checks compare *contents*: every version that existed before a pass must still
be somewhere afterwards: in a live tree (a conflict copy is a live file), or in a trash.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conftest import Share

from agent import config as configmod
from agent.config import Config
from agent.model import Report
from agent.conflictname import is_conflict_copy
from agent.sync import PassResult, Syncer

MARKER = ".hoso-root"
RESTORE_MARKER = ".hoso-restored"  # left by `hoso backup restore` until the next sync
TEMP_PREFIX = ".~hoso-"
BEACON = ".hoso-changes"  # the agents' change beacon on the share (agent/beacon.py)
SHARE_TRASH = ".hoso-trash"
REPO = Path(__file__).resolve().parents[1]

Tree = dict[str, bytes]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(raw: dict[str, Any], prefix: str = "") -> str:
    """The small subset of TOML our configs use: scalars and lists, then (nested) tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in raw.items() if not isinstance(v, dict)]
    for table, values in raw.items():
        if isinstance(values, dict):
            lines += ["", f"[{prefix}{table}]", to_toml(values, f"{prefix}{table}.").rstrip("\n")]
    return "\n".join(lines) + "\n"


@dataclass
class Agent:
    """One agent (one teacher PC) syncing ``root`` with ``share``."""

    base: Path
    share: Share
    name: str = "may-a"
    remote_overrides: dict[str, Any] = field(default_factory=dict)
    sync_overrides: dict[str, Any] = field(default_factory=dict)
    plugins: dict[str, Any] = field(default_factory=dict)  # the [plugins] table
    language: str = "en"
    password: str | None = None  # None: the share's real password
    root: Path | None = None  # None: a folder of its own below ``base``
    school: dict[str, Any] = field(default_factory=dict)  # the [school] table, if any

    def __post_init__(self) -> None:
        self.home = self.base / self.name
        self.root = self.root or self.home / "HoSo"
        self.state_dir = self.home / "state" / "hoso"
        self.config_path = self.home / "config" / "hoso" / "agent.toml"
        self.root.mkdir(parents=True, exist_ok=True)
        self.raw = self._raw()
        configmod.write_private(self.config_path, to_toml(self.raw))
        self.config: Config = configmod.from_dict(self.raw, self.config_path)
        secret = self.share.password if self.password is None else self.password
        configmod.write_private(self.config.password_file, secret + "\n")

    def _raw(self) -> dict[str, Any]:
        remote = {
            "url": self.share.url,
            "remote_dir": self.share.remote_dir,
            "user": self.share.user,
            "retries": 1,  # a dead server is reported within a second or two
            "timeout": 10.0,
            **self.remote_overrides,
        }
        # No random wait before the first pass of `hoso run`: tests wait for it.
        sync = {"settle_seconds": 0.0, "transfers": 2, "start_spread": 0.0, **self.sync_overrides}
        raw: dict[str, Any] = {
            "root": str(self.root),
            "state_dir": str(self.state_dir),
            "host_name": self.name,
            "language": self.language,
            "remote": remote,
            "sync": sync,
        }
        if self.plugins:
            raw["plugins"] = self.plugins
        if self.school:
            raw["school"] = self.school
        return raw

    # --- passes --------------------------------------------------------------------------

    @contextlib.contextmanager
    def syncer(self, *, plugins: bool = False) -> Iterator[Syncer]:
        syncer = Syncer(self.config, plugins=plugins)
        try:
            yield syncer
        finally:
            syncer.close()

    def run(self, **kw: Any) -> PassResult:
        with self.syncer() as syncer:
            return syncer.run_pass(**kw)

    def sync(self, **kw: Any) -> Report:
        return self.run(**kw).report

    # --- the records folder --------------------------------------------------------------

    def write(self, rel: str, data: bytes) -> Path:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return target

    def read(self, rel: str) -> bytes:
        return (self.root / rel).read_bytes()

    def delete(self, rel: str) -> None:
        target = self.root / rel
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()

    def rename(self, src: str, dst: str) -> None:
        (self.root / dst).parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.root / src, self.root / dst)

    def tree(self) -> Tree:
        """Files of the records folder by NFC path, without the markers and agent temp files."""
        return _files(self.root, skip_top=(MARKER, RESTORE_MARKER))

    def dirs(self) -> set[str]:
        return _dirs(self.root, skip_top=())

    def local_trash(self) -> Path:
        return self.state_dir / "trash"

    # --- the command line ----------------------------------------------------------------

    def cli(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: float = 120,
        config: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return run_hoso(
            *((["--config", str(self.config_path)] if config else []) + list(args)),
            env=env,
            timeout=timeout,
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            hoso_command("--config", str(self.config_path), *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=hoso_env(env),
            cwd=self.home,
        )


def stop_agent(
    proc: subprocess.Popen[str], timeout: float = 60, *, term: bool = True
) -> tuple[str, str]:
    """SIGTERM (unless ``term`` is False: the test sent it) to a `hoso run` started by
    :meth:`Agent.popen`; its (stdout, stderr) once it exited. One still alive after
    ``timeout`` is asked for its threads' stacks (SIGUSR1, the agent's faulthandler), then
    killed, and the test fails with that dump in its message."""
    if term and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)  # gathers the dump meanwhile; it does not exit
        # Ended by SIGUSR1 itself: stuck so late in Python's shutdown that faulthandler was gone.
        ended = proc.poll()
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(
            f"the agent did not stop within {timeout} s after SIGTERM (then SIGUSR1: "
            f"{'still running' if ended is None else f'exit {ended}'}):\n{err}"
        )


def hoso_command(*args: str) -> list[str]:
    # Ctrl-C as at a teacher's terminal: a test run started in the background (`pytest &`)
    # ignores SIGINT, and a Python started ignoring it never turns it into KeyboardInterrupt.
    boot = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    return [sys.executable, "-c", boot + "from agent.cli import main; main()", *args]


def hoso_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSO_", "XDG_"))}
    if os.environ.get("HOSO_DEBUG"):  # let a developer see a bug's traceback
        env["HOSO_DEBUG"] = "1"
    env["PYTHONPATH"] = str(REPO)
    env["LANGUAGE"] = "en"
    env.update(extra or {})
    return env


def run_hoso(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        hoso_command(*args),
        capture_output=True,
        text=True,
        env=hoso_env(env),
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


# --- reading trees -------------------------------------------------------------------------


def _files(top: Path, *, skip_top: Iterable[str]) -> Tree:
    skipped = set(skip_top)
    found: Tree = {}
    if not top.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = Path(dirpath).relative_to(top).as_posix()
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in skipped]
            filenames = [f for f in filenames if f not in skipped]
        for name in filenames:
            # Our temp files and change beacons, and the temp file Apache's mod_dav_fs leaves
            # when it is killed mid-PUT (litter the agent ignores like office lock files).
            if name.startswith((TEMP_PREFIX, ".davfs.tmp")) or name == BEACON:
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            try:
                found[nfc(rel)] = (Path(dirpath) / name).read_bytes()
            except FileNotFoundError:
                continue  # gone since the listing (a running agent moved it): not there
    return found


def _dirs(top: Path, *, skip_top: Iterable[str]) -> set[str]:
    skipped = set(skip_top)
    found: set[str] = set()
    for dirpath, dirnames, _files_ in os.walk(top):
        rel_dir = Path(dirpath).relative_to(top).as_posix()
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in skipped]
        for name in dirnames:
            found.add(nfc(name if rel_dir == "." else f"{rel_dir}/{name}"))
    return found


def raw_names(top: Path) -> list[str]:
    """Every file name below ``top`` exactly as spelled on disk (no normalisation), but the
    agents' change beacon."""
    return sorted(name for _d, _s, files in os.walk(top) for name in files if name != BEACON)


def remote_tree(share: Share) -> Tree:
    """Files on the share by NFC path, without the share trash and temp uploads."""
    return _files(share.path, skip_top=(SHARE_TRASH,))


def remote_dirs(share: Share) -> set[str]:
    return _dirs(share.path, skip_top=(SHARE_TRASH,))


def temp_files(top: Path) -> list[str]:
    return sorted(
        os.path.join(d, f)
        for d, _s, files in os.walk(top)
        for f in files
        if f.startswith(TEMP_PREFIX)
    )


def conflict_copies(tree: Tree) -> list[str]:
    return sorted(p for p in tree if is_conflict_copy(p))


# --- changing the share the way a manager's client does ------------------------------------


def _remote(share: Share, rel: str) -> str:
    """The path of ``rel`` on the server; a folder's with its trailing slash, as WebDAV
    clients send it (Apache's mod_dir answers 301 without it, nginx refuses)."""
    path = f"{share.remote_dir}/{rel}" if rel else share.remote_dir
    return path + "/" if (share.path / rel).is_dir() else path


def remote_mkdir(share: Share, rel: str) -> None:
    """Create ``rel`` and any missing parents on the share."""
    parts = rel.split("/")
    for depth in range(1, len(parts) + 1):
        level = "/".join(parts[:depth])
        if (share.path / level).is_dir():
            continue
        status, body = share.server.request("MKCOL", _remote(share, level) + "/")
        assert status == 201, f"MKCOL {level}: HTTP {status} {body[:200]!r}"


def remote_put(share: Share, rel: str, data: bytes) -> None:
    if "/" in rel:
        remote_mkdir(share, rel.rpartition("/")[0])
    status, body = share.server.request("PUT", _remote(share, rel), data)
    assert status in (200, 201, 204), f"PUT {rel}: HTTP {status} {body[:200]!r}"


def remote_delete(share: Share, rel: str) -> None:
    status, body = share.server.request("DELETE", _remote(share, rel))
    assert status in (200, 204), f"DELETE {rel}: HTTP {status} {body[:200]!r}"


def remote_move(share: Share, src: str, dst: str) -> None:
    if "/" in dst:
        remote_mkdir(share, dst.rpartition("/")[0])
    folder = (share.path / src).is_dir()
    destination = share.url + quote(_remote(share, dst)) + ("/" if folder else "")
    status, body = share.server.request(
        "MOVE", _remote(share, src), headers={"Destination": destination, "Overwrite": "F"}
    )
    assert status in (201, 204), f"MOVE {src} → {dst}: HTTP {status} {body[:200]!r}"


# --- nothing lost --------------------------------------------------------------------------


def trash_contents(agent: Agent, share: Share) -> list[bytes]:
    """Every file kept in the agent's local trash and in the share's trash folder."""
    kept = list(_files(agent.local_trash(), skip_top=()).values())
    kept += list(_files(share.path / SHARE_TRASH, skip_top=()).values())
    return kept


def everything(share: Share, *agents: Agent) -> list[bytes]:
    """All contents still held anywhere: both live trees and every trash."""
    found = list(remote_tree(share).values())
    for agent in agents:
        found += list(agent.tree().values())
        found += trash_contents(agent, share)
    return found


def versions(share: Share, *agents: Agent) -> set[bytes]:
    """The contents present right now in the live trees (what must not be lost)."""
    present = set(remote_tree(share).values())
    for agent in agents:
        present |= set(agent.tree().values())
    return present


def assert_nothing_lost(before: set[bytes], share: Share, *agents: Agent) -> None:
    kept = set(everything(share, *agents))
    lost = [v[:60] for v in before if v not in kept]
    assert not lost, f"versions lost: {lost}"


_METHOD = re.compile(
    r"\b(GET|HEAD|PUT|MOVE|COPY|DELETE|PROPFIND|PROPPATCH|MKCOL|LOCK|UNLOCK|OPTIONS)\b"
)


def logged_methods(share: Share, since: int) -> list[str]:
    """Methods of the requests the server logged after its ``since``-th logged request,
    leaving out the agents' reads and writes of their change beacon (no record's transfer)."""
    lines = [line for line in share.server.logged_requests()[since:] if BEACON not in line]
    return [found.group(1) for line in lines if (found := _METHOD.search(line))]
