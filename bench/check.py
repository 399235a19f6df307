"""Benchmark: validation (`hoso check`) over a corpus of real lesson plans, and what
validation adds to a sync pass.

Measures, on one corpus of ``--files`` lesson plans (bench/lessonplans.py):
- ``hoso check`` cold (a fresh state folder: every record read and checked), in lesson plans
  per second; then again with nothing changed;
- ``hoso sync`` into an empty folder of a real share with the validation plugin enabled and
  disabled (each on its own copy and remote folder), and a pass after 10 lesson plans changed,
  as the ratio enabled / disabled.

Every command's exit code and JSON are checked, so a broken run is not timed as a fast one.
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` and `tests` are folders of the checkout, not packages
    sys.path.insert(0, str(ROOT))

from agent.config import PASSWORD_ENV, render  # noqa: E402
from bench import lessonplans  # noqa: E402
from tests.servers import SERVERS, DavServer, missing_binary  # noqa: E402

OUT = ROOT / "bench" / "out"
HOSO = Path(sys.executable).with_name("hoso")
STEP_SECONDS = 900


def hoso(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[float, str, int]:
    """Run hoso; (seconds, stdout, exit code). A failure's stderr goes to ours."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(HOSO), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        env={**os.environ, **(env or {})},
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr)
    return seconds, done.stdout, done.returncode


def write_config(
    path: Path,
    root: Path,
    state: Path,
    url: str = "http://127.0.0.1:9/",
    remote_dir: str = "/",
    user: str = "",
    *,
    validation: bool = True,
) -> Path:
    text = render(root, url, remote_dir, user, str(state))
    text += "\n[sync]\nsettle_seconds = 0\ntransfers = 4\n"
    text += f"\n[plugins.validation]\nenabled = {'true' if validation else 'false'}\n"
    path.write_text(text, encoding="utf-8")
    return path


def bench_check(corpus: Path, work: Path, files: int, repeat: int) -> dict[str, float]:
    cold, warm = [], []
    for run in range(repeat):
        state = work / f"check-state-{run}"
        shutil.rmtree(state, ignore_errors=True)
        config = write_config(work / f"check-{run}.toml", corpus, state)
        seconds, out, code = hoso(config, "check", "--json")
        if code not in (0, 1) or "findings" not in json.loads(out):
            raise SystemExit(f"hoso check failed (exit {code})")
        cold.append(seconds)
        seconds, out, code = hoso(config, "check", "--json")
        warm.append(seconds)
    baseline = [hoso(config, "--version")[0] for _ in range(repeat)]
    return {
        "cold_s": statistics.median(cold),
        "warm_s": statistics.median(warm),
        "startup_s": statistics.median(baseline),
        "files_per_s": files / statistics.median(cold),
    }


def bench_sync(
    corpus: Path, work: Path, kind: str, repeat: int, modes: tuple[str, ...] = ("sync", "run")
) -> dict[str, float]:
    """Validation off and on, in both ways of syncing: the one-shot `hoso sync` (which checks
    the records it changed before it returns) and the agent `hoso run` (which checks them on
    a thread of its own): the time until every file is on the share."""
    server = SERVERS[kind]()
    results: dict[str, list[float]] = {}
    try:
        server.start()
        env = {PASSWORD_ENV: server.password}
        for run in range(repeat):
            for mode in modes:
                for enabled in (False, True):
                    key = f"{mode}_{'on' if enabled else 'off'}"
                    workspace = _Workspace(server, corpus, work, f"{kind}-{key}-{run}", enabled)
                    initial, changed = (
                        workspace.one_shot(env) if mode == "sync" else workspace.agent(env)
                    )
                    results.setdefault(f"initial_{key}", []).append(initial)
                    results.setdefault(f"changed_{key}", []).append(changed)
    finally:
        server.remove()
    return {key: statistics.median(values) for key, values in results.items()}


class _Workspace:
    """A copy of the corpus synced to its own folder of the share."""

    def __init__(
        self, server: DavServer, corpus: Path, work: Path, name: str, validation: bool
    ) -> None:
        self.local = work / name
        shutil.copytree(corpus, self.local)
        self.remote = server.data_dir / name
        self.remote.mkdir()
        server.own(self.remote)
        self.config = write_config(
            work / f"{name}.toml",
            self.local,
            work / f"{name}-state",
            server.url,
            "/" + name,
            server.user,
            validation=validation,
        )

    def change_ten(self) -> None:
        for path in sorted(self.local.rglob("*.docx"))[:10]:
            with path.open("ab") as fh:
                fh.write(b"\0")  # still a valid zip: trailing bytes are ignored

    def on_share(self) -> bool:
        """Every local file is on the share with its size."""
        for path in self.local.rglob("*.docx"):
            remote = self.remote / path.relative_to(self.local)
            try:
                if remote.stat().st_size != path.stat().st_size:
                    return False
            except FileNotFoundError:
                return False
        return True

    def one_shot(self, env: dict[str, str]) -> tuple[float, float]:
        seconds, out, code = hoso(self.config, "sync", "--json", env=env)
        if code != 0 or json.loads(out)["failed"] or not self.on_share():
            raise SystemExit(f"hoso sync failed (exit {code})")
        self.change_ten()
        changed, out, code = hoso(self.config, "sync", "--json", env=env)
        if code != 0 or len(json.loads(out)["uploaded"]) != 10 or not self.on_share():
            raise SystemExit(f"hoso sync after changes failed (exit {code})")
        return seconds, changed

    def agent(self, env: dict[str, str]) -> tuple[float, float]:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(HOSO), "--config", str(self.config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        try:
            initial = _until(self.on_share, started)
            _until_idle(proc.pid)  # the checks of the first upload are done
            started = time.perf_counter()
            self.change_ten()
            changed = _until(self.on_share, started)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=STEP_SECONDS)
        return initial, changed


def _until(condition: Callable[[], bool], started: float) -> float:
    while not condition():
        if time.perf_counter() - started > STEP_SECONDS:
            raise SystemExit("hoso run did not sync the corpus in time")
        time.sleep(0.01)
    return time.perf_counter() - started


def _until_idle(pid: int) -> None:
    """Wait until the process used no CPU for half a second."""

    def cpu() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks

    before = cpu()
    while True:
        time.sleep(0.5)
        now = cpu()
        if now == before:
            return
        before = now


def render_markdown(
    command: str, files: int, check: dict[str, float], sync: dict[str, dict[str, float]]
) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        f"Corpus: {files} lesson plans (.docx, about 3 pages each, one in ten with a problem).",
        "",
        "| measurement | seconds | per second / ratio |",
        "|---|---|---|",
        f"| `hoso check` cold (fresh state) | {check['cold_s']:.2f} | "
        f"{check['files_per_s']:.0f} lesson plans/s |",
        f"| `hoso check` with nothing changed | {check['warm_s']:.2f} | "
        f"(process start alone: {check['startup_s']:.2f} s) |",
    ]
    modes = {"sync": "`hoso sync` returns", "run": "`hoso run`: all on the share"}
    for kind, cells in sync.items():
        for mode, what in modes.items():
            if f"initial_{mode}_off" not in cells:
                continue  # not measured (--modes)
            for scenario, name in (("initial", "initial sync"), ("changed", "10 changed")):
                off, on = cells[f"{scenario}_{mode}_off"], cells[f"{scenario}_{mode}_on"]
                lines.append(
                    f"| {kind}, {name}: {what}; validation off → on | {off:.2f} → {on:.2f} | "
                    f"×{on / off:.2f} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--servers", default="apache")
    parser.add_argument(
        "--modes", default="sync,run", help="sync (one-shot `hoso sync`), run (the agent)"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    work = OUT / "check-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        corpus = work / "corpus"
        lessonplans.generate(corpus, args.files)
        check = bench_check(corpus, work, args.files, args.repeat)
        sync = {}
        for kind in (k for k in args.servers.split(",") if k):
            if missing_binary(kind):
                print(f"skipping {kind}: {missing_binary(kind)} is not installed", file=sys.stderr)
                continue
            modes = tuple(m for m in args.modes.split(",") if m)
            sync[kind] = bench_sync(corpus, work, kind, args.repeat, modes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render_markdown(shlex.join(["python", "bench/check.py", *argv]), args.files, check, sync)
    (OUT / "check-results.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
