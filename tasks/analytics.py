"""Analytics stage: one Spark job builds every behavior, performance and security table."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from analytics.pipeline import build_tables, write_tables
from analytics.spark import generated_code_for, spark_session, staged_rows
from config.layout import DayLayout
from config.settings import WebtrailSettings


@task(name="spark-analytics", cache_policy=NO_CACHE, timeout_seconds=6 * 3600)
def run_analytics(layout: DayLayout, settings: WebtrailSettings, log_bytes: int | None = None) -> dict[str, str]:
    """Sessionize, aggregate and detect in Spark; returns table name -> Parquet directory.

    The session (started early by `python -m flows.daily`, else created here) is passed explicitly:
    Spark's active session is per thread and Prefect may run tasks on worker threads. `log_bytes`,
    the day's access logs as stored, sizes the driver JVM's JIT when the session is created here.
    """
    logger = get_run_logger()
    spark = spark_session(settings.spark, log_bytes)  # the one flows.daily started early, else a new one
    logger.info("Spark %s on %s", spark.version, spark.sparkContext.master)
    requests = staged_rows(layout.requests)
    try:
        with generated_code_for(spark, requests, settings.spark) as generated:
            if not generated:
                logger.info("%d requests: Spark expressions run interpreted (no code generation)", requests)
            written = write_tables(build_tables(spark, layout, settings), layout)
    finally:
        # The session outlives the run (backfills, workers): cached frames of this day's Parquet paths
        # would otherwise be served to the next run of the same day.
        spark.catalog.clearCache()
    logger.info("Spark wrote %d tables under %s", len(written), layout.output)
    return {name: str(path) for name, path in written.items()}
