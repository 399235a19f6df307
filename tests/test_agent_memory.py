"""What an idle agent keeps in memory: the teacher's page is listened for at start-up, but
Flask (with Jinja and Werkzeug, about 5 MiB) is imported only when the page is first asked
for. Checked in a fresh interpreter, whose modules are its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.web import server

PROBE = """
import json, sys, urllib.request
from pathlib import Path
from agent.web import access, server

state = Path(sys.argv[2])
served = server.serve(Path(sys.argv[1]), state)
seen = {"flask_at_start": "flask" in sys.modules,
        "secret_at_start": (state / access.SECRET_FILE).exists()}
print(json.dumps(seen), flush=True)
sys.stdin.readline()  # the test has asked the page meanwhile
seen = {"flask_after_request": "flask" in sys.modules}
print(json.dumps(seen), flush=True)
served.close()
"""


def test_the_page_imports_flask_at_its_first_request_not_at_start_up(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-c", PROBE, str(tmp_path / "agent.toml"), str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        started = json.loads(proc.stdout.readline())
        assert started == {"flask_at_start": False, "secret_at_start": True}
        port = server.running_port(state)  # a real request, proven by the install's secret
        assert port is not None
        assert json.loads((state / server.ADDRESS_FILE).read_text())["port"] == port
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"flask_after_request": True}
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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
