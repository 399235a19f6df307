"""A backup or a prune killed (SIGKILL) at a random instant leaves a sound repository.

Each round runs the operation in a child process and kills it after a random delay drawn
over the time the operation takes, so that kills land while packs, index files and
snapshots are being written. After every kill: the dead process's lock is cleared, check
(with --read-data) finds no damage, and every snapshot in the repository restores exactly
as the folder was when that snapshot was started. Set HOSO_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from backup_factory import state

from agent.backup.maintenance import check, prune
from agent.backup.repository import Repository
from agent.backup.restore import restore
from agent.backup.snapshots import create
from agent.envelope import KdfParams

PASSPHRASE = "mật khẩu của cô Lan"
PROJECT = Path(__file__).resolve().parent.parent
ROUNDS = 8

CHILD = """
import os, sys
from pathlib import Path
from agent.backup.maintenance import prune
from agent.backup.repository import Repository
from agent.backup.snapshots import create
repo = Repository.open(Path(sys.argv[2]), os.environ["HOSO_TEST_PASSPHRASE"])
with repo.lock():
    print("locked", flush=True)
    if sys.argv[1] == "backup":
        create(repo, Path(sys.argv[3]), host="GV-LAN", tags=[sys.argv[4]])
    else:
        prune(repo)
print("done", flush=True)
"""


@dataclass
class Scenario:
    """A records folder edited round after round, its repository, and what each snapshot
    (by its tag) must restore to."""

    base: Path
    rng: random.Random
    seed: int
    big_files: int = 10
    big_size: int = 3 * 1024 * 1024
    expected: dict[str, dict] = field(default_factory=dict)
    restored: set[str] = field(default_factory=set)  # snapshot ids already restored exactly
    kills: int = 0
    rounds: int = 0

    @property
    def root(self) -> Path:
        return self.base / "HoSo"

    @property
    def repo_path(self) -> Path:
        return self.base / "repo"

    def edit(self, round_number: int) -> str:
        """Write half the large files with new data, add a small file; returns the tag."""
        for number in self.rng.sample(range(self.big_files), self.big_files // 2):
            path = self.root / f"Tuần {number}" / "Sổ điểm.xlsx"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.rng.randbytes(self.big_size))
        (self.root / f"Bài {round_number}.docx").write_text(f"Rút kinh nghiệm {round_number}")
        tag = f"round-{round_number}"
        self.expected[tag] = state(self.root)
        return tag

    def run_killed(self, args: list[str], expected_seconds: float) -> None:
        """Run the child and kill it at a random instant: every other round early in the
        work (so that kills surely land, however fast the machine is today), the others up
        to a little past ``expected_seconds`` (so that some runs finish, or die on their way
        out)."""
        self.rounds += 1
        reach = 0.3 if self.rounds % 2 else 1.2
        env = {**os.environ, "HOSO_TEST_PASSPHRASE": PASSPHRASE, "PYTHONPATH": str(PROJECT)}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, args[0], str(self.repo_path), *args[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None and child.stderr is not None
        if child.stdout.readline() != "locked\n":
            child.wait()
            pytest.fail(f"the child failed before working: {child.stderr.read()}")
        try:
            child.wait(timeout=self.rng.uniform(0, reach * expected_seconds))
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
        child.stdout.close()
        errors = child.stderr.read()
        child.stderr.close()
        assert child.returncode in (0, -signal.SIGKILL), errors
        self.kills += child.returncode == -signal.SIGKILL

    def assert_sound(self, where: str, *, restore_all: bool) -> None:
        """check finds nothing, and snapshots restore exactly: all of them, or those not
        restored before (a backup only adds files, and check has read every byte)."""
        repo = Repository.open(self.repo_path, PASSPHRASE)
        with repo.lock():  # the killed child's lock is stale: cleared, not "in use"
            damages = check(repo, read_data=True)
        assert damages == [], f"{where} (HOSO_CRASH_SEED={self.seed}): {damages}"
        for snapshot_id in repo.snapshot_ids():
            if snapshot_id in self.restored and not restore_all:
                continue
            tag = repo.read_snapshot(snapshot_id)["tags"][0]
            target = self.base / "restored"
            shutil.rmtree(target, ignore_errors=True)
            restore(repo, snapshot_id, [], target)
            assert state(target) == self.expected[tag], f"{where}: {tag} (seed {self.seed})"
            self.restored.add(snapshot_id)
        shutil.rmtree(self.base / "restored", ignore_errors=True)


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    seed = int(os.environ.get("HOSO_CRASH_SEED", random.randrange(1 << 32)))
    found = Scenario(tmp_path, random.Random(seed), seed)
    found.root.mkdir()
    Repository.init(found.repo_path, PASSPHRASE, kdf=KdfParams(n=2**10))
    return found


def timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def in_process_backup(scenario: Scenario, tag: str) -> None:
    repo = Repository.open(scenario.repo_path, PASSPHRASE)
    with repo.lock():
        create(repo, scenario.root, host="GV-LAN", tags=[tag])


def test_a_backup_killed_at_any_instant_leaves_a_sound_repository(scenario: Scenario) -> None:
    # 16 files of 4 MiB, half rewritten a round: two or three 16 MiB packs a backup.
    scenario.big_files, scenario.big_size = 16, 4 * 1024 * 1024
    duration = timed(lambda: in_process_backup(scenario, scenario.edit(0)))
    for number in range(1, ROUNDS + 1):
        tag = scenario.edit(number)
        scenario.run_killed(["backup", str(scenario.root), tag], duration)
        scenario.assert_sound(f"after killing backup round {number}", restore_all=False)
    assert scenario.kills >= 2, f"kills did not land (seed {scenario.seed})"
    # A new backup works on the repository the kills left, and every snapshot restores.
    in_process_backup(scenario, scenario.edit(ROUNDS + 1))
    scenario.assert_sound("after a backup that finished", restore_all=True)


def test_a_prune_killed_at_any_instant_leaves_a_sound_repository(scenario: Scenario) -> None:
    for number in range(ROUNDS):
        in_process_backup(scenario, scenario.edit(number))
    for number in range(ROUNDS, 2 * ROUNDS):
        in_process_backup(scenario, scenario.edit(number))
        repo = Repository.open(scenario.repo_path, PASSPHRASE)
        with repo.lock():
            for snapshot_id, _snapshot in repo.snapshots()[:-3]:
                repo.remove_snapshot(snapshot_id)
        duration = timed_prune_of_a_copy(scenario)
        scenario.run_killed(["prune"], duration)
        scenario.assert_sound(f"after killing prune round {number}", restore_all=True)
    assert scenario.kills >= 2, f"kills did not land (seed {scenario.seed})"
    repo = Repository.open(scenario.repo_path, PASSPHRASE)
    with repo.lock():
        prune(repo)
    in_process_backup(scenario, scenario.edit(2 * ROUNDS))
    scenario.assert_sound("after a prune and a backup that finished", restore_all=True)


def timed_prune_of_a_copy(scenario: Scenario) -> float:
    """How long this prune takes, measured on a copy so that the real one can be killed."""
    copy = scenario.base / "repo-copy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(scenario.repo_path, copy)
    repo = Repository.open(copy, PASSPHRASE)
    with repo.lock():
        duration = timed(lambda: prune(repo))
    shutil.rmtree(copy)
    return duration
