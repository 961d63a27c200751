"""The daily flow on a Spark standalone cluster gives the same tables as on `local[*]`.

A master and one worker are started from the pyspark distribution (bin/spark-class) on 127.0.0.1 with
free ports; `python -m flows.daily` then runs the bundled sample day twice, in fresh processes and data
directories, once with WEBTRAIL_SPARK__MASTER=spark://127.0.0.1:PORT and once on the default
`local[*]`. Every output table loaded into PostgreSQL must have the same checksum
(warehouse.query.table_checksum), and the cluster run must really have run its jobs on the cluster
(the master lists the application; the flow logs its master). The worker runs on the same machine, so
it reads the staging Parquet and writes the outputs at the driver's paths.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT = 180
RUN_TIMEOUT = 3600  # a sample day takes 1-2 min on a quiet 2-core machine; far longer when it is shared


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM to the process group (the worker's executors included), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Cluster:
    master_url: str
    webui_url: str

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=10) as response:
            return json.loads(response.read())


def _wait_for(check: Any, what: str, processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                pytest.fail(f"{what}: a Spark daemon exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(1)
    pytest.fail(f"{what} within {START_TIMEOUT} s; logs: {', '.join(map(str, logs))}")


@pytest.fixture(scope="module")
def standalone_cluster(service_tmp_dir: Path) -> Iterator[Cluster]:
    """A Spark standalone master and one worker (2 cores, 2 GiB) on 127.0.0.1."""
    spark_class = _spark_home() / "bin" / "spark-class"
    master_port, master_ui, worker_port, worker_ui = (_free_port() for _ in range(4))
    env = {
        **os.environ, "SPARK_HOME": str(_spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
        # the executors' Python workers: this interpreter, with this checkout's packages first
        "PYSPARK_PYTHON": sys.executable, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                                       os.environ.get("PYTHONPATH")])),
    }
    cluster_dir = service_tmp_dir / "spark-standalone"
    (cluster_dir / "work").mkdir(parents=True)
    commands = {
        "master": [str(spark_class), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                   "--port", str(master_port), "--webui-port", str(master_ui)],
        "worker": [str(spark_class), "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{master_port}",
                   "--host", "127.0.0.1", "--port", str(worker_port), "--webui-port", str(worker_ui),
                   "--cores", "2", "--memory", "2g", "--work-dir", str(cluster_dir / "work")],
    }
    cluster = Cluster(f"spark://127.0.0.1:{master_port}", f"http://127.0.0.1:{master_ui}")
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []
    try:
        for name, command in commands.items():
            log = cluster_dir / f"{name}.log"
            with log.open("wb") as out:
                processes.append(subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL, start_new_session=True))
            logs.append(log)
            if name == "master":
                _wait_for(lambda: cluster.state().get("status") == "ALIVE", "the master did not start",
                          processes, logs)
        _wait_for(lambda: any(w.get("state") == "ALIVE" for w in cluster.state().get("workers", [])),
                  "the worker did not register", processes, logs)
        yield cluster
    finally:
        for process in reversed(processes):
            _stop(process)


def _start_sample_day(data_dir: Path, master: str | None) -> subprocess.Popen[bytes]:
    """`python -m flows.daily --json` on the sample day, in a fresh data directory."""
    data_dir.mkdir(parents=True)
    env = {**os.environ, "WEBTRAIL_DATA_DIR": str(data_dir), "SPARK_LOCAL_IP": "127.0.0.1",
           "PYSPARK_PYTHON": sys.executable}
    env.pop("WEBTRAIL_SPARK__MASTER", None)
    if master:
        env["WEBTRAIL_SPARK__MASTER"] = master
    # Output to files, not pipes: the two runs go on at once and neither must block on a full pipe.
    with (data_dir / "stdout.json").open("wb") as stdout, (data_dir / "stderr.log").open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "flows.daily", "--json"], cwd=REPO, env=env,
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, start_new_session=True)


def _finish_sample_day(run: subprocess.Popen[bytes], data_dir: Path) -> tuple[dict[str, str], dict[str, Any], str]:
    """Wait for the run: the checksum of each output table, its JSON summary and its log."""
    from config.layout import OUTPUT_TABLES
    from config.plan import sample_manifest
    from config.settings import WebtrailSettings
    from warehouse.connect import connection
    from warehouse.embedded import database_url, stop_embedded
    from warehouse.query import table_checksum

    settings = WebtrailSettings(data_dir=data_dir)
    try:
        run.wait(timeout=RUN_TIMEOUT)
        stdout, stderr = ((data_dir / name).read_text(errors="replace") for name in ("stdout.json", "stderr.log"))
        assert run.returncode == 0, f"flows.daily in {data_dir} exited {run.returncode}:\n{stderr[-4000:]}"
        day = date.fromisoformat(sample_manifest()["date"])
        with connection(database_url(settings)) as conn:
            sums = {table: table_checksum(conn, table, day) for table in OUTPUT_TABLES}
    finally:
        _stop(run)
        stop_embedded(settings.postgres_dir)
    return sums, json.loads(stdout.strip().splitlines()[-1]), stderr


def test_daily_flow_on_a_standalone_cluster_matches_local(standalone_cluster: Cluster, service_tmp_dir: Path) -> None:
    from config.layout import OUTPUT_TABLES

    master = standalone_cluster.master_url
    # Both runs at once: their Prefect and JVM start-ups overlap (the test's cost in CI).
    cluster_run = _start_sample_day(service_tmp_dir / "on-cluster", master)
    local_run = _start_sample_day(service_tmp_dir / "local", None)
    on_cluster, cluster_summary, cluster_log = _finish_sample_day(cluster_run, service_tmp_dir / "on-cluster")
    local, local_summary, local_log = _finish_sample_day(local_run, service_tmp_dir / "local")

    assert f"on {master}" in cluster_log  # tasks/analytics.py logs the session's master
    assert "on local[*]" in local_log
    state = standalone_cluster.state()
    apps = state.get("activeapps", []) + state.get("completedapps", [])
    assert [app["name"] for app in apps] == ["webtrail"]  # the cluster run's application, and only it
    assert cluster_summary["timings"]["spark"]["jobs"] > 0
    assert set(on_cluster) == set(OUTPUT_TABLES)
    assert all(cluster_summary["table_rows"][table] > 0 for table in ("sessions", "security_findings", "page_daily"))
    assert cluster_summary["table_rows"] == local_summary["table_rows"]
    assert {table: on_cluster[table] for table in OUTPUT_TABLES if on_cluster[table] != local[table]} == {}
