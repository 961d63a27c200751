"""End to end: `python -m flows.daily` (every stage, into PostgreSQL) against GoAccess on the same log.

    python bench/bench_daily.py --lines 1000000 --repeat 3 --write-benchmarks
    python bench/bench_daily.py --lines 10000000 --repeat 1 --database-url postgresql://...
    python bench/bench_daily.py --sample --repeat 3 --compare-early-start --write-benchmarks

A generated day (`sample_logs.generate`, seed 7: the combined log with request times, its events and
users) is reused from /tmp/webtrail-bench/day1m, day10m, day<N> when it is there, else generated
there. Each repeat runs GoAccess (its full analysis, JSON report; skipped with a message when
/usr/bin/goaccess is missing) and then webtrail, in a fresh process and a fresh data directory (so a
fresh embedded PostgreSQL unless --database-url). Peak RSS is the largest sum of RSS over every
process of the run, sampled every 0.2 s: the Python driver, the JVM, Prefect's ephemeral API, the
embedded PostgreSQL and its backends (shared pages are counted once per process, so it is an upper
bound). Stage timings, fixed costs and the Spark job count come from the run's `--json` summary
(`timings`, report/timings.py). Results accumulate in bench/results/daily.json, one entry per size;
--write-benchmarks rewrites the section between the markers in BENCHMARKS.md from all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.daily_report import render_section, write_section  # noqa: E402
from report.timings import process_role  # noqa: E402

BENCH_ROOT = Path("/tmp/webtrail-bench")
GOACCESS = Path("/usr/bin/goaccess")
RESULTS = ROOT / "bench" / "results" / "daily.json"
DAY = "2026-11-24"
# GoAccess's reading of the generator's format (nginx combined + $request_time, in seconds).
GOACCESS_FORMAT = ('--log-format=%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T', "--date-format=%d/%b/%Y",
                   "--time-format=%H:%M:%S")
SAMPLE_SECONDS = 0.2


def size_label(lines: int) -> str:
    return f"{lines // 1_000_000}m" if lines % 1_000_000 == 0 else str(lines)


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 24):
            lines += block.count(b"\n")
    return lines


def generated_day(lines: int) -> Path:
    """The directory of a generated day of `lines` lines: reused when complete, else generated."""
    target = BENCH_ROOT / f"day{size_label(lines)}"
    if (target / "manifest.json").exists() and count_lines(target / "access.log") == lines:
        print(f"reusing {target}", flush=True)
        return target
    scratch = BENCH_ROOT / f"{target.name}.tmp-{os.getpid()}"
    print(f"generating {lines:,} lines into {scratch}", flush=True)
    subprocess.run([sys.executable, "-m", "sample_logs.generate", "--lines", str(lines), "--date", DAY,
                    "--out", str(scratch), "--seed", "7"], cwd=ROOT, check=True)
    if (target / "manifest.json").exists():
        shutil.rmtree(target)
    if target.exists():  # an incomplete day someone else left: keep ours beside it
        return scratch
    scratch.rename(target)
    return target


class TreeSampler:
    """Peak of the RSS summed over a process, its descendants and the processes whose command line
    names `marker` (the embedded PostgreSQL daemonizes: it is no child of the run) with their children."""

    def __init__(self, pid: int, marker: str | None) -> None:
        self.pid, self.marker = pid, marker
        self.peak = 0
        self.at_peak: dict[str, int] = {}  # RSS per kind of process when the sum peaked
        self.role_peaks: dict[str, int] = {}  # each kind's own peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _members(self) -> set[psutil.Process]:
        roots = []
        try:
            roots.append(psutil.Process(self.pid))
        except psutil.Error:
            pass
        if self.marker:
            for proc in psutil.process_iter(["cmdline"]):
                if self.marker in " ".join(proc.info.get("cmdline") or []):
                    roots.append(proc)
        members = set(roots)
        for root in roots:
            try:
                members.update(root.children(recursive=True))
            except psutil.Error:
                pass
        return members

    def sample(self) -> None:
        total = 0
        roles: dict[str, int] = {}
        for proc in self._members():
            try:
                rss = proc.memory_info().rss
                role = process_role(proc.cmdline())
            except psutil.Error:
                continue
            total += rss
            roles[role] = roles.get(role, 0) + rss
        for role, rss in roles.items():
            self.role_peaks[role] = max(self.role_peaks.get(role, 0), rss)
        if total > self.peak:
            self.peak, self.at_peak = total, roles

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def flow_command(day_dir: Path | None, database_url: str | None) -> list[str]:
    command = [sys.executable, "-m", "flows.daily", "--json"]
    if day_dir is not None:
        command += ["--date", DAY, "--access-log", str(day_dir / "access.log"), "--events",
                    str(day_dir / "events.jsonl"), "--users-db", str(day_dir / "users.db")]
    if database_url:
        command += ["--database-url", database_url, "--force"]
    return command


def run_webtrail(day_dir: Path | None, database_url: str | None, env_extra: dict[str, str]) -> dict[str, Any]:
    """One `python -m flows.daily --json` run in a fresh data directory: wall, peak RSS, its timings."""
    data_dir = Path(tempfile.mkdtemp(prefix="run-", dir=BENCH_ROOT))
    env = {**os.environ, "WEBTRAIL_DATA_DIR": str(data_dir), **env_extra}
    log = data_dir.with_suffix(".log")
    started = time.perf_counter()
    with log.open("wb") as stderr:
        process = subprocess.Popen(flow_command(day_dir, database_url), cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=stderr)
        with TreeSampler(process.pid, None if database_url else str(data_dir)) as sampler:
            stdout, _ = process.communicate()
            wall = time.perf_counter() - started
    try:
        if process.returncode != 0:
            raise SystemExit(f"flows.daily exited {process.returncode}; its log: {log}")
        summary = json.loads(stdout.decode().strip().splitlines()[-1])
        log.unlink()
        return {"wall": wall, "peak_rss": sampler.peak, "rss_at_peak": sampler.at_peak,
                "rss_peak_each": sampler.role_peaks, "timings": summary.get("timings") or {},
                "lines_read": summary.get("lines_read"), "lines_parsed": summary.get("lines_parsed")}
    finally:
        if not database_url:
            from config.settings import WebtrailSettings
            from warehouse.embedded import stop_embedded

            stop_embedded(WebtrailSettings(data_dir=data_dir).postgres_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def run_goaccess(access_log: Path, lines: int) -> dict[str, Any]:
    """GoAccess's full analysis of the file into a JSON report; checks it read every line."""
    with tempfile.TemporaryDirectory(prefix="goaccess-", dir=BENCH_ROOT) as tmp:
        report = Path(tmp) / "report.json"
        started = time.perf_counter()
        process = subprocess.Popen([str(GOACCESS), str(access_log), "--no-global-config", *GOACCESS_FORMAT,
                                    "-o", str(report)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"goaccess exited {os.waitstatus_to_exitcode(status)} on {access_log}")
        general = json.loads(report.read_bytes().decode("utf-8", "replace"))["general"]
    if general["total_requests"] != lines or general["valid_requests"] < 0.99 * lines:
        raise SystemExit(f"goaccess read {general['total_requests']} lines ({general['valid_requests']} valid) "
                         f"of {lines} in {access_log}: check its log format")
    return {"wall": wall, "peak_rss": usage.ru_maxrss * 1024, "valid": general["valid_requests"],
            "failed": general["failed_requests"]}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def timing_medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of every figure of the runs' `timings`, nested dictionaries included."""
    def collect(docs: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in docs[0]:
            values = [doc.get(key) for doc in docs]
            if all(isinstance(value, dict) for value in values):
                out[key] = collect(values)
            elif all(isinstance(value, int | float) and not isinstance(value, bool) for value in values):
                out[key] = statistics.median(values)
        return out
    return collect([run["timings"] for run in runs]) if runs else {}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"wall": spread([run["wall"] for run in runs]), "peak_rss": spread([run["peak_rss"] for run in runs]),
            "timings": timing_medians(runs), "runs": runs}


def make_entry(args: argparse.Namespace, lines: int, results: dict[str, list[dict[str, Any]]],
               goaccess_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The results of the runs done so far, as recorded in bench/results/daily.json."""
    done = min(len(runs) for runs in results.values())
    entry: dict[str, Any] = {
        "lines": lines, "label": "sample" if args.sample else size_label(lines), "repeat": done,
        "measured": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load_average": os.getloadavg(),
        "database": "PostgreSQL over --database-url" if args.database_url else "embedded PostgreSQL",
        "note": args.note, "command": " ".join(["python bench/bench_daily.py", *sys.argv[1:]]),
        "webtrail": {name: summarize(runs) for name, runs in results.items() if runs},
    }
    if goaccess_runs:
        entry["goaccess"] = {"wall": spread([run["wall"] for run in goaccess_runs]),
                             "peak_rss": spread([run["peak_rss"] for run in goaccess_runs]), "runs": goaccess_runs}
        paired = zip(results["webtrail"], goaccess_runs, strict=False)  # GoAccess may be a run ahead
        pairs = [mine["wall"] / theirs["wall"] for mine, theirs in paired]
        if pairs:
            entry["ratio_to_goaccess"] = spread(pairs)
    return entry


def record(path: Path, entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Store `entry` under its size in the results file (after every repeat: a long run keeps what it did)."""
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[entry["label"]] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recorded, indent=2, default=str) + "\n")
    return recorded


def benchmark(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    BENCH_ROOT.mkdir(parents=True, exist_ok=True)
    day_dir = None if args.sample else generated_day(args.lines)
    access_log = (ROOT / "sample_logs" / "access.log") if day_dir is None else day_dir / "access.log"
    lines = count_lines(access_log)
    goaccess_ok = GOACCESS.exists() and not args.no_goaccess
    if not goaccess_ok:
        print(f"GoAccess not run: {GOACCESS} is missing (apt-get install goaccess)", flush=True)
    variants = {"webtrail": {}}
    if args.compare_early_start:
        variants["webtrail, JVM started in the analytics stage"] = {"WEBTRAIL_SPARK__EARLY_START": "false"}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    goaccess_runs: list[dict[str, Any]] = []
    recorded: dict[str, dict[str, Any]] = {}
    for repeat in range(args.repeat):
        if goaccess_ok:
            goaccess_runs.append(run_goaccess(access_log, lines))
            print(f"[{repeat + 1}/{args.repeat}] goaccess {goaccess_runs[-1]['wall']:.1f} s", flush=True)
        for name, env in variants.items():
            results[name].append(run_webtrail(day_dir, args.database_url, env))
            run = results[name][-1]
            print(f"[{repeat + 1}/{args.repeat}] {name} {run['wall']:.1f} s, "
                  f"{run['peak_rss'] / 2**30:.2f} GiB: {json.dumps(run['timings'])}", flush=True)
        recorded = record(args.results, make_entry(args, lines, results, goaccess_runs))
    return recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--lines", type=int, help="generated day of this many access-log lines (>= 2000)")
    size.add_argument("--sample", action="store_true", help="the bundled sample day (python -m flows.daily)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (median reported)")
    parser.add_argument("--database-url", help="PostgreSQL URL to load into (default: the embedded one)")
    parser.add_argument("--compare-early-start", action="store_true",
                        help="also run with WEBTRAIL_SPARK__EARLY_START=false, interleaved (the JVM starts "
                        "in the analytics stage, as before)")
    parser.add_argument("--no-goaccess", action="store_true", help="skip GoAccess")
    parser.add_argument("--note", default="", help="a note kept with the results (e.g. what else was running)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON file the results accumulate in")
    parser.add_argument("--write-benchmarks", action="store_true", help="rewrite BENCHMARKS.md's section")
    args = parser.parse_args(argv)
    recorded = benchmark(args)
    print(render_section(recorded))
    if args.write_benchmarks:
        write_section(ROOT / "BENCHMARKS.md", render_section(recorded))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
