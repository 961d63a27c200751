"""Creating the SparkSession from settings, in one place."""

from __future__ import annotations

import shutil
import subprocess

from pyspark.sql import SparkSession

from config.settings import SparkSettings


class JavaMissingError(RuntimeError):
    """Spark needs a Java 17 or 21 runtime on PATH (or JAVA_HOME)."""


def check_java() -> None:
    """Fail early with a clear message when no Java runtime is installed."""
    import os

    java_home = os.environ.get("JAVA_HOME")
    java = shutil.which("java") or (java_home and os.path.join(java_home, "bin", "java"))
    if not java or not os.path.exists(java):
        raise JavaMissingError(
            "Spark needs Java 17 or 21, and no `java` was found on PATH or in JAVA_HOME. "
            "Install it, e.g. `apt-get install openjdk-17-jre-headless`."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    if not any(f'version "{v}' in out for v in ("17", "21")):
        first = out.splitlines()[0] if out else "unknown"
        raise JavaMissingError(f"Spark 4 needs Java 17 or 21; found: {first}")


def build_spark_session(settings: SparkSettings, app_name: str = "webtrail") -> SparkSession:
    """The shared SparkSession (getOrCreate), UTC session time zone, UI off, settings applied."""
    check_java()
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.master)
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        # Adaptive execution (Spark's default, stated because the job relies on it): small days
        # coalesce to few shuffle partitions, and small join sides become broadcasts at run time.
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        # ...including the output of a persisted plan: a small day's per-request frame then has one or
        # two partitions instead of spark.sql.shuffle.partitions, and every query reading it as many
        # tasks. A coalesced hash partitioning still clusters by its keys: no reshuffle downstream.
        .config("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
    )
    for key, value in settings.extra_conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session
