"""Run a Soda v4 contract of checks/contracts/ on each engine webtrail uses (no Prefect here).

DuckDB over Parquet files or polars frames (the staging data and Spark's output files), a Spark
DataFrame (soda-sparkdf), and a PostgreSQL table (soda-postgres). A contract's ``dataset:`` is
``${var.DATASET_PREFIX}/<table>``; each adapter fills DATASET_PREFIX for its engine, so the same
contract runs on each of them. Every adapter returns a ContractReport and never raises: a contract
that cannot run is reported as its ``infrastructure_error``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")

# soda_core first: importing a data-source package first trips a circular plugin import in 4.28.
import duckdb  # noqa: E402
import polars as pl  # noqa: E402
from soda_core.contracts import verify_contract_locally  # noqa: E402
from soda_duckdb import DuckDBDataSource  # noqa: E402

from checks.postgres_dsn import InvalidDatabaseUrl, postgres_connection  # noqa: E402
from checks.results import ContractReport, ContractRunError, outcome_of_soda_check  # noqa: E402
from checks.threshold_variables import rendered_contract  # noqa: E402
from parsers.schema import PARSE_STATS_SCHEMA  # noqa: E402  (declared in config/catalog)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from soda_core.common.data_source_impl import DataSourceImpl

CONTRACTS_DIR: Path = Path(__file__).resolve().parent / "contracts"

INPUT_DATASETS: tuple[str, ...] = ("requests", "events", "users", "parse_stats")

# contracts/cross_table.yml: totals and references across the staging and the Spark outputs.
CROSS_TABLE = "cross_table"
CROSS_TABLE_SOURCES: tuple[str, ...] = (
    "requests", "users", "sessions", "user_daily", "traffic_minute", "status_daily", "endpoint_daily", "ip_daily",
)

DUCKDB_DATA_SOURCE = "webtrail"
DUCKDB_DATASET_PREFIX = f"{DUCKDB_DATA_SOURCE}/main"
SPARK_DATA_SOURCE = "webtrail_spark"
SPARK_VIEW_SCHEMA = "global_temp"  # spark.sql.globalTempDatabase
POSTGRES_DATA_SOURCE = "webtrail_pg"



def contract_path(dataset: str) -> Path:
    return CONTRACTS_DIR / f"{dataset}.yml"


def parse_stats_frame(stats: Iterable[tuple[str, int, int]]) -> pl.DataFrame:
    """The `parse_stats` dataset from (source_file, lines_read, lines_rejected) per input file."""
    return pl.DataFrame(list(stats), schema=PARSE_STATS_SCHEMA, orient="row")


def verify_parquet(
    dataset: str,
    parquet_paths: Mapping[str, Path | pl.DataFrame],
    variables: Mapping[str, str],
    *,
    contract: Path | None = None,
) -> ContractReport:
    """Run `dataset`'s contract on Parquet files exposed as DuckDB views (name -> file or directory).

    The contract's table is ``parquet_paths[dataset]``; other entries are available to SQL checks.
    An entry may also be an in-memory polars frame (e.g. the one-row anchor of ``cross_table``).
    """
    missing = [
        f"{name}: {path}"
        for name, path in parquet_paths.items()
        if not isinstance(path, pl.DataFrame) and not Path(path).exists()
    ]
    if dataset not in parquet_paths:
        missing.insert(0, f"no Parquet path given for dataset {dataset!r}")
    if missing:
        return ContractReport(dataset, [], "missing input: " + "; ".join(missing))
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for name, source in parquet_paths.items():
            if isinstance(source, pl.DataFrame):
                connection.register(name, source.to_arrow())
                continue
            path = Path(source)
            pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
            connection.read_parquet(pattern).create_view(name, replace=True)
    except Exception as exc:  # noqa: BLE001 - unreadable Parquet is a run error, reported, not raised
        connection.close()
        return ContractReport(dataset, [], f"cannot read Parquet: {type(exc).__name__}: {exc}")
    try:
        data_source = DuckDBDataSource.from_existing_cursor(connection, name=DUCKDB_DATA_SOURCE)
        return run_contract(dataset, data_source, DUCKDB_DATASET_PREFIX, variables, contract)
    finally:
        connection.close()


def verify_cross_table(
    parquet_paths: Mapping[str, Path],
    variables: Mapping[str, str],
    *,
    contract: Path | None = None,
) -> ContractReport:
    """Run contracts/cross_table.yml: totals and user references across several Parquet datasets.

    ``parquet_paths`` needs every name of CROSS_TABLE_SOURCES (extra entries are ignored); the anchor
    dataset ``cross_table`` is a one-row frame holding the run's DAY.
    """
    absent = [name for name in CROSS_TABLE_SOURCES if name not in parquet_paths]
    if absent:
        return ContractReport(CROSS_TABLE, [], f"missing input: no Parquet path for {', '.join(absent)}")
    try:
        day = date.fromisoformat(str(variables.get("DAY")))
    except ValueError:
        return ContractReport(CROSS_TABLE, [], f"DAY={variables.get('DAY')!r} is not a YYYY-MM-DD date")
    sources: dict[str, Path | pl.DataFrame] = {name: Path(parquet_paths[name]) for name in CROSS_TABLE_SOURCES}
    sources[CROSS_TABLE] = pl.DataFrame({"day": [day]}, schema={"day": pl.Date()})
    return verify_parquet(CROSS_TABLE, sources, variables, contract=contract)


def verify_frames(
    dataset: str,
    frames: Mapping[str, pl.DataFrame],
    variables: Mapping[str, str],
    *,
    contract: Path | None = None,
) -> ContractReport:
    """Like verify_parquet, for in-memory polars frames (e.g. parse_stats_frame(...))."""
    if dataset not in frames:
        return ContractReport(dataset, [], f"no frame given for dataset {dataset!r}")
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for name, frame in frames.items():
            connection.register(name, frame.to_arrow())
        data_source = DuckDBDataSource.from_existing_cursor(connection, name=DUCKDB_DATA_SOURCE)
        return run_contract(dataset, data_source, DUCKDB_DATASET_PREFIX, variables, contract)
    finally:
        connection.close()


def verify_spark(
    dataset: str,
    spark: SparkSession,
    frame: DataFrame,
    variables: Mapping[str, str],
    *,
    contract: Path | None = None,
) -> ContractReport:
    """Run `dataset`'s contract on a Spark DataFrame through soda-sparkdf.

    The frame is registered as the global temp view `global_temp.<dataset>` (so it never replaces a
    session temp view of the pipeline) and dropped afterwards. The session is passed explicitly:
    soda-sparkdf would otherwise use the thread's active session.
    """
    try:
        from soda_sparkdf import SparkDataFrameDataSource

        frame.createOrReplaceGlobalTempView(dataset)
    except Exception as exc:  # noqa: BLE001
        return ContractReport(dataset, [], f"cannot register the DataFrame: {type(exc).__name__}: {exc}")
    try:
        data_source = SparkDataFrameDataSource.from_existing_session(session=spark, name=SPARK_DATA_SOURCE)
        return run_contract(dataset, data_source, f"{SPARK_DATA_SOURCE}/{SPARK_VIEW_SCHEMA}", variables, contract)
    finally:
        spark.catalog.dropGlobalTempView(dataset)


def verify_postgres(
    dataset: str,
    database_url: str,
    variables: Mapping[str, str],
    *,
    schema: str = "webtrail",
    contract: Path | None = None,
) -> ContractReport:
    """Run `dataset`'s contract on the PostgreSQL table `<schema>.<dataset>` through soda-postgres.

    With DAY set, only that day's rows are verified (ROW_FILTER; the Spark/Parquet runs see one day).

    `database_url` is a libpq URL or key=value string (see checks.postgres_dsn); it never appears in
    the report.
    """
    try:
        from soda_postgres.common.data_sources.postgres_data_source import PostgresDataSourceImpl
        from soda_postgres.common.data_sources.postgres_data_source_connection import PostgresDataSource

        connection = postgres_connection(database_url)
        model = PostgresDataSource(name=POSTGRES_DATA_SOURCE, connection=connection)
        data_source = PostgresDataSourceImpl(data_source_model=model)
    except InvalidDatabaseUrl as exc:  # its message never holds the URL
        return ContractReport(dataset, [], f"invalid PostgreSQL configuration: {exc}")
    except Exception as exc:  # noqa: BLE001 - the message may carry the URL: keep only the type
        return ContractReport(dataset, [], f"invalid PostgreSQL configuration ({type(exc).__name__})")
    merged = dict(variables)
    if "DAY" in merged and "ROW_FILTER" not in merged:
        try:
            day = date.fromisoformat(str(merged["DAY"]))
        except ValueError:
            return ContractReport(dataset, [], f"DAY={merged['DAY']!r} is not a YYYY-MM-DD date")
        # The table holds every day: verify the run's day only (a validated date, never free text).
        merged["ROW_FILTER"] = f"day = DATE '{day.isoformat()}'"
    prefix = f"{POSTGRES_DATA_SOURCE}/{connection['database']}/{schema}"
    return run_contract(dataset, data_source, prefix, merged, contract)


def run_contract(
    dataset: str,
    data_source: DataSourceImpl,
    dataset_prefix: str,
    variables: Mapping[str, str],
    contract: Path | None,
) -> ContractReport:
    """Verify `dataset`'s contract (or `contract`) on an open Soda data source; run errors reported."""
    path = contract or contract_path(dataset)
    if not path.is_file():
        return ContractReport(dataset, [], f"no contract file {path}")
    soda_variables = {"DATASET_PREFIX": dataset_prefix, **{name: str(value) for name, value in variables.items()}}
    try:
        with rendered_contract(path, soda_variables) as rendered:
            session = verify_contract_locally(
                data_sources=[data_source],
                contract_file_path=str(rendered),
                variables=soda_variables,
                publish=False,
            )
    except ContractRunError as exc:
        return ContractReport(dataset, [], str(exc))
    except Exception as exc:  # noqa: BLE001 - Soda raising is a run error, never a data verdict
        return ContractReport(dataset, [], f"Soda raised {type(exc).__name__}: {exc}")

    results = [
        outcome_of_soda_check(check_result)
        for contract_result in session.contract_verification_results
        for check_result in contract_result.check_results
    ]
    error: str | None = None
    if session.has_errors:
        error = session.get_errors_str() or "Soda reported errors"
    elif not results:
        error = "the contract produced no check results"
    names = [result.check_name for result in results]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates and error is None:
        error = f"check names must be unique per dataset, repeated: {', '.join(duplicates)}"
    return ContractReport(dataset, results, error)
