"""Staging retention: the daily flow removes the staged raw requests older than the retention window."""

from __future__ import annotations

from datetime import date

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from config.settings import WebtrailSettings
from webtrail.staging import prune_staging


@task(name="prune-staging", cache_policy=NO_CACHE)
def prune_staging_task(settings: WebtrailSettings, keep: date) -> list[date]:
    """Delete staging partitions older than WEBTRAIL_STAGING__RETENTION_DAYS (never the day ``keep``)."""
    removed = prune_staging(settings.data_dir.resolve(), settings.staging.retention_days, keep)
    if removed:
        get_run_logger().info(
            "retention (%d days): removed the staging of %s", settings.staging.retention_days,
            ", ".join(d.isoformat() for d in removed),
        )
    return removed
