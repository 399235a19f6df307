"""Benchmark: how long `hoso` takes to start, command by command.

Times `hoso --version`, `hoso --help`, `hoso status` (a configured computer: a records folder
of a few files and a journal; status never touches the share) and `hoso sync` against a share
that is not there (port 9 of 127.0.0.1 refuses at once: what is timed is the imports and the
config before the first request), next to Python's own start (`python -c pass`, and `-S`
without the site packages' .pth files). With ``--baseline DIR`` (a checkout of another commit,
e.g. ``git archive 8bd0a48 | tar -x -C /tmp/base``) the same commands run from that tree too,
interleaved with this one's, so that both see the same machine load.

    .venv/bin/python bench/start.py                       # this tree, 20 runs each
    .venv/bin/python bench/start.py --baseline /tmp/base  # before/after

Each command runs as ``python -c "from agent.cli import main; main()" ARGS`` with the tree on
PYTHONPATH, exit codes checked (status 0, sync 3). Prints min and median in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "from agent.cli import main; main()"


def make_computer(work: Path) -> Path:
    """A config, a records folder with a few records, and an (empty) journal."""
    sys.path.insert(0, str(ROOT))
    from agent.config import write_private
    from agent.journal import Journal

    root = work / "HoSo"
    for week in range(1, 4):
        folder = root / f"Tuần {week}"
        folder.mkdir(parents=True)
        (folder / "Bài 1.docx").write_bytes(b"lesson")
    state = work / "state"
    state.mkdir(mode=0o700)
    Journal.open(state / "journal.sqlite3").close()
    config = work / "agent.toml"
    write_private(
        config,
        f'root = "{root}"\nstate_dir = "{state}"\nlanguage = "en"\n'
        '[remote]\nurl = "http://127.0.0.1:9/"\n',
    )
    return config


def commands(config: Path) -> dict[str, tuple[list[str], int]]:
    """name → (hoso arguments, expected exit code)."""
    named = ["--config", str(config)]
    return {
        "hoso --version": (["--version"], 0),
        "hoso --help": ([*named, "--help"], 0),
        "hoso status": ([*named, "status"], 0),
        "hoso sync (share down)": ([*named, "sync"], 3),
    }


def once(argv: list[str], env: dict[str, str], expected: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False, timeout=120)
    seconds = time.perf_counter() - started
    if done.returncode != expected:
        raise SystemExit(f"{argv}: exit {done.returncode}, not {expected}\n{done.stderr.decode()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another tree to time side by side")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), **trees}
    with tempfile.TemporaryDirectory(prefix="hoso-start-") as tmp:
        config = make_computer(Path(tmp))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSO_", "XDG_"))}
        env.update(LANGUAGE="en", XDG_STATE_HOME=str(Path(tmp) / "xdg"))
        rows: dict[tuple[str, str], list[float]] = {}
        python = sys.executable
        bare = {
            "python -c pass": [python, "-c", "pass"],
            "python -S -c pass": [python, "-S", "-c", "pass"],
        }
        for _ in range(args.runs):
            for name, argv in bare.items():
                rows.setdefault((name, ""), []).append(once(argv, env, 0))
            for tree_name, tree in trees.items():
                tree_env = {**env, "PYTHONPATH": str(tree)}
                for name, (hoso_args, expected) in commands(config).items():
                    argv = [python, "-c", ENTRY, *hoso_args]
                    rows.setdefault((name, tree_name), []).append(once(argv, tree_env, expected))
    print(f"{args.runs} runs each, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| command | tree | min ms | median ms |")
    print("|---|---|---|---|")
    for (name, tree_name), times in rows.items():
        low, mid = min(times) * 1000, statistics.median(times) * 1000
        print(f"| {name} | {tree_name} | {low:.0f} | {mid:.0f} |")


if __name__ == "__main__":
    main()
