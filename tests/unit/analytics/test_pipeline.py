"""build_tables / write_tables on tiny staging Parquet files (empty events and users files)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from analytics.contracts import OUTPUT_SCHEMAS
from analytics.pipeline import build_tables, write_tables
from config.layout import OUTPUT_TABLES, DayLayout
from config.settings import WebtrailSettings
from parsers.parquet_sink import ParquetSink
from parsers.schema import (
    EVENTS_SCHEMA,
    PARSED_REQUESTS_SCHEMA,
    REQUESTS_SCHEMA,
    USER_AGENTS_SCHEMA,
    USERS_SCHEMA,
    empty_frame,
)
from parsers.value_keys import ValueKeyEncoder, dictionary_sinks

UA = "Mozilla/5.0 Firefox/126.0"


def write_staging(layout: DayLayout) -> None:
    layout.staging.mkdir(parents=True)
    times = [
        datetime(2026, 4, 30, 23, 50, tzinfo=UTC),
        datetime(2026, 5, 1, 0, 5, tzinfo=UTC),
        datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 5, 1, 9, 1, tzinfo=UTC),
    ]
    ips = ["1.1.1.1", "1.1.1.1", "2.2.2.2", "3.3.3.3"]
    paths = ["/", "/product/1", "/product/2", "/.env"]
    row_count = len(times)
    requests = pl.DataFrame(
        {
            "source_file": ["a.log"] * row_count,
            "line_number": list(range(1, row_count + 1)),
            "client_ip": ips,
            "remote_user": [None] * row_count,
            "requested_at": times,
            "method": ["GET"] * row_count,
            "path": paths,
            "query": [None] * row_count,
            "protocol": ["HTTP/1.1"] * row_count,
            "request": [f"GET {p} HTTP/1.1" for p in paths],
            "request_kind": ["http"] * len(paths),
            "status": [200, 200, 200, 404],
            "bytes": [10, 20, 30, 40],
            "referer": [None] * row_count,
            "user_agent": [UA] * row_count,
            "request_time_ms": [1.0, 2.0, 3.0, None],
            "vhost": [None] * row_count,
            "has_invalid_utf8": [False] * row_count,
        },
        schema=PARSED_REQUESTS_SCHEMA,
    )
    # keyed as the parser keys them: the key columns and the dictionaries Spark reads
    encoder = ValueKeyEncoder()
    with ParquetSink(layout.requests, REQUESTS_SCHEMA) as sink:
        sink.write(encoder.encode(requests))
    with dictionary_sinks(layout.staging) as sinks:
        encoder.write(sinks)
    empty_frame(EVENTS_SCHEMA).write_parquet(layout.events)
    empty_frame(USERS_SCHEMA).write_parquet(layout.users)
    pl.DataFrame(
        {
            "user_agent": [UA],
            "browser_family": ["Firefox"],
            "browser_version": ["126"],
            "os_family": ["Other"],
            "os_version": [None],
            "device_type": ["desktop"],
            "is_bot": [False],
        },
        schema=USER_AGENTS_SCHEMA,
    ).write_parquet(layout.user_agents)


def _is_kept(spark: Any, df: Any) -> bool:
    """A persisted frame, or a local checkpoint whose blocks are still held."""
    plan = df._jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() != "LogicalRDD":
        return df.storageLevel.useMemory or df.storageLevel.useDisk
    return spark.sparkContext._jsc.sc().getPersistentRDDs().contains(plan.rdd().id())


def _bytes_held(spark: Any, df: Any) -> tuple[int, int]:
    """(memory, disk) bytes of the blocks of a local checkpoint."""
    rdd_id = df._jdf.queryExecution().analyzed().rdd().id()
    infos = [info for info in spark.sparkContext._jsc.sc().getRDDStorageInfo() if info.id() == rdd_id]
    return (infos[0].memSize(), infos[0].diskSize()) if infos else (0, 0)


def test_build_and_write_tables(spark: Any, tmp_path: Path) -> None:
    layout = DayLayout(tmp_path, date(2026, 5, 1))
    write_staging(layout)
    tables = build_tables(spark, layout, WebtrailSettings(data_dir=tmp_path))
    assert list(tables) == list(OUTPUT_TABLES)
    for name, df in tables.items():
        assert df.schema.fieldNames() == OUTPUT_SCHEMAS[name].fieldNames(), name
    kept = list(tables.kept)
    assert kept and all(_is_kept(spark, df) for df in kept)
    # the per-request frame is held on local disk, none of it in the heap
    assert tables.analysis is not None and any(df is tables.analysis.frame for df in kept)
    memory_bytes, disk_bytes = _bytes_held(spark, tables.analysis.frame)
    assert memory_bytes == 0 and disk_bytes > 0
    paths = write_tables(tables, layout)
    assert not tables.kept and not any(_is_kept(spark, df) for df in kept)  # released after writing
    back = {name: spark.read.parquet(str(p)) for name, p in paths.items()}
    # the 23:50 request of 04-30 is overlap: its session (continued at 00:05) belongs to 04-30
    sessions = back["sessions"].collect()
    assert sorted((s.client_ip, s.requests) for s in sessions) == [("2.2.2.2", 1), ("3.3.3.3", 1)]
    assert {s.day for s in sessions} == {date(2026, 5, 1)}
    assert back["traffic_minute"].count() == 3 and back["status_daily"].count() == 2
    found = back["security_findings"].collect()
    assert [(f.client_ip, f.category) for f in found] == [("3.3.3.3", "sensitive_file")]
    assert [s.is_bot for s in sessions if s.client_ip == "3.3.3.3"] == [True]
    assert back["funnel_daily"].count() == 0 and back["user_daily"].count() == 0
