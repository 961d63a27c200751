"""Warehouse stage: migrate, audit the run, replace the day atomically, summarize (through `Warehouse`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from config.settings import WebtrailSettings
from parsers.inputs import sha256_file
from report.summary import RunSummary, input_totals
from warehouse.audit import RunRecord
from warehouse.gateway import DayLoad, Warehouse
from warehouse.run_context import DayRun, RunOutcome, RunTotals

# connect() already retries a few seconds of connection errors; the task retry covers longer outages.
_IO_RETRIES = {"retries": 1, "retry_delay_seconds": [30], "cache_policy": NO_CACHE}


@task(name="prepare-warehouse", **_IO_RETRIES)
def prepare_warehouse(settings: WebtrailSettings, override: SecretStr | None) -> Warehouse:
    """The warehouse (flag / parameter, WEBTRAIL_DATABASE_URL, the Prefect Secret block named by
    WEBTRAIL_DATABASE_SECRET_BLOCK, else the embedded server), with every migration applied."""
    warehouse = Warehouse.resolve(settings, override)
    applied = warehouse.migrate()
    get_run_logger().info(
        "Warehouse %s ready%s", warehouse.redacted_url, f" (applied migrations {applied})" if applied else ""
    )
    return warehouse


@task(name="fingerprint-inputs", cache_policy=NO_CACHE)
def fingerprint_inputs(files: list[Path], users_db: str | None, settings: WebtrailSettings) -> frozenset[str]:
    """sha256 of every input file plus one of the settings that shape the output tables.

    A day counts as already loaded only when both are unchanged, so changing a threshold re-runs it.
    """
    prints = {sha256_file(path) for path in files}
    if users_db and Path(users_db).is_file():
        prints.add(sha256_file(Path(users_db)))
    locations = {"database_url", "data_dir", "access_logs", "events", "users_db"}
    shaping = settings.model_dump(mode="json", exclude=locations)
    prints.add("settings:" + hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest())
    return frozenset(prints)


@task(name="check-already-loaded", **_IO_RETRIES)
def already_loaded(run: DayRun) -> bool:
    """True when the run's day is loaded from a completed run with exactly the run's inputs."""
    return run.warehouse.already_loaded(run.day, run.fingerprints)


@task(name="begin-run", **_IO_RETRIES)
def begin_run(run: DayRun, flow_run_id: str | None) -> None:
    """Record the run as running at once (a crash later is visible in pipeline_runs) and mark the
    earlier runs whose process is gone as abandoned."""
    abandoned = run.warehouse.begin_run(str(run.run_id), run.day, flow_run_id)
    if abandoned:
        get_run_logger().warning(
            "%d earlier run(s) were still 'running' with no live process; marked abandoned: %s",
            len(abandoned), ", ".join(abandoned),
        )


@task(name="end-run", **_IO_RETRIES)
def end_run(run: DayRun, outcome: RunOutcome) -> None:
    """Close the run's audit row; counts are null for stages that never ran."""
    counts: dict[str, int | None] = dict(input_totals(outcome.totals.inputs)) if outcome.totals.inputs else {}
    counts["users_read"] = outcome.totals.users_read
    run.warehouse.end_run(
        str(run.run_id), RunRecord(outcome.status, counts, dict(outcome.stage_seconds), outcome.error)
    )


@task(name="load-day", cache_policy=NO_CACHE, timeout_seconds=4 * 3600)
def load_day(run: DayRun, outputs: dict[str, str], inputs: list[dict]) -> dict[str, int]:
    """Replace the day's rows of every table in one transaction (COPY), then record the inputs.

    Not retried: a failed load rolled back completely, and the next run starts clean.
    """
    layout = run.layout
    result = run.warehouse.load_day(
        DayLoad(
            day=run.day, run_id=str(run.run_id), tables={name: Path(path) for name, path in outputs.items()},
            rejected=(layout.rejected, layout.events_rejected), rejected_cap=run.settings.rejected_lines_cap,
            input_sha256=run.fingerprints, inputs=tuple(inputs),
        )
    )
    get_run_logger().info("Loaded %s: %s", run.day, result.rows)
    return result.rows


@task(name="summarize-day", **_IO_RETRIES)
def summarize_day(run: DayRun, totals: RunTotals) -> RunSummary:
    """Read back what the warehouse now holds for the day."""
    counts = run.warehouse.day_counts(run.day, str(run.run_id))
    return RunSummary(
        run_id=str(run.run_id), day=run.day, inputs=list(totals.inputs), table_rows=dict(totals.table_rows),
        findings_by_category=counts.findings_by_category, human_sessions=counts.human_sessions,
        bot_sessions=counts.bot_sessions, users_read=totals.users_read, quality=counts.quality,
        query_hint=f"python -m warehouse.show sessions --day {run.day}   (or: psql \"{run.warehouse.redacted_url}\")",
    )
