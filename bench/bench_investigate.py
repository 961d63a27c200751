"""Investigation speed on a 10M-line day: webtrail's CLI and API vs a plain DuckDB scan of the same Parquet.

    python -m sample_logs.generate --lines 10000000 --date 2026-11-24 --out /tmp/day10m --seed 7
    python bench/bench_investigate.py --access-log /tmp/day10m/access.log --work /tmp/bench-inv [--repeat 5]

Parses the log once into a staging day (as the daily flow does), keeps an unclustered copy, clusters
the day by client_ip (timing both: the clustering is the daily run's extra cost), and writes six more
day partitions with the same rows shifted by whole days (so each day's time filter keeps its rows).
Then, median of ``--repeat`` runs each:

- the command line, start-up included (a fresh `python -m flows.investigate` process):
  `--sql` over one IP, `--sql` count per status, and `--ip` (the fixed investigation);
- after start-up, in one process: one IP over 1 day and over 7 days through the `requests` view
  (webtrail.sql), and the fixed investigation's Parquet scan (report.investigate, polars);
- the baseline, in the same process: plain DuckDB `read_parquet(...) WHERE client_ip = ?` over the
  same files, clustered and unclustered.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from config.layout import DayLayout  # noqa: E402
from config.settings import ParserSettings, StagingSettings  # noqa: E402
from parsers.access_log import parse_access_logs  # noqa: E402
from webtrail.sql import SqlWorkspace  # noqa: E402
from webtrail.staging import cluster_requests  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DAY = date(2026, 11, 24)


def median_seconds(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def shift_days(source: Path, target: Path, offset: int) -> None:
    """A copy of a staged day with requested_at moved by ``offset`` days (same schema and row groups)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(source)
    tmp = target.with_suffix(".tmp")
    column = reader.schema_arrow.get_field_index("requested_at")
    with pq.ParquetWriter(tmp, reader.schema_arrow, compression="zstd", compression_level=1) as writer:
        for index in range(reader.num_row_groups):
            group = reader.read_row_group(index)
            moved = pc.add(group.column(column), timedelta(days=offset))
            writer.write_table(group.set_column(column, "requested_at", moved), row_group_size=group.num_rows)
    os.replace(tmp, target)


def stage(access_log: Path, work: Path, cluster: bool = True) -> tuple[Path, dict[str, float]]:
    """Parse once, cluster (unless ``cluster`` is false: the day stays in parse order, as with the
    default WEBTRAIL_STAGING__CLUSTER_BY_IP=false), shift into 7 days; the data dir and the timings
    of parse and cluster."""
    data_dir = work / "data"
    first = DayLayout(data_dir, DAY)
    timings: dict[str, float] = {}
    unclustered = work / "unclustered.parquet"
    if not unclustered.exists():
        first.staging.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        parse_access_logs([access_log], DAY, first.requests, first.rejected, ParserSettings(),
                          overlap=timedelta(minutes=120))
        timings["parse_s"] = time.perf_counter() - started
        shutil.copyfile(first.requests, unclustered)
    marker = work / ("clustered.ok" if cluster else "unclustered.ok")
    if not marker.exists():
        (work / ("unclustered.ok" if cluster else "clustered.ok")).unlink(missing_ok=True)
        shutil.copyfile(unclustered, first.requests)
        if cluster:
            started = time.perf_counter()
            cluster_requests(first.requests, StagingSettings())
            timings["cluster_s"] = time.perf_counter() - started
        for offset in range(1, 7):
            shutil.rmtree(DayLayout(data_dir, DAY + timedelta(days=offset)).staging, ignore_errors=True)
        marker.touch()
    for offset in range(1, 7):
        layout = DayLayout(data_dir, DAY + timedelta(days=offset))
        if not layout.requests.exists():
            layout.staging.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(first.rejected, layout.rejected)
            shift_days(first.requests, layout.requests, offset)
    return data_dir, timings


def cli_seconds(data_dir: Path, args: list[str], repeat: int) -> float:
    """Median wall time of a fresh `python -m flows.investigate` process (start-up included)."""
    env = {**os.environ, "WEBTRAIL_DATA_DIR": str(data_dir)}

    def run() -> None:
        done = subprocess.run([sys.executable, "-m", "flows.investigate", *args, "--format", "csv"], cwd=REPO,
                              env=env, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{args} failed: {done.stderr}")

    seconds = median_seconds(run, repeat)[0]
    print(f"cli {args[:2]}: {seconds:.3f} s", file=sys.stderr, flush=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--access-log", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-cluster", action="store_true",
                        help="keep the day in parse order (not sorted by client_ip) and measure that")
    parser.add_argument("--ip", help="IP to look up (default: the path_scan attacker of ground_truth.json)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.work.chmod(0o755)
    data_dir, timings = stage(args.access_log, args.work, cluster=not args.no_cluster)
    truth = args.access_log.parent / "ground_truth.json"
    ip = args.ip or next(a["ip"] for a in json.loads(truth.read_text())["attackers"] if a["scenario"] == "path_scan")
    days7 = [DAY + timedelta(days=n) for n in range(7)]
    files7 = [str(DayLayout(data_dir, d).requests) for d in days7]
    first = files7[0]
    unclustered = str(args.work / "unclustered.parquet")
    results: dict[str, Any] = {"ip": ip, "clustered_by_ip": not args.no_cluster, **timings}

    # The database the fixed investigation reads (empty here): started once, outside the timings.
    from config.settings import WebtrailSettings
    from warehouse.embedded import database_url

    url = database_url(WebtrailSettings(data_dir=data_dir))

    def baseline(files: list[str]) -> int:
        con = duckdb.connect()
        query = "SELECT count(*), max(bytes) FROM read_parquet(?) WHERE client_ip = ?"
        result = con.execute(query, [files, ip]).fetchone()
        con.close()
        return int(result[0])

    def ours(days: list[date]) -> int:
        with SqlWorkspace(data_dir, days) as workspace:
            query = "SELECT count(*), max(bytes) FROM requests WHERE client_ip = ?"
            return workspace.query(query, [ip]).table[0][0].as_py()

    def ours_rows(days: list[date]) -> int:
        with SqlWorkspace(data_dir, days) as workspace:
            query = "SELECT * FROM requests WHERE client_ip = ? ORDER BY requested_at"
            return workspace.query(query, [ip]).table.num_rows

    def fixed_scan(days: int) -> int:
        from report.investigate import InvestigationQuery, scan_requests, summarize_requests

        start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
        query = InvestigationQuery(start=start, end=start + timedelta(days=days), ip=ip)
        lazy, _, _ = scan_requests(data_dir, query, [ip])
        return summarize_requests(lazy, 200)["count"]

    measures = {
        "baseline_1day_clustered_s": lambda: baseline([first]),
        "baseline_1day_unclustered_s": lambda: baseline([unclustered]),
        "baseline_7days_s": lambda: baseline(files7),
        "sql_view_1day_count_s": lambda: ours([DAY]),
        "sql_view_1day_rows_s": lambda: ours_rows([DAY]),
        "sql_view_7days_count_s": lambda: ours(days7),
        "sql_view_7days_rows_s": lambda: ours_rows(days7),
        "fixed_scan_1day_s": lambda: fixed_scan(1),
        "fixed_scan_7days_s": lambda: fixed_scan(7),
    }
    for name, run in measures.items():
        results[name], value = median_seconds(run, args.repeat)
        results[name.replace("_s", "_rows")] = value
        print(f"{name}: {results[name]:.3f} s ({value} rows)", file=sys.stderr, flush=True)
    sql_one = f"SELECT * FROM requests WHERE client_ip = '{ip}' ORDER BY requested_at"  # noqa: S608 - bench IP
    results["cli_sql_ip_1day_s"] = cli_seconds(data_dir, ["--sql", sql_one], args.repeat)
    results["cli_sql_status_1day_s"] = cli_seconds(
        data_dir, ["--sql", "SELECT status, count(*) n FROM requests GROUP BY 1 ORDER BY 2 DESC"], args.repeat
    )
    results["cli_sql_ip_7days_s"] = cli_seconds(data_dir, ["--sql", sql_one, "--days", "7", "--day",
                                                           days7[-1].isoformat()], args.repeat)
    start = datetime(DAY.year, DAY.month, DAY.day).isoformat()
    results["cli_ip_1day_s"] = cli_seconds(
        data_dir, ["--ip", ip, "--start", start, "--database-url", url], args.repeat
    )
    results["cli_python_startup_s"] = median_seconds(
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.repeat
    )[0]
    results["rows_per_day"] = duckdb.execute("SELECT count(*) FROM read_parquet(?)", [first]).fetchone()[0]
    rejected = DayLayout(data_dir, DAY).rejected
    results["staged_bytes_per_day"] = Path(first).stat().st_size + rejected.stat().st_size
    results["unclustered_bytes"] = Path(unclustered).stat().st_size
    results["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}"
    results["duckdb"] = duckdb.__version__
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
