"""Benchmark: `hoso backup` against restic, side by side on the same records folder.

Each round hard-links a fresh copy of one corpus (bench/corpus.py) and gives each tool a new
repository of its own; then, step by step and both tools in turn, it times (2) the initial
backup, (3) a backup with nothing changed, (4) a backup after ``corpus.mutate`` (10 modified,
10 new, 10 deleted), (5) a full restore of the latest snapshot into an empty folder and
(6) ``check --read-data``, and measures (7) the repository's size on disk after step 4.

Invariants: both tools back up the very same tree and see the very same changes; a step counts
only when the tool exited 0 and reported what the step implies (every file seen, nothing new
after a no-change backup), and a restore only when the restored tree is byte-identical to the
source; every command has a time limit and every process started here is stopped before the
script exits, also on error or Ctrl-C. The tool that goes first alternates between rounds, so
neither always finds a cold page cache.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` is a folder of the checkout, not a package
    sys.path.insert(0, str(ROOT))

from agent.config import render  # noqa: E402
from agent.errors import HosoError  # noqa: E402
from agent.i18n import _  # noqa: E402
from agent.restored import RESTORED_NAME  # noqa: E402
from bench import corpus  # noqa: E402

OUT = ROOT / "bench" / "out"
STEP_SECONDS = 900  # no single command may take longer than this
MIN_FILES = 25  # corpus.mutate picks 20 files under 1 MB
PASSPHRASE = "benchmark passphrase, not a secret"
STEPS = {
    "initial": "2. initial backup",
    "noop": "3. no-change backup",
    "changed": "4. backup after 10 mod + 10 new + 10 del",
    "restore": "5. full restore of the latest snapshot",
    "check": "6. check --read-data",
    "open": "per-command start: open the repository, list snapshots",
}
# The targets: the largest acceptable hoso/restic ratio of each step.
TARGETS = {"initial": 1.0, "noop": 0.5, "restore": 1.0, "size": 1.05}


class StepFailed(HosoError):
    """A tool failed a step, or its result was not what the step implies."""


@dataclass(frozen=True)
class Expect:
    """What a backup must report: every file seen, and how many are new or changed."""

    files: int
    new: int
    changed: int


# --- the tools -------------------------------------------------------------------------------


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    """Run a command to completion within STEP_SECONDS; its stdout, or StepFailed."""
    try:
        # subprocess.run kills the child on timeout and on any exception, Ctrl-C included.
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=STEP_SECONDS, check=False)
    except subprocess.TimeoutExpired:
        raise StepFailed(_("{cmd} took more than {n} s").format(
            cmd=shlex.join(argv[-3:]), n=STEP_SECONDS)) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise StepFailed(_("{cmd} exited with {code}: {last}").format(
            cmd=shlex.join(argv[-3:]), code=done.returncode, last=last[:200]))
    return done.stdout


class BackupTool:
    """One tool bound to the records folder and a scratch folder holding its repository."""

    name = ""
    repository: Path

    def init(self) -> None:
        raise NotImplementedError

    def backup(self, expect: Expect) -> None:
        raise NotImplementedError

    def restore(self, target: Path) -> None:
        raise NotImplementedError

    def check(self) -> None:
        raise NotImplementedError

    def open(self) -> None:
        raise NotImplementedError

    def kdf(self) -> tuple[int, int, int]:
        """scrypt's (N, r, p) in the repository's key file, which every command pays first."""
        raise NotImplementedError


class Hoso(BackupTool):
    """``hoso --config CFG backup …`` with a minimal agent config naming the repository."""

    name = "hoso"

    def __init__(self, exe: Path, records: Path, scratch: Path, env: dict[str, str]) -> None:
        scratch.mkdir(parents=True)
        self.repository = scratch / "repository"
        self.config = scratch / "agent.toml"
        text = render(records, "http://127.0.0.1:9/", "/", "", str(scratch / "state"))
        self.config.write_text(text + "\n[backup]\nrepository = "
                               + json.dumps(str(self.repository), ensure_ascii=False) + "\n",
                               encoding="utf-8")
        self._argv = [str(exe), "--config", str(self.config), "backup"]
        self._env = {**env, "HOSO_BACKUP_PASSPHRASE": PASSPHRASE}

    def init(self) -> None:
        run([*self._argv, "init"], self._env)

    def backup(self, expect: Expect) -> None:
        check_hoso_report(parse_json(run([*self._argv, "create", "--json"], self._env)), expect)

    def restore(self, target: Path) -> None:
        run([*self._argv, "restore", "latest", "--target", str(target)], self._env)

    def check(self) -> None:
        run([*self._argv, "check", "--read-data"], self._env)

    def open(self) -> None:
        parse_json(run([*self._argv, "list", "--json"], self._env))

    def kdf(self) -> tuple[int, int, int]:
        slot = json.loads(next((self.repository / "keys").iterdir()).read_text())["kdf"]
        return slot["n"], slot["r"], slot["p"]


def hoso_env(work: Path) -> dict[str, str]:
    """Our environment, with Python's bytecode cache on, as in an installed hoso (a checkout
    run with PYTHONDONTWRITEBYTECODE compiles every module at every start), kept in the work
    folder so that the checkout stays clean."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class Restic(BackupTool):
    """``restic -r REPO …`` with its cache in the scratch folder, never the user's."""

    name = "restic"

    def __init__(self, exe: Path, records: Path, scratch: Path) -> None:
        scratch.mkdir(parents=True)
        self.repository = scratch / "repository"
        self._records = records
        self._argv = [str(exe), "-r", str(self.repository), "--cache-dir", str(scratch / "cache")]
        self._env = {**os.environ, "RESTIC_PASSWORD": PASSPHRASE}

    def init(self) -> None:
        run([*self._argv, "init"], self._env)

    def backup(self, expect: Expect) -> None:
        # `backup .` from inside the folder stores its content at the snapshot's root, as hoso
        # does, so that both restores give the same tree.
        out = run([*self._argv, "backup", "--json", "."], self._env, cwd=self._records)
        check_restic_summary(out, expect)

    def restore(self, target: Path) -> None:
        run([*self._argv, "restore", "latest", "--target", str(target)], self._env)

    def check(self) -> None:
        run([*self._argv, "check", "--read-data"], self._env)

    def open(self) -> None:
        parse_json(run([*self._argv, "snapshots", "--json"], self._env))

    def kdf(self) -> tuple[int, int, int]:
        key = json.loads(next((self.repository / "keys").iterdir()).read_text())
        return key["N"], key["r"], key["p"]


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise StepFailed(_("expected JSON, got: {text}").format(text=text[:200])) from None


def check_hoso_report(report: dict[str, Any], expect: Expect) -> None:
    """`hoso backup create --json` saw every file, skipped none, and stored new data exactly
    when files were new or changed."""
    stored = int(report.get("bytes_added", 0))
    if report.get("files") != expect.files or report.get("skipped"):
        raise StepFailed(_("hoso backed up {got} files ({skipped} skipped), expected {want}")
                         .format(got=report.get("files"), skipped=len(report.get("skipped") or ()),
                                 want=expect.files))
    if (stored > 0) != (expect.new + expect.changed > 0):
        raise StepFailed(_("hoso stored {n} new bytes for {k} new or changed files").format(
            n=stored, k=expect.new + expect.changed))


def check_restic_summary(out: str, expect: Expect) -> None:
    """restic's closing JSON summary counts every file and exactly the new and changed ones."""
    lines = [parse_json(line) for line in out.splitlines() if line.startswith("{")]
    summary = next((m for m in lines if m.get("message_type") == "summary"), None)
    if summary is None:
        raise StepFailed(_("restic backup --json printed no summary"))
    got = (summary["total_files_processed"], summary["files_new"], summary["files_changed"])
    if got != (expect.files, expect.new, expect.changed):
        raise StepFailed(_("restic saw {got} (files, new, changed), expected {want}").format(
            got=got, want=(expect.files, expect.new, expect.changed)))


# --- measuring -------------------------------------------------------------------------------


def disk_usage(path: Path) -> int:
    """Apparent size in bytes of a folder and all it holds, each inode once (``du -sb``)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in [".", *dirs, *files]:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def tree_differences(source: Path, restored: Path) -> list[str]:
    """Relative paths that are missing, extra or different in bytes; empty when identical
    (the marker hoso's restore leaves at the target's root is its own file, no record)."""
    def files(root: Path) -> set[str]:
        found = {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}
        return found - {RESTORED_NAME}

    filecmp.clear_cache()  # its cache trusts (size, mtime), which a restore reproduces
    want, got = files(source), files(restored)
    differ = sorted(want ^ got)
    differ += sorted(p for p in want & got
                     if not filecmp.cmp(source / p, restored / p, shallow=False))
    return differ


def scrypt_seconds(n: int, r: int, p: int) -> float:
    """One scrypt derivation with these parameters, timed here (OpenSSL, one thread)."""
    started = time.perf_counter()
    hashlib.scrypt(b"passphrase", salt=b"0" * 16, n=n, r=r, p=p, maxmem=2**31 - 1, dklen=32)
    return time.perf_counter() - started


@dataclass
class Results:
    """Every timing, size and failure of every round, by tool."""

    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # (tool, step)
    sizes: dict[str, list[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    def median(self, tool: str, step: str) -> float | None:
        runs = self.seconds.get((tool, step))
        return statistics.median(runs) if runs else None

    def spread(self, tool: str, step: str) -> str:
        """The fastest and slowest run, when there are several: how far a median can be trusted."""
        runs = self.seconds.get((tool, step), [])
        return f" ({min(runs):.2f}–{max(runs):.2f})" if len(runs) > 1 else ""


def timed(results: Results, tool: BackupTool, step: str, action: Callable[[], None]) -> None:
    started = time.perf_counter()
    action()
    results.seconds.setdefault((tool.name, step), []).append(time.perf_counter() - started)


def bench_round(tools: list[BackupTool], records: Path, scratch: Path, round_no: int,
                seed: int, results: Results) -> None:
    """One round on fresh repositories: steps 1–7, each step for every tool before the next,
    so that all back up the same tree and the same change. A tool that fails a step is left
    out of the rest of the round: its later steps would measure a broken repository."""
    alive = list(tools)

    def each(step: str, action: Callable[[BackupTool], None]) -> None:
        for tool in list(alive):
            try:
                action(tool)
            except StepFailed as exc:
                results.failures.append(f"round {round_no}, {tool.name}, {step}: {exc}")
                alive.remove(tool)

    def backup(step: str, expect: Expect) -> None:
        each(step, lambda t: timed(results, t, step, lambda: t.backup(expect)))

    files = len(corpus.records(records))
    each("init", lambda t: t.init())
    backup("initial", Expect(files, files, 0))
    backup("noop", Expect(files, 0, 0))
    change = corpus.mutate(records, round_no, seed)
    backup("changed", Expect(len(corpus.records(records)), len(change.added),
                             len(change.modified)))
    each("size", lambda t: results.sizes.setdefault(t.name, []).append(
        disk_usage(t.repository)))
    each("restore", lambda t: restore_exactly(t, records, scratch / f"restored-{t.name}",
                                              results))
    each("check", lambda t: timed(results, t, "check", t.check))
    each("open", lambda t: timed(results, t, "open", t.open))


def restore_exactly(tool: BackupTool, records: Path, target: Path, results: Results) -> None:
    """Time a full restore into ``target``, then require the source's exact tree there."""
    timed(results, tool, "restore", lambda: tool.restore(target))
    differ = tree_differences(records, target)
    shutil.rmtree(target)
    if differ:
        raise StepFailed(_("the restored tree differs in {n} files, e.g. {first}").format(
            n=len(differ), first=differ[0]))


def note_kdf(tools: list[BackupTool], results: Results) -> None:
    for tool in tools:
        try:
            n, r, p = tool.kdf()
        except (OSError, StopIteration, KeyError, ValueError):
            continue
        results.notes[f"{tool.name} KDF"] = (
            f"scrypt N=2^{n.bit_length() - 1}, r={r}, p={p}: "
            f"{scrypt_seconds(n, r, p):.2f} s per derivation (timed here with hashlib)")


def bench(args: argparse.Namespace, work: Path, results: Results) -> str:
    """Generate the corpus, run every round; the corpus line of the report."""
    source = work / "corpus"
    files = corpus.generate(source, args.files, args.seed)
    hoso = Path(sys.executable).with_name("hoso")
    restic = Path(shutil.which("restic") or "/usr/bin/restic")
    env = hoso_env(work)
    run([sys.executable, "-m", "compileall", "-q", str(ROOT / "agent"), str(ROOT / "plugins")],
        env)  # before anything is timed; the untimed init caches the libraries' bytecode
    for round_no in range(1, args.repeat + 1):
        print(f"round {round_no} of {args.repeat}…", file=sys.stderr, flush=True)
        scratch = work / f"round-{round_no}"
        records = scratch / "records"
        shutil.copytree(source, records, copy_function=os.link)
        tools: list[BackupTool] = [Hoso(hoso, records, scratch / "hoso", env),
                                   Restic(restic, records, scratch / "restic")]
        if round_no % 2 == 0:
            tools.reverse()
        try:
            bench_round(tools, records, scratch, round_no, args.seed, results)
            if round_no == 1:
                note_kdf(tools, results)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    results.notes["restic"] = run([str(restic), "version"], dict(os.environ)).strip()
    results.notes["interpreter start (`hoso --version`)"] = (
        f"{_seconds(lambda: run([str(hoso), '--version'], env)):.2f} s")
    folders = len(corpus.folders_of(f.path for f in files))
    return (f"{len(files)} files, {folders} folders, "
            f"{sum(f.size for f in files) / corpus.MB:.1f} MB (seed {args.seed})")


def _seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --- report ----------------------------------------------------------------------------------


def render_markdown(command: str, corpus_line: str, repeat: int, results: Results) -> str:
    lines = [
        "# hoso backup vs restic",
        "",
        f"Command: `{command}`  ",
        f"Corpus: {corpus_line}; median of {repeat} round(s), each on fresh repositories of "
        f"both tools over one hard-linked copy of the corpus; {os.cpu_count()} cores. "
        "Steps 2–6 are wall-clock seconds of one command; a restore counts only if the "
        "restored tree is byte-identical to the source.",
        "",
        "| step | hoso s (min–max) | restic s (min–max) | hoso/restic | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for step, label in STEPS.items():
        hoso, restic = results.median("hoso", step), results.median("restic", step)
        lines.append(_row(label, hoso, restic, TARGETS.get(step), "{:.2f}",
                          (results.spread("hoso", step), results.spread("restic", step))))
    hoso_size, restic_size = (statistics.median(results.sizes[t]) if results.sizes.get(t)
                              else None for t in ("hoso", "restic"))
    lines += [
        "",
        "| 7. repository size after step 4 | hoso MB | restic MB | hoso/restic | target | met |",
        "|---|---|---|---|---|---|",
        _row("bytes on disk (`du -sb`) / 10^6", _mb(hoso_size), _mb(restic_size),
             TARGETS["size"], "{:.1f}"),
        "",
    ]
    lines += [f"- {name}: {text}" for name, text in results.notes.items()]
    lines += [f"- FAILED {failure}" for failure in results.failures]
    return "\n".join(lines) + "\n"


def _mb(size: float | None) -> float | None:
    return None if size is None else size / 1e6


def _row(label: str, hoso: float | None, restic: float | None, target: float | None,
         fmt: str, spreads: tuple[str, str] = ("", "")) -> str:
    cells = [fmt.format(v) + spread if v is not None else "n/a"
             for v, spread in zip((hoso, restic), spreads, strict=True)]
    ratio = hoso / restic if hoso is not None and restic else None
    met = "—" if target is None or ratio is None else ("yes" if ratio <= target else "**no**")
    cells += ["n/a" if ratio is None else f"{ratio:.3f}",
              "—" if target is None else f"≤ {target:.2f}", met]
    return f"| {label} | " + " | ".join(cells) + " |"


# --- main ------------------------------------------------------------------------------------


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through every `finally` and kills the running command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds on fresh repositories; the table shows medians")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT, help="where the work and results go")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.files < MIN_FILES:
        parser.error(f"--files must be at least {MIN_FILES}: step 4 edits 10 and deletes 10")
    work = args.out / "backup-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    results = Results()
    try:
        corpus_line = bench(args, work, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render_markdown(shlex.join(["python", "bench/backup.py", *argv]), corpus_line,
                           args.repeat, results)
    (args.out / "backup-results.md").write_text(text, encoding="utf-8")
    print(text)
    return 1 if results.failures else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
