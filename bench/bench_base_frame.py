"""The per-request base frame alone: its plan size, Spark jobs and the time to compute and keep it.

    python bench/bench_base_frame.py --data-dir /tmp/prof/stagesample --repeat 2
    python bench/bench_base_frame.py --data-dir /tmp/prof/stage1m --root /work/main   # the same on another checkout

The base frame is `sessions.prepare_requests(detectors.match_payloads(requests, detection), ...)`
as analytics/pipeline.py `build_tables` builds it, kept by a local checkpoint as there. Printed per
run: the length of its optimized logical plan (as text), its number of expression nodes, the seconds
to build and analyse the plan, the seconds to checkpoint it (planning, code generation and the
jobs), and the number of Spark jobs. `--root` runs the code of another checkout (A/B in one sitting);
`--conf spark.eventLog.enabled=true ...` gives an event log for executor CPU seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def expression_nodes(plan: Any) -> int:
    """The number of expression nodes in a (JVM) logical plan, over all its operators."""
    total = 0
    operators = [plan]
    while operators:
        operator = operators.pop()
        expressions = operator.expressions()
        for index in range(expressions.size()):
            # one line per node
            total += expressions.apply(index).treeString().count("\n")
        children = operator.children()
        operators.extend(children.apply(index) for index in range(children.size()))
    return total


def run(spark: Any, data_dir: Path) -> dict[str, Any]:
    """Build, measure and checkpoint the base frame of the staged day under data_dir once."""
    from pyspark import StorageLevel

    from analytics import contracts, detectors, sessions
    from analytics.pipeline import read_parquet
    from bench.bench_analytics import layout_of
    from config.settings import WebtrailSettings

    layout = layout_of(data_dir)
    settings = WebtrailSettings(data_dir=data_dir)
    tracker = spark.sparkContext.statusTracker()
    first = max(tracker.getJobIdsForGroup(None), default=-1)
    started = time.perf_counter()
    requests = read_parquet(spark, layout.requests, contracts.REQUESTS)
    detection = detectors.load_detection(settings.security)
    base = sessions.prepare_requests(detectors.match_payloads(requests, detection), settings.sessions)
    optimized = base._jdf.queryExecution().optimizedPlan()
    built = time.perf_counter() - started
    plan_chars = len(optimized.toString())
    nodes = expression_nodes(optimized)
    started = time.perf_counter()
    kept = base.localCheckpoint(eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK)
    computed = time.perf_counter() - started
    jobs = [job for job in tracker.getJobIdsForGroup(None) if job > first]
    kept.rdd.unpersist()
    return {"plan_seconds": round(built, 2), "plan_chars": plan_chars, "expression_nodes": nodes,
            "checkpoint_seconds": round(computed, 2), "jobs": len(jobs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_base_frame.py", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="a staged data directory")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs (default: this one)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--conf", action="append", default=[], help="extra Spark setting KEY=VALUE")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # bench.bench_analytics: this checkout's
    sys.path.insert(0, str(args.root.resolve()))
    from bench.bench_analytics import spark_session

    spark = spark_session(2, dict(pair.split("=", 1) for pair in args.conf))
    for index in range(args.repeat):
        print(f"run {index + 1} ({args.root}): {run(spark, args.data_dir)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
