"""Access-log parse throughput and peak memory, against baselines measured in the same run.

    python bench/bench_parse.py [--lines 1000000 10000000] [--repeat 3] [--data /tmp/webtrail-bench]
                                [--baseline-ref 19314b6] [--format combined]

For each size, the project generator (sample_logs.generate, seed 7: shoppers, crawlers, attackers,
empty and TLS requests, invalid UTF-8, odd methods) writes a day once under ``--data`` and the file is
reused by later runs. The generator logs nginx ``combined_timed``; the ``combined`` file drops the
request time and gives 1 line in 50 an Apache ``\\"`` escape in its user agent (Apache writes a quote
inside a header that way), so the escaped-quote path is part of the measurement.

The compiled fast path (parsers/_fastsplit.c) must be built in this checkout (``pip install -e .``
or ``python setup.py build_ext --inplace``); each run reports whether it was used. Each run is a
fresh process (its peak RSS is its own), timed from the first byte read to the staging
Parquet (requests + rejected) closed, as the daily flow's parse step does. Median of ``--repeat``.
Runs of every contender are interleaved, so machine load hits them alike:
- ``webtrail``: this checkout's parser (parsers/access_log.py, default settings);
- ``webtrail, 1 thread``: the same with ``parse_threads=1`` (no overlap of read, parse and write);
- ``baseline parser``: the parser of ``--baseline-ref`` (a git ref of this repository, exported with
  ``git archive``; default 19314b6: the regex-only parser before the compiled fast path) on the same
  file; or, with ``--baseline-src``, the parser of another checkout as it is (its compiled extension
  built there), such as /work/main, to measure one change against the code it changes;
- ``wc -l`` and a plain Python read of the file in 4 MiB chunks counting newlines: the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAY = "2026-11-24"
ESCAPE_EVERY = 50
_TIMED_TAIL = re.compile(rb'(" )(?:[0-9]+(?:\.[0-9]+)?|-)$')
_UA_START = re.compile(rb'(" ")(?=[^"]*"$)')

WORKER = r"""
import os, sys, time, json, resource
from datetime import date
from pathlib import Path
sys.path.insert(0, os.environ["BENCH_SRC"])
from config.settings import ParserSettings
from parsers.access_log import parse_access_logs
path, out, fmt, options = sys.argv[1], Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
settings = ParserSettings(log_format=fmt, **options)
try:
    from parsers.fast_path import available
    fast = available()
except ImportError:  # a baseline from before the fast path
    fast = False
started, cpu = time.perf_counter(), time.process_time()
day = date.fromisoformat(sys.argv[5])
[stats] = parse_access_logs([Path(path)], day, out / "r.parquet", out / "j.parquet", settings)
print(json.dumps({"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                  "read": stats.lines_read, "parsed": stats.lines_parsed, "rejected": stats.lines_rejected,
                  "fast_path": fast}))
"""

FLOOR = r"""
import sys, time
started = time.perf_counter()
lines = 0
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(4 << 20):
        lines += chunk.count(b"\n")
print(lines, time.perf_counter() - started)
"""


def timed_tail_dropped(line: bytes, number: int) -> bytes:
    """A combined_timed line as combined: the request time removed; 1 in ESCAPE_EVERY with a \\" in its agent."""
    line = _TIMED_TAIL.sub(rb'"', line)
    if number % ESCAPE_EVERY == 0:
        line = _UA_START.sub(rb'\1\\"compatible\\" ', line, count=1)
    return line


def ensure_log(data: Path, lines: int, fmt: str) -> Path:
    """The generated day of ``lines`` lines in ``fmt`` (combined or combined_timed), made once."""
    day_dir = data / (f"day{lines // 1_000_000}m" if lines % 1_000_000 == 0 else f"day{lines}")
    timed = day_dir / "access.log"
    if not timed.exists():
        subprocess.run(
            [sys.executable, "-m", "sample_logs.generate", "--lines", str(lines), "--date", DAY,
             "--out", str(day_dir), "--seed", "7"],
            cwd=REPO, check=True,
        )
    if fmt == "combined_timed":
        return timed
    combined = day_dir / "access-combined.log"
    if not combined.exists():
        tmp = combined.with_suffix(".tmp")
        with open(timed, "rb") as src, open(tmp, "wb") as dst:
            for number, raw in enumerate(src, start=1):
                body = raw.rstrip(b"\n")
                dst.write(timed_tail_dropped(body, number) + b"\n")
        os.replace(tmp, combined)
    return combined


def export_ref(ref: str, target: Path) -> Path:
    """The parser packages of git ``ref`` as a directory importable on its own."""
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref, "parsers", "config"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def run_parser(src: Path, path: Path, fmt: str, options: dict[str, object]) -> dict[str, float]:
    """One parse in a fresh process: its wall and CPU seconds, counts, and peak RSS (MiB)."""
    with tempfile.TemporaryDirectory(prefix="webtrail-bench-parse-") as out:
        env = {**os.environ, "BENCH_SRC": str(src)}
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), out, fmt, json.dumps(options), DAY],
            stdout=subprocess.PIPE, env=env, cwd=out,
        )
        stdout = proc.stdout.read() if proc.stdout else b""
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"parser run failed ({src}): exit {proc.returncode}")
        result = json.loads(stdout.decode().strip().splitlines()[-1])
        result["rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
        return result


def run_floor(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    subprocess.run(["wc", "-l", str(path)], check=True, capture_output=True)
    wc = time.perf_counter() - started
    out = subprocess.run([sys.executable, "-c", FLOOR, str(path)], check=True, capture_output=True, text=True)
    return {"wc": wc, "read": float(out.stdout.split()[1])}


def bench_size(path: Path, fmt: str, repeat: int, contenders: dict[str, tuple[Path, dict[str, object]]]) -> dict:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    floors: list[dict[str, float]] = []
    for _ in range(repeat):
        floors.append(run_floor(path))
        for name, (src, options) in contenders.items():
            runs[name].append(run_parser(src, path, fmt, options))
            print(f"  run: {name}: {runs[name][-1]}, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    lines = runs["webtrail"][0]["read"]
    for name, results in runs.items():
        counts = {(r["read"], r["parsed"], r["rejected"]) for r in results}
        if len(counts) != 1 or next(iter(counts)) != (runs["webtrail"][0]["read"], runs["webtrail"][0]["parsed"],
                                                        runs["webtrail"][0]["rejected"]):
            raise RuntimeError(f"{name}: counts differ from webtrail's: {counts}")

    def median(values: list[float]) -> float:
        return statistics.median(values)

    summary = {"lines": lines, "bytes": path.stat().st_size, "format": fmt, "repeat": repeat,
               "wc_l_s": median([f["wc"] for f in floors]), "python_read_s": median([f["read"] for f in floors])}
    for name, results in runs.items():
        wall = median([r["wall"] for r in results])
        summary[name] = {"wall_s": wall, "cpu_s": median([r["cpu"] for r in results]),
                         "lines_per_s": lines / wall, "peak_rss_mib": max(r["rss_mib"] for r in results),
                         "cpu_s_per_1m_lines": median([r["cpu"] for r in results]) * 1e6 / lines,
                         "fast_path": all(r.get("fast_path") for r in results),
                         "walls": [r["wall"] for r in results], "cpus": [r["cpu"] for r in results]}
    return summary


def report(summary: dict) -> None:
    ours = summary["webtrail"]
    print(f"\n{summary['lines']:,} lines ({summary['bytes'] / 1e6:,.0f} MB, {summary['format']}), "
          f"median of {summary['repeat']}; load average now {os.getloadavg()[0]:.1f}")
    print(f"{'':32s} {'wall s':>8s} {'CPU s':>8s} {'CPU s/1M':>9s} {'lines/s':>12s} {'peak RSS':>10s} "
          f"{'wall vs webtrail':>17s} {'CPU vs webtrail':>16s} fast path")
    for name in [k for k in summary if isinstance(summary[k], dict)]:
        result = summary[name]
        print(f"{name:32s} {result['wall_s']:8.2f} {result['cpu_s']:8.2f} {result['cpu_s_per_1m_lines']:9.2f} "
              f"{result['lines_per_s']:12,.0f} {result['peak_rss_mib']:7.0f} MiB "
              f"{result['wall_s'] / ours['wall_s']:16.2f}x {result['cpu_s'] / ours['cpu_s']:15.2f}x "
              f"{result['fast_path']}")
    for label, key in [("wc -l", "wc_l_s"), ("python read (4 MiB chunks)", "python_read_s")]:
        print(f"{label:32s} {summary[key]:8.2f} {'':8s} {'':9s} {summary['lines'] / summary[key]:12,.0f} "
              f"{'':10s} {summary[key] / ours['wall_s']:16.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=Path("/tmp/webtrail-bench"))
    ap.add_argument("--format", default="combined", choices=["combined", "combined_timed"])
    ap.add_argument("--baseline-ref", default="19314b6", help="git ref whose parser is the baseline ('' for none)")
    ap.add_argument("--baseline-src", type=Path, help="also run the parser of this checkout (as built there)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--no-single-thread", action="store_true", help="skip the parse_threads=1 contender")
    args = ap.parse_args()
    contenders: dict[str, tuple[Path, dict[str, object]]] = {"webtrail": (REPO, {})}
    if not args.no_single_thread:
        contenders["webtrail, 1 thread"] = (REPO, {"parse_threads": 1})
    with tempfile.TemporaryDirectory(prefix="webtrail-bench-ref-") as ref_dir:
        if args.baseline_ref:
            contenders["baseline parser"] = (export_ref(args.baseline_ref, Path(ref_dir)), {})
        if args.baseline_src:
            contenders[f"baseline {args.baseline_src}"] = (args.baseline_src.resolve(), {})
        machine = platform.processor() or platform.machine()
        print(f"{machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
        results = []
        for lines in args.lines:
            path = ensure_log(args.data, lines, args.format)
            summary = bench_size(path, args.format, args.repeat, contenders)
            report(summary)
            results.append(summary)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
