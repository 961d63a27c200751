"""report.timings.spark_counts reads the jobs and stages of the run's SparkContext (bench_daily reports them)."""

from __future__ import annotations

from pyspark.sql import functions as sql_functions

from report.timings import spark_counts


def test_a_shuffle_adds_a_job_and_two_stages(spark) -> None:
    before = spark_counts()
    assert before is not None
    numbers = spark.range(1000).withColumn("bucket", sql_functions.col("id") % 7)
    rows = numbers.groupBy("bucket").count().collect()
    after = spark_counts()
    assert len(rows) == 7 and after is not None
    assert after["jobs"] > before["jobs"]
    # the map side of the aggregation and its reduce side are two stages at least
    assert after["stages"] - before["stages"] >= 2
    assert 0 < after["stages_run"] <= after["stages"]
