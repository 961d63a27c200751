"""How a run's size chooses the driver JVM's JIT and Spark's code generation (analytics.spark)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from analytics.spark import (
    QUICK_JIT_OPTION,
    driver_java_options,
    driver_jit,
    generated_code_for,
    staged_rows,
)
from config.settings import SparkSettings
from parsers.inputs import stored_bytes

MIB = 2**20


@pytest.mark.parametrize(
    ("setting", "log_bytes", "expected"),
    [
        ("auto", 256 * MIB, "quick"),  # at the limit: quick
        ("auto", 256 * MIB + 1, "optimizing"),
        ("auto", 0, "quick"),
        ("auto", None, "optimizing"),  # size unknown: HotSpot's default
        ("quick", 10 * 2**30, "quick"),  # an explicit choice ignores the size
        ("optimizing", 1, "optimizing"),
    ],
)
def test_the_jit_follows_the_day_size_only_when_auto(setting: str, log_bytes: int | None, expected: str) -> None:
    assert driver_jit(SparkSettings(driver_jit=setting), log_bytes) == expected


def test_the_limit_is_a_setting() -> None:
    assert driver_jit(SparkSettings(quick_jit_max_log_mib=1), MIB) == "quick"
    assert driver_jit(SparkSettings(quick_jit_max_log_mib=1), MIB + 1) == "optimizing"


def test_java_options_add_the_quick_jit_to_the_users_own() -> None:
    mine = SparkSettings(extra_conf={"spark.driver.extraJavaOptions": " -Dfile.encoding=UTF-8 "})
    assert driver_java_options(mine, 1) == f"-Dfile.encoding=UTF-8 {QUICK_JIT_OPTION}"
    assert driver_java_options(mine, None) == "-Dfile.encoding=UTF-8"
    assert driver_java_options(SparkSettings(), 1) == QUICK_JIT_OPTION
    assert driver_java_options(SparkSettings(), None) is None


def test_a_users_own_tiered_stop_level_wins() -> None:
    theirs = SparkSettings(extra_conf={"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=4"})
    assert driver_java_options(theirs, 1) == "-XX:TieredStopAtLevel=4"


def test_staged_rows_reads_the_footers_of_a_file_or_a_directory(tmp_path: Path) -> None:
    pl.DataFrame({"line_number": [1, 2, 3]}).write_parquet(tmp_path / "one.parquet")
    (tmp_path / "dataset" / "part=a").mkdir(parents=True)
    pl.DataFrame({"line_number": [1, 2]}).write_parquet(tmp_path / "dataset" / "part=a" / "x.parquet")
    pl.DataFrame({"line_number": [7]}).write_parquet(tmp_path / "dataset" / "y.parquet")
    assert staged_rows(tmp_path / "one.parquet") == 3
    assert staged_rows(tmp_path / "dataset") == 3


def test_stored_bytes_sums_the_files_a_pattern_names_and_is_none_when_nothing_matches(tmp_path: Path) -> None:
    (tmp_path / "access.log").write_bytes(b"x" * 10)
    (tmp_path / "access.log.1").write_bytes(b"y" * 5)
    (tmp_path / "error.log").write_bytes(b"z" * 100)  # a directory's error log is not an access log
    assert stored_bytes([str(tmp_path)]) == 15
    assert stored_bytes([str(tmp_path / "access.log")]) == 10
    assert stored_bytes([str(tmp_path / "missing-*.log")]) is None


def _run_with_whole_stage_code(spark) -> tuple[list[tuple[int, int]], bool]:
    """Run a small aggregation; its rows, and whether its final plan has whole-stage generated code."""
    frame = spark.range(10).selectExpr("id % 3 AS key").groupBy("key").count()
    rows = sorted(tuple(row) for row in frame.collect())
    # after the run, adaptive execution's final plan marks each generated stage with a `*(n)` prefix
    return rows, "*(" in frame._jdf.queryExecution().executedPlan().toString()


EXPECTED = [(0, 4), (1, 3), (2, 3)]  # ids 0..9 modulo 3: 0,3,6,9 / 1,4,7 / 2,5,8


def test_small_days_run_interpreted_and_the_session_is_restored(spark) -> None:
    settings = SparkSettings(interpreted_max_requests=100)
    before = spark.conf.get("spark.sql.codegen.wholeStage", None)
    with generated_code_for(spark, 100, settings) as generated:
        assert generated is False
        assert spark.conf.get("spark.sql.codegen.factoryMode") == "NO_CODEGEN"
        assert _run_with_whole_stage_code(spark) == (EXPECTED, False)
    assert spark.conf.get("spark.sql.codegen.wholeStage", None) == before
    assert spark.conf.get("spark.sql.codegen.factoryMode", None) in (None, "FALLBACK")
    assert _run_with_whole_stage_code(spark) == (EXPECTED, True)


def test_larger_days_keep_code_generation(spark) -> None:
    with generated_code_for(spark, 101, SparkSettings(interpreted_max_requests=100)) as generated:
        assert generated is True
        assert _run_with_whole_stage_code(spark) == (EXPECTED, True)
