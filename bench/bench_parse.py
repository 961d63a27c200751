"""Access-log parse throughput: webtrail's streaming polars parser vs a naive Python ``re`` loop.

    python bench/bench_parse.py [--lines 1000000] [--repeat 3] [--batch-lines 500000]

Generates a combined_timed file (the sample generator's format) in a temp directory, then reports
the median of ``--repeat`` runs for each parser, in lines per second of wall time and per CPU
second (polars uses every core; the baseline one). Both parsers see the same file, and both do the
same conversions (timestamp to UTC, request split, ints, ms); only ours also writes Parquet.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.settings import ParserSettings  # noqa: E402
from parsers.access_log import parse_access_logs  # noqa: E402

UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1",
    "curl/8.4.0",
]
PATHS = [f"/product/{i}?ref=home" for i in range(500)] + ["/", "/login", "/cart", "/search?q=shoes"]
NAIVE = re.compile(r'^(\S+) \S+ (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)" ([\d.]+|-)$')


def generate(path: Path, lines: int) -> None:
    rnd = random.Random(7)
    with open(path, "w") as f:
        for i in range(lines):
            s = i * 86_400 // lines
            ip = ".".join(str(rnd.randint(1, 254)) for _ in range(4))
            f.write(
                f"{ip} - - [24/Nov/2026:{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d} +0000] "
                f'"GET {rnd.choice(PATHS)} HTTP/1.1" {rnd.choice([200, 200, 200, 304, 404, 500])} '
                f'{rnd.randint(0, 50_000)} "https://www.google.com/" "{rnd.choice(UAS)}" {rnd.random():.3f}\n'
            )


def naive(path: Path) -> int:
    """The baseline: one regex match and Python conversions per line."""
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = NAIVE.match(line.rstrip("\r\n"))
            if not m:
                continue
            client, user, ts, request, status, size, ref, ua, rt = m.groups()
            method, _, rest = request.partition(" ")
            target, _, protocol = rest.rpartition(" ")
            path_, _, query = target.partition("?")
            rows.append(
                (
                    client,
                    None if user == "-" else user,
                    datetime.strptime(ts, "%d/%b/%Y:%H:%M:%S %z"),
                    method,
                    path_,
                    query,
                    protocol,
                    int(status),
                    None if size == "-" else int(size),
                    ref,
                    ua,
                    None if rt == "-" else float(rt) * 1000,
                )
            )
    return len(rows)


def ours(path: Path, out: Path, batch_lines: int) -> int:
    [st] = parse_access_logs(
        [path], date(2026, 11, 24), out / "r.parquet", out / "j.parquet", ParserSettings(batch_lines=batch_lines)
    )
    return st.lines_parsed


def measure(fn: Callable[[], int], repeat: int) -> tuple[int, float, float]:
    walls, cpus, n = [], [], 0
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        n = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return n, statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-lines", type=int, default=ParserSettings().batch_lines)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="webtrail-bench-") as tmp:
        path = Path(tmp) / "access.log"
        generate(path, args.lines)
        size_mb = path.stat().st_size / 1e6
        print(f"{args.lines:,} lines, {size_mb:.0f} MB, median of {args.repeat}")
        for name, fn in [
            ("webtrail polars (streaming, Parquet out)", lambda: ours(path, Path(tmp), args.batch_lines)),
            ("naive Python re loop (no output)", lambda: naive(path)),
        ]:
            n, wall, cpu = measure(fn, args.repeat)
            assert n == args.lines, (name, n)
            print(f"{name:42s} {n / wall:>12,.0f} lines/s wall  {n / cpu:>12,.0f} lines/CPU-s  ({wall:.2f} s)")


if __name__ == "__main__":
    main()
