"""A day replace is atomic under a killed loader and serialized between concurrent loaders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.connect import connect
from warehouse.loader import DAY_LOCK_NAMESPACE, replace_day
from warehouse.query import count_rows, table_checksum

pytestmark = pytest.mark.integration

DAY = date(2024, 5, 1)
REPO_ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from pathlib import Path
    from warehouse import csvstream, loader
    from warehouse.connect import connect

    url, parquet, marker = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

    class SlowStream(csvstream.CsvStream):
        def read(self, size=-1):
            data = super().read(size)
            if self.rows >= 300:  # some rows are already sent: signal the parent, then stall
                marker.write_text("streaming")
                time.sleep(120)
            return data

    csvstream.CsvStream = SlowStream
    loader.replace_day(connect(url), date(2024, 5, 1), {"status_daily": parquet}, batch_rows=100)
    """
)


def status_table(row_count: int, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "status": pa.array(range(offset, offset + row_count), pa.int32()),
            "requests": pa.array([7] * row_count, pa.int64()),
            "bytes": pa.array([offset] * row_count, pa.int64()),
        }
    )


def write(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def test_killed_loader_leaves_previous_day_intact(db_url: str, tmp_path: Path) -> None:
    conn = connect(db_url)
    replace_day(conn, DAY, {"status_daily": write(status_table(50), tmp_path / "old.parquet")})
    before = table_checksum(conn, "status_daily", DAY)
    new = write(status_table(5_000, offset=1_000), tmp_path / "new.parquet")
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url, str(new), str(marker)], cwd=REPO_ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "loader child exited before streaming"
            assert time.monotonic() < deadline, "loader child never started streaming"
            time.sleep(0.05)
        # The child's COPY is in progress (old rows already deleted inside its transaction).
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert table_checksum(conn, "status_daily", DAY) == before
    assert count_rows(conn, "status_daily", DAY) == 50
    # The next run gets the day lock (the dead session's transaction is gone) and succeeds.
    replace_day(conn, DAY, {"status_daily": new})
    assert count_rows(conn, "status_daily", DAY) == 5_000
    conn.close()


def _advisory_waiters(conn: psycopg2.extensions.connection) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = %s",
            (DAY_LOCK_NAMESPACE,),
        )
        (waiters,) = cur.fetchone()
    conn.rollback()
    return int(waiters)


def test_concurrent_loads_of_one_day_serialize(db_url: str, tmp_path: Path) -> None:
    day = date(2024, 6, 1)
    path = write(status_table(2_000), tmp_path / "day.parquet")
    holder = connect(db_url)
    observer = connect(db_url)
    # Hold the day's lock as a running loader would, then start two loaders: both must wait.
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (DAY_LOCK_NAMESPACE, day.toordinal()))
    errors: list[BaseException] = []

    def load() -> None:
        loader_conn = connect(db_url)
        try:
            replace_day(loader_conn, day, {"status_daily": path}, batch_rows=256)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            loader_conn.close()

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while _advisory_waiters(observer) < 2:
        assert time.monotonic() < deadline, "loaders did not wait for the day lock"
        time.sleep(0.05)
    assert count_rows(observer, "status_daily", day) == 0  # nothing loaded while the lock is held
    holder.rollback()  # release
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert count_rows(observer, "status_daily", day) == 2_000  # no duplicates, no PK errors
    holder.close()
    observer.close()


def test_other_days_do_not_wait(db_url: str, tmp_path: Path) -> None:
    holder = connect(db_url)
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (DAY_LOCK_NAMESPACE, DAY.toordinal()))
    conn = connect(db_url)
    other = date(2024, 5, 2)
    replace_day(conn, other, {"status_daily": write(status_table(3), tmp_path / "o.parquet")})
    assert count_rows(conn, "status_daily", other) == 3
    holder.rollback()
    holder.close()
    conn.close()
