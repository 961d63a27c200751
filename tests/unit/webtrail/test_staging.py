"""IP clustering of a staged day and retention of the staging partitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from config.layout import DayLayout
from config.settings import StagingSettings
from parsers.schema import REQUESTS_SCHEMA
from webtrail.staging import cluster_requests, prune_staging, staged_days

DAY = date(2026, 11, 24)


def _rows(count: int) -> list[dict]:
    start = datetime(2026, 11, 24, tzinfo=UTC)
    return [
        {
            "source_file": "access.log", "line_number": n, "client_ip": f"192.0.2.{n % 50}", "remote_user": None,
            "requested_at": start + timedelta(seconds=n), "method": "GET", "path": f"/p/{n}", "query": None,
            "protocol": "HTTP/1.1", "request": f"GET /p/{n} HTTP/1.1", "status": 200, "bytes": n,
            "referer": None, "user_agent": "curl/8", "request_time_ms": 1.0, "vhost": None,
            "has_invalid_utf8": False,
        }
        for n in range(count)
    ]


def test_clustering_sorts_by_ip_keeps_every_row_and_writes_statistics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("webtrail.staging.READ_BATCH_ROWS", 1000)  # row groups span several fetched batches
    path = tmp_path / "staging" / "day=2026-11-24" / "requests.parquet"  # a hive-style directory name
    path.parent.mkdir(parents=True)
    original = pl.DataFrame(_rows(10_000), schema=REQUESTS_SCHEMA)
    original.write_parquet(path)
    schema = pq.ParquetFile(path).schema  # the Parquet schema: physical and logical types, nullability
    result = cluster_requests(path, StagingSettings(row_group_rows=2500))
    assert pq.ParquetFile(path).schema.equals(schema), "the same Parquet columns, types and nullability"
    assert pl.scan_parquet(path).collect_schema() == original.schema, "polars reads the same schema"
    clustered = pl.read_parquet(path)
    assert result.rows == 10_000 and clustered.height == 10_000
    assert clustered.columns == original.columns
    assert clustered.sort("line_number").equals(original.sort("line_number"))
    keys = list(zip(clustered["client_ip"], clustered["requested_at"], strict=True))
    assert keys == sorted(keys), "sorted by client_ip, then time"
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == result.row_groups == 4
    ip_col = meta.schema.names.index("client_ip")
    ranges = [(meta.row_group(i).column(ip_col).statistics.min, meta.row_group(i).column(ip_col).statistics.max)
              for i in range(meta.num_row_groups)]
    # 200 rows per IP: any one IP lies in at most two row groups by their min/max statistics.
    holding = [i for i, (low, high) in enumerate(ranges) if low <= "192.0.2.17" <= high]
    assert 1 <= len(holding) <= 2
    assert [meta.row_group(i).num_rows for i in range(4)] == [2500] * 4
    assert not list(path.parent.glob("*.tmp")) and not (path.parent / ".sort-spill").exists()


def _make_days(data_dir: Path, days: list[date]) -> None:
    for day in days:
        layout = DayLayout(data_dir, day)
        layout.staging.mkdir(parents=True)
        layout.requests.write_bytes(b"x")


def test_retention_keeps_the_newest_days_and_the_running_day(tmp_path: Path) -> None:
    days = [DAY - timedelta(days=n) for n in range(40)]
    _make_days(tmp_path, days)
    (tmp_path / "staging" / "day=not-a-date").mkdir()
    removed = prune_staging(tmp_path, 30, keep=DAY - timedelta(days=35))
    assert len(removed) == 9 and DAY - timedelta(days=35) not in removed
    assert staged_days(tmp_path)[0] == DAY - timedelta(days=35)
    kept = staged_days(tmp_path)
    assert len(kept) == 31 and kept[1] == DAY - timedelta(days=29) and kept[-1] == DAY
    assert (tmp_path / "staging" / "day=not-a-date").exists()


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    _make_days(tmp_path, [DAY - timedelta(days=n) for n in range(5)])
    assert prune_staging(tmp_path, 0) == []
    assert len(staged_days(tmp_path)) == 5
    assert prune_staging(tmp_path / "nothing", 30) == []
