"""Smoke tests of bench/backup.py, the hoso-versus-restic backup benchmark (not of its timings).

Its figures are only worth something if a step counts only when the tool really did the work:
every file seen, exactly the changes stored, a byte-identical restore; if sizes are what `du`
reports; and if the table says honestly which of the issue's targets are met.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))

from bench import backup, corpus  # noqa: E402

# The summary restic 0.14 prints last for `backup --json` after one round of corpus.mutate.
RESTIC_SUMMARY = (
    '{"message_type":"summary","files_new":10,"files_changed":10,"files_unmodified":1980,'
    '"dirs_new":0,"dirs_changed":12,"dirs_unmodified":235,"data_blobs":20,"tree_blobs":13,'
    '"data_added":1406117,"total_files_processed":2000,"total_bytes_processed":253211563,'
    '"total_duration":0.86,"snapshot_id":"6e6b980c"}'
)


def test_a_restore_counts_only_when_the_tree_is_byte_identical(tmp_path: Path) -> None:
    source, restored = tmp_path / "source", tmp_path / "restored"
    corpus.generate(source, files=12, seed=2)
    shutil.copytree(source, restored)  # copy2: same sizes and mtimes, as a restore gives
    assert backup.tree_differences(source, restored) == []

    first, second = sorted(corpus.records(restored))[:2]
    stat = (restored / first).stat()
    data = bytearray((restored / first).read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit, same size and mtime
    (restored / first).write_bytes(bytes(data))
    os.utime(restored / first, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    (restored / second).unlink()
    (restored / "thừa.docx").write_bytes(b"PK")

    assert backup.tree_differences(source, restored) == sorted([second, "thừa.docx"]) + [first]


def test_repository_size_is_what_du_reports(tmp_path: Path) -> None:
    repo = tmp_path / "repository"
    (repo / "data" / "ab").mkdir(parents=True)
    (repo / "config").write_bytes(b"c" * 155)
    (repo / "data" / "ab" / "pack").write_bytes(os.urandom(70_000))
    os.link(repo / "config", repo / "data" / "config-again")  # one inode: counted once

    du = subprocess.run(["du", "-sb", str(repo)], capture_output=True, text=True, check=True)

    assert backup.disk_usage(repo) == int(du.stdout.split()[0])
    assert backup.disk_usage(repo) >= 70_155


def test_a_hoso_backup_counts_only_with_every_file_and_new_data_exactly_when_changed() -> None:
    changed = backup.Expect(files=2000, new=10, changed=10)
    unchanged = backup.Expect(files=2000, new=0, changed=0)
    backup.check_hoso_report({"files": 2000, "bytes_added": 1_400_000, "skipped": []}, changed)
    backup.check_hoso_report({"files": 2000, "bytes_added": 0, "skipped": []}, unchanged)

    wrong = [
        ({"files": 1999, "bytes_added": 1_400_000, "skipped": []}, changed),
        ({"files": 2000, "bytes_added": 9, "skipped": [{"path": "a", "reason": "x"}]}, changed),
        ({"files": 2000, "bytes_added": 0, "skipped": []}, changed),  # the edits were not stored
        ({"files": 2000, "bytes_added": 1_400_000, "skipped": []}, unchanged),
    ]
    for report, expect in wrong:
        with pytest.raises(backup.StepFailed):
            backup.check_hoso_report(report, expect)


def test_a_restic_backup_counts_only_when_its_summary_has_exactly_the_changes() -> None:
    status = '{"message_type":"status","percent_done":1}'
    backup.check_restic_summary(f"{status}\n{RESTIC_SUMMARY}\n", backup.Expect(2000, 10, 10))

    with pytest.raises(backup.StepFailed):  # restic re-read everything: not a no-change backup
        backup.check_restic_summary(RESTIC_SUMMARY, backup.Expect(2000, 0, 0))
    with pytest.raises(backup.StepFailed):
        backup.check_restic_summary(f"{status}\n", backup.Expect(2000, 10, 10))
    with pytest.raises(backup.StepFailed):
        backup.check_restic_summary("{not json\n", backup.Expect(2000, 10, 10))


def test_the_table_says_which_targets_are_met_and_lists_failures() -> None:
    results = backup.Results(
        seconds={
            ("hoso", "initial"): [2.0, 1.0, 3.0],  # median 2.0
            ("restic", "initial"): [2.0],
            ("hoso", "noop"): [0.6],
            ("restic", "noop"): [1.0],
            ("restic", "restore"): [1.5],
        },
        sizes={"hoso": [104_000_000], "restic": [100_000_000]},
        failures=["round 1, hoso, restore: the restored tree differs in 1 files, e.g. a.docx"],
        notes={"restic": "restic 0.14.0"},
    )

    text = backup.render_markdown("python bench/backup.py --files 9", "9 files", 3, results)

    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    assert "Command: `python bench/backup.py --files 9`" in text
    assert rows["2. initial backup"].endswith(
        "| 2.00 (1.00–3.00) | 2.00 | 1.000 | ≤ 1.00 | yes |")
    assert rows["3. no-change backup"].endswith("| 0.60 | 1.00 | 0.600 | ≤ 0.50 | **no** |")
    assert rows["5. full restore of the latest snapshot"].endswith(
        "| n/a | 1.50 | n/a | ≤ 1.00 | — |")
    assert rows["bytes on disk (`du -sb`) / 10^6"].endswith(
        "| 104.0 | 100.0 | 1.040 | ≤ 1.05 | yes |")
    assert "- FAILED round 1, hoso, restore: the restored tree differs" in text
    assert "- restic: restic 0.14.0" in text


@pytest.mark.skipif(shutil.which("restic") is None, reason="the benchmark needs restic")
def test_a_tiny_run_times_every_step_of_both_tools_and_cleans_up(tmp_path: Path) -> None:
    code = backup.main(["--files", "30", "--out", str(tmp_path)])

    text = (tmp_path / "backup-results.md").read_text(encoding="utf-8")
    assert code == 0, text
    assert "FAILED" not in text
    for label in backup.STEPS.values():
        row = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        assert "n/a" not in row, row
    assert "hoso KDF: scrypt" in text and "restic KDF: scrypt" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup-results.md"]
