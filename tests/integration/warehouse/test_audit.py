"""Run audit rows and the ingest manifest (day_already_loaded)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.audit import RunRecord, day_already_loaded, finish_run, record_inputs, record_quality, start_run
from warehouse.connect import connect
from warehouse.loader import Manifest, replace_day

pytestmark = pytest.mark.integration

DAY = date(2024, 7, 4)


def fetch(conn: psycopg2.extensions.connection, query: str, *args: object) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def test_run_lifecycle(db_url: str, conn: psycopg2.extensions.connection) -> None:
    run_id = str(uuid.uuid4())
    start_run(conn, run_id, DAY, "flow-run-1")
    other = connect(db_url)  # committed at once: visible to another session
    assert fetch(other, "SELECT status FROM webtrail.pipeline_runs WHERE run_id = %s", run_id) == [
        ("running",)
    ]
    record_inputs(
        conn,
        run_id,
        DAY,
        [
            {
                "kind": "access_log",
                "path": "/logs/a'b.log",
                "size_bytes": 10,
                "sha256": "aa",
                "lines_read": 5,
                "lines_parsed": 4,
                "lines_rejected": 1,
            },
            {
                "kind": "events",
                "path": "/logs/e.jsonl",
                "size_bytes": 3,
                "sha256": "bb",
                "lines_read": 2,
                "lines_parsed": 2,
                "lines_rejected": 0,
            },
        ],
    )
    record_inputs(
        conn,
        run_id,
        DAY,
        [  # upsert by (run, path)
            {
                "kind": "access_log",
                "path": "/logs/a'b.log",
                "size_bytes": 11,
                "sha256": "ac",
                "lines_read": 6,
                "lines_parsed": 4,
                "lines_rejected": 2,
            },
        ],
    )
    assert fetch(
        other,
        "SELECT path, sha256, lines_rejected FROM webtrail.run_inputs WHERE run_id = %s ORDER BY 1",
        run_id,
    ) == [("/logs/a'b.log", "ac", 2), ("/logs/e.jsonl", "bb", 0)]
    record_quality(
        conn,
        run_id,
        DAY,
        [
            {
                "dataset": "requests",
                "check_name": "No missing values",
                "check_type": "missing",
                "column_name": "client_ip",
                "outcome": "PASSED",
                "metric_values": {"missing_count": 0},
            },
            {
                "dataset": "requests",
                "check_name": "No missing values",
                "check_type": "missing",
                "column_name": "status",
                "outcome": "FAILED",
                "metric_values": {"missing_count": 3},
            },
            {
                "dataset": "requests",
                "check_name": "row_count",
                "check_type": "row_count",
                "level": "warn",
                "outcome": "PASSED",
            },
        ],
    )
    assert len(fetch(other, "SELECT 1 FROM webtrail.quality_results WHERE run_id = %s", run_id)) == 3
    finish_run(
        conn,
        run_id,
        RunRecord(
            "failed",
            counts={"lines_read": 8, "lines_parsed": 6, "lines_rejected": 2},
            stage_timings={"parse": 1.5, "load": 0.25},
            error="load failed: postgresql://loader:hunter2@db.internal/webtrail refused\x00",
        ),
    )
    row = fetch(
        other,
        "SELECT status, lines_read, stage_timings, error, finished_at IS NOT NULL"
        " FROM webtrail.pipeline_runs WHERE run_id = %s",
        run_id,
    )[0]
    assert row[:3] == ("failed", 8, {"parse": 1.5, "load": 0.25})
    assert "hunter2" not in row[3] and "loader:***@" in row[3]
    assert row[4] is True
    with pytest.raises(ValueError, match="status must be"):
        RunRecord("done")
    with pytest.raises(ValueError, match="unknown pipeline_runs counts"):
        RunRecord("failed", counts={"lines_written": 1})
    other.close()


def _load(conn: psycopg2.extensions.connection, tmp_path: Path, run_id: str, shas: set[str]) -> None:
    path = tmp_path / f"{run_id}.parquet"
    pq.write_table(pa.table({"status": pa.array([200], pa.int32()), "requests": [1], "bytes": [1]}), path)
    replace_day(conn, DAY, {"status_daily": path}, manifest=Manifest(run_id, frozenset(shas)))


def test_day_already_loaded(conn: psycopg2.extensions.connection, tmp_path: Path) -> None:
    first = str(uuid.uuid4())
    assert not day_already_loaded(conn, DAY, {"a", "b"})
    start_run(conn, first, DAY, None)
    _load(conn, tmp_path, first, {"a", "b"})
    assert not day_already_loaded(conn, DAY, {"a", "b"})  # loaded, but the run has not completed
    finish_run(conn, first, RunRecord("completed"))
    assert day_already_loaded(conn, DAY, {"b", "a"})
    assert not day_already_loaded(conn, DAY, {"a"})
    assert not day_already_loaded(conn, DAY, {"a", "b", "c"})
    assert not day_already_loaded(conn, DAY, set())
    # A later run loads other inputs and then fails: the day no longer holds {a, b}, nor a completed {c}.
    second = str(uuid.uuid4())
    start_run(conn, second, DAY, None)
    _load(conn, tmp_path, second, {"c"})
    finish_run(conn, second, RunRecord("failed", error="quality"))
    assert not day_already_loaded(conn, DAY, {"a", "b"})
    assert not day_already_loaded(conn, DAY, {"c"})
    # Re-running with {a, b} to completion makes it loaded again.
    third = str(uuid.uuid4())
    start_run(conn, third, DAY, None)
    _load(conn, tmp_path, third, {"a", "b"})
    finish_run(conn, third, RunRecord("completed"))
    assert day_already_loaded(conn, DAY, {"a", "b"})
    assert conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
