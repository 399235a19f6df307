"""Smoke test of bench/school.py, the school-scale benchmark (not of its figures).

Three teachers (and, once their first passes are done, the first one's second PC) run real
`hoso run` agents against one Apache share for a short idle window: the benchmark must count
every agent's requests by its own login, measure the server's and the agents' CPU and memory,
see a file saved through hoso arrive on the share, print the table and the JSON, and leave no
process or folder behind.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(REPO))

from bench import school  # noqa: E402


def test_config_settings_go_into_the_tables_hoso_init_wrote(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('root = "/r"\n\n[remote]\nurl = "http://127.0.0.1:1/"\nremote_dir = "gv01"\n')
    settings = dict(map(school.parse_setting, [
        "sync.poll_interval=45", "remote.timeout=12.5", "ui.enabled=false",
        "plugins.validation.enabled=false", "sync.ignore=['*.bak']", "host_name=may-2",
    ]))

    school.apply_settings(config, settings)

    loaded = school.load_config(config)
    assert loaded.sync.poll_interval == 45
    assert loaded.remote.timeout == 12.5 and loaded.remote.remote_dir == "gv01"
    assert loaded.ui.enabled is False
    assert loaded.sync.ignore == ("*.bak",)
    assert loaded.host_name == "may-2"
    assert "[plugins.validation]\nenabled = false" in config.read_text()


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("apache2") is None, reason="needs Debian's apache2")
def test_three_idle_agents_are_measured_and_a_saved_file_arrives(tmp_path: Path) -> None:
    out, dump = tmp_path / "school.md", tmp_path / "school.json"
    # 30 files: a short first pass, so the agents' next poll (spaced by the CPU a pass took
    # on an agent that walks every folder) falls in the 45 s window.
    argv = ["--server", "apache", "--agents", "3", "--files", "30", "--idle-seconds", "45",
            "--probe-timeout", "25", "--manager-timeout", "25",
            "--out", str(out), "--json", str(dump)]

    assert school.main(argv) == 0

    table = out.read_text(encoding="utf-8")
    assert f"`python bench/school.py {' '.join(argv)}`" in table
    assert "| apache | 3 (4) |" in table
    run = json.loads(dump.read_text(encoding="utf-8"))["runs"][0]
    idle = run["idle"]
    assert run["pcs"] == 4 and set(run["first_pass_seconds"]) == {"gv01", "gv02", "gv03",
                                                                  "gv01-pc2"}
    assert all(seconds > 0 for seconds in run["first_pass_seconds"].values())
    # The share held every teacher's tree already: the first passes compared, uploaded nothing.
    assert run["setup"] == "both" and run["reuploaded"] == 0
    # Every teacher's agents were counted by their own login, nobody else's.
    assert set(idle["per_agent_per_minute"]) == {"gv01", "gv02", "gv03"}
    assert all(rate > 0 for rate in idle["per_agent_per_minute"].values())
    assert school.MANAGER not in idle["requests_by_user"]
    assert idle["requests"] >= sum(sum(c.values()) for c in idle["requests_by_user"].values())
    assert 40 <= idle["seconds"] < 65
    # CPU and memory were read for the server and for each agent.
    assert idle["server_cpu_percent"] >= 0
    assert set(idle["agent_cpu_percent"]) == set(run["first_pass_seconds"])
    assert sum(idle["agent_cpu_percent"].values()) > 0
    assert all(20 < mib < 2048 for mib in idle["agent_rss_mib"].values())
    main_rss = idle["agent_main_rss_mib"]
    assert all(0 < main_rss[pc] <= whole for pc, whole in idle["agent_rss_mib"].items())
    # The second PC downloaded the folder; the file saved through hoso reached the share
    # within the probe's timeout.
    assert run["first_pass_seconds"]["gv01-pc2"] > 0
    probes = {p["what"]: p for p in run["probes"]}
    assert probes["hoso change → share"]["seconds"] is not None
    assert set(probes) == {"hoso change → share", "hoso change → 2nd PC",
                           "manager's file → owner's folder",
                           "manager's file, this week → owner's folder"}
    # Everything it started is gone: the agents (stopped by SIGTERM, exit 0) and the server.
    assert set(run["exit_codes"].values()) == {0}
    assert not [pid for pid in run["pids"] if Path(f"/proc/{pid}").exists()]
    # Nor any worker process of theirs (one that just exited may linger a moment as a zombie,
    # with no memory, until init reaps it).
    left = school.sessions_usage(run["pids"])
    assert all(usage.rss_bytes == 0 for usage in left.values())
    assert not [d for d in run["dirs"] if Path(d).exists()]
