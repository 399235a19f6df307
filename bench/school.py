"""Benchmark: a whole school on one share. N teachers' real ``hoso run`` agents against ONE
WebDAV server (Apache mod_dav with Debian's modules, or wsgidav) on loopback.

Each teacher has their own login and their own folder on the share (``/gv01/`` … only they and
the manager may use it), a home of their own (HOME and the XDG folders), a config written by
``hoso init`` as the README says, and a school year's records folder from bench/corpus.py. The
teachers' agents start at once, as at 7:00. Once each has finished its first pass (read from
its journal, as `hoso status` does), the first teacher's second PC (same login, same folder,
an empty records folder) joins and downloads the folder; then the agents are left idle for a
window, which reports requests per minute per agent (the
server's access log, by login), the server's CPU time (its whole process session, reaped
workers included) and each agent's CPU and memory (from /proc). Then two changes are timed:
a teacher saves a new file (until it is on the share's disk, and in the second PC's folder),
and the manager PUTs a commented file into another teacher's old week folder over plain
WebDAV (until it is in that teacher's folder).

The benchmark observes only from outside: the server's log, /proc, the share's disk and the
local folders; the config keys it sets are listed in ``DEFAULT_SETTINGS`` and overridden with
``--set TABLE.KEY=VALUE``. Every process started here is stopped, and every folder removed,
before the script exits, also on an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` and `tests` are folders of the checkout, not packages
    sys.path.insert(0, str(ROOT))

from agent.config import PASSWORD_ENV  # noqa: E402
from agent.config import load as load_config  # noqa: E402
from agent.journal import Journal  # noqa: E402
from bench import corpus  # noqa: E402
from tests.servers import ApacheServer, DavServer, WsgiDavServer, missing_binary  # noqa: E402

MANAGER = "hieutruong"  # the principal's login: may write into every teacher's folder
SECOND_PC = "-pc2"
# What the benchmark sets in every teacher's config besides what `hoso init` writes. The page
# (a web server thread per agent) is off: nobody opens it on 60 PCs at once, and it only adds
# memory. Everything else stays as shipped (poll interval, settle, validation plugin...).
DEFAULT_SETTINGS = {"ui.enabled": False}
HOSO_PROBE = "Tuần 35/Toán/Bài mới - phiếu bài tập (probe).docx"
MANAGER_PROBE = "Tuần 3/Toán/Nhận xét của tổ trưởng (probe).docx"  # last term's folder
MANAGER_RECENT_PROBE = "Tuần 35/Tiếng Việt/Góp ý của tổ trưởng (probe).docx"  # this week's
DAY = 86_400.0
SAMPLE_SECONDS = 5.0  # how often agents' memory is sampled in the idle window
MiB = 1024 * 1024


class BenchError(RuntimeError):
    """The benchmark could not measure what it set out to (a server or an agent failed)."""


# --- the share: one login and one folder per teacher -----------------------------------------


def teacher_logins(n: int) -> list[str]:
    return [f"gv{i:02d}" for i in range(1, n + 1)]


class SchoolApache(ApacheServer):
    """Apache (Debian's modules, as the tests' ApacheServer) with a login and a folder per
    teacher; the manager may use every folder. A refused teacher gets 403, as from Nextcloud."""

    def __init__(self, accounts: dict[str, str]) -> None:
        super().__init__()
        self.accounts = accounts
        self.user, self.password = MANAGER, accounts[MANAGER]
        for login in accounts:
            (self.data_dir / login).mkdir()

    def _logins(self) -> dict[str, str]:
        return dict(self.accounts)

    def _access(self) -> list[str]:
        lines = [f'<Directory "{self.data_dir}">', "  AuthzSendForbiddenOnFailure On",
                 "</Directory>"]
        for login in self.accounts:
            if login != MANAGER:
                lines += [f'<Directory "{self.data_dir / login}">',
                          f"  Require user {login} {MANAGER}", "</Directory>"]
        return lines


class SchoolWsgiDav(WsgiDavServer):
    """wsgidav with a share per teacher (``/gv01``: that login and the manager's); ``/`` is
    the manager's."""

    def __init__(self, accounts: dict[str, str]) -> None:
        super().__init__()
        self.accounts = accounts
        self.user, self.password = MANAGER, accounts[MANAGER]
        for login in accounts:
            (self.data_dir / login).mkdir()

    def _teachers(self) -> list[str]:
        return [login for login in self.accounts if login != MANAGER]

    def _provider_mapping(self) -> dict[str, str]:
        mapping = {f"/{t}": str(self.data_dir / t) for t in self._teachers()}
        return {"/": str(self.data_dir), **mapping}

    def _user_mapping(self) -> dict[str, dict[str, dict[str, str]]]:
        def logins(*users: str) -> dict[str, dict[str, str]]:
            return {u: {"password": self.accounts[u]} for u in users}

        teachers = {f"/{t}": logins(t, MANAGER) for t in self._teachers()}
        return {"/": logins(MANAGER), **teachers}


# Who sent a logged request, per server kind: Apache's common format has %u after %h %l;
# wsgidav's request summary is '<addr> - <user> - [time] "METHOD path" ... -> status'.
_LOG_USER = {
    "apache": re.compile(r'^\S+ \S+ (?P<user>\S+) \[[^]]+\] "(?P<method>[A-Z]+) '),
    "wsgidav": re.compile(r' - (?P<user>\S+) - \[[^]]+\] "(?P<method>[A-Z]+) '),
}


def start_server(kind: str, accounts: dict[str, str]) -> DavServer:
    server: DavServer = SchoolApache(accounts) if kind == "apache" else SchoolWsgiDav(accounts)
    server.start()
    return server


def requests_by_user(server: DavServer, lines: Iterable[str]) -> dict[str, Counter[str]]:
    """Per login, the number of logged requests by method."""
    pattern = _LOG_USER[server.kind]
    found: dict[str, Counter[str]] = {}
    for line in lines:
        match = pattern.search(line)
        if match:
            found.setdefault(match["user"], Counter())[match["method"]] += 1
    return found


# --- the teachers' PCs ------------------------------------------------------------------------


@dataclass
class Pc:
    """One teacher PC: a home of its own, the records folder, its config and its agent."""

    name: str  # "gv01", or "gv01-pc2" for the first teacher's second PC
    login: str
    home: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    first_pass: float | None = None  # seconds from start to the end of its first pass
    first_report: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.home / "HoSo"

    @property
    def config_path(self) -> Path:
        return self.home / ".config" / "hoso" / "agent.toml"

    @property
    def state_dir(self) -> Path:
        """Where `hoso init` without --state-dir puts the state: <user state dir>/hoso."""
        return self.home / ".local" / "state" / "hoso"

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("HOSO_", "XDG_", "DBUS_")) and k != "HOME"}
        return {
            **keep,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_RUNTIME_DIR": str(self.home / ".run"),
            "LANGUAGE": "en",
            # No desktop session on a bench: the vault's key goes into agent.vault-key, as the
            # README says for a PC set up over SSH.
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }


def hoso_exe() -> Path:
    return Path(sys.executable).with_name("hoso")


def init_pc(pc: Pc, url: str, password: str) -> None:
    """``hoso init`` as the README shows it (the login is checked), then the bench's settings."""
    (pc.home / ".run").mkdir(parents=True, mode=0o700)
    argv = [str(hoso_exe()), "init", "--root", str(pc.root), "--url", url,
            "--remote-dir", pc.login, "--user", pc.login]
    done = subprocess.run(argv, env={**pc.env(), PASSWORD_ENV: password}, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise BenchError(f"hoso init for {pc.name} exited {done.returncode}: "
                         f"{done.stderr.strip()[-500:]}")


def apply_settings(config_path: Path, settings: dict[str, Any]) -> None:
    """Put ``TABLE.KEY = VALUE`` settings into a config `hoso init` wrote: into its table
    where it has one, else in a new table at the end (top-level keys before the first table)."""
    lines = config_path.read_text(encoding="utf-8").splitlines()
    by_table: dict[str, list[str]] = {}
    for dotted, value in settings.items():
        table, _, key = dotted.rpartition(".")
        by_table.setdefault(table, []).append(f"{key} = {_toml(value)}")
    for table, entries in by_table.items():
        header = f"[{table}]" if table else None
        if header is None:
            at = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
        elif header in lines:
            at = lines.index(header) + 1
        else:
            lines += ["", header]
            at = len(lines)
        lines[at:at] = entries
    text = "\n".join(lines) + "\n"
    parsed = tomllib.loads(text)  # a bad --set fails here, before any agent starts
    for dotted, value in settings.items():
        node: Any = parsed
        for part in dotted.split("."):
            node = node[part]
        if node != value:
            raise BenchError(f"{dotted} reads back as {node!r}, not {value!r}")
    config_path.write_text(text, encoding="utf-8")
    load_config(config_path)  # hoso itself accepts it


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise BenchError(f"cannot write {value!r} into a config")


def parse_setting(text: str) -> tuple[str, Any]:
    """``sync.poll_interval=30`` → ("sync.poll_interval", 30); a value TOML cannot read is a
    string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"--set wants TABLE.KEY=VALUE, not {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def copy_tree(source: Path, target: Path) -> None:
    """A real copy (never hard links: an agent or the server writing one copy must not
    change another teacher's files)."""
    subprocess.run(["cp", "-a", f"{source}/.", str(target)], check=True)


def date_like_a_school_year(root: Path, now: float) -> None:
    """Give the tree the dates a real one has at the end of a school year: week N's files and
    folders were last written in week N (the last week is this one), the books that go on all
    year (homeroom, SHCM minutes) two days ago. A tree written a moment ago would make every
    folder "recent" to an agent that lists recently changed folders more often."""
    weeks = [int(m.group(1)) for p in root.rglob("*") if (m := _WEEK.search(p.name))]
    last = max(weeks, default=1)
    for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        week = next((int(m.group(1)) for part in path.relative_to(root).parts
                     if (m := _WEEK.match(part))), None)
        age = (last - week) * 7 * DAY + DAY if week is not None else 2 * DAY
        os.utime(path, (now - age, now - age), follow_symlinks=False)


_WEEK = re.compile(r"^Tuần (\d+)")


def start_agent(pc: Pc) -> None:
    log = (pc.home / "run.log").open("ab")
    pc.proc = subprocess.Popen(
        [str(hoso_exe()), "--config", str(pc.config_path), "run"], env=pc.env(),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    pc.started = time.monotonic()


def stop_agents(pcs: list[Pc]) -> dict[str, int | None]:
    """SIGTERM to every agent at once, as at shutdown, then each one's exit code (None: it
    hung for a minute and its process group was killed)."""
    for pc in pcs:
        if pc.proc is not None and pc.proc.poll() is None:
            pc.proc.send_signal(signal.SIGTERM)
    return {pc.name: _reap(pc) for pc in pcs}


def _reap(pc: Pc) -> int | None:
    proc, pc.proc = pc.proc, None
    if proc is None:
        return None
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        return None


def last_pass(pc: Pc) -> tuple[float, str, dict[str, Any]] | None:
    """(finished, outcome, report) of the agent's last pass, as `hoso status` reads it."""
    journal = pc.state_dir / "journal.sqlite3"
    if not journal.exists():
        return None  # opening it would create it under the agent's feet
    with Journal.open(journal) as opened:
        record = opened.last_pass()
    return None if record is None else (record.finished, record.outcome, dict(record.report))


def wait_first_passes(pcs: list[Pc], timeout: float) -> None:
    """Until every agent has a finished pass in its journal (an event: the journal's row,
    checked every second); an agent that exits or a timeout stops the benchmark."""
    deadline = time.monotonic() + timeout
    waiting = list(pcs)
    told = 0
    while waiting:
        for pc in list(waiting):
            if pc.proc is None or pc.proc.poll() is not None:
                tail = (pc.home / "run.log").read_text(errors="replace")[-1500:]
                raise BenchError(f"the agent of {pc.name} exited during its first pass:\n{tail}")
            found = last_pass(pc)
            if found is not None:
                pc.first_pass = time.monotonic() - pc.started
                pc.first_report = {"outcome": found[1], **found[2]}
                waiting.remove(pc)
        if waiting and time.monotonic() > deadline:
            names = ", ".join(pc.name for pc in waiting[:10])
            raise BenchError(f"no first pass within {timeout:.0f} s for: {names}")
        if waiting and len(pcs) - len(waiting) != told:
            told = len(pcs) - len(waiting)
            _say(f"  first passes: {told}/{len(pcs)} done")
        if waiting:
            time.sleep(1.0)


# --- /proc --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float  # the whole session: live processes plus the children they reaped
    rss_bytes: int  # the session's processes together
    main_rss_bytes: int  # its leader alone (the agent without its worker processes)


_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def sessions_usage(sids: Iterable[int]) -> dict[int, Usage]:
    """CPU time and resident memory of every process session in ``sids``, from /proc.

    A session's CPU is the sum over its live processes of utime + stime + cutime + cstime:
    a worker that exited and was reaped (Apache's children) stays counted in its parent's
    cutime/cstime, so the total never goes down when a worker is replaced."""
    wanted = set(sids)
    cpu: dict[int, float] = dict.fromkeys(wanted, 0.0)
    rss: dict[int, int] = dict.fromkeys(wanted, 0)
    main: dict[int, int] = dict.fromkeys(wanted, 0)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # it ended while we looked
        # After the name: state=0 ppid=1 pgrp=2 session=3 ... utime=11 stime=12 cutime=13
        # cstime=14 ... rss=21 (pages).
        sid = int(fields[3])
        if sid in wanted:
            cpu[sid] += sum(int(v) for v in fields[11:15]) / _TICK
            rss[sid] += int(fields[21]) * _PAGE
            if int(entry.name) == sid:
                main[sid] = int(fields[21]) * _PAGE
    return {sid: Usage(cpu[sid], rss[sid], main[sid]) for sid in wanted}


# --- the idle window ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Idle:
    seconds: float
    requests: int  # every request the server logged in the window
    requests_by_user: dict[str, dict[str, int]]
    per_agent_per_minute: dict[str, float]  # a login's requests / its agents / minutes
    server_cpu_percent: float  # of one core
    agent_cpu_percent: dict[str, float]
    agent_rss_mib: dict[str, float]  # the peak of each agent's process session
    agent_main_rss_mib: dict[str, float]  # the peak of each agent's main process


def idle_window(server: DavServer, pcs: list[Pc], seconds: float) -> Idle:
    sids = {pc.name: pc.proc.pid for pc in pcs if pc.proc}
    server_sid = server.pid
    logged_before = len(server.logged_requests())
    before = sessions_usage([server_sid, *sids.values()])
    started = time.monotonic()
    peak: dict[str, int] = dict.fromkeys(sids, 0)
    main_peak: dict[str, int] = dict.fromkeys(sids, 0)
    deadline = started + seconds
    while True:
        now = time.monotonic()
        usage = sessions_usage(sids.values())
        for name, sid in sids.items():
            peak[name] = max(peak[name], usage[sid].rss_bytes)
            main_peak[name] = max(main_peak[name], usage[sid].main_rss_bytes)
        for pc in pcs:
            if pc.proc is None or pc.proc.poll() is not None:
                raise BenchError(f"the agent of {pc.name} exited in the idle window")
        if now >= deadline:
            break
        time.sleep(min(SAMPLE_SECONDS, deadline - now))
    after = sessions_usage([server_sid, *sids.values()])
    elapsed = time.monotonic() - started
    lines = server.logged_requests()[logged_before:]
    by_user = requests_by_user(server, lines)
    agents_of = Counter(pc.login for pc in pcs)
    minutes = elapsed / 60

    def percent(sid: int) -> float:
        return 100 * (after[sid].cpu_seconds - before[sid].cpu_seconds) / elapsed

    return Idle(
        seconds=elapsed,
        requests=len(lines),
        requests_by_user={u: dict(c) for u, c in sorted(by_user.items())},
        per_agent_per_minute={
            login: sum(by_user.get(login, Counter()).values()) / count / minutes
            for login, count in sorted(agents_of.items())
        },
        server_cpu_percent=percent(server_sid),
        agent_cpu_percent={name: percent(sid) for name, sid in sids.items()},
        agent_rss_mib={name: peak[name] / MiB for name in sids},
        agent_main_rss_mib={name: main_peak[name] / MiB for name in sids},
    )


# --- propagation probes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    what: str
    timeout: float
    seconds: float | None  # None: not there within the timeout

    def text(self) -> str:
        return f"{self.seconds:.1f}" if self.seconds is not None else f"> {self.timeout:.0f}"


@dataclass(frozen=True)
class _Awaited:
    what: str
    path: Path
    size: int
    started: float
    timeout: float


def await_arrivals(awaited: list[_Awaited]) -> list[Probe]:
    """Seconds from each probe's start until its ``path`` holds ``size`` bytes (polled every
    0.1 s in this thread, so Ctrl-C ends the wait at once), or None after its timeout."""
    found: dict[str, float | None] = {}
    while len(found) < len(awaited):
        now = time.monotonic()
        for item in awaited:
            if item.what in found:
                continue
            try:
                if item.path.stat().st_size == item.size:
                    found[item.what] = now - item.started
            except FileNotFoundError:
                pass
            if item.what not in found and now - item.started > item.timeout:
                found[item.what] = None
        time.sleep(0.1)
    return [Probe(item.what, item.timeout, found[item.what]) for item in awaited]


def run_probes(server: DavServer, pcs: list[Pc], probe_timeout: float,
               manager_timeout: float, seed: int) -> list[Probe]:
    """Both changes at once (they touch different teachers), each awaited on its own clock."""
    writer, owner = pcs[0], next(pc for pc in pcs if pc.login != pcs[0].login)
    second = next((pc for pc in pcs if pc.login == writer.login and pc is not writer), None)
    saved = corpus.content(seed + 7, HOSO_PROBE, 48 * 1024)
    comment = corpus.content(seed + 8, MANAGER_PROBE, 36 * 1024)

    started = time.monotonic()
    target = writer.root / HOSO_PROBE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(saved)  # a teacher saving a new worksheet
    awaited = [_Awaited("hoso change → share", server.data_dir / writer.login / HOSO_PROBE,
                        len(saved), started, probe_timeout)]
    if second is not None:
        awaited.append(_Awaited("hoso change → 2nd PC", second.root / HOSO_PROBE, len(saved),
                                started, probe_timeout))

    for what, path in (("manager's file → owner's folder", MANAGER_PROBE),
                       ("manager's file, this week → owner's folder", MANAGER_RECENT_PROBE)):
        put_started = time.monotonic()
        _manager_put(server, owner.login, path, comment)
        awaited.append(_Awaited(what, owner.root / path, len(comment), put_started,
                                manager_timeout))
    return await_arrivals(awaited)


def _manager_put(server: DavServer, login: str, path: str, body: bytes) -> None:
    """The principal drops a file into a teacher's folder with a plain WebDAV client."""
    parent = path.rsplit("/", 1)[0]
    for depth in range(1, parent.count("/") + 2):  # 405 where the folder is there already
        server.request("MKCOL", f"{login}/{'/'.join(parent.split('/')[:depth])}/")
    status, _body = server.request("PUT", f"{login}/{path}", body)
    if status not in (200, 201, 204):
        raise BenchError(f"the manager's PUT answered HTTP {status}")


# --- one run: a server and N agents ----------------------------------------------------------


@dataclass(frozen=True)
class RunResult:
    server: str
    agents: int  # teachers; the first one has a second PC besides
    pcs: int
    folders: int  # per records folder, the root included
    files: int
    setup: str
    load_before: str  # the machine's load average when the run started
    setup_seconds: float
    first_pass_seconds: dict[str, float]
    first_pass_requests: int
    reuploaded: int  # files the first passes uploaded although the share had them ("both")
    idle: Idle
    probes: list[Probe]
    exit_codes: dict[str, int | None]
    pids: list[int]  # the server's and the agents' main processes, all stopped by now
    dirs: list[str]  # the agents' homes and the server's folder, all removed by now


def bench_school(kind: str, teachers: int, args: argparse.Namespace, work: Path,
                 settings: dict[str, Any]) -> RunResult:
    logins = teacher_logins(teachers)
    accounts = {login: secrets.token_urlsafe(12) for login in [*logins, MANAGER]}
    pcs = [Pc(login, login, work / login) for login in logins]
    # The first teacher's second PC joins once the school's first passes are done, with an
    # empty records folder: a PC set up later, which downloads the folder. (Started at 7:00
    # with the same tree, it and the first PC upload the same files at the same time, and it
    # compares every file again in the passes after its first one: not an idle agent.)
    second = None if args.no_second_pc else Pc(
        logins[0] + SECOND_PC, logins[0], work / (logins[0] + SECOND_PC))
    source = work / "corpus"
    if not source.exists():
        corpus.generate(source, args.files, args.seed, max_bytes=args.max_bytes)
        date_like_a_school_year(source, time.time())  # `cp -a` keeps the dates
    files = len(corpus.records(source))
    folders = len(corpus.folders_of(corpus.records(source))) + 1
    load_before = _loadavg()
    server = start_server(kind, accounts)
    try:
        setup_started = time.monotonic()
        everyone = pcs + ([second] if second else [])
        with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
            list(pool.map(lambda pc: init_pc(pc, server.url, accounts[pc.login]), everyone))
        for pc in everyone:
            apply_settings(pc.config_path, settings)
        for pc in pcs:
            copy_tree(source, pc.root)
        if args.setup == "both":
            for login in logins:
                copy_tree(source, server.data_dir / login)
                server.own(server.data_dir / login)
        setup_seconds = time.monotonic() - setup_started
        _say(f"{kind}: {teachers} teachers set up in {setup_seconds:.1f} s; "
             "starting every agent at once")
        logged = len(server.logged_requests())
        for pc in pcs:
            start_agent(pc)
        pids = [server.pid, *(pc.proc.pid for pc in pcs if pc.proc)]
        wait_first_passes(pcs, args.first_pass_timeout or 120 + 20 * len(pcs))
        first_requests = len(server.logged_requests()) - logged
        reuploaded = sum(len(pc.first_report.get("uploaded", ())) for pc in pcs
                         if args.setup == "both")
        _check_share(server, pcs, files)
        if second is not None:
            _say(f"{kind}: the second PC joins")
            start_agent(second)
            pcs.append(second)
            pids.append(second.proc.pid if second.proc else 0)
            wait_first_passes([second], args.first_pass_timeout or 120 + 20)
            got = len(corpus.records(second.root))
            if got != files:
                raise BenchError(f"the second PC has {got} of {files} files after its first pass")
        _say(f"{kind}: every first pass done; idle for {args.idle_seconds:.0f} s")
        idle = idle_window(server, pcs, args.idle_seconds)
        _say(f"{kind}: probes")
        probes = run_probes(server, pcs, args.probe_timeout, args.manager_timeout, args.seed)
    finally:
        if second is not None and second not in pcs:
            pcs.append(second)  # it may have started before an error
        codes = stop_agents(pcs)
        if args.logs:
            keep_logs(args.logs / f"{kind}-{teachers}", server, pcs)
        server.remove()
    return RunResult(
        server=kind, agents=teachers, pcs=len(pcs), folders=folders, files=files,
        setup=args.setup, load_before=load_before, setup_seconds=setup_seconds,
        first_pass_seconds={pc.name: pc.first_pass or 0.0 for pc in pcs},
        first_pass_requests=first_requests, reuploaded=reuploaded, idle=idle, probes=probes,
        exit_codes=codes, pids=pids,
        dirs=[str(work), str(server.base_dir)],
    )


def keep_logs(target: Path, server: DavServer, pcs: list[Pc]) -> None:
    """The server's output and access log and each agent's log, for a closer look."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("access.log", "error.log", "server.out"):
        if (server.base_dir / name).exists():
            shutil.copy(server.base_dir / name, target / f"server-{name}")
    for pc in pcs:
        if (pc.home / "run.log").exists():
            shutil.copy(pc.home / "run.log", target / f"{pc.name}.log")


def _check_share(server: DavServer, pcs: list[Pc], files: int) -> None:
    """After the first passes every teacher's folder on the share holds the whole tree."""
    for login in sorted({pc.login for pc in pcs}):
        on_share = len(corpus.records(server.data_dir / login))
        if on_share != files:
            raise BenchError(f"{login}'s folder on the share has {on_share} of {files} files "
                             "after the first passes")


# --- report -------------------------------------------------------------------------------------


def _mean_max(values: Iterable[float]) -> tuple[float, float]:
    items = list(values)
    return statistics.fmean(items), max(items)


def render_markdown(results: list[RunResult], command: str) -> str:
    head = ["server", "teachers (PCs)", "folders/agent", "first passes s (max)",
            "req/min/agent mean", "max", "server CPU % of a core", "agent CPU % mean", "max",
            "agent RSS MiB mean", "max", "hoso change → share s", "→ 2nd PC s",
            "manager's file, old week → owner s", "this week → owner s"]
    lines = [
        "# hoso school benchmark", "",
        f"Command: `{command}`  ",
        f"Loopback, {os.cpu_count()} cores. Idle window: requests from the server's access "
        "log by login; CPU from /proc (the server's whole process session, reaped workers "
        "included; each agent's session); RSS = each agent's peak in the window (its "
        "process session, worker processes included).", "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in results:
        req = _mean_max(_per_pc(r, r.idle.per_agent_per_minute))
        cpu = _mean_max(r.idle.agent_cpu_percent.values())
        rss = _mean_max(r.idle.agent_rss_mib.values())
        probes = {p.what: p.text() for p in r.probes}
        row = [
            r.server, f"{r.agents} ({r.pcs})", str(r.folders),
            f"{max(r.first_pass_seconds.values()):.0f}",
            f"{req[0]:.1f}", f"{req[1]:.1f}", f"{r.idle.server_cpu_percent:.1f}",
            f"{cpu[0]:.2f}", f"{cpu[1]:.2f}", f"{rss[0]:.0f}", f"{rss[1]:.0f}",
            probes.get("hoso change → share", "—"), probes.get("hoso change → 2nd PC", "—"),
            probes.get("manager's file → owner's folder", "—"),
            probes.get("manager's file, this week → owner's folder", "—"),
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for r in results:
        lines.append(
            f"- {r.server}, {r.agents} teachers: {r.files} files in {r.folders} folders each "
            f"(load average {r.load_before} at the start; setup `{r.setup}` "
            f"{r.setup_seconds:.0f} s, first passes {r.first_pass_requests} "
            f"requests, {r.reuploaded} files uploaded again); idle window "
            f"{r.idle.seconds:.0f} s, {r.idle.requests} requests "
            f"({r.idle.requests / r.idle.seconds:.1f}/s); agents' exit codes after SIGTERM: "
            f"{sorted(set(r.exit_codes.values()), key=str)}.")
    return "\n".join(lines) + "\n"


def _per_pc(r: RunResult, per_login: dict[str, float]) -> list[float]:
    logins = {pc: pc.removesuffix(SECOND_PC) for pc in r.first_pass_seconds}
    return [per_login.get(login, 0.0) for login in logins.values()]


def _loadavg() -> str:
    return " / ".join(Path("/proc/loadavg").read_text().split()[:3])


def to_json(results: list[RunResult], command: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {"command": command, "cores": os.cpu_count(), "settings": settings,
            "runs": [asdict(r) for r in results]}


# --- main ---------------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through every `finally`, which stops everything


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="N teachers' hoso agents on one WebDAV share.")
    p.add_argument("--server", choices=("apache", "wsgidav", "both"), default="apache")
    p.add_argument("--agents", default="10,30,60", help="teacher counts, comma-separated")
    p.add_argument("--idle-seconds", type=float, default=300)
    p.add_argument("--files", type=int, default=600,
                   help="files per records folder (600 fill the 247 folders of a school year)")
    p.add_argument("--max-bytes", type=int, default=4096, help="cap on each file's size")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--setup", choices=("both", "upload"), default="both",
                   help="both: the same tree is put on the share's disk too, so the first "
                        "passes only compare (the quicker); upload: the share starts empty")
    p.add_argument("--no-second-pc", action="store_true",
                   help="no second PC for the first teacher (no '2nd PC' probe)")
    p.add_argument("--set", dest="settings", action="append", type=parse_setting, default=[],
                   metavar="TABLE.KEY=VALUE", help="a config setting for every agent")
    p.add_argument("--first-pass-timeout", type=float, default=None,
                   help="default: 120 s + 20 s per agent")
    p.add_argument("--probe-timeout", type=float, default=300,
                   help="for a change saved through hoso (share, 2nd PC)")
    p.add_argument("--manager-timeout", type=float, default=900,
                   help="for the manager's file to reach the owner's folder")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--logs", type=Path,
                   help="keep the server's logs and each agent's output in DIR/SERVER-N/")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "school-results.md")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    kinds = ["apache", "wsgidav"] if args.server == "both" else [args.server]
    for kind in kinds:
        if missing_binary(kind):
            raise SystemExit(f"cannot run {kind}: `{missing_binary(kind)}` is not installed")
    counts = [int(n) for n in args.agents.split(",") if n.strip()]
    if not counts or min(counts) < 2:
        raise SystemExit("--agents wants teacher counts of 2 or more")
    if args.idle_seconds <= 0:
        raise SystemExit("--idle-seconds wants a window longer than 0 s")
    settings = {**DEFAULT_SETTINGS, **dict(args.settings)}
    command = shlex.join(["python", "bench/school.py", *argv])
    previous = signal.signal(signal.SIGTERM, _terminate)
    results: list[RunResult] = []
    try:
        for kind in kinds:
            for n in counts:
                work = Path(tempfile.mkdtemp(prefix="hoso-school-"))
                try:
                    results.append(bench_school(kind, n, args, work, settings))
                finally:
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = render_markdown(results, command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(to_json(results, command, settings), ensure_ascii=False,
                                        indent=1), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
