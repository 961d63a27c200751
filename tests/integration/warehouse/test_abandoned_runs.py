"""A run killed mid-way (SIGKILL: no `finally`, no end_run) is marked `abandoned` by the next run
that starts, with the time that was noticed; a run that is still alive is left `running`.

Each run here is a real process that began its run through the gateway and then waits, as a
daily run does between stages; one is killed with SIGKILL, one stays alive.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import psycopg2
import pytest

from warehouse.audit import RunRecord
from warehouse.gateway import RUN_LOCK_NAMESPACE, Warehouse, run_lock_key

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
DAY = date(2024, 7, 4)
# Begins a run through the gateway, says so, then waits for its stdin to close (or a signal).
RUN_PROCESS = """
import sys
from datetime import date
from warehouse.gateway import Warehouse

Warehouse(sys.argv[1]).begin_run(sys.argv[2], date(2024, 7, 4), "flow-run-" + sys.argv[2][:8])
print("running", flush=True)
sys.stdin.read()
"""


class RunProcess:
    """A child process holding a live run of its own."""

    def __init__(self, url: str) -> None:
        self.run_id = str(uuid.uuid4())
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUN_PROCESS, url, self.run_id], cwd=REPO_ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        self._wait_until_running(timeout=60)

    def _wait_until_running(self, timeout: float) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                line = self.process.stdout.readline()
                if line.strip() == "running":
                    return
                if not line:  # the child exited before starting its run
                    break
        self.stop()
        raise AssertionError(f"run process did not start: {self.process.stderr.read()[-2000:]}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL when it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture()
def processes(db_url: str) -> Iterator[list[RunProcess]]:
    started: list[RunProcess] = []
    yield started
    for process in started:
        process.stop()


def fetch(url: str, query: str, *args: object) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        rows = cur.fetchall()
    conn.close()
    return rows


def lock_held(url: str, run_id: str) -> bool:
    # Two-key advisory locks appear in pg_locks with classid = key 1, objid = key 2 (as oid), objsubid 2.
    rows = fetch(
        url,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
        " AND classid = %s::bigint::oid AND objid = (%s::bigint & 4294967295)::oid",
        RUN_LOCK_NAMESPACE, run_lock_key(run_id),
    )
    return rows[0][0] > 0


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def statuses(url: str, *run_ids: str) -> dict[str, tuple[str, bool]]:
    rows = fetch(
        url,
        "SELECT run_id::text, status, abandoned_at IS NOT NULL AND abandoned_at >= started_at"
        " FROM webtrail.pipeline_runs WHERE run_id = ANY(%s::uuid[])",
        list(run_ids),
    )
    return {run_id: (status, noticed) for run_id, status, noticed in rows}


def test_a_killed_run_is_abandoned_and_a_live_one_is_not(db_url: str, processes: list[RunProcess]) -> None:
    killed, alive = RunProcess(db_url), RunProcess(db_url)
    processes.extend([killed, alive])
    assert lock_held(db_url, killed.run_id) and lock_held(db_url, alive.run_id)
    killed.kill()
    # The server releases a dead client's session locks once it sees the connection close.
    wait_until(lambda: not lock_held(db_url, killed.run_id), 30, "the killed run's lock to be released")

    warehouse = Warehouse(db_url)
    new_run = str(uuid.uuid4())
    abandoned = warehouse.begin_run(new_run, DAY, None)
    try:
        assert abandoned == [killed.run_id]
        assert statuses(db_url, killed.run_id, alive.run_id, new_run) == {
            killed.run_id: ("abandoned", True),
            alive.run_id: ("running", False),
            new_run: ("running", False),
        }
        assert lock_held(db_url, new_run) and lock_held(db_url, alive.run_id)
    finally:
        warehouse.end_run(new_run, RunRecord("completed"))
    assert statuses(db_url, new_run) == {new_run: ("completed", False)}
    assert not lock_held(db_url, new_run), "end_run releases the run's lock"
    # The live run is still marked running after another start, and the abandoned one stays so.
    later = str(uuid.uuid4())
    assert warehouse.begin_run(later, DAY, None) == []
    warehouse.end_run(later, RunRecord("failed", error="test"))
    assert statuses(db_url, killed.run_id, alive.run_id)[alive.run_id] == ("running", False)


def test_a_run_that_ended_is_never_abandoned(db_url: str) -> None:
    warehouse = Warehouse(db_url)
    finished = str(uuid.uuid4())
    warehouse.begin_run(finished, DAY, None)
    warehouse.end_run(finished, RunRecord("completed", counts={"lines_read": 3}))
    starting = str(uuid.uuid4())
    assert finished not in warehouse.begin_run(starting, DAY, None)
    warehouse.end_run(starting, RunRecord("completed"))
    assert fetch(db_url, "SELECT status, lines_read FROM webtrail.pipeline_runs WHERE run_id = %s", finished) == [
        ("completed", 3)
    ]


def test_a_daily_run_killed_mid_way_is_abandoned_by_the_next_start(service_tmp_dir: Path) -> None:
    """`python -m flows.daily` on the sample day, SIGKILLed (with its Spark and Prefect children) once
    its run is `running`; the next run's start marks it abandoned."""
    from warehouse.embedded import embedded_url, stop_embedded

    data_dir = service_tmp_dir / f"killed-daily-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir()
    env = {**os.environ, "WEBTRAIL_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT)}
    env.pop("WEBTRAIL_DATABASE_URL", None)
    env.pop("WEBTRAIL_DATABASE_SECRET_BLOCK", None)
    daily = subprocess.Popen([sys.executable, "-m", "flows.daily", "--quiet", "--force"], cwd=REPO_ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = None
        deadline = time.monotonic() + 600
        running: list[tuple] = []
        while not running:
            assert daily.poll() is None, f"the daily run ended (exit {daily.returncode}) before it was killed"
            assert time.monotonic() < deadline, "the daily run never reached 'running'"
            if url is None and (data_dir / "postgres" / "data" / "postmaster.pid").exists():
                url = embedded_url(data_dir / "postgres")
            if url is not None:
                try:
                    running = fetch(url, "SELECT run_id::text FROM webtrail.pipeline_runs WHERE status = 'running'")
                except psycopg2.Error:
                    running = []  # not migrated yet
            time.sleep(0.5)
        killed_run = running[0][0]
        os.killpg(daily.pid, signal.SIGKILL)
        daily.wait(timeout=60)
        wait_until(lambda: not lock_held(url, killed_run), 60, "the killed daily run's lock to be released")
        warehouse = Warehouse(url)
        next_run = str(uuid.uuid4())
        assert warehouse.begin_run(next_run, DAY, None) == [killed_run]
        warehouse.end_run(next_run, RunRecord("completed"))
        assert statuses(url, killed_run) == {killed_run: ("abandoned", True)}
    finally:
        if daily.poll() is None:
            os.killpg(daily.pid, signal.SIGKILL)
            daily.wait(timeout=60)
        stop_embedded(data_dir / "postgres")
