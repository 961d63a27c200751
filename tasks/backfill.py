"""Backfill tasks: which days are loaded already, and one daily run per day as a subflow."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from config.settings import WebtrailSettings
from flows.daily import daily
from warehouse.connect import connection, redact
from warehouse.embedded import database_url

TABLE_KEY = "webtrail-backfill"

_LOADED_DAYS_SQL = """
SELECT l.day FROM webtrail.day_loads l
JOIN webtrail.pipeline_runs r ON r.run_id = l.run_id
WHERE l.day = ANY(%(days)s) AND r.status = 'completed'
ORDER BY l.day
"""


@task(name="loaded-days", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def loaded_days(settings: WebtrailSettings, override: SecretStr | None, days: list[date]) -> list[date]:
    """The days among `days` the warehouse holds from a completed run (none on a fresh warehouse)."""
    if override is not None:
        settings = settings.model_copy(update={"database_url": override})
    url = database_url(settings)
    with connection(url) as conn, conn.cursor() as cur:
        conn.set_session(readonly=True)
        cur.execute("SELECT to_regclass('webtrail.day_loads') IS NOT NULL")
        row = cur.fetchone()
        if not (row and row[0]):
            return []
        cur.execute(_LOADED_DAYS_SQL, {"days": days})
        loaded = [r[0] for r in cur.fetchall()]
    get_run_logger().info("%s holds %d of the %d days", redact(url), len(loaded), len(days))
    return loaded


@task(name="daily-run", task_run_name="daily-{day}", cache_policy=NO_CACHE)
def run_daily(
    day: date,
    access_log: list[str] | None,
    events: list[str] | None,
    users_db: str | None,
    database_url: SecretStr | None,
    events_api: str | None,
    force: bool,
) -> dict[str, Any]:
    """One `webtrail-daily` run for `day`, as a subflow of the backfill (its own flow run in the UI)."""
    return daily(
        day=day, access_log=access_log, events=events, users_db=users_db, database_url=database_url,
        force=force, events_api=events_api,
    )


@task(name="publish-backfill", cache_policy=NO_CACHE)
def publish_backfill(rows: list[dict[str, Any]], start: date, end: date) -> None:
    """A table artifact: one row per day with its outcome."""
    create_table_artifact(key=TABLE_KEY, table=rows, description=f"Backfill {start} .. {end}")
