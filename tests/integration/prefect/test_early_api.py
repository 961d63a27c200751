"""The early API server (flows.early_api) is the one Prefect uses, and it is stopped at exit.

Runs in a fresh interpreter, as `python -m flows.daily` does: the server is launched before Prefect is
imported, adopted (its URL given to Prefect), and a flow then runs against it; no second server is
started. The process ends as `python -m flows.daily` ends (flows.quick_exit): the logs Prefect still
holds reach the server before it stops.
"""

from __future__ import annotations

import json
import os
import sqlite3
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
import psutil
from flows.early_api import start_api_early, adopt
early = start_api_early()
launched_pid = early.process.pid
from prefect import flow, get_client
adopted = adopt(early)

@flow(name="early-api-probe")
def probe() -> str:
    from prefect.runtime import flow_run
    return str(flow_run.id)

run_id = probe()
with get_client(sync_client=True) as client:
    state = client.read_flow_run(run_id).state.type.value
    api_url = str(client.api_url)
servers = [child.pid for child in psutil.Process().children(recursive=True) if "uvicorn" in child.cmdline()]
print(json.dumps({"launched_pid": launched_pid, "adopted": adopted is not None, "early_url": early.api_url,
                  "api_url": api_url, "server_pids": servers, "state": state,
                  "prefect_server_imported": "prefect.server.api.server" in sys.modules}))
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
    assert result["server_pids"] == [result["launched_pid"]]  # Prefect started no server of its own
    assert result["prefect_server_imported"] is False  # nor imported the server application (2 s of CPU)
    assert result["state"] == "COMPLETED"
    deadline = time.monotonic() + 10
    while psutil.pid_exists(result["launched_pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = psutil.pid_exists(result["launched_pid"]) and psutil.Process(result["launched_pid"]).status() != "zombie"
    assert not alive, "the early API server outlived its process"


LAST_WORDS = "the last log line of the early-api exit probe"
EXIT_SCRIPT = f"""
import os
from pathlib import Path
from flows.early_api import start_api_early, adopt
early = start_api_early()
from prefect import flow, get_run_logger
adopt(early, Path(os.environ["RUN_LOG"]))

@flow(name="early-api-exit-probe")
def probe() -> None:
    get_run_logger().info("{LAST_WORDS}")

probe()
from flows.quick_exit import exit_now
exit_now(0)
"""


def test_at_exit_the_server_gets_the_last_logs_and_its_own_output_goes_to_the_run_log(tmp_path: Path) -> None:
    """How `python -m flows.daily` ends (flows.quick_exit): Prefect's log worker drains, then the server stops.

    Logs are batched (every 2 s by default); here the interval is an hour, so every log of the run is
    still queued at exit. The other order sent them to a stopped server: lost, and `--- Error logging
    to API ---` / `All connection attempts failed` on the user's stderr after the run's last message.
    The server's own output (INFO here, so that there is some) goes to the run's log, not to stderr.
    """
    home = tmp_path / "prefect-home"  # its own API database, read below once the server has stopped
    run_log = tmp_path / "run.log"
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update({"PYTHONPATH": str(ROOT), "PREFECT_HOME": str(home), "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "3600",
                "PREFECT_SERVER_LOGGING_LEVEL": "INFO", "RUN_LOG": str(run_log)})
    env.pop("WEBTRAIL_EARLY_API", None)
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Error logging to API" not in done.stderr and "connection attempts failed" not in done.stderr, done.stderr
    with sqlite3.connect(home / "prefect.db") as database:
        messages = [row[0] for row in database.execute("SELECT message FROM log")]
    assert LAST_WORDS in messages, messages
    assert any(message.startswith("Finished in state Completed") for message in messages), messages
    server_lines = run_log.read_text()
    assert "prefect.server.services" in server_lines, server_lines[-3000:]
    assert "prefect.server" not in done.stderr, done.stderr[-3000:]
