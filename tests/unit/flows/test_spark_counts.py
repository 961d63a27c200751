"""report.timings.spark_counts reads the jobs and stages of the run's SparkContext (bench_daily reports them)."""

from __future__ import annotations

from pyspark.sql import functions as sql_functions

from report.timings import jvm_memory, process_role, rss_by_role, spark_counts


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


def test_the_jvm_memory_and_the_rss_by_process(spark) -> None:
    spark.range(10_000).selectExpr("sum(id)").collect()
    memory = jvm_memory()
    assert memory is not None
    # the test driver has 3g (tests/conftest.py): the limit is about that, and what was used is below it
    assert 2500 <= memory["heap_max"] <= 3100
    assert 0 < memory["heap_peak_used"] and memory["heap_committed"] <= memory["heap_max"]
    assert memory["non_heap_used"] > 0 and memory["direct_buffers"] >= 0
    rss = rss_by_role()
    assert rss["python_flow"] > 0
    assert rss["jvm"] > memory["heap_peak_used"] / 4  # the JVM runs as a child of this process


def test_process_roles_from_command_lines() -> None:
    assert process_role(["/usr/lib/jvm/java-17/bin/java", "-cp", "x", "org.apache.spark.deploy.SparkSubmit"]) == "jvm"
    assert process_role(["python", "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app"]) == (
        "prefect_api")
    assert process_role(["python", "-m", "flows.daily", "--database-url", "postgresql://x"]) == "python_flow"
    assert process_role(["postgres: webtrail webtrail 127.0.0.1(5432) idle"]) == "postgresql"
    assert process_role([]) == "other"
