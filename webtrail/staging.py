"""The staged raw requests on disk: day partitions, their IP-clustered layout, and retention.

Each day lives in ``<data dir>/staging/day=D/`` (config/layout.py). With
``WEBTRAIL_STAGING__CLUSTER_BY_IP`` (off by default: the sort costs more than the parse, and a scan
of one unsorted day's ``client_ip`` is already fast), after parsing, the day's
``requests.parquet`` is rewritten sorted by ``client_ip`` then ``requested_at`` in row groups of
``WEBTRAIL_STAGING__ROW_GROUP_ROWS`` rows, with min/max statistics: an investigation of one IP then
reads the one or two row groups whose ``client_ip`` range holds it and skips the rest of the file.
The sort runs in DuckDB, which spills to disk beyond ``WEBTRAIL_STAGING__SORT_MEMORY``, so a 10M-line
day is sorted in bounded memory. No Prefect here.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from config.layout import DayLayout
from config.settings import StagingSettings

log = logging.getLogger(__name__)

PARTITION_PREFIX = "day="
READ_BATCH_ROWS = 65_536  # rows fetched from the sort at a time


def staged_days(data_dir: Path) -> list[date]:
    """Every day that has a staging partition, oldest first (malformed directory names ignored)."""
    root = Path(data_dir) / "staging"
    days = []
    for entry in root.glob(f"{PARTITION_PREFIX}*") if root.is_dir() else []:
        try:
            days.append(date.fromisoformat(entry.name[len(PARTITION_PREFIX):]))
        except ValueError:
            continue
    return sorted(days)


@dataclass(frozen=True)
class ClusterResult:
    """What clustering one day's file did."""

    rows: int
    row_groups: int
    bytes_before: int
    bytes_after: int


def cluster_requests(path: Path, settings: StagingSettings, threads: int | None = None) -> ClusterResult:
    """Rewrite ``path`` sorted by client_ip, requested_at, with statistics; atomic (temp file + rename).

    The columns and their types are kept as they are (any schema), so a column added to the staging
    contract needs no change here.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    before = path.stat().st_size
    tmp = path.with_name(path.name + ".clustered.tmp")
    spill = path.parent / ".sort-spill"
    config = {"memory_limit": settings.sort_memory, "temp_directory": str(spill), "preserve_insertion_order": False}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    # The file keeps its columns, nullability and metadata: DuckDB only sorts, and pyarrow writes the
    # sorted batches in row groups of `rows` with their statistics. Strings stay 32-bit offset
    # `string` as DuckDB returns them (the same Parquet type for every reader): widening them back to
    # polars' `large_string` would copy every string and cost a third of the time at 10M rows.
    schema = _narrow(pq.read_schema(path))
    rows = int(settings.row_group_rows)
    try:
        sorted_rows = con.sql(
            "SELECT * FROM read_parquet(?, hive_partitioning = false) ORDER BY client_ip, requested_at",
            params=[str(path)],
        )
        with pq.ParquetWriter(tmp, schema, compression="zstd", compression_level=1) as writer:
            pending: list[Any] = []
            buffered = 0
            for batch in sorted_rows.to_arrow_reader(READ_BATCH_ROWS):
                pending.extend(pa.Table.from_batches([batch]).cast(schema).to_batches())
                buffered += batch.num_rows
                if buffered >= rows:
                    buffered = _flush(writer, pending, schema, rows)
            _flush(writer, pending, schema, rows, final=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    os.replace(tmp, path)
    meta = pq.ParquetFile(path).metadata
    return ClusterResult(meta.num_rows, meta.num_row_groups, before, path.stat().st_size)


def _narrow(schema: Any) -> Any:
    """The schema with large_string / large_binary as string / binary (same Parquet types)."""
    import pyarrow as pa

    narrow = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}
    return pa.schema([f.with_type(narrow.get(f.type, f.type)) for f in schema], metadata=schema.metadata)


def _flush(writer: Any, pending: list[Any], schema: Any, rows: int, final: bool = False) -> int:
    """Write whole row groups of ``rows`` from the pending batches (all of them when ``final``); rows left."""
    import pyarrow as pa

    table = pa.Table.from_batches(pending, schema=schema) if pending else None
    pending.clear()
    if table is None:
        return 0
    whole = table.num_rows if final else table.num_rows // rows * rows
    if whole:
        writer.write_table(table.slice(0, whole), row_group_size=rows)
    rest = table.slice(whole)
    if rest.num_rows:
        pending.extend(rest.to_batches())
    return rest.num_rows


def prune_staging(data_dir: Path, retention_days: int, keep: date | None = None) -> list[date]:
    """Delete the staging partitions older than the newest ``retention_days`` days; the days removed.

    The window counts calendar days back from the newest staged day (not from the clock), so a
    backfill of old days or a paused pipeline never loses the days it still needs. ``keep`` (the day
    a run is processing) is never removed. ``retention_days`` 0 keeps everything.
    """
    days = staged_days(data_dir)
    if retention_days <= 0 or not days:
        return []
    newest = days[-1].toordinal()
    removed = []
    for day in days:
        if newest - day.toordinal() >= retention_days and day != keep:
            shutil.rmtree(DayLayout(Path(data_dir), day).staging)
            removed.append(day)
    if removed:
        log.info("retention: removed staging of %d day(s), %s to %s", len(removed), removed[0], removed[-1])
    return removed


def disk_usage(data_dir: Path, day: date) -> int:
    """Bytes the day's staging partition takes on disk."""
    root = DayLayout(Path(data_dir), day).staging
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.is_dir() else 0
