"""Backfill tasks: which days are loaded already, and the table artifact of the outcome."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import SecretStr

from config.settings import WebtrailSettings
from warehouse.gateway import Warehouse

TABLE_KEY = "webtrail-backfill"


@task(name="loaded-days", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def loaded_days(settings: WebtrailSettings, override: SecretStr | None, days: list[date]) -> list[date]:
    """The days among `days` the warehouse holds from a completed run (none on a fresh warehouse).

    The warehouse is the one the daily runs load into: flag, WEBTRAIL_DATABASE_URL, the secret
    block, else the embedded server.
    """
    warehouse = Warehouse.resolve(settings, override)
    loaded = warehouse.loaded_days(days)
    get_run_logger().info("%s holds %d of the %d days", warehouse.redacted_url, len(loaded), len(days))
    return loaded


@task(name="publish-backfill", cache_policy=NO_CACHE)
def publish_backfill(rows: list[dict[str, Any]], start: date, end: date) -> None:
    """A table artifact: one row per day with its outcome."""
    create_table_artifact(key=TABLE_KEY, table=rows, description=f"Backfill {start} .. {end}")
