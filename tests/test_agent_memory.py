"""What an idle agent keeps in memory: what a pass freed goes back to the system. Checked in a
fresh interpreter, whose memory is its own."""

from __future__ import annotations

import json
import subprocess
import sys

RELEASE_PROBE = """
import json, re
from agent import memory

def anon():
    status = open("/proc/self/status").read()
    return int(re.search(r"RssAnon:\\s+(\\d+)", status).group(1)) // 1024

blocks = [bytes(1000) + bytes([i % 256]) for i in range(60_000)]  # ~60 MiB through malloc
pin = bytes(1000) + b"pin"  # above them: the heap's top stays in use, nothing trims itself
del blocks
freed = anon()
memory.release_freed()
print(json.dumps({"freed": freed, "released": anon()}))
"""


def test_memory_a_pass_freed_goes_back_to_the_system() -> None:
    # What a pass over a big folder leaves: freed but still resident until handed back.
    done = subprocess.run(
        [sys.executable, "-c", RELEASE_PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    sizes = json.loads(done.stdout)
    assert sizes["freed"] - sizes["released"] >= 40, sizes  # MiB
