"""Benchmark: the print binder (`hoso print`) against converting the records by hand.

On one corpus of ``--files`` lesson plans (bench/lessonplans.py, about three pages each):
- ``hoso print`` cold (a fresh state folder: every record converted by one LibreOffice) and
  warm (the same records again: every PDF from the cache);
- what a teacher would otherwise do: `soffice --convert-to pdf` once per file (as opening
  them one by one in Word and saving each as PDF amounts to, minus the clicking), and, as the
  floor, one `soffice --convert-to pdf` over all the files (no cover, contents or merging).

Every binder's JSON is checked (all records in, page count) and every baseline's PDFs are
counted, so a broken run is not timed as a fast one.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` is a folder of the checkout, not a package
    sys.path.insert(0, str(ROOT))

from agent.config import render  # noqa: E402
from bench import lessonplans  # noqa: E402

OUT = ROOT / "bench" / "out"
STEP_SECONDS = 3600


def hoso(config: Path, *args: str, cwd: Path) -> tuple[float, dict[str, object]]:
    """Run `hoso print …` (exit 0, or 1 when something was left out); (seconds, JSON)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "agent", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LANGUAGE": "en"},
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr)
        raise SystemExit(f"hoso {' '.join(args)} failed (exit {done.returncode})")
    return seconds, json.loads(done.stdout)


def soffice(files: list[Path], out: Path, profile: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            "soffice",
            "--headless",
            "--norestore",
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            *map(str, files),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=STEP_SECONDS,
        check=True,
    )
    return time.perf_counter() - started


def bench_binder(corpus: Path, work: Path, files: int, repeat: int) -> dict[str, float]:
    cold, warm, pages = [], [], 0
    for run in range(repeat):
        state = work / f"state-{run}"
        shutil.rmtree(state, ignore_errors=True)
        config = work / f"print-{run}.toml"
        config.write_text(render(corpus, "http://127.0.0.1:9/", "/", "", str(state)))
        for timings, name in ((cold, "cold"), (warm, "warm")):
            out = work / f"binder-{run}-{name}.pdf"
            seconds, data = hoso(
                config, "print", "--weeks", "1-35", "--include-failing", "--json",
                "--out", str(out), cwd=work,
            )  # fmt: skip
            included = data["included"]
            if not isinstance(included, list) or len(included) != files or not out.is_file():
                raise SystemExit(f"the {name} binder holds {len(included)} of {files} records")
            if name == "warm" and data["converted"] != 0:
                raise SystemExit("the warm binder converted records again")
            pages = int(data["pages"])  # type: ignore[call-overload]
            timings.append(seconds)
    return {"cold_s": statistics.median(cold), "warm_s": statistics.median(warm), "pages": pages}


def bench_by_hand(corpus: Path, work: Path, repeat: int) -> dict[str, float]:
    files = sorted(corpus.rglob("*.docx"))
    profile = work / "soffice-profile"
    soffice(files[:1], work / "warm-up", profile)  # the teacher's LibreOffice is set up already
    one_by_one, batch = [], []
    for run in range(repeat):
        out = work / f"by-hand-{run}"
        one_by_one.append(sum(soffice([f], out, profile) for f in files))
        out_batch = work / f"batch-{run}"
        batch.append(soffice(files, out_batch, profile))
        for folder in (out, out_batch):
            if len(list(folder.glob("*.pdf"))) != len(files):
                raise SystemExit(f"soffice converted only part of the files into {folder}")
    return {"one_by_one_s": statistics.median(one_by_one), "batch_s": statistics.median(batch)}


def render_markdown(
    command: str, files: int, binder: dict[str, float], by_hand: dict[str, float]
) -> str:
    cold, warm = binder["cold_s"], binder["warm_s"]
    one, batch = by_hand["one_by_one_s"], by_hand["batch_s"]
    return (
        "\n".join(
            [
                f"Command: `{command}`",
                "",
                f"Corpus: {files} lesson plans (.docx, about 3 pages each); binder of "
                f"{binder['pages']:.0f} pages.",
                "",
                "| what | seconds | per lesson plan | vs `hoso print` cold |",
                "|---|---|---|---|",
                f"| `hoso print` cold (fresh state: all converted) | {cold:.1f} | "
                f"{cold / files:.2f} s | ×1.00 |",
                f"| `hoso print` warm (all from the cache) | {warm:.1f} | {warm / files:.2f} s | "
                f"×{warm / cold:.2f} |",
                f"| by hand: `soffice --convert-to pdf` once per file | {one:.1f} | "
                f"{one / files:.2f} s | ×{one / cold:.2f} |",
                f"| floor: one `soffice --convert-to pdf` of all files (no binder) | {batch:.1f} | "
                f"{batch / files:.2f} s | ×{batch / cold:.2f} |",
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if shutil.which("soffice") is None:
        raise SystemExit("needs LibreOffice: sudo apt install libreoffice-writer-nogui")
    work = OUT / "print-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        corpus = work / "corpus"
        lessonplans.generate(corpus, args.files)
        binder = bench_binder(corpus, work, args.files, args.repeat)
        by_hand = bench_by_hand(corpus, work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render_markdown(
        shlex.join(["python", "bench/print.py", *argv]), args.files, binder, by_hand
    )
    (OUT / "print-results.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
