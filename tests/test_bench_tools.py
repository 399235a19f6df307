"""Smoke tests of the benchmark's tools: the corpus generator and the raw uploader.

The benchmark's figures are only worth something if every tool gets the same, realistic
corpus and the floor it is compared with really puts the bytes on the server.
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest
from servers import Share

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))

from agent.config import Secret  # noqa: E402
from bench import corpus  # noqa: E402
from bench.raw_upload import Target, upload, walk  # noqa: E402


def tree(root: Path) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in corpus.records(root)}


def test_same_seed_gives_the_same_tree_and_bytes(tmp_path: Path) -> None:
    first = corpus.generate(tmp_path / "a", files=40, seed=7)
    corpus.generate(tmp_path / "b", files=40, seed=7)
    corpus.generate(tmp_path / "c", files=40, seed=8)

    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert len(a) == 40
    assert a == b
    assert {f.path: f.size for f in first} == {p: len(data) for p, data in a.items()}
    assert a != c  # another seed is another corpus
    assert all(unicodedata.is_normalized("NFC", p) for p in a)
    assert any(p.startswith("Tuần ") and "/Bài " in p for p in a)
    assert any(p.startswith("Sổ chủ nhiệm/") for p in a)
    assert any(p.startswith("Sổ ghi chép SHCM/") for p in a)


def test_full_corpus_has_the_intended_shape() -> None:
    files = corpus.plan()  # the default 2,000 files, without writing them
    sizes = sorted(f.size for f in files)
    total = sum(sizes)
    assert len({f.path for f in files}) == 2000
    assert 220 * corpus.MB < total < 260 * corpus.MB
    big = [f for f in files if f.size >= 2 * corpus.MB]
    assert len(big) == 20 and all(f.path.endswith(".pdf") for f in big)
    assert sizes[0] >= 20 * corpus.KB and sizes[-21] <= 300 * corpus.KB


def test_mutation_is_the_same_for_every_tool_and_does_what_it_says(tmp_path: Path) -> None:
    source = tmp_path / "source"
    corpus.generate(source, files=60, seed=3)
    original = tree(source)
    for name in ("x", "y"):  # two tools' hard-linked copies of one corpus
        shutil.copytree(source, tmp_path / name, copy_function=os.link)
    (tmp_path / "x" / ".hoso-root").write_text("a tool's marker")

    change_x = corpus.mutate(tmp_path / "x", round_no=1, seed=3)
    change_y = corpus.mutate(tmp_path / "y", round_no=1, seed=3)

    assert change_x == change_y
    assert tree(tmp_path / "x") == tree(tmp_path / "y")
    assert tree(source) == original  # the shared corpus did not see the edits
    after = tree(tmp_path / "x")
    assert (len(change_x.modified), len(change_x.added), len(change_x.deleted)) == (10, 10, 10)
    assert all(after[p] != original[p] for p in change_x.modified)
    assert not set(change_x.deleted) & set(after)
    assert set(change_x.added) <= set(after) and not set(change_x.added) & set(original)
    assert (tmp_path / "x" / ".hoso-root").read_text() == "a tool's marker"


@pytest.mark.parametrize("dav_server", ["wsgidav"], indirect=True)
def test_raw_uploader_puts_every_byte_on_the_server(share: Share, tmp_path: Path) -> None:
    root = tmp_path / "records"
    corpus.generate(root, files=20, seed=5)
    target = Target(share.url + quote(share.remote_dir) + "/", share.user, Secret(share.password))

    done = upload(root, target, transfers=4)

    assert tree(share.path) == tree(root)
    folders = len(corpus.folders_of(tree(root)))
    assert (done.files, done.folders) == (20, folders + 1)  # + the (existing) target itself
    assert done.requests == 20 + folders + 1  # one MKCOL per folder, one PUT per file
    listing = walk(target)
    assert listing.files == {p: len(data) for p, data in tree(root).items()}
    assert listing.requests == folders + 1  # one PROPFIND per folder


def test_the_validation_corpus_is_real_lesson_plans_with_a_few_problems(tmp_path: Path) -> None:
    from datetime import date

    from agent.records import classify
    from bench import lessonplans
    from plugins.validation.checks import check_record
    from agent.recordtypes import load_types_file, shipped_types_file

    paths = lessonplans.generate(tmp_path, 40, seed=3)
    types = load_types_file(shipped_types_file())
    problems = set()
    for path in paths:
        rel = path.relative_to(tmp_path).as_posix()
        assert classify(rel, types).code == "KHBD"  # type: ignore[union-attr]
        found = check_record(
            path,
            rel,
            classify(rel, types),
            size=path.stat().st_size,
            today=date(2026, 11, 29),
            year_start=date(2026, 9, 7),
        )
        problems |= {f.rule for f in found}
    # A second lesson pasted below the first lacks a header of its own, too.
    assert problems == {
        "khbd.reflection-missing",
        "khbd.several-lessons",
        "khbd.header-incomplete",
    }


def test_the_search_benchmark_runs_on_a_tiny_corpus(tmp_path: Path) -> None:
    from bench import search

    assert (
        search.main(
            [
                "--files",
                "6",
                "--copies",
                "2",
                "--repeat",
                "1",
                "--inproc",
                "1",
                "--queries",
                "3",
                "--servers",
                "",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    table = (tmp_path / "search-results.md").read_text(encoding="utf-8")
    assert "Corpus: 6 lesson plans" in table
    for row in (
        "index cold: one-shot",
        "full read of every document",
        "grep -r -i",
        "index size",
        "query over 12 records, one-shot",
        "while an agent runs",
        "query over 12 records, in process",
    ):
        assert row in table, row
    # Every lesson plan but the 5 % without a reflection found, by grep (accents) and by hoso.
    assert "hoso finds 0" not in table
    assert not (tmp_path / "search-work").exists()  # the work folder is removed
