"""Output contracts: every table's contract runs on a well-formed row (DuckDB, fast), and the same
contracts run on Spark DataFrames (soda-sparkdf) and PostgreSQL tables (soda-postgres) [integration].
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest

from checks.runner import CheckOutcome, ContractReport, verify_frames, verify_postgres, verify_spark
from config import catalog
from config.catalog import ColumnType
from config.layout import OUTPUT_TABLES
from warehouse.migrate import discover

DAY = date(2026, 11, 24)
VARIABLES = {"DAY": DAY.isoformat()}
MOMENT = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)

# Values that satisfy the contracts' valid_values / ranges; everything else comes from the column type.
OVERRIDES: dict[str, Any] = {
    "severity": "high",
    "category": "path_scan",
    "device_type": "desktop",
    "status": 404,
    "error_rate": 0.0,
    "errors": 0,
    "status_3xx": 0,
    "status_4xx": 0,
    "status_5xx": 0,
    "bounce_rate": 0.5,
    "conversion_from_previous": 0.5,
    "conversion_from_start": 0.5,
    "evidence": '{"paths": ["/.env"]}',
}
BY_TYPE: dict[ColumnType, Any] = {
    ColumnType.DATE: DAY,
    ColumnType.TEXT: "x",
    ColumnType.TEXT_LIST: ["u1"],
    ColumnType.JSON: "{}",
    ColumnType.INT32: 1,
    ColumnType.INT64: 1,
    ColumnType.FLOAT64: 1.0,
    ColumnType.BOOLEAN: False,
    ColumnType.TIMESTAMP: MOMENT,
}


def good_row(table: str) -> dict[str, Any]:
    return {c.name: OVERRIDES.get(c.name, BY_TYPE[c.type]) for c in catalog.dataset(table).columns}


def not_passed(report: ContractReport) -> dict[str, str]:
    assert report.infrastructure_error is None, report.infrastructure_error
    return {r.check_name: r.outcome for r in report.results if r.outcome != "PASSED"}


def outcome_named(report: ContractReport, check_name: str) -> CheckOutcome:
    """The one result of `check_name` (the rows tasks/quality.py stores, looked up by check name)."""
    (result,) = [result for result in report.results if result.check_name == check_name]
    return result


@pytest.mark.parametrize("table", OUTPUT_TABLES)
def test_a_well_formed_row_passes(table: str) -> None:
    report = verify_frames(table, {table: pl.DataFrame([good_row(table)])}, VARIABLES)
    assert not_passed(report) == {}


@pytest.mark.parametrize("table", OUTPUT_TABLES)
def test_a_repeated_primary_key_trips_only_the_key_check(table: str) -> None:
    row = good_row(table)
    report = verify_frames(table, {table: pl.DataFrame([row, row])}, VARIABLES)
    assert not_passed(report) == {f"{table}_primary_key": "FAILED"}


def test_rows_of_another_day_trip_only_the_day_check() -> None:
    rows = [good_row("status_daily"), {**good_row("status_daily"), "day": date(2026, 11, 23)}]
    report = verify_frames("status_daily", {"status_daily": pl.DataFrame(rows)}, VARIABLES)
    assert not_passed(report) == {"status_daily_day_is_run_day": "FAILED"}


# ------------------------------------------------------------------------------------ integration


@pytest.mark.integration
def test_output_contract_on_a_spark_dataframe(spark: Any) -> None:
    from analytics.contracts import OUTPUT_SCHEMAS

    schema = OUTPUT_SCHEMAS["sessions"]
    row = good_row("sessions")
    spark.createDataFrame([{"x": 1}]).createOrReplaceTempView("sessions")  # a pipeline view of that name
    clean = spark.createDataFrame([row], schema=schema)
    assert not_passed(verify_spark("sessions", spark, clean, VARIABLES)) == {}

    bad = spark.createDataFrame([row, {**row, "session_id": "s2", "device_type": "toaster"}], schema=schema)
    report = verify_spark("sessions", spark, bad, VARIABLES)
    assert not_passed(report) == {"device_type_valid": "FAILED"}
    assert not spark.catalog.tableExists("global_temp.sessions")  # the view is dropped again
    assert spark.table("sessions").columns == ["x"]  # and the pipeline's own temp view is untouched


@pytest.fixture(scope="module")
def pg_url(pg_server: str) -> str:
    """The session's embedded PostgreSQL (tests/conftest.py)."""
    return pg_server


@pytest.mark.integration
def test_output_contract_on_postgres_checks_the_run_day_only(pg_url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    with psycopg2.connect(pg_url) as connection, connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA IF EXISTS webtrail CASCADE")
        for migration in discover():
            cursor.execute(migration.sql)
        rows = [  # the older day has requests = 0: outside the run's filter
            {**good_row("status_daily"), "day": DAY, "status": 200, "requests": 5, "bytes": 100},
            {**good_row("status_daily"), "day": DAY, "status": 404, "requests": 1, "bytes": 0},
            {**good_row("status_daily"), "day": date(2026, 11, 23), "status": 200, "requests": 0, "bytes": 0},
        ]
        for row in rows:  # by column name, other columns from good_row: a new column needs no edit here
            cursor.execute(
                sql.SQL("INSERT INTO webtrail.status_daily ({}) VALUES ({})").format(
                    sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(sql.Placeholder() * len(row))
                ),
                list(row.values()),
            )
    report = verify_postgres("status_daily", pg_url, VARIABLES)
    assert not_passed(report) == {}
    assert outcome_named(report, "status_daily_row_count").measured_value == 2

    report = verify_postgres("status_daily", pg_url, {"DAY": "2026-11-23"})
    assert not_passed(report) == {"requests_positive": "FAILED"}


@pytest.mark.integration
def test_an_unreachable_postgres_is_a_run_error_without_the_password() -> None:
    report = verify_postgres("status_daily", "postgresql://u:s3cret@127.0.0.1:1/db", VARIABLES)
    assert report.infrastructure_error and "s3cret" not in report.infrastructure_error
    assert not report.has_blocking_failure
