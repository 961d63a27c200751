"""Quality stage: Soda contracts gate the inputs (before Spark) and the outputs (before loading), and
verify the loaded PostgreSQL tables afterwards (checks/README.md, "Gate semantics").

Infrastructure errors (Soda could not run, the warehouse could not be reached) are retried by Prefect;
a failed blocking check is final (QualityGateError): the same data gives the same answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.events import emit_event
from prefect.states import State

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
from warehouse.connect import WarehouseConnectionError, scrub
from warehouse.run_context import DayRun
from warehouse.schema import SCHEMA

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


def _timed(verify: Callable[[], ContractReport]) -> ContractReport:
    """The report of `verify()` with its wall time (where a stage's check time goes, contract by contract)."""
    started = time.perf_counter()
    report = verify()
    return replace(report, seconds=round(time.perf_counter() - started, 3))


def contract_seconds(reports: Sequence[ContractReport]) -> dict[str, float]:
    """Seconds per contract of a stage's reports, for the run's timings."""
    return {report.dataset: report.seconds for report in reports if report.seconds is not None}


def _rows(reports: Sequence[ContractReport], database_url: str) -> list[dict[str, Any]]:
    """quality_results rows: one per check, plus an ERROR row per contract that could not run."""
    rows = [
        {"dataset": report.dataset, **asdict(check),
         "metric_values": {**check.metric_values, "measured_value": check.measured_value,
                           "threshold": check.threshold}}
        for report in reports
        for check in report.results
    ]
    rows += [
        {"dataset": report.dataset, "check_name": CONTRACT_RUN_CHECK, "check_type": "contract", "column_name": None,
         "level": "blocking", "outcome": "ERROR", "measured_value": None, "threshold": "contract runs",
         "metric_values": {"measured_value": None, "threshold": "contract runs",
                           "error": scrub(report.infrastructure_error, database_url)}}
        for report in reports
        if report.infrastructure_error
    ]
    return rows


def _publish(run: DayRun, stage: str, reports: Sequence[ContractReport]) -> None:
    """Store every outcome, show them as an artifact, emit an event per check that did not pass."""
    layout = run.layout
    rows = _rows(reports, run.warehouse.url)
    ran = [report.dataset for report in reports if not report.infrastructure_error]
    # a retry that ran replaces the ERROR row of the failed attempt
    run.warehouse.record_quality(str(run.run_id), layout.day, rows, {CONTRACT_RUN_CHECK: ran})
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
            logger.warning(scrub(line, run.warehouse.url))


@task(name="check-inputs", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=_retry_only_infrastructure)
def check_inputs(run: DayRun, access_stats: list[FileParseStats]) -> list[ContractReport]:
    """Contracts on the staged requests, events, users and the access-log reject ratio."""
    layout = run.layout
    variables = contract_variables(layout, run.settings)
    staged = {"requests": layout.requests, "events": layout.events, "users": layout.users}
    reports = [_timed(lambda name=name, path=path: verify_parquet(name, {name: path}, variables))
               for name, path in staged.items()]
    parse_stats = parse_stats_frame((stats.path, stats.lines_read, stats.lines_rejected) for stats in access_stats)
    reports.append(_timed(lambda: verify_frames("parse_stats", {"parse_stats": parse_stats}, variables)))
    _publish(run, "inputs", reports)
    raise_on_blocking(reports)
    return reports


@task(name="check-outputs", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=_retry_only_infrastructure)
def check_outputs(run: DayRun, outputs: dict[str, str]) -> list[ContractReport]:
    """Contracts on the exact Parquet files Spark wrote, then the cross-table totals and references
    against the staged requests and users; all before any of them is loaded."""
    layout = run.layout
    variables = contract_variables(layout, run.settings)
    reports = [_timed(lambda table=table, path=path: verify_parquet(table, {table: Path(path)}, variables))
               for table, path in outputs.items()]
    sources = {"requests": layout.requests, "users": layout.users,
               **{table: Path(path) for table, path in outputs.items()}}
    reports.append(_timed(lambda: verify_cross_table(sources, variables)))
    _publish(run, "outputs", reports)
    raise_on_blocking(reports)
    return reports


@task(name="check-loaded", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=_retry_only_infrastructure)
def check_loaded(run: DayRun) -> list[ContractReport]:
    """The output contracts again, on the day's rows of the loaded PostgreSQL tables (soda-postgres).

    Runs after the load committed: a blocking failure raises QualityGateError, so the run is marked
    failed and the event is emitted, but the day stays loaded (nothing is rolled back). Results are
    stored under the dataset ``webtrail.<table>`` to keep them apart from the pre-load Parquet ones.
    """
    variables = contract_variables(run.layout, run.settings)
    reports = [
        replace(_timed(lambda table=table: verify_postgres(table, run.warehouse.url, variables, schema=SCHEMA)),
                dataset=f"{SCHEMA}.{table}")
        for table in OUTPUT_TABLES
    ]
    _publish(run, "loaded", reports)
    raise_on_blocking(reports)
    return reports
