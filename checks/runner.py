"""Run the Soda v4 data contracts of checks/contracts/ and map their results (no Prefect here).

    report = verify_parquet("requests", {"requests": layout.requests}, {"WINDOW_START": ..., ...})
    raise_on_blocking([report, ...])          # QualityGateError / ContractRunError

One contract per dataset: ``checks/contracts/<dataset>.yml``. Its ``dataset:`` is
``${var.DATASET_PREFIX}/<table>``; the runner fills DATASET_PREFIX for the engine it uses (DuckDB over
Parquet, a Spark session, PostgreSQL), so the same contract runs on each of them.

Levels: a check whose threshold has ``level: warn`` reports WARN instead of FAILED and is ``warn``;
every other check is ``blocking``. Soda 4.28 reads threshold numbers as YAML numbers only, so a
threshold (or valid_min / valid_max / length) written as exactly ``${var.NAME}`` is substituted by
this runner before Soda parses the file; every other ``${var.NAME}`` is resolved by Soda itself.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")

# soda_core first: importing a data-source package first trips a circular plugin import in 4.28.
import duckdb  # noqa: E402
import polars as pl  # noqa: E402
import yaml  # noqa: E402
from soda_core.contracts import verify_contract_locally  # noqa: E402
from soda_core.contracts.contract_verification import CheckResult, Threshold  # noqa: E402
from soda_duckdb import DuckDBDataSource  # noqa: E402

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

Level = Literal["blocking", "warn"]
Outcome = Literal["PASSED", "FAILED", "WARN", "NOT_EVALUATED"]


@dataclass(frozen=True)
class CheckOutcome:
    """One check of one contract run, as stored in webtrail.quality_results."""

    check_name: str
    check_type: str
    column_name: str | None
    level: Level
    outcome: Outcome
    measured_value: float | int | None
    metric_values: dict[str, Any]
    threshold: str

    @property
    def is_blocking_failure(self) -> bool:
        return self.level == "blocking" and self.outcome == "FAILED"

    @property
    def is_problem(self) -> bool:
        """Anything an on-call engineer should read: a failure, a warning, or a check that did not run."""
        return self.outcome != "PASSED"


@dataclass
class ContractReport:
    """The result of one dataset's contract; data failures and run errors kept apart."""

    dataset: str
    results: list[CheckOutcome] = field(default_factory=list)
    infrastructure_error: str | None = None
    duration_seconds: float = 0.0

    @property
    def has_blocking_failure(self) -> bool:
        return any(r.is_blocking_failure for r in self.results)

    @property
    def has_warnings(self) -> bool:
        return any(r.outcome == "WARN" or (r.outcome == "FAILED" and r.level == "warn") for r in self.results)

    @property
    def is_ok(self) -> bool:
        return self.infrastructure_error is None and not self.has_blocking_failure

    def outcome_of(self, check_name: str) -> CheckOutcome:
        for result in self.results:
            if result.check_name == check_name:
                return result
        raise KeyError(f"{self.dataset}: no check named {check_name!r}")

    def summary_lines(self) -> list[str]:
        """One line per check that did not pass, then the run error if any."""
        lines = [
            f"{self.dataset}.{r.check_name} [{r.level}] {r.outcome}: measured {_fmt(r.measured_value)}, "
            f"expected {r.threshold}"
            for r in self.results
            if r.is_problem
        ]
        if self.infrastructure_error:
            lines.append(f"{self.dataset}: contract could not run: {self.infrastructure_error}")
        return lines


class QualityGateError(Exception):
    """A blocking check failed: the data must not be loaded."""

    def __init__(self, failures: list[tuple[str, CheckOutcome]], extra_lines: list[str] | None = None):
        self.failures = failures
        self.extra_lines = list(extra_lines or [])
        head = f"{len(failures)} blocking data-quality check(s) failed:"
        lines = [
            f"  {dataset}.{r.check_name}: measured {_fmt(r.measured_value)}, expected {r.threshold}"
            + (f" (column {r.column_name})" if r.column_name else "")
            for dataset, r in failures
        ]
        super().__init__("\n".join([head, *lines, *self.extra_lines]))

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable with its failures (Prefect may serialize a task's exception)."""
        return (type(self), (self.failures, self.extra_lines))


class ContractRunError(Exception):
    """A contract could not be run (missing file, broken YAML, SQL error): not a data failure."""


def raise_on_blocking(reports: Iterable[ContractReport]) -> None:
    """Raise QualityGateError on any blocking failure, else ContractRunError on any run error."""
    reports = list(reports)
    failures = [(rep.dataset, r) for rep in reports for r in rep.results if r.is_blocking_failure]
    errors = [f"{rep.dataset}: {rep.infrastructure_error}" for rep in reports if rep.infrastructure_error]
    if failures:
        raise QualityGateError(failures, [f"  also could not run: {e}" for e in errors])
    if errors:
        raise ContractRunError("data contract(s) could not run:\n  " + "\n  ".join(errors))


def contract_path(dataset: str) -> Path:
    return CONTRACTS_DIR / f"{dataset}.yml"


def parse_stats_frame(stats: Iterable[tuple[str, int, int]]) -> pl.DataFrame:
    """The `parse_stats` dataset from (source_file, lines_read, lines_rejected) per input file."""
    return pl.DataFrame(list(stats), schema=PARSE_STATS_SCHEMA, orient="row")


# ------------------------------------------------------------------------------------------- engines


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
    started = time.perf_counter()
    missing = [
        f"{name}: {path}"
        for name, path in parquet_paths.items()
        if not isinstance(path, pl.DataFrame) and not Path(path).exists()
    ]
    if dataset not in parquet_paths:
        missing.insert(0, f"no Parquet path given for dataset {dataset!r}")
    if missing:
        return _error_report(dataset, "missing input: " + "; ".join(missing), started)
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
        return _error_report(dataset, f"cannot read Parquet: {type(exc).__name__}: {exc}", started)
    try:
        data_source = DuckDBDataSource.from_existing_cursor(connection, name=DUCKDB_DATA_SOURCE)
        return _run(dataset, data_source, DUCKDB_DATASET_PREFIX, variables, contract, started)
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
    started = time.perf_counter()
    absent = [name for name in CROSS_TABLE_SOURCES if name not in parquet_paths]
    if absent:
        return _error_report(CROSS_TABLE, f"missing input: no Parquet path for {', '.join(absent)}", started)
    try:
        day = date.fromisoformat(str(variables.get("DAY")))
    except ValueError:
        return _error_report(CROSS_TABLE, f"DAY={variables.get('DAY')!r} is not a YYYY-MM-DD date", started)
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
    started = time.perf_counter()
    if dataset not in frames:
        return _error_report(dataset, f"no frame given for dataset {dataset!r}", started)
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        for name, frame in frames.items():
            connection.register(name, frame.to_arrow())
        data_source = DuckDBDataSource.from_existing_cursor(connection, name=DUCKDB_DATA_SOURCE)
        return _run(dataset, data_source, DUCKDB_DATASET_PREFIX, variables, contract, started)
    finally:
        connection.close()


def verify_spark(
    dataset: str,
    spark: SparkSession,
    df: DataFrame,
    variables: Mapping[str, str],
    *,
    contract: Path | None = None,
) -> ContractReport:
    """Run `dataset`'s contract on a Spark DataFrame through soda-sparkdf.

    The frame is registered as the global temp view `global_temp.<dataset>` (so it never replaces a
    session temp view of the pipeline) and dropped afterwards. The session is passed explicitly:
    soda-sparkdf would otherwise use the thread's active session.
    """
    started = time.perf_counter()
    try:
        from soda_sparkdf import SparkDataFrameDataSource

        df.createOrReplaceGlobalTempView(dataset)
    except Exception as exc:  # noqa: BLE001
        return _error_report(dataset, f"cannot register the DataFrame: {type(exc).__name__}: {exc}", started)
    try:
        data_source = SparkDataFrameDataSource.from_existing_session(session=spark, name=SPARK_DATA_SOURCE)
        return _run(
            dataset, data_source, f"{SPARK_DATA_SOURCE}/{SPARK_VIEW_SCHEMA}", variables, contract, started
        )
    finally:
        spark.catalog.dropGlobalTempView(dataset)


def postgres_connection(database_url: str) -> dict[str, Any]:
    """soda-postgres ``connection:`` properties for a libpq URL or key=value string, as libpq reads it.

    Percent-encoded query parameters are decoded, so a unix-socket directory in ``host`` (the embedded
    server's ``postgresql://postgres@/webtrail?host=%2F...&port=5432``) reaches psycopg as a path.
    Parameters the URL leaves out take libpq's defaults (PGHOST, PGPORT, PGUSER, PGPASSWORD,
    PGDATABASE, the OS user), so Soda connects where the loader's psycopg2 does; an empty host means
    libpq's default socket. Every other libpq parameter (sslrootcert, options, ...) is passed through.
    Raises ValueError (from psycopg) for a malformed URL.
    """
    from psycopg import pq
    from psycopg.conninfo import conninfo_to_dict

    params = {key: str(value) for key, value in conninfo_to_dict(database_url).items() if value is not None}
    defaults = {
        d.keyword.decode(): d.val.decode()
        for d in pq.Conninfo.get_defaults()
        if d.val is not None and d.keyword.decode() in ("host", "port", "user", "password", "dbname")
    }
    params = {**defaults, **params}
    user = params.pop("user", "") or "postgres"
    connection: dict[str, Any] = {
        "host": params.pop("host", ""),
        "port": int(params.pop("port", "5432") or 5432),
        "database": params.pop("dbname", "") or user,
        "user": user,
        "password": params.pop("password", ""),  # empty: libpq then reads ~/.pgpass
        "connect_timeout": params.pop("connect_timeout", "30"),
    }
    connection.update(params)
    return connection


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

    `database_url` is a libpq URL or key=value string (see postgres_connection); it never appears in
    the report.
    """
    started = time.perf_counter()
    try:
        from soda_postgres.common.data_sources.postgres_data_source import PostgresDataSourceImpl
        from soda_postgres.common.data_sources.postgres_data_source_connection import PostgresDataSource

        connection = postgres_connection(database_url)
        model = PostgresDataSource(name=POSTGRES_DATA_SOURCE, connection=connection)
        data_source = PostgresDataSourceImpl(data_source_model=model)
    except Exception as exc:  # noqa: BLE001 - the message may carry the URL: keep only the type
        return _error_report(dataset, f"invalid PostgreSQL configuration ({type(exc).__name__})", started)
    merged = dict(variables)
    if "DAY" in merged and "ROW_FILTER" not in merged:
        try:
            day = date.fromisoformat(str(merged["DAY"]))
        except ValueError:
            return _error_report(dataset, f"DAY={merged['DAY']!r} is not a YYYY-MM-DD date", started)
        # The table holds every day: verify the run's day only (a validated date, never free text).
        merged["ROW_FILTER"] = f"day = DATE '{day.isoformat()}'"
    prefix = f"{POSTGRES_DATA_SOURCE}/{connection['database']}/{schema}"
    return _run(dataset, data_source, prefix, merged, contract, started)


# ------------------------------------------------------------------------------------------ internals


def _run(
    dataset: str,
    data_source: DataSourceImpl,
    dataset_prefix: str,
    variables: Mapping[str, str],
    contract: Path | None,
    started: float,
) -> ContractReport:
    path = contract or contract_path(dataset)
    if not path.is_file():
        return _error_report(dataset, f"no contract file {path}", started)
    soda_variables = {"DATASET_PREFIX": dataset_prefix, **{k: str(v) for k, v in variables.items()}}
    try:
        with _rendered_contract(path, soda_variables) as rendered:
            session = verify_contract_locally(
                data_sources=[data_source],
                contract_file_path=str(rendered),
                variables=soda_variables,
                publish=False,
            )
    except ContractRunError as exc:
        return _error_report(dataset, str(exc), started)
    except Exception as exc:  # noqa: BLE001 - Soda raising is a run error, never a data verdict
        return _error_report(dataset, f"Soda raised {type(exc).__name__}: {exc}", started)

    results = [
        _map_check(check_result)
        for contract_result in session.contract_verification_results
        for check_result in contract_result.check_results
    ]
    error: str | None = None
    if session.has_errors:
        error = session.get_errors_str() or "Soda reported errors"
    elif not results:
        error = "the contract produced no check results"
    names = [r.check_name for r in results]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates and error is None:
        error = f"check names must be unique per dataset, repeated: {', '.join(duplicates)}"
    return ContractReport(dataset, results, error, round(time.perf_counter() - started, 3))


def _error_report(dataset: str, message: str, started: float) -> ContractReport:
    return ContractReport(dataset, [], message, round(time.perf_counter() - started, 3))


def _map_check(check_result: CheckResult) -> CheckOutcome:
    check = check_result.check
    level: Level = "warn" if check.threshold is not None and check.threshold.level == "warn" else "blocking"
    outcome_name = check_result.outcome.name
    outcome: Outcome = outcome_name if outcome_name in ("PASSED", "FAILED", "WARN") else "NOT_EVALUATED"
    metric_values: dict[str, Any] = {
        k: _jsonable(v) for k, v in (check_result.diagnostic_metric_values or {}).items()
    }
    if check.type == "schema":
        metric_values.update(_schema_details(check_result))
    threshold = _threshold_text(check.threshold)
    if check.warn_threshold is not None:
        threshold += f" (warn unless {_threshold_text(check.warn_threshold)})"
    return CheckOutcome(
        check_name=check.name,
        check_type=check.type,
        column_name=check.column_name,
        level=level,
        outcome=outcome,
        measured_value=_jsonable(check_result.threshold_value),
        metric_values=metric_values,
        threshold=threshold,
    )


def _schema_details(check_result: CheckResult) -> dict[str, Any]:
    details: dict[str, Any] = {}
    missing = getattr(check_result, "expected_column_names_not_actual", None)
    extra = getattr(check_result, "actual_column_names_not_expected", None)
    mismatches = getattr(check_result, "column_data_type_mismatches", None)
    if missing:
        details["missing_columns"] = list(missing)
    if extra:
        details["unexpected_columns"] = list(extra)
    if mismatches:
        details["type_mismatches"] = [
            f"{m.column}: expected {m.expected_data_type}, actual {m.actual_data_type}" for m in mismatches
        ]
    return details


_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("must_be", "="),
    ("must_not_be", "!="),
    ("must_be_greater_than", ">"),
    ("must_be_greater_than_or_equal", ">="),
    ("must_be_less_than", "<"),
    ("must_be_less_than_or_equal", "<="),
)


def _threshold_text(threshold: Threshold | None) -> str:
    if threshold is None:
        return "n/a"
    parts = [
        f"{op} {_fmt(getattr(threshold, key))}"
        for key, op in _COMPARISONS
        if getattr(threshold, key) is not None
    ]
    text = " and ".join(parts) or "n/a"
    return f"{text} [warn level]" if threshold.level == "warn" else text


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "nothing (not evaluated)"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


# Keys Soda 4.28 reads with read_number_opt: a `${var.X}` there is a string and is rejected.
_NUMERIC_KEYS = (
    "must_be|must_not_be|must_be_greater_than|must_be_greater_than_or_equal|must_be_less_than"
    "|must_be_less_than_or_equal|greater_than|greater_than_or_equal|less_than|less_than_or_equal"
    "|valid_min|valid_max|valid_length|valid_min_length|valid_max_length"
)
_NUMERIC_VARIABLE = re.compile(
    rf"^(?P<head>[ \t]*(?:-[ \t]+)?(?:{_NUMERIC_KEYS})[ \t]*:[ \t]*)"
    r"(?P<q>[\"']?)\$\{\s*var\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\}(?P=q)(?P<tail>[ \t]*(?:#.*)?)$",
    re.MULTILINE,
)


def _number_literal(name: str, raw: str) -> str:
    text = raw.strip()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return str(int(text))
    try:
        number = float(text)
    except ValueError:
        raise ContractRunError(
            f"variable {name}={raw!r} is used as a threshold and is not a number"
        ) from None
    if not math.isfinite(number):
        raise ContractRunError(f"variable {name}={raw!r} is used as a threshold and is not finite")
    return repr(number)


@contextmanager
def _rendered_contract(path: Path, variables: Mapping[str, str]) -> Iterator[Path]:
    """The contract with numeric `${var.X}` values substituted (line numbers kept), else the file itself."""
    text = path.read_text(encoding="utf-8")
    if not _NUMERIC_VARIABLE.search(text):
        yield path
        return
    try:
        declared = (yaml.safe_load(text) or {}).get("variables") or {}
    except yaml.YAMLError as exc:
        raise ContractRunError(f"{path}: YAML syntax error: {exc}") from None

    def substitute(match: re.Match[str]) -> str:
        name = match["name"]
        if name in variables:
            raw = variables[name]
        elif isinstance(declared.get(name), dict) and declared[name].get("default") is not None:
            raw = str(declared[name]["default"])
        else:
            raise ContractRunError(f"{path}: threshold variable {name} has no value and no default")
        return f"{match['head']}{_number_literal(name, raw)}{match['tail']}"

    rendered_text = _NUMERIC_VARIABLE.sub(substitute, text)
    with tempfile.TemporaryDirectory(prefix="webtrail-contract-") as tmp:
        rendered = Path(tmp) / path.name
        rendered.write_text(rendered_text, encoding="utf-8")
        yield rendered
