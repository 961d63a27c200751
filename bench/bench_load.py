"""Loader throughput: Parquet -> streamed CSV -> COPY vs a plain COPY FROM of an equivalent CSV file.

    python bench/bench_load.py [--rows 1000000] [--repeat 3]

Uses WEBTRAIL_DATABASE_URL when set, else a throw-away embedded PostgreSQL in a temp directory.
Both paths load the same rows into ``webtrail.ip_daily`` (text, ints, timestamptz, boolean) inside a
transaction that is rolled back; reported: median rows/s of ``--repeat`` runs, same process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from warehouse.connect import connect  # noqa: E402
from warehouse.embedded import embedded_url, stop_embedded  # noqa: E402
from warehouse.loader import copy_parquet  # noqa: E402
from warehouse.migrate import migrate  # noqa: E402

DAY = date(2024, 1, 1)


def make_table(rows: int) -> pa.Table:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    idx = pa.array(range(rows), pa.int64())
    ips = [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(rows)]
    return pa.table(
        {
            "day": pa.array([DAY] * rows, pa.date32()),
            "client_ip": ips,
            "requests": idx,
            "bytes": idx,
            "status_4xx": idx,
            "status_5xx": idx,
            "distinct_paths": pa.array([i % 1000 for i in range(rows)], pa.int32()),
            "distinct_user_agents": pa.array([i % 7 for i in range(rows)], pa.int32()),
            "first_seen_at": pa.array(
                [base + timedelta(seconds=i % 86_400) for i in range(rows)], pa.timestamp("us", "UTC")
            ),
            "last_seen_at": pa.array(
                [base + timedelta(seconds=i % 86_400) for i in range(rows)], pa.timestamp("us", "UTC")
            ),
            "is_flagged": [i % 13 == 0 for i in range(rows)],
        }
    )


def timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wt-bench-"))
    url = os.environ.get("WEBTRAIL_DATABASE_URL") or embedded_url(tmp / "postgres")
    try:
        conn = connect(url)
        migrate(conn)
        table = make_table(args.rows)
        parquet = tmp / "ip_daily.parquet"
        pq.write_table(table, parquet)
        csv_path = tmp / "ip_daily.csv"
        pa_csv.write_csv(table, csv_path, pa_csv.WriteOptions(include_header=False))
        columns = ", ".join(table.column_names)

        def loader() -> None:
            with conn.cursor() as cur:
                assert copy_parquet(cur, "ip_daily", parquet, day=DAY) == args.rows
            conn.rollback()

        def plain() -> None:
            with conn.cursor() as cur, open(csv_path, "rb") as fh:
                cur.copy_expert(
                    f"COPY webtrail.ip_daily ({columns}) FROM STDIN WITH (FORMAT csv)", fh, size=1 << 20
                )
            conn.rollback()

        results = {}
        for name, fn in (("loader (Parquet, streamed)", loader), ("plain COPY (CSV file)", plain)):
            times = [timed(fn) for _ in range(args.repeat)]
            results[name] = statistics.median(times)
        print(f"rows={args.rows} repeat={args.repeat} (median)")
        for name, seconds in results.items():
            print(f"  {name:28s} {seconds:7.2f} s  {args.rows / seconds:12,.0f} rows/s")
        conn.close()
    finally:
        if not os.environ.get("WEBTRAIL_DATABASE_URL"):
            stop_embedded(tmp / "postgres")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
