"""Undefined and unused names fail the suite, not a teacher's pass at run time.

Two branches can each be right and their merge wrong: one renamed an import that the other
still used, and only the one code path that needs it (a safety stop's message) found out.
Pyflakes' checks (ruff's F rules) see every path without running it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_undefined_or_unused_names() -> None:
    ruff = Path(sys.executable).parent / "ruff"
    assert ruff.exists(), "ruff is a test dependency: pip install -e '.[test]'"
    result = subprocess.run(
        [str(ruff), "check", "--select", "F", "--output-format", "concise", "--no-cache",
         "agent", "plugins", "bench", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
