"""Creating the SparkSession from settings, in one place."""

from __future__ import annotations

import atexit
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
from pyspark import SparkContext
from pyspark.sql import SparkSession

from analytics.class_archive import NO_ARCHIVE, ArchivePlan, archive_key, finish_archive, plan_archive
from config.settings import SparkSettings

LOGGER = logging.getLogger(__name__)
# How long the first run of a JVM build waits at its exit for the JVM to write the class archive
# (measured 2-5 s on an idle 2-core machine, BENCHMARKS.md "The driver JVM").
ARCHIVE_WRITE_TIMEOUT_SECONDS = 300.0
# HotSpot logs its warnings to stdout by default, and writing an archive warns about every class it
# skips (Spark's signed jars, generated classes): on stderr, the run's log, they cannot mix with
# `python -m flows.daily --json` on stdout. First, so that the user's own -Xlog options still apply.
ARCHIVE_LOGGING = "-Xlog:disable -Xlog:all=warning:stderr"


class JavaMissingError(RuntimeError):
    """Spark needs a Java 17 or 21 runtime on PATH (or JAVA_HOME)."""


def check_java() -> str:
    """Fail early with a clear message when no Java runtime is installed; returns `java -version`'s text."""
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
    return out


# C1 only: HotSpot's C2 compiles hot methods again with heavy optimisation. A day's analytics runs
# about a hundred distinct Spark plans, each a new set of hot methods, and on 2 cores C2's compile
# threads take CPU from the work itself (a flight recording of the sample day: 40,468 compilations,
# 2 min 41 s of compiler time in a 148 s stage). On long scans C2's code wins it back (BENCHMARKS.md,
# "The driver JVM": faster at 1M lines, slower at 10M).
# With C1 alone HotSpot reserves only 48 MiB for compiled code (240 MiB with C2), and a day's
# generated classes filled it ("Out of space in CodeCache for adapters", sample day with code
# generation on): the quick JIT keeps the tiered size.
QUICK_JIT_OPTION = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
JAVA_OPTIONS_KEY = "spark.driver.extraJavaOptions"


def driver_jit(settings: SparkSettings, log_bytes: int | None) -> str:
    """`quick` or `optimizing`: the setting, or for `auto` the day's size (unknown size: `optimizing`)."""
    if settings.driver_jit != "auto":
        return settings.driver_jit
    if log_bytes is None:
        return "optimizing"
    return "quick" if log_bytes <= settings.quick_jit_max_log_mib * 2**20 else "optimizing"


def driver_java_options(settings: SparkSettings, log_bytes: int | None) -> str | None:
    """spark.driver.extraJavaOptions for this run: the user's options, plus the quick JIT when chosen.

    A TieredStopAtLevel of the user's own is left as it is (the user's choice wins).
    """
    configured = settings.extra_conf.get(JAVA_OPTIONS_KEY, "").strip()
    if driver_jit(settings, log_bytes) == "quick" and "TieredStopAtLevel" not in configured:
        return f"{configured} {QUICK_JIT_OPTION}".strip()
    return configured or None


def _plan_class_archive(settings: SparkSettings, java_version: str) -> ArchivePlan:
    """The class archive for this launch (analytics/class_archive.py), keyed by what makes it valid."""
    if not settings.class_archive:
        return NO_ARCHIVE
    launch = " ".join((
        settings.driver_memory,
        settings.extra_conf.get(JAVA_OPTIONS_KEY, ""),
        settings.extra_conf.get("spark.driver.extraClassPath", ""),
    ))
    return plan_archive(settings.class_archive_dir, archive_key(java_version, launch))


def _write_class_archive_at_exit(session: SparkSession, archive: ArchivePlan) -> None:
    """At the Python process's exit: end the JVM cleanly so that it writes the archive, then install it.

    The gateway JVM exits when its stdin closes (PySpark's PythonGatewayServer); it writes the
    archive on that exit. Only the first run of a JVM build pays this wait.
    """
    gateway = SparkContext._gateway
    process = getattr(gateway, "proc", None)
    exit_code: int | None = None
    try:
        session.stop()
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            exit_code = process.wait(timeout=ARCHIVE_WRITE_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - an archive must never fail a run's exit
        LOGGER.warning("JVM class archive not written: %s", exc)
    if finish_archive(archive, exit_code):
        LOGGER.info("JVM class archive written: %s", archive.target)


def build_spark_session(
    settings: SparkSettings, app_name: str = "webtrail", log_bytes: int | None = None
) -> SparkSession:
    """The shared SparkSession (getOrCreate), UTC session time zone, UI off, settings applied.

    `log_bytes` (the day's access logs as stored) chooses the driver's JIT when `driver_jit` is `auto`;
    it takes effect only when this call launches the JVM.
    """
    java_version = check_java()
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
        # Measured on the sample day (bench/results/analytics.md, "B2"): without it the stage runs
        # 36 Spark jobs instead of 92 (each shuffle or broadcast stage is no longer a job of its
        # own), but it is not cheaper: executor CPU 13.5-16.2 s against 10.9-12.7 s, process CPU
        # 92.9 s against 75.9 s, at shuffle_partitions 2 or 8. The job count is not the cost.
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        # ...including the output of a persisted plan: a small day's per-request frame then has one or
        # two partitions instead of spark.sql.shuffle.partitions, and every query reading it as many
        # tasks. A coalesced hash partitioning still clusters by its keys: no reshuffle downstream.
        .config("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
        # Memory pages of 2 MiB instead of the default (64 MiB for a 2g driver): a broadcast join on an
        # integer key (the lookups of analytics/lookups.py) holds its map in such a page, and a query
        # joining a few dozen small lookups otherwise ran the 2g heap out of memory on the sample day.
        .config("spark.buffer.pageSize", "2m")
        # PySpark's call-site capture for error messages: on, every DataFrame API call (each column
        # operation of a plan) also asks the JVM for the session, a setting and an origin, and walks
        # the Python stack; the sample day's plans took 60k calls to the JVM. Errors still name the
        # failing expression.
        .config("spark.python.sql.dataFrameDebugging.enabled", "false")
    )
    for key, value in settings.extra_conf.items():
        builder = builder.config(key, value)
    launching = SparkContext._gateway is None  # JVM options only apply to the launch
    archive = _plan_class_archive(settings, java_version) if launching else NO_ARCHIVE
    java_options = " ".join(
        option
        for option in (
            ARCHIVE_LOGGING if archive.java_option else None,
            driver_java_options(settings, log_bytes),
            archive.java_option,
        )
        if option
    )
    if java_options:
        builder = builder.config(JAVA_OPTIONS_KEY, java_options)
    try:
        session = builder.getOrCreate()
    except BaseException:
        finish_archive(archive, None)
        raise
    if archive.writing is not None:
        atexit.register(_write_class_archive_at_exit, session, archive)
    session.sparkContext.setLogLevel("WARN")
    return session


class SparkStarter:
    """Creates the SparkSession on a background thread, so the JVM starts while Prefect and the parsers run.

    `python -m flows.daily` starts one before the flow (the JVM takes 10-15 s, Prefect's ephemeral API
    12-20 s: they overlap); the analytics task then takes the session with `spark_session`. A failure
    (JavaMissingError included) is kept and raised where the session is asked for, in the analytics
    stage, exactly as if the session had been created there.
    """

    def __init__(self, settings: SparkSettings, app_name: str = "webtrail", log_bytes: int | None = None) -> None:
        self.settings = settings
        self.app_name = app_name
        self.log_bytes = log_bytes
        self.started_at: float | None = None  # time.perf_counter() values
        self.ready_at: float | None = None
        self.waited_seconds = 0.0  # how long the analytics stage waited for the JVM
        self._session: SparkSession | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SparkStarter:
        """Begin creating the session in a daemon thread (it never keeps the process alive)."""
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(target=self._create, name="webtrail-spark-start", daemon=True)
        self._thread.start()
        return self

    def _create(self) -> None:
        try:
            self._session = build_spark_session(self.settings, self.app_name, self.log_bytes)
        except BaseException as exc:  # noqa: BLE001 - re-raised in session(), on the caller's thread
            self._error = exc
        finally:
            self.ready_at = time.perf_counter()

    def session(self) -> SparkSession:
        """Wait for the session and make it the active one of the calling thread; raises the start's error."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        waiting = time.perf_counter()
        self._thread.join()
        self.waited_seconds += time.perf_counter() - waiting
        if self._error is not None:
            raise self._error
        assert self._session is not None
        # The active session is per thread (JVM side): set it here as getOrCreate did on its own thread.
        jvm = self._session._jvm
        if jvm is not None:
            jvm.SparkSession.setActiveSession(self._session._jsparkSession)
        return self._session

    @property
    def start_seconds(self) -> float | None:
        """Seconds the session took to create (JVM start included), once it is ready."""
        if self.started_at is None or self.ready_at is None:
            return None
        return self.ready_at - self.started_at


_EARLY: list[SparkStarter] = []


def start_spark_early(
    settings: SparkSettings, app_name: str = "webtrail", log_bytes: int | None = None
) -> SparkStarter:
    """Start the JVM now for a run that will need it; `spark_session` of the same settings will use it."""
    starter = SparkStarter(settings, app_name, log_bytes).start()
    _EARLY.append(starter)
    return starter


def spark_session(settings: SparkSettings, log_bytes: int | None = None) -> SparkSession:
    """The run's SparkSession: the one started early with these settings if any, else built now."""
    for starter in _EARLY:
        if starter.settings == settings:
            return starter.session()
    return build_spark_session(settings, log_bytes=log_bytes)


# Spark's internal settings for interpreted evaluation: no whole-stage Java source per plan, and
# expressions evaluated by their interpreted implementations instead of generated classes.
_INTERPRETED_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


def staged_rows(dataset: Path) -> int:
    """Rows of a staged Parquet file or directory, from the footers alone (no data read)."""
    files = sorted(dataset.rglob("*.parquet")) if dataset.is_dir() else [dataset]
    return sum(pq.ParquetFile(path).metadata.num_rows for path in files)


@contextmanager
def generated_code_for(spark: SparkSession, requests: int, settings: SparkSettings) -> Iterator[bool]:
    """Run the block with Spark's code generation off when the day has few requests; yields whether it is on.

    Janino compiles each plan's generated classes on the driver, a fixed cost per query whatever
    the rows. On a small day it is most of the stage (BENCHMARKS.md, "The driver JVM"), so such
    days run interpreted. The session's previous values are restored afterwards.
    """
    if requests > settings.interpreted_max_requests:
        yield True
        return
    with interpreted(spark):
        yield False


@contextmanager
def interpreted(spark: SparkSession) -> Iterator[None]:
    """Run the block's queries without code generation (the session's values restored afterwards)."""
    previous = {key: spark.conf.get(key, None) for key in _INTERPRETED_CONF}
    for key, value in _INTERPRETED_CONF.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
