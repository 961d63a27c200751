"""The quick JIT reaches the driver JVM that `python -m flows.daily` starts early for a small day."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# a fresh process: the test session's own JVM is already running, and JVM options apply at launch
PROBE = """
import json
from analytics.spark import start_spark_early
from config.settings import SparkSettings

settings = SparkSettings(  # no class archive: its options make a key of their own, not worth a dump here
    master="local[1]", class_archive=False, extra_conf={"spark.driver.extraJavaOptions": "-Dwebtrail.probe=yes"}
)
spark = start_spark_early(settings, log_bytes=6_000_000).session()  # auto, a sample-sized day
arguments = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
print("ARGS " + json.dumps([str(argument) for argument in arguments]))
spark.stop()
"""


def test_a_small_day_starts_the_driver_jvm_with_c1_only_beside_the_users_options() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(text for text in done.stdout.splitlines() if text.startswith("ARGS "))
    arguments = json.loads(line[5:])
    assert "-XX:TieredStopAtLevel=1" in arguments
    assert "-Dwebtrail.probe=yes" in arguments
