"""The early API server (flows.early_api) is the one Prefect uses, and it is stopped at exit.

Runs in a fresh interpreter, as `python -m flows.daily` does: the server is launched before Prefect is
imported, adopted, and a flow then runs against it; no second server is started.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import json, sys
from flows.early_api import start_api_early, adopt
early = start_api_early()
launched_pid = early.process.pid
from prefect import flow, get_client
from prefect.server.api.server import SubprocessASGIServer
adopted = adopt(early)

@flow(name="early-api-probe")
def probe() -> str:
    from prefect.runtime import flow_run
    return str(flow_run.id)

run_id = probe()
with get_client(sync_client=True) as client:
    state = client.read_flow_run(run_id).state.type.value
    api_url = str(client.api_url)
print(json.dumps({"launched_pid": launched_pid, "adopted": adopted is not None, "early_url": early.api_url,
                  "api_url": api_url, "servers": len(SubprocessASGIServer._instances),
                  "server_pid": SubprocessASGIServer().server_process.pid, "state": state}))
"""


def test_the_flow_runs_on_the_early_server_and_it_stops_at_exit(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("WEBTRAIL_EARLY_API", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["adopted"] is True
    assert result["api_url"].rstrip("/") == result["early_url"]
    assert result["servers"] == 1 and result["server_pid"] == result["launched_pid"]
    assert result["state"] == "COMPLETED"
    deadline = time.monotonic() + 10
    while psutil.pid_exists(result["launched_pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = psutil.pid_exists(result["launched_pid"]) and psutil.Process(result["launched_pid"]).status() != "zombie"
    assert not alive, "the early API server outlived its process"
