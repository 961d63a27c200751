"""Quality stage: Soda contracts gate the inputs (before Spark) and the outputs (before loading), and
verify the loaded PostgreSQL tables afterwards (checks/README.md, "Gate semantics").

Infrastructure errors (Soda could not run, the warehouse could not be reached) are retried by Prefect;
a failed blocking check is final (QualityGateError): the same data gives the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import Task, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.events import emit_event
from prefect.states import State
from pydantic import SecretStr

from checks.runner import (
    ContractReport,
    ContractRunError,
    parse_stats_frame,
    raise_on_blocking,
    verify_cross_table,
    verify_frames,
    verify_parquet,
    verify_postgres,
)
from config.layout import OUTPUT_TABLES, DayLayout
from config.settings import WebtrailSettings
from parsers.access_log import FileParseStats, day_window
from warehouse.audit import record_quality
from warehouse.connect import WarehouseConnectionError, connection, scrub

WAREHOUSE_SCHEMA = "webtrail"
CONTRACT_RUN_CHECK = "contract_run"  # quality_results row (outcome ERROR) of a contract that could not run


def _retry_only_infrastructure(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry when Soda could not run or the warehouse was unreachable; a failed check is final."""
    try:
        state.result()
    except (ContractRunError, WarehouseConnectionError):
        return True
    except Exception:  # noqa: BLE001 - any other failure (a failed check) is final
        return False
    return False


def contract_variables(layout: DayLayout, settings: WebtrailSettings) -> dict[str, str]:
    """Variables every contract may use: the day's time window, the session rule and the thresholds."""
    start, end = day_window(layout.day, settings.sessions.overlap)
    return {
        "DAY": layout.day.isoformat(),
        "WINDOW_START": start.isoformat(),
        "WINDOW_END": end.isoformat(),
        "MAX_REJECT_RATIO": str(settings.quality.max_reject_ratio),
        "MAX_EMPTY_REQUEST_SHARE": str(settings.quality.max_empty_request_share),
        "MAX_MALFORMED_REQUEST_SHARE": str(settings.quality.max_malformed_request_share),
        "MAX_NON_STANDARD_METHOD_SHARE": str(settings.quality.max_non_standard_method_share),
        "SESSION_GAP_MINUTES": str(int(settings.sessions.gap_minutes)),
        "SESSION_CARRY_OVER_MINUTES": str(int(settings.sessions.carry_over.total_seconds()) // 60),
    }


def _rows(reports: Sequence[ContractReport], database_url: str) -> list[dict[str, Any]]:
    """quality_results rows: one per check, plus an ERROR row per contract that could not run."""
    rows = [
        {"dataset": r.dataset, **asdict(c),
         "metric_values": {**c.metric_values, "measured_value": c.measured_value, "threshold": c.threshold}}
        for r in reports
        for c in r.results
    ]
    rows += [
        {"dataset": r.dataset, "check_name": CONTRACT_RUN_CHECK, "check_type": "contract", "column_name": None,
         "level": "blocking", "outcome": "ERROR", "measured_value": None, "threshold": "contract runs",
         "metric_values": {"measured_value": None, "threshold": "contract runs",
                           "error": scrub(r.infrastructure_error, database_url)}}
        for r in reports
        if r.infrastructure_error
    ]
    return rows


def _publish(url: SecretStr, run_id: UUID, layout: DayLayout, stage: str, reports: Sequence[ContractReport]) -> None:
    """Store every outcome, show them as an artifact, emit an event per check that did not pass."""
    rows = _rows(reports, url.get_secret_value())
    ran = [r.dataset for r in reports if not r.infrastructure_error]
    with connection(url.get_secret_value()) as conn:
        with conn.cursor() as cur:  # a retry that ran: drop the ERROR row of the failed attempt
            cur.execute(
                "DELETE FROM webtrail.quality_results WHERE run_id = %s AND dataset = ANY(%s) AND check_name = %s",
                (str(run_id), ran, CONTRACT_RUN_CHECK),
            )
        record_quality(conn, str(run_id), layout.day, rows, commit=False)
        conn.commit()
    create_table_artifact(
        key=f"webtrail-quality-{stage}",
        table=[
            {"dataset": row["dataset"], "check": row["check_name"], "level": row["level"],
             "outcome": row["outcome"], "measured": row["measured_value"], "threshold": row["threshold"]}
            for row in rows
        ],
        description=f"Soda contract results on the {stage} of {layout.day}",
    )
    for row in rows:
        if row["outcome"] != "PASSED":
            emit_event(
                event="webtrail.quality.failed",
                resource={
                    "prefect.resource.id": f"webtrail.dataset.{row['dataset']}",
                    # Labels, unlike the payload, can be matched by automations (e.g. blocking only).
                    "webtrail.check.level": str(row["level"]),
                    "webtrail.check.outcome": str(row["outcome"]),
                },
                payload={"day": layout.day.isoformat(), "stage": stage, "check": row["check_name"],
                         "level": row["level"], "outcome": row["outcome"], "measured": row["measured_value"],
                         "threshold": row["threshold"]},
            )
    logger = get_run_logger()
    for report in reports:
        for line in report.summary_lines():
            logger.warning(scrub(line, url.get_secret_value()))


@task(name="check-inputs", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=_retry_only_infrastructure)
def check_inputs(
    url: SecretStr, run_id: UUID, layout: DayLayout, access_stats: list[FileParseStats], settings: WebtrailSettings
) -> list[ContractReport]:
    """Contracts on the staged requests, events, users and the access-log reject ratio."""
    variables = contract_variables(layout, settings)
    staged = {"requests": layout.requests, "events": layout.events, "users": layout.users}
    reports = [verify_parquet(name, {name: path}, variables) for name, path in staged.items()]
    parse_stats = parse_stats_frame((s.path, s.lines_read, s.lines_rejected) for s in access_stats)
    reports.append(verify_frames("parse_stats", {"parse_stats": parse_stats}, variables))
    _publish(url, run_id, layout, "inputs", reports)
    raise_on_blocking(reports)
    return reports


@task(name="check-outputs", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=_retry_only_infrastructure)
def check_outputs(
    url: SecretStr, run_id: UUID, layout: DayLayout, outputs: dict[str, str], settings: WebtrailSettings
) -> list[ContractReport]:
    """Contracts on the exact Parquet files Spark wrote, then the cross-table totals and references
    against the staged requests and users; all before any of them is loaded."""
    variables = contract_variables(layout, settings)
    reports = [verify_parquet(table, {table: Path(path)}, variables) for table, path in outputs.items()]
    sources = {"requests": layout.requests, "users": layout.users, **{t: Path(p) for t, p in outputs.items()}}
    reports.append(verify_cross_table(sources, variables))
    _publish(url, run_id, layout, "outputs", reports)
    raise_on_blocking(reports)
    return reports


@task(name="check-loaded", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=_retry_only_infrastructure)
def check_loaded(url: SecretStr, run_id: UUID, layout: DayLayout, settings: WebtrailSettings) -> list[ContractReport]:
    """The output contracts again, on the day's rows of the loaded PostgreSQL tables (soda-postgres).

    Runs after the load committed: a blocking failure raises QualityGateError, so the run is marked
    failed and the event is emitted, but the day stays loaded (nothing is rolled back). Results are
    stored under the dataset ``webtrail.<table>`` to keep them apart from the pre-load Parquet ones.
    """
    variables = contract_variables(layout, settings)
    database_url = url.get_secret_value()
    reports = [
        replace(verify_postgres(table, database_url, variables, schema=WAREHOUSE_SCHEMA),
                dataset=f"{WAREHOUSE_SCHEMA}.{table}")
        for table in OUTPUT_TABLES
    ]
    _publish(url, run_id, layout, "loaded", reports)
    raise_on_blocking(reports)
    return reports
