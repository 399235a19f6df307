"""Smoke test of bench/print.py, the binder benchmark (not of its timings): a run counts
only when every record is in the binder, the warm binder converted nothing, and the by-hand
baseline really produced one PDF per file."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))

from bench import lessonplans  # noqa: E402
from bench import print as print_bench  # noqa: E402


@pytest.mark.skipif(shutil.which("soffice") is None, reason="needs Debian libreoffice-writer-nogui")
def test_a_tiny_run_measures_the_binder_and_the_baseline(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    lessonplans.generate(corpus, 2)
    binder = print_bench.bench_binder(corpus, tmp_path, files=2, repeat=1)
    by_hand = print_bench.bench_by_hand(corpus, tmp_path, repeat=1)
    assert binder["pages"] >= 2 + 1 + 2 * 2  # cover and its back, contents, two plans
    assert binder["warm_s"] > 0 and binder["cold_s"] > 0
    assert len(list((tmp_path / "by-hand-0").glob("*.pdf"))) == 2
    assert len(list((tmp_path / "batch-0").glob("*.pdf"))) == 2
    table = print_bench.render_markdown("python bench/print.py --files 2", 2, binder, by_hand)
    assert "`hoso print` warm (all from the cache)" in table
    assert table.count("\n| ") == 5  # header and four rows
