"""Investigation tasks: resolve the window, query Parquet + warehouse (or run SQL), publish the artifacts."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from config.settings import WebtrailSettings
from report.investigate import InvestigationQuery, InvestigationResult
from report.investigate_render import investigation_markdown, request_table, sql_markdown, table_cell
from warehouse.gateway import Warehouse
from webtrail.client import SqlRequest, Webtrail
from webtrail.sql import QueryResult

MARKDOWN_KEY = "webtrail-investigation"
TABLE_KEY = "webtrail-investigation-requests"
_IO_RETRIES: dict[str, Any] = {"retries": 2, "retry_delay_seconds": [2, 10], "cache_policy": NO_CACHE}


@task(name="resolve-warehouse", **_IO_RETRIES)
def resolve_warehouse(settings: WebtrailSettings, override: SecretStr | None) -> Warehouse:
    """The configured warehouse (flag, WEBTRAIL_DATABASE_URL, the secret block, else the embedded
    server, started if needed); never migrated here."""
    warehouse = Warehouse.resolve(settings, override)
    get_run_logger().info("Reading the warehouse at %s", warehouse.redacted_url)
    return warehouse


@task(name="latest-loaded-day", **_IO_RETRIES)
def latest_day(warehouse: Warehouse) -> date | None:
    """The most recent day in the warehouse, for an investigation without a time window."""
    return warehouse.latest_day()


@task(name="run-investigation", timeout_seconds=1800, **_IO_RETRIES)
def run_investigation(
    warehouse: Warehouse, settings: WebtrailSettings, query: InvestigationQuery
) -> InvestigationResult:
    """Scan the staged requests of the window's days and read findings, sessions and ip_daily."""
    result = warehouse.investigate(settings.data_dir.resolve(), query)
    logger = get_run_logger()
    if result.days_missing:
        logger.warning("No staged requests for %s", ", ".join(day.isoformat() for day in result.days_missing))
    logger.info(
        "%s: %d matching requests, %d findings, %d sessions, IPs %s",
        query.describe(), result.request_count, len(result.findings), len(result.sessions), result.ips,
    )
    return result


@task(name="publish-investigation", cache_policy=NO_CACHE)
def publish_investigation(result: InvestigationResult) -> None:
    """A markdown report (log content escaped) and a table artifact of the matching requests."""
    subject = result.query.describe()
    create_markdown_artifact(
        key=MARKDOWN_KEY, markdown=investigation_markdown(result), description=f"Investigation of {subject}"
    )
    create_table_artifact(
        key=TABLE_KEY,
        table=request_table(result) or [{"result": "no matching requests"}],
        description=f"First {len(result.requests)} of {result.request_count} matching requests ({subject})",
    )


@task(name="run-sql", timeout_seconds=1800, **_IO_RETRIES)
def run_sql(warehouse: Warehouse, settings: WebtrailSettings, request: SqlRequest) -> QueryResult:
    """A read-only DuckDB query over the window's staged requests and warehouse tables."""
    with Webtrail(settings, warehouse=warehouse) as client:
        result = client.run(request)
    read = sorted({partition.day.isoformat() for partition in result.partitions if partition.exists})
    get_run_logger().info(
        "%d rows in %.2f s; day partitions read: %s; warehouse rows: %s",
        result.table.num_rows, result.seconds, ", ".join(read) or "none", result.warehouse_rows,
    )
    return result


@task(name="publish-sql-result", cache_policy=NO_CACHE)
def publish_sql_result(query: str, result: QueryResult, limit: int) -> None:
    """The first `limit` rows as a table artifact and the query with what it read as markdown."""
    rows = result.table.slice(0, limit).to_pylist()
    create_table_artifact(
        key=TABLE_KEY,
        table=[{name: table_cell(value) for name, value in row.items()} for row in rows] or [{"result": "no rows"}],
        description=f"First {len(rows)} of {result.table.num_rows} rows",
    )
    create_markdown_artifact(key=MARKDOWN_KEY, markdown=sql_markdown(query, result),
                             description="SQL investigation")
