"""Warehouse stage: connect and migrate, audit the run, replace the day atomically, summarize."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from uuid import UUID

from prefect import get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from config.layout import DayLayout
from config.settings import WebtrailSettings
from parsers.inputs import sha256_file
from report.summary import RunSummary, input_totals
from warehouse.audit import day_already_loaded, finish_run, record_inputs, start_run
from warehouse.connect import connection, redact
from warehouse.embedded import database_url
from warehouse.loader import replace_day
from warehouse.migrate import migrate

# connect() already retries a few seconds of connection errors; the task retry covers longer outages.
_IO_RETRIES = {"retries": 1, "retry_delay_seconds": [30], "cache_policy": NO_CACHE}


@task(name="prepare-warehouse", **_IO_RETRIES)
def prepare_warehouse(settings: WebtrailSettings, override: SecretStr | None) -> SecretStr:
    """The database URL, with every migration applied.

    Precedence: the flag / parameter, WEBTRAIL_DATABASE_URL, the Prefect Secret block named by
    WEBTRAIL_DATABASE_SECRET_BLOCK, else the embedded server.
    """
    if override is None and settings.database_url is None and settings.database_secret_block:
        override = SecretStr(Secret.load(settings.database_secret_block).get())
    if override is not None:
        settings = settings.model_copy(update={"database_url": override})
    url = database_url(settings)
    with connection(url) as conn:
        applied = migrate(conn)
    get_run_logger().info(
        "Warehouse %s ready%s", redact(url), f" (applied migrations {applied})" if applied else ""
    )
    return SecretStr(url)


@task(name="fingerprint-inputs", cache_policy=NO_CACHE)
def fingerprint_inputs(files: list[Path], users_db: str | None, settings: WebtrailSettings) -> set[str]:
    """sha256 of every input file plus one of the settings that shape the output tables.

    A day counts as already loaded only when both are unchanged, so changing a threshold re-runs it.
    """
    prints = {sha256_file(f) for f in files}
    if users_db and Path(users_db).is_file():
        prints.add(sha256_file(Path(users_db)))
    locations = {"database_url", "data_dir", "access_logs", "events", "users_db"}
    shaping = settings.model_dump(mode="json", exclude=locations)
    prints.add("settings:" + hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest())
    return prints


@task(name="check-already-loaded", **_IO_RETRIES)
def already_loaded(url: SecretStr, day: date, fingerprints: set[str]) -> bool:
    with connection(url.get_secret_value()) as conn:
        return day_already_loaded(conn, day, fingerprints)


@task(name="begin-run", **_IO_RETRIES)
def begin_run(url: SecretStr, run_id: UUID, day: date, flow_run_id: str | None) -> None:
    """Record the run as running at once, so a crash later is visible in pipeline_runs."""
    with connection(url.get_secret_value()) as conn:
        start_run(conn, str(run_id), day, flow_run_id)


@task(name="end-run", **_IO_RETRIES)
def end_run(
    url: SecretStr, run_id: UUID, status: str, inputs: list[dict], users_read: int | None,
    stage_seconds: dict[str, float], error: str | None,
) -> None:
    """Close the run's audit row; counts are null for stages that never ran."""
    counts = input_totals(inputs) if inputs else {}
    with connection(url.get_secret_value()) as conn:
        finish_run(
            conn, str(run_id), status, users_read=users_read, stage_timings=stage_seconds, error=error, **counts
        )


@task(name="load-day", cache_policy=NO_CACHE, timeout_seconds=4 * 3600)
def load_day(
    url: SecretStr, run_id: UUID, layout: DayLayout, outputs: dict[str, str], inputs: list[dict],
    fingerprints: set[str], settings: WebtrailSettings,
) -> dict[str, int]:
    """Replace the day's rows of every table in one transaction (COPY), then record the inputs.

    Not retried: a failed load rolled back completely, and the next run starts clean.
    """
    with connection(url.get_secret_value()) as conn:
        result = replace_day(
            conn, layout.day, {name: Path(path) for name, path in outputs.items()},
            rejected=[layout.rejected, layout.events_rejected], rejected_cap=settings.rejected_lines_cap,
            run_id=str(run_id), input_sha256=fingerprints,
        )
        record_inputs(conn, str(run_id), layout.day, inputs)
    get_run_logger().info("Loaded %s: %s", layout.day, result.rows)
    return result.rows


@task(name="summarize-day", **_IO_RETRIES)
def summarize_day(
    url: SecretStr, run_id: UUID, day: date, inputs: list[dict], users_read: int | None, table_rows: dict[str, int]
) -> RunSummary:
    """Read back what the warehouse now holds for the day."""
    with connection(url.get_secret_value()) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT category, count(*) FROM webtrail.security_findings WHERE day = %s GROUP BY 1", (day,)
        )
        findings = {category: int(n) for category, n in cur.fetchall()}
        cur.execute(
            "SELECT count(*) FILTER (WHERE NOT is_bot), count(*) FILTER (WHERE is_bot) "
            "FROM webtrail.sessions WHERE day = %s",
            (day,),
        )
        human, bot = cur.fetchone()
        cur.execute(
            "SELECT outcome, count(*) FROM webtrail.quality_results WHERE run_id = %s GROUP BY 1", (str(run_id),)
        )
        quality = {outcome: int(n) for outcome, n in cur.fetchall()}
    return RunSummary(
        run_id=str(run_id), day=day, inputs=inputs, table_rows=table_rows, findings_by_category=findings,
        human_sessions=int(human), bot_sessions=int(bot), users_read=users_read, quality=quality,
        query_hint=f"python -m warehouse.show sessions --day {day}   (or: psql \"{redact(url.get_secret_value())}\")",
    )
