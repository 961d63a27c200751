"""Two real driver JVMs: the first writes the class archive as it exits, the second loads Spark from it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Each run is a fresh process: JVM options apply only at launch. The class-load log says where
# each class came from; "shared objects file (top)" is the dynamic archive on top of the JDK's own.
RUN = """
import json, sys
from pathlib import Path
from analytics.spark import build_spark_session
from config.settings import SparkSettings

archive_dir, load_log = Path(sys.argv[1]), sys.argv[2]
settings = SparkSettings(
    master="local[1]", class_archive_dir=archive_dir,
    extra_conf={"spark.driver.extraJavaOptions": "-Xlog:class+load=info:file=" + load_log},
)
spark = build_spark_session(settings)
print("ROWS " + json.dumps(spark.range(5).selectExpr("sum(id) AS total").collect()[0]["total"]))
"""


def _run(tmp_path: Path) -> str:
    load_log = tmp_path / "classes.log"  # the same options each run: the archive's key covers them
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(tmp_path / "jvm"), str(load_log)], cwd=ROOT, capture_output=True,
        text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # 0+1+2+3+4, and nothing else: the JVM's archive warnings go to stderr, never into `--json` output
    assert done.stdout.splitlines() == ["ROWS 10"], done.stdout[-2000:]
    return load_log.read_text(errors="replace")


def _source_of(load_log: str, class_name: str) -> str:
    line = next(text for text in load_log.splitlines() if f" {class_name} source: " in text)
    return line.split(" source: ", 1)[1]


def test_the_first_run_writes_the_archive_and_the_next_run_loads_sparks_classes_from_it(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert _source_of(first, "org.apache.spark.SparkContext").startswith("file:")  # from its jar
    files = sorted(path.name for path in (tmp_path / "jvm").iterdir())
    assert len(files) == 1 and files[0].endswith(".jsa"), files  # installed: no lock, no part file left

    second = _run(tmp_path)
    assert _source_of(second, "org.apache.spark.SparkContext") == "shared objects file (top)"
    assert _source_of(second, "org.apache.spark.sql.classic.SparkSession") == "shared objects file (top)"
    assert sorted(path.name for path in (tmp_path / "jvm").iterdir()) == files  # read, not rewritten
