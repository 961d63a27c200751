"""Quality stage: the Soda contracts gate the inputs (before Spark) and the outputs (before loading)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC as UTC_TZ
from datetime import datetime, time, timedelta
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
    verify_frames,
    verify_parquet,
)
from config.layout import DayLayout
from config.settings import WebtrailSettings
from parsers.access_log import FileParseStats
from warehouse.audit import record_quality
from warehouse.connect import connection


def _retry_only_infrastructure(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry when Soda could not run; a failed data check gives the same answer on retry."""
    try:
        state.result()
    except ContractRunError:
        return True
    except Exception:  # noqa: BLE001 - any other failure (a failed check) is final
        return False
    return False


def contract_variables(layout: DayLayout, settings: WebtrailSettings) -> dict[str, str]:
    """Variables every contract may use: the day's time window and the thresholds."""
    start = datetime.combine(layout.day, time(0), tzinfo=UTC_TZ) - timedelta(hours=settings.sessions.lookback_hours)
    end = datetime.combine(layout.day + timedelta(days=1), time(0), tzinfo=UTC_TZ)
    return {
        "DAY": layout.day.isoformat(),
        "WINDOW_START": start.isoformat(),
        "WINDOW_END": end.isoformat(),
        "MAX_REJECT_RATIO": str(settings.quality.max_reject_ratio),
    }


def _publish(url: SecretStr, run_id: UUID, layout: DayLayout, stage: str, reports: Sequence[ContractReport]) -> None:
    """Store every outcome, show them as an artifact, emit an event per check that did not pass."""
    rows = [
        {"dataset": r.dataset, **asdict(c), "metric_values": {**c.metric_values, "threshold": c.threshold}}
        for r in reports
        for c in r.results
    ]
    with connection(url.get_secret_value()) as conn:
        record_quality(conn, str(run_id), layout.day, rows)
    create_table_artifact(
        key=f"webtrail-quality-{stage}",
        table=[
            {"dataset": row["dataset"], "check": row["check_name"], "level": row["level"],
             "outcome": row["outcome"], "measured": row["measured_value"], "threshold": row["threshold"]}
            for row in rows
        ],
        description=f"Soda contract results on the {stage} of {layout.day}",
    )
    for report in reports:
        for check in report.results:
            if check.is_problem:
                emit_event(
                    event="webtrail.quality.failed",
                    resource={"prefect.resource.id": f"webtrail.dataset.{report.dataset}"},
                    payload={"day": layout.day.isoformat(), "check": check.check_name, "level": check.level,
                             "outcome": check.outcome, "measured": check.measured_value,
                             "threshold": check.threshold},
                )
    logger = get_run_logger()
    for report in reports:
        for line in report.summary_lines():
            logger.warning(line)


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
    """Contracts on the exact Parquet files Spark wrote, before any of them is loaded."""
    variables = contract_variables(layout, settings)
    reports = [verify_parquet(table, {table: Path(path)}, variables) for table, path in outputs.items()]
    _publish(url, run_id, layout, "outputs", reports)
    raise_on_blocking(reports)
    return reports
