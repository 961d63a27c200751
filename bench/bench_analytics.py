"""Analytics stage (build_tables + write_tables): wall time, CPU time and peak memory, against baselines.

    python bench/bench_analytics.py time --src sample_logs              # timings of the sample day
    python bench/bench_analytics.py bench --lines 1000000 --repeat 3    # generate, stage, benchmark

`stage` parses a generated day into the staging Parquet of the daily flow (parsers.*, DayLayout).
`time` runs build_tables + write_tables in one Spark session and prints seconds, jobs and stages.
`bench` measures, each run in a fresh process (a cold JVM, as a flow run gets), the stage and two
baselines on the same staged data: `floor`, a Spark `groupBy(client_ip).count()` written to Parquet
(the least any Spark job on this data costs), and `oracle`, the polars implementation of
tests/integration/analytics (sessions, page_daily, user_daily, traffic_minute, endpoint_daily,
status_daily). Spark start-up is reported apart and not counted. Peak RSS is sampled every 0.2 s for
the process and, separately, its children (the JVM); CPU seconds include the children. Results are
appended to bench/results/analytics.md.
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
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.layout import DayLayout  # noqa: E402
from config.settings import ParserSettings, WebtrailSettings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "analytics.md"
WHAT = ("stage", "floor", "oracle")


def generate(lines: int, day: date, out: Path, seed: int = 7) -> None:
    """Write a generated day (access.log, events.jsonl, users.db, ground truth) into `out`."""
    cmd = [sys.executable, "-m", "sample_logs.generate", "--lines", str(lines), "--date", day.isoformat(),
           "--out", str(out), "--seed", str(seed)]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def stage(src: Path, data_dir: Path) -> DayLayout:
    """Parse a generated day directory (with manifest.json) into the staging Parquet of the flow."""
    from parsers.access_log import parse_access_logs
    from parsers.events import parse_events
    from parsers.user_agents import enrich_user_agents
    from parsers.users import read_users

    manifest = json.loads((src / "manifest.json").read_text())
    layout = DayLayout(data_dir, date.fromisoformat(manifest["date"]))
    layout.staging.mkdir(parents=True, exist_ok=True)
    overlap = WebtrailSettings().sessions.overlap
    parse_access_logs([src / manifest["access_log"]], layout.day, layout.requests, layout.rejected, ParserSettings(),
                      overlap=overlap)
    parse_events([src / manifest["events"]], layout.day, layout.events, layout.events_rejected, overlap=overlap)
    read_users(str(src / manifest["users_db"]), layout.users)
    enrich_user_agents([layout.requests, layout.events], layout.user_agents)
    return layout


def layout_of(data_dir: Path) -> DayLayout:
    """The layout of the (last) staged day under a data directory."""
    days = sorted((data_dir / "staging").glob("day=*"))
    return DayLayout(data_dir, date.fromisoformat(days[-1].name.removeprefix("day=")))


def spark_session(cores: int = 2, conf: dict[str, str] | None = None, log_bytes: int | None = None) -> Any:
    """A local Spark as the flow builds it (WEBTRAIL_SPARK__* settings), on `cores` cores.

    `log_bytes` (the day's access log size) chooses the driver's JIT as the flow does; None means the
    `optimizing` JIT unless WEBTRAIL_SPARK__DRIVER_JIT says otherwise.
    """
    from analytics.spark import build_spark_session

    configured = WebtrailSettings().spark
    settings = configured.model_copy(
        update={"master": f"local[{cores}]", "extra_conf": {**configured.extra_conf, **(conf or {})}}
    )
    return build_spark_session(settings, app_name="webtrail-bench", log_bytes=log_bytes)


def run_stage(spark: Any, layout: DayLayout, out_dir: Path) -> dict[str, Any]:
    """build_tables + write_tables once into `out_dir`; seconds, Spark jobs and stages used."""
    from analytics.pipeline import build_tables, write_tables
    from analytics.spark import generated_code_for, staged_rows

    settings = WebtrailSettings(data_dir=layout.data_dir)
    target = DayLayout(out_dir, layout.day)
    shutil.rmtree(target.output, ignore_errors=True)
    tracker = spark.sparkContext.statusTracker()
    first = max(tracker.getJobIdsForGroup(None), default=-1)
    started = time.perf_counter()
    with generated_code_for(spark, staged_rows(layout.requests), settings.spark):  # as tasks/analytics.py
        tables = build_tables(spark, layout, settings)
        built = time.perf_counter() - started
        write_tables(tables, target)
    spark.catalog.clearCache()  # as tasks/analytics.py does after each run
    jobs = [j for j in tracker.getJobIdsForGroup(None) if j > first]
    stages = sum(len(info.stageIds) for j in jobs if (info := tracker.getJobInfo(j)) is not None)
    return {"seconds": time.perf_counter() - started, "build_seconds": built, "jobs": len(jobs), "stages": stages}


def run_floor(spark: Any, layout: DayLayout, out_dir: Path) -> None:
    """The floor: one scan of the requests, one shuffle, one small Parquet write."""
    requests = spark.read.parquet(str(layout.requests))
    requests.groupBy("client_ip").count().write.mode("overwrite").parquet(str(out_dir / "floor"))


def run_oracle(layout: DayLayout) -> None:
    """The polars oracle's tables on the same staged day (no automated IPs: timing only)."""
    from tests.integration.analytics import oracle

    day = oracle.Day.read(layout.staging, layout.day)
    requests, sessions = oracle.sessionized(day, set())
    for table in (oracle.page_daily(requests, sessions), oracle.user_daily(day, sessions),
                  oracle.traffic_minute(day), oracle.endpoint_daily(day), oracle.status_daily(day)):
        assert table.height >= 0


def measure(fn: Callable[[], Any], interval: float = 0.2) -> dict[str, float]:
    """Run fn; wall seconds, CPU seconds (with children) and peak RSS in MiB (own, children, total)."""
    import psutil

    me = psutil.Process()

    def cpu() -> float:
        procs = [me, *me.children(recursive=True)]
        return sum(sum(p.cpu_times()[:2]) for p in procs if p.is_running())

    peak = {"rss_driver_mib": 0.0, "rss_jvm_mib": 0.0, "rss_total_mib": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                own = me.memory_info().rss
                kids = sum(c.memory_info().rss for c in me.children(recursive=True))
            except psutil.Error:
                continue
            for key, value in (("rss_driver_mib", own), ("rss_jvm_mib", kids), ("rss_total_mib", own + kids)):
                peak[key] = max(peak[key], value / 2**20)
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    cpu0, started = cpu(), time.perf_counter()
    thread.start()
    try:
        fn()
    finally:
        seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu0
        stop.set()
        thread.join()
    return {"seconds": seconds, "cpu_seconds": cpu_seconds, **peak}


def _cmd_measure(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    layout, out = layout_of(args.data_dir), Path(tempfile.mkdtemp(prefix="wt-bench-out-"))
    result: dict[str, Any] = {"what": args.what}
    try:
        if args.what == "oracle":
            result |= measure(lambda: run_oracle(layout))
        else:
            started = time.perf_counter()
            spark = spark_session(args.cores, log_bytes=args.log_bytes)
            result["spark_startup_seconds"] = time.perf_counter() - started
            extra: dict[str, Any] = {}
            work = (lambda: extra.update(run_stage(spark, layout, out))) if args.what == "stage" \
                else (lambda: run_floor(spark, layout, out))
            result |= measure(work)
            result |= {k: v for k, v in extra.items() if k in ("build_seconds", "jobs", "stages")}
            spark.stop()
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print("RESULT " + json.dumps(result), flush=True)


def _run_measure(what: str, data_dir: Path, cores: int, log_bytes: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "measure", "--what", what, "--data-dir", str(data_dir), "--cores", str(cores),
           "--log-bytes", str(log_bytes)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-40:])
        raise RuntimeError(f"measuring {what} on {data_dir} failed (exit {done.returncode}):\n{tail}")
    out = done.stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def _cmd_bench(args: argparse.Namespace) -> None:
    work = args.work or Path(tempfile.mkdtemp(prefix="wt-bench-"))
    src, data = work / f"gen-{args.lines}", work / f"data-{args.lines}"
    prep: dict[str, float] = {}
    if not (src / "manifest.json").exists():
        started = time.perf_counter()
        generate(args.lines, date(2026, 11, 24), src)
        prep["generate_seconds"] = time.perf_counter() - started
    if not (data / "staging").exists():
        started = time.perf_counter()
        stage(src, data)
        prep["stage_seconds"] = time.perf_counter() - started
    runs: dict[str, list[dict[str, Any]]] = {w: [] for w in WHAT}
    for run_index in range(args.repeat):  # interleaved, so that load from other processes hits all alike
        for what in WHAT:
            runs[what].append(_run_measure(what, data, args.cores, (src / "access.log").stat().st_size))
            print(f"{args.lines} run {run_index + 1} {what}: {runs[what][-1]}", flush=True)
    _write_results(args, prep, runs)
    if args.work is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _write_results(args: argparse.Namespace, prep: dict[str, float], runs: dict[str, list[dict[str, Any]]]) -> None:
    import polars
    import pyspark

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.strip()
    stage_s = _median(runs["stage"], "seconds")
    lines = [
        f"\n## {args.lines:,} lines, {args.repeat} run(s) each, local[{args.cores}] "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n",
        f"Command: `python bench/bench_analytics.py bench --lines {args.lines} --repeat {args.repeat}` "
        f"(Spark driver memory {WebtrailSettings().spark.driver_memory}). "
        f"Machine: nproc {os.cpu_count()}, load average at the end {os.getloadavg()[0]:.1f}; "
        f"Python {platform.python_version()}, pyspark {pyspark.__version__}, polars {polars.__version__}, {java}.",
        f"\n```\n{free}\n```\n",
        ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in prep.items()) or "(data staged earlier)",
        "\n| run | wall s (median) | CPU s | peak RSS MiB driver / JVM / total | Spark start-up s | x floor |",
        "|---|---|---|---|---|---|",
    ]
    floor = _median(runs["floor"], "seconds")
    for what in WHAT:
        measurements = runs[what]
        startup = (
            f"{_median(measurements, 'spark_startup_seconds'):.1f}"
            if "spark_startup_seconds" in measurements[0]
            else "-"
        )
        rss = " / ".join(
            f"{max(x[k] for x in measurements):.0f}" for k in ("rss_driver_mib", "rss_jvm_mib", "rss_total_mib")
        )
        walls = ", ".join(f"{x['seconds']:.1f}" for x in measurements)
        lines.append(
            f"| {what} | {_median(measurements, 'seconds'):.1f} ({walls}) "
            f"| {_median(measurements, 'cpu_seconds'):.0f} | {rss} "
            f"| {startup} | {_median(measurements, 'seconds') / floor:.1f} |"
        )
    jobs = runs["stage"][0]
    lines.append(f"\nStage: {jobs.get('jobs')} Spark jobs, {jobs.get('stages')} stages; build_tables "
                 f"{_median(runs['stage'], 'build_seconds'):.1f} s of the {stage_s:.1f} s. "
                 f"Stage / oracle: {stage_s / _median(runs['oracle'], 'seconds'):.1f}.")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _cmd_stage(args: argparse.Namespace) -> None:
    print(f"staged {stage(args.src, args.data_dir).staging}")


def _cmd_time(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="wt-bench-an-"))
    try:
        layout = layout_of(args.data_dir) if args.data_dir else stage(args.src, work / "data")
        started = time.perf_counter()
        spark = spark_session(args.cores, dict(kv.split("=", 1) for kv in args.conf), args.log_bytes)
        print(f"spark start-up {time.perf_counter() - started:.1f} s")
        for run_index in range(args.repeat):
            print(f"run {run_index + 1}: {run_stage(spark, layout, work / 'out')}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_analytics.py", description=(__doc__ or "").split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    command = sub.add_parser("stage", help="parse a generated day into staging Parquet")
    command.add_argument("--src", type=Path, default=ROOT / "sample_logs")
    command.add_argument("--data-dir", type=Path, required=True)
    command.set_defaults(fn=_cmd_stage)
    command = sub.add_parser("time", help="time build_tables + write_tables on a day, in one Spark session")
    command.add_argument("--src", type=Path, default=ROOT / "sample_logs")
    command.add_argument("--data-dir", type=Path, help="an already staged data directory")
    command.add_argument("--repeat", type=int, default=2)
    command.add_argument("--cores", type=int, default=2)
    command.add_argument("--conf", action="append", default=[], help="extra Spark setting KEY=VALUE")
    command.add_argument("--log-bytes", type=int, help="the day's access-log size, to choose the JIT as the flow does")
    command.set_defaults(fn=_cmd_time)
    command = sub.add_parser("bench", help="generate, stage and benchmark against the baselines (fresh processes)")
    command.add_argument("--lines", type=int, default=1_000_000)
    command.add_argument("--repeat", type=int, default=3)
    command.add_argument("--cores", type=int, default=2)
    command.add_argument("--work", type=Path, help="directory for generated and staged data (kept; reused if present)")
    command.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    command.set_defaults(fn=_cmd_bench)
    command = sub.add_parser("measure", help="one measurement in this process (used by bench)")
    command.add_argument("--what", choices=WHAT, required=True)
    command.add_argument("--data-dir", type=Path, required=True)
    command.add_argument("--cores", type=int, default=2)
    command.add_argument("--log-bytes", type=int, help="the day's access-log size, to choose the JIT as the flow does")
    command.set_defaults(fn=_cmd_measure)
    args = parser.parse_args(argv)
    args.fn(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
