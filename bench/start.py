"""Benchmark: how long `hoso` takes to start, command by command.

Times `hoso --version`, `hoso --help`, `hoso status` (a configured computer: a records folder
of a few files and a journal; status never touches the share) and a no-op `hoso sync` of that
folder with a real share (wsgidav, or Apache with ``--server apache``, started by the test
suite's launchers; the folder is synced once before timing), next to Python's own start
(`python -c pass`, and `-S` without the site packages' .pth files). With ``--baseline DIR``
(a checkout of another commit, e.g. ``git archive 8bd0a48 | tar -x -C /tmp/base``) the same
commands run from that tree too, interleaved with this one's, so that both see the same load.

    .venv/bin/python bench/start.py                       # this tree, 20 runs each
    .venv/bin/python bench/start.py --baseline /tmp/base  # before/after
    .venv/bin/python bench/start.py --server apache       # the sync row on Apache (as root)

Each command runs as ``python -c "from agent.cli import main; main()" ARGS`` with the tree on
PYTHONPATH, from a folder outside both trees, exit codes checked. Prints min and median in
milliseconds.
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
if str(ROOT) not in sys.path:  # `bench` and `tests` are folders of the checkout, not packages
    sys.path.insert(0, str(ROOT))

from agent.config import PASSWORD_ENV, render, write_private  # noqa: E402
from agent.journal import Journal  # noqa: E402
from tests.servers import SERVERS, DavServer  # noqa: E402

ENTRY = "from agent.cli import main; main()"


def make_computer(work: Path, server: DavServer) -> Path:
    """A config for ``server``, a records folder with a few records, and a journal."""
    root = work / "HoSo"
    for week in range(1, 4):
        folder = root / f"Tuần {week}"
        folder.mkdir(parents=True)
        (folder / "Bài 1.docx").write_bytes(b"lesson")
    state = work / "state"
    state.mkdir(mode=0o700)
    Journal.open(state / "journal.sqlite3").close()
    config = work / "agent.toml"
    text = render(root, server.url, "/", server.user, str(state))
    write_private(config, 'language = "en"\n' + text + "\n[sync]\nsettle_seconds = 0\n")
    return config


def commands(config: Path) -> dict[str, tuple[list[str], int]]:
    """name → (hoso arguments, expected exit code)."""
    named = ["--config", str(config)]
    return {
        "hoso --version": (["--version"], 0),
        "hoso --help": ([*named, "--help"], 0),
        "hoso status": ([*named, "status"], 0),
        "hoso sync (nothing to do)": ([*named, "sync"], 0),
    }


def once(argv: list[str], env: dict[str, str], expected: int, cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False, timeout=120)
    seconds = time.perf_counter() - started
    if done.returncode != expected:
        raise SystemExit(f"{argv}: exit {done.returncode}, not {expected}\n{done.stderr.decode()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--baseline", type=Path, help="another tree to time side by side")
    parser.add_argument("--server", choices=("wsgidav", "apache"), default="wsgidav")
    args = parser.parse_args()
    trees = {"this tree": ROOT}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), **trees}
    server = SERVERS[args.server]()
    with tempfile.TemporaryDirectory(prefix="hoso-start-") as tmp:
        work = Path(tmp)
        server.start()
        try:
            rows = time_all(args, trees, make_computer(work, server), server, work)
        finally:
            server.remove()
    print(f"{args.runs} runs each, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| command | tree | min ms | median ms |")
    print("|---|---|---|---|")
    for (name, tree_name), times in rows.items():
        low, mid = min(times) * 1000, statistics.median(times) * 1000
        print(f"| {name} | {tree_name} | {low:.0f} | {mid:.0f} |")


def time_all(
    args: argparse.Namespace, trees: dict[str, Path], config: Path, server: DavServer, work: Path
) -> dict[tuple[str, str], list[float]]:
    """Each command of each tree ``args.runs`` times, interleaved."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSO_", "XDG_"))}
    env.update(
        {"LANGUAGE": "en", "XDG_STATE_HOME": str(work / "xdg"), PASSWORD_ENV: server.password}
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed hoso has its bytecode cache
    python = sys.executable
    first = [python, "-c", ENTRY, "--config", str(config), "sync"]
    once(first, {**env, "PYTHONPATH": str(ROOT)}, 0, work)  # the upload: not timed
    rows: dict[tuple[str, str], list[float]] = {}
    bare = {
        "python -c pass": [python, "-c", "pass"],
        "python -S -c pass": [python, "-S", "-c", "pass"],
    }
    for _ in range(args.runs):
        for name, argv in bare.items():
            rows.setdefault((name, ""), []).append(once(argv, env, 0, work))
        for tree_name, tree in trees.items():
            tree_env = {**env, "PYTHONPATH": str(tree)}
            for name, (hoso_args, expected) in commands(config).items():
                argv = [python, "-c", ENTRY, *hoso_args]
                rows.setdefault((name, tree_name), []).append(once(argv, tree_env, expected, work))
    return rows


if __name__ == "__main__":
    main()
