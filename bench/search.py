"""Benchmark: `hoso search` beside what a teacher would otherwise do, in one run.

On ``--files`` real lesson plans (bench/lessonplans.py, the validation benchmark's corpus):
- the index built cold by a one-shot ``hoso search`` (a fresh state folder), in records per
  second, and the index's size as a fraction of the corpus;
- side by side: a full read of every document in the sandbox (what ``hoso check --again``
  costs: the read rate), and ``grep -r -i`` over the extracted text (written to a folder once);
- query latency over ``--files`` × ``--copies`` records (one folder per copy, hard links),
  median and p95: one-shot ``hoso search --json`` (a whole process) with no agent (the index's
  refresh walk included) and while an agent holds the state folder (the lock held here: the
  index is only read), and in process (the service's query function, index warm);
- with ``--servers wsgidav``: under ``hoso run`` against a real WebDAV server, the time from a
  new lesson plan written to it being in the index (polled every 10 ms).

Every command's exit code and JSON are checked, so a broken run is not timed as a fast one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` and `tests` are folders of the checkout, not packages
    sys.path.insert(0, str(ROOT))

from agent.config import PASSWORD_ENV  # noqa: E402
from bench import lessonplans  # noqa: E402
from bench.check import HOSO, hoso, write_config  # noqa: E402
from tests.servers import SERVERS, missing_binary  # noqa: E402

OUT = ROOT / "bench" / "out"
STEP_SECONDS = 900
QUERIES = (
    "rut kinh nghiem",
    "Rút kinh nghiệm",
    "RÚT KINH NGHIỆM",
    "tuan 12 toan",
    "luyen tap",
    "nghi*",
    '"thao luan nhom doi"',
    "bai 56",
    "hoc sinh -toan",
    "mi thuat",
    "phieu hoc tap",
    "xyzzy",
)
GREP_PHRASE = "rút kinh nghiệm"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def search(config: Path, *args: str) -> tuple[float, dict]:
    seconds, out, code = hoso(config, "search", *args, "--json")
    if code not in (0, 1):
        raise SystemExit(f"hoso search {shlex.join(args)} failed (exit {code})")
    answer = json.loads(out)
    if (code == 0) != bool(answer["results"]):
        raise SystemExit(f"hoso search {shlex.join(args)}: exit {code} does not match its JSON")
    return seconds, answer


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def bench_index(corpus: Path, work: Path, files: int) -> dict[str, float]:
    state = work / "index-state"
    config = write_config(work / "index.toml", corpus, state, validation=False)
    startup = statistics.median(hoso(config, "--version")[0] for _ in range(3))
    cold, answer = search(config, "rut kinh nghiem")
    if answer["total"] == 0:
        raise SystemExit("the cold index found no lesson plan")
    warm = statistics.median(search(config, "rut kinh nghiem")[0] for _ in range(3))
    index = state / "plugins" / "search.sqlite3"
    size = sum(p.stat().st_size for p in index.parent.glob("search.sqlite3*"))
    return {
        "startup_s": startup,
        "cold_s": cold,
        "records_per_s": files / max(cold - startup, 1e-9),
        "warm_s": warm,
        "index_bytes": size,
        "corpus_bytes": tree_bytes(corpus),
        "found": answer["total"],
    }


def bench_read_and_grep(corpus: Path, work: Path, repeat: int) -> dict[str, float]:
    """Every document read in the sandbox (the read rate of `hoso check --again`), its text
    written once to a folder, then `grep -r -i` over that folder."""
    from agent.api import DEFAULT_LIMITS, document_sandbox

    sandbox = document_sandbox(DEFAULT_LIMITS)
    texts = work / "text"
    files = sorted(corpus.rglob("*.docx"))
    started = time.perf_counter()
    for i, path in enumerate(files):
        text = sandbox.read(path).text
        (texts / f"{i // 500}").mkdir(parents=True, exist_ok=True)
        (texts / f"{i // 500}" / f"{i}.txt").write_text(text, encoding="utf-8")
    read = time.perf_counter() - started
    grep, found = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            ["grep", "-r", "-i", "-l", "-F", GREP_PHRASE, str(texts)],
            capture_output=True,
            text=True,
            timeout=STEP_SECONDS,
            check=False,
        )
        grep.append(time.perf_counter() - started)
        found = len(done.stdout.splitlines())
    bare = subprocess.run(
        ["grep", "-r", "-i", "-l", "-F", "rut kinh nghiem", str(texts)],
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        check=False,
    )
    return {
        "read_s": read,
        "read_per_s": len(files) / read,
        "grep_s": statistics.median(grep),
        "grep_found": found,
        "grep_bare_found": len(bare.stdout.splitlines()),
        "text_bytes": tree_bytes(texts),
    }


def school_copy(corpus: Path, work: Path, copies: int) -> Path:
    """A manager's copy: ``copies`` teacher folders, each the corpus (hard links)."""
    school = work / "school"
    for n in range(copies):
        shutil.copytree(corpus, school / f"Giáo viên {n + 1}", copy_function=os.link)
    return school


def bench_queries(
    corpus: Path, work: Path, copies: int, repeat: int, inproc: int, queries: tuple[str, ...]
) -> dict[str, float]:
    """Over ``copies`` × the corpus: one-shot with no agent (the refresh walk included), one-shot
    while an agent holds the state folder (the index only read: the lock is held here, as
    `hoso run` holds it), and in process."""
    from agent.lock import InstanceLock

    school = school_copy(corpus, work, copies)
    state = work / "queries-state"
    config = write_config(work / "queries.toml", school, state, validation=False)
    cold, answer = search(config, "rut kinh nghiem")
    alone = [search(config, q)[0] for _ in range(repeat) for q in queries]
    with InstanceLock(state):
        beside_agent = [search(config, q)[0] for _ in range(repeat) for q in queries]
    in_process = _in_process(config, school, inproc, queries)
    return {
        "records": sum(1 for _ in school.rglob("*.docx")),
        "cold_s": cold,
        "alone_median_s": statistics.median(alone),
        "alone_p95_s": percentile(alone, 0.95),
        "agent_median_s": statistics.median(beside_agent),
        "agent_p95_s": percentile(beside_agent, 0.95),
        "in_process_median_s": statistics.median(in_process),
        "in_process_p95_s": percentile(in_process, 0.95),
        "found": answer["total"],
    }


def _in_process(
    config_path: Path, school: Path, rounds: int, queries: tuple[str, ...]
) -> list[float]:
    """The query as the running agent answers it: the index warm, no refresh, snippets made."""
    from agent import config as configmod
    from plugins.search.index import Filters
    from plugins.search.query import parse
    from plugins.search.service import DEFAULT_LIMIT, answer, open_index

    config = configmod.load(config_path)
    times = []
    with open_index(config, None) as store:
        for _ in range(rounds):
            for query in queries:
                started = time.perf_counter()
                answer(store, parse(query), Filters(), DEFAULT_LIMIT, root=school)
                times.append(time.perf_counter() - started)
    return times


def bench_agent(corpus: Path, work: Path, kind: str, repeat: int) -> dict[str, float]:
    """Under `hoso run`: a new lesson plan written → in the index."""
    server = SERVERS[kind]()
    local = work / "agent-copy"
    shutil.copytree(corpus, local)
    state = work / "agent-state"
    index = state / "plugins" / "search.sqlite3"
    files = sum(1 for _ in local.rglob("*.docx"))
    took = []
    try:
        server.start()
        remote = server.data_dir / "agent"
        remote.mkdir()
        server.own(remote)
        config = write_config(
            work / "agent.toml", local, state, server.url, "/agent", server.user, validation=False
        )
        proc = subprocess.Popen(
            [str(HOSO), "--config", str(config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, PASSWORD_ENV: server.password},
        )
        try:
            _until(lambda: _count(index, "SELECT count(*) FROM docs") >= files, "first index")
            for n in range(repeat):
                name = f"Tuần 35/Toán - Bài mới {n}.docx"
                path = local / "KHBD" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                lessonplans.write_lesson(
                    path, week=35, subject="Toán", lesson=900 + n, rng=random.Random(n)
                )
                written = time.perf_counter()
                sql = f"SELECT count(*) FROM docs WHERE path = 'KHBD/{name}'"
                took.append(
                    _until(lambda sql=sql: _count(index, sql) == 1, "the new plan") - written
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=STEP_SECONDS)
    finally:
        server.remove()
    return {"median_s": statistics.median(took), "max_s": max(took), "records": files}


def _count(index: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute(sql).fetchone()[0])
    except sqlite3.Error:
        return 0


def _until(condition: Callable[[], bool], what: str) -> float:
    """When ``condition`` first held (perf_counter), polled every 10 ms."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > STEP_SECONDS:
            raise SystemExit(f"hoso run: {what} not indexed in time")
        time.sleep(0.01)
    return time.perf_counter()


def render_markdown(
    command: str,
    files: int,
    index: dict[str, float],
    read: dict[str, float],
    queries: dict[str, float],
    agent: dict[str, dict[str, float]],
    query_count: int,
    repeat: int,
) -> str:
    ms = 1000
    size_ratio = index["index_bytes"] / index["corpus_bytes"]
    text_ratio = index["index_bytes"] / read["text_bytes"]
    lines = [
        f"Command: `{command}`",
        "",
        f"Corpus: {files} lesson plans (.docx, about 3 pages each), "
        f"{index['corpus_bytes'] / 1e6:.0f} MB; {read['text_bytes'] / 1e6:.1f} MB of text.",
        "",
        "| measurement | time | rate / ratio |",
        "|---|---|---|",
        f"| index cold: one-shot `hoso search` on a fresh state folder | {index['cold_s']:.2f} s | "
        f"{index['records_per_s']:.0f} records/s (process start {index['startup_s']:.2f} s "
        "deducted) |",
        f"| full read of every document in the sandbox (`hoso check --again`-like) | "
        f"{read['read_s']:.2f} s | {read['read_per_s']:.0f} documents/s |",
        f"| one-shot `hoso search`, nothing changed (start + refresh walk + query) | "
        f"{index['warm_s'] * ms:.0f} ms | ×{read['read_s'] / index['warm_s']:.0f} faster than "
        "reading every document |",
        f'| `grep -r -i -l -F "{GREP_PHRASE}"` over the extracted text | '
        f"{read['grep_s'] * ms:.0f} ms | finds {read['grep_found']:.0f} (without accents: "
        f"{read['grep_bare_found']:.0f}); hoso finds {index['found']:.0f} either way |",
        f"| index size | {index['index_bytes'] / 1e6:.1f} MB | {size_ratio:.1%} of the corpus, "
        f"×{text_ratio:.1f} its text |",
        f"| index cold, {queries['records']:.0f} records ({queries['records'] // files:.0f} "
        f"teacher folders) | {queries['cold_s']:.2f} s | "
        f"{queries['records'] / queries['cold_s']:.0f} records/s |",
        f"| query over {queries['records']:.0f} records, one-shot `hoso search --json`, no agent "
        f"(process start, refresh walk, query) | median {queries['alone_median_s'] * ms:.0f} ms, "
        f"p95 {queries['alone_p95_s'] * ms:.0f} ms | {query_count} queries × {repeat} |",
        f"| the same while an agent runs (the index only read) | median "
        f"{queries['agent_median_s'] * ms:.0f} ms, p95 {queries['agent_p95_s'] * ms:.0f} ms | "
        f"process start alone (`hoso --version`): {index['startup_s'] * ms:.0f} ms |",
        f"| query over {queries['records']:.0f} records, in process (index warm, as the agent "
        f"answers) | median {queries['in_process_median_s'] * ms:.1f} ms, p95 "
        f"{queries['in_process_p95_s'] * ms:.1f} ms | "
        f"×{read['read_s'] / queries['in_process_p95_s']:.0f} faster than reading the "
        f"{files} documents |",
    ]
    for kind, cells in agent.items():
        lines.append(
            f"| `hoso run` ({kind}, {cells['records']:.0f} records): a new lesson plan written → "
            f"searchable | median {cells['median_s']:.2f} s, max {cells['max_s']:.2f} s | |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--copies", type=int, default=5, help="teacher folders for the latency")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--inproc", type=int, default=50, help="rounds of in-process queries")
    parser.add_argument("--queries", type=int, default=len(QUERIES), help="of the query list")
    parser.add_argument("--servers", default="wsgidav")
    parser.add_argument("--out", type=Path, default=OUT)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    queries = QUERIES[: args.queries]
    work = args.out / "search-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        corpus = work / "corpus"
        lessonplans.generate(corpus, args.files)
        index = bench_index(corpus, work, args.files)
        read = bench_read_and_grep(corpus, work, args.repeat)
        found = bench_queries(corpus, work, args.copies, args.repeat, args.inproc, queries)
        agent = {}
        for kind in (k for k in args.servers.split(",") if k):
            if missing_binary(kind):
                print(f"skipping {kind}: {missing_binary(kind)} is not installed", file=sys.stderr)
                continue
            agent[kind] = bench_agent(corpus, work, kind, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = shlex.join(["python", "bench/search.py", *argv])
    text = render_markdown(
        command, args.files, index, read, found, agent, len(queries), args.repeat
    )
    (args.out / "search-results.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
