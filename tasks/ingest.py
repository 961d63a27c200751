"""Ingest stage: find the inputs and parse them into the day's staging Parquet files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from config.layout import DayLayout
from config.settings import WebtrailSettings
from parsers.access_log import FileParseStats, day_window, parse_access_logs
from parsers.events import EventsParseResult, parse_events
from parsers.events_api import fetch_events
from parsers.inputs import discover_files
from parsers.schema import EVENTS_SCHEMA, REJECTED_SCHEMA, USERS_SCHEMA, empty_frame
from parsers.user_agents import enrich_user_agents
from parsers.users import read_users
from webtrail.staging import cluster_requests


@task(name="discover-inputs", task_run_name="discover-{kind}", retries=2, retry_delay_seconds=[2, 10],
      cache_policy=NO_CACHE, timeout_seconds=600)
def discover_inputs(patterns: list[str], kind: str) -> list[Path]:
    """Expand files, globs, directories and rotated sets; retried because shares can lag."""
    files = discover_files(patterns)
    get_run_logger().info("%s: %d file(s): %s", kind, len(files), ", ".join(str(f) for f in files))
    return files


@task(name="parse-access-logs", task_run_name="parse-access-logs-{layout.day}", cache_policy=NO_CACHE,
      timeout_seconds=4 * 3600)
def parse_access_logs_task(
    files: list[Path], layout: DayLayout, settings: WebtrailSettings
) -> list[FileParseStats]:
    """Parse every access log into requests.parquet; unparsable lines go to the quarantine."""
    layout.staging.mkdir(parents=True, exist_ok=True)
    stats = parse_access_logs(
        files, layout.day, layout.requests, layout.rejected, settings.parser,
        overlap=settings.sessions.overlap,
    )
    logger = get_run_logger()
    if settings.staging.cluster_by_ip:  # one IP's rows in a few row groups: fast investigations
        clustered = cluster_requests(layout.requests, settings.staging)
        logger.info("requests.parquet sorted by client_ip: %d rows in %d row groups", clustered.rows,
                    clustered.row_groups)
    _, window_end = day_window(layout.day, settings.sessions.overlap)
    if window_end > datetime.now(UTC):
        logger.warning(
            "Day %s reads the logs up to %s (WEBTRAIL_SESSIONS__OVERLAP_MINUTES after midnight), which has "
            "not passed yet: sessions still open at the newest line are cut there, and the run of %s will "
            "leave their later requests out. Re-run this day with --force after %s.",
            layout.day, window_end.isoformat(), layout.day + timedelta(days=1), window_end.isoformat(),
        )
    for file_stats in stats:
        logger.info(
            "%s (%s): read %d, parsed %d, rejected %d %s, outside the day %d",
            file_stats.path, file_stats.format_name, file_stats.lines_read, file_stats.lines_parsed,
            file_stats.lines_rejected, file_stats.rejected_by_reason or "", file_stats.lines_outside_day,
        )
    return stats


@task(name="parse-events", task_run_name="parse-events-{layout.day}", cache_policy=NO_CACHE, timeout_seconds=3600)
def parse_events_task(files: list[Path], layout: DayLayout, settings: WebtrailSettings) -> EventsParseResult | None:
    """Parse the JSON events; with none configured, stage an empty typed dataset."""
    layout.staging.mkdir(parents=True, exist_ok=True)
    if not files:
        empty_frame(EVENTS_SCHEMA).write_parquet(layout.events)
        empty_frame(REJECTED_SCHEMA).write_parquet(layout.events_rejected)
        get_run_logger().warning("No event files configured: behavior tables that need events stay empty.")
        return None
    return parse_events(
        files, layout.day, layout.events, layout.events_rejected,
        overlap=settings.sessions.overlap, settings=settings.parser,
    )


@task(name="fetch-events-api", retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE, timeout_seconds=3600)
def fetch_events_api(url: str, layout: DayLayout, settings: WebtrailSettings) -> Path:
    """Download the day's events from the HTTP API into a JSON-lines file (validated by parse_events)."""
    start, end = day_window(layout.day, settings.sessions.overlap)
    result = fetch_events(url, layout.events_api_download, params={"start": start.isoformat(), "end": end.isoformat()})
    get_run_logger().info(
        "events API: %d events in %d pages (%d retried requests)", result.events, result.pages, result.retries
    )
    return layout.events_api_download


@task(name="read-users", retries=3, retry_delay_seconds=[2, 10, 30], cache_policy=NO_CACHE, timeout_seconds=1800)
def read_users_task(source: str | None, layout: DayLayout) -> int | None:
    """Snapshot the user DB; retried because the source is usually a remote database."""
    layout.staging.mkdir(parents=True, exist_ok=True)
    if not source:
        empty_frame(USERS_SCHEMA).write_parquet(layout.users)
        get_run_logger().warning("No user DB configured: user plan and country stay empty.")
        return None
    return read_users(source, layout.users)


@task(name="enrich-user-agents", cache_policy=NO_CACHE)
def enrich_user_agents_task(layout: DayLayout) -> int:
    """Classify each distinct user agent once (browser, OS, device, bot)."""
    distinct = enrich_user_agents([layout.requests, layout.events], layout.user_agents)
    get_run_logger().info("%d distinct user agents classified", distinct)
    return distinct
