"""Backfill a date range: one `webtrail-daily` subflow per day, a bounded number at a time.

    python -m flows.backfill --start 2026-11-01 --end 2026-11-07 --access-log '/var/log/nginx/access.log*'
    python -m flows.backfill --start 2026-11-01 --end 2026-11-07 --concurrency 1 --force

The days run in this process, each on a thread of a `ThreadPoolTaskRunner(max_workers=concurrency)`
(a task wrapping the `daily` flow, so each day is its own flow run in the UI, nested under the
backfill). They share one Spark driver and one embedded PostgreSQL, so this works the same with or
without a Prefect server and needs no deployment.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import SecretStr

from config.settings import WebtrailSettings
from flows.daily import daily
from tasks.backfill import loaded_days, publish_backfill

MAX_DAYS = 366
MAX_CONCURRENCY = 8


def days_between(start: date, end: date) -> list[date]:
    """Every day from start to end, both included."""
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"{count} days requested; a backfill covers at most {MAX_DAYS} days")
    return [start + timedelta(days=offset) for offset in range(count)]


@dataclass(frozen=True)
class DailyInputs:
    """The daily flow's parameters shared by every day of a backfill."""

    access_log: list[str] | None = None
    events: list[str] | None = None
    users_db: str | None = None
    database_url: SecretStr | None = None
    events_api: str | None = None
    force: bool = False


# A task that calls a flow: each day becomes its own `webtrail-daily` flow run, nested under the
# backfill in the UI, while the ThreadPoolTaskRunner bounds how many run at once. It lives here, in
# flows/, because it orchestrates a flow; tasks/ must not import flows/.
@task(name="daily-run", task_run_name="daily-{day}", cache_policy=NO_CACHE)
def run_daily(day: date, inputs: DailyInputs) -> dict[str, Any]:
    """One `webtrail-daily` run for `day`, as a subflow of the backfill (its own flow run in the UI)."""
    return daily(
        day=day, access_log=inputs.access_log, events=inputs.events, users_db=inputs.users_db,
        database_url=inputs.database_url, force=inputs.force, events_api=inputs.events_api,
    )


# params: a flow's parameters are its deployment's form in the Prefect UI, one argument each, not an object.
@flow(name="webtrail-backfill", flow_run_name="backfill-{start}-{end}")
def backfill(  # noqa: PLR0913
    start: date,
    end: date,
    concurrency: int = 2,
    force: bool = False,
    access_log: list[str] | None = None,
    events: list[str] | None = None,
    users_db: str | None = None,
    database_url: SecretStr | None = None,
    events_api: str | None = None,
) -> dict[str, str]:
    """Run the daily pipeline for every day from start to end (both included).

    Args:
        start: first UTC day.
        end: last UTC day (included).
        concurrency: days processed at the same time (1-8); each runs Spark, so keep it near the cores.
        force: reprocess days the warehouse already holds (otherwise they are skipped).
        access_log: access-log files, globs or directories covering the range (default: WEBTRAIL_ACCESS_LOGS).
        events: JSON-lines event files or globs (default: WEBTRAIL_EVENTS).
        users_db: the user database: SQLAlchemy URL, SQLite file or CSV export.
        database_url: PostgreSQL URL; default WEBTRAIL_DATABASE_URL, else the embedded PostgreSQL.
        events_api: an HTTP JSON API to pull each day's events from, besides the event files.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}")
    logger = get_run_logger()
    days = days_between(start, end)
    skipped = set() if force else set(loaded_days(WebtrailSettings(), database_url, days))
    todo = [day for day in days if day not in skipped]
    logger.info("%d day(s): %d to run, %d already loaded (skipped)", len(days), len(todo), len(skipped))

    outcome: dict[date, str] = dict.fromkeys(skipped, "skipped (already loaded)")
    inputs = DailyInputs(access_log, events, users_db, database_url, events_api, force)
    with ThreadPoolTaskRunner(max_workers=concurrency) as runner:
        futures = {day: runner.submit(run_daily, {"day": day, "inputs": inputs}) for day in todo}
        for day, future in futures.items():
            try:
                outcome[day] = str(future.result().get("status", "completed"))
            except Exception as exc:  # noqa: BLE001 - one failed day must not hide the others' outcome
                outcome[day] = f"failed: {type(exc).__name__}"
                logger.error("%s failed: %s: %s", day, type(exc).__name__, exc)
    rows: list[dict[str, Any]] = [{"day": day.isoformat(), "outcome": outcome[day]} for day in days]
    publish_backfill(rows, start, end)
    failed = [r["day"] for r in rows if r["outcome"].startswith("failed")]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(days)} day(s) failed: {', '.join(failed)}")
    return {r["day"]: r["outcome"] for r in rows}


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flows.backfill", description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first UTC day YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last UTC day (included)")
    parser.add_argument("--concurrency", type=int, default=2, help="days processed at the same time (default 2)")
    parser.add_argument("--force", action="store_true", help="reprocess days already loaded")
    parser.add_argument("--access-log", nargs="+", help="access-log files, globs or directories")
    parser.add_argument("--events", nargs="*", help="JSON-lines event files or globs")
    parser.add_argument("--users-db", help="SQLAlchemy URL, SQLite file or CSV of the user DB")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: WEBTRAIL_DATABASE_URL, else embedded)")
    parser.add_argument("--events-api", help="HTTP JSON API to pull each day's events from")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `python -m flows.backfill`; exit status 1 when a day failed."""
    args = _parse_args(argv)
    outcome = backfill(
        start=args.start, end=args.end, concurrency=args.concurrency, force=args.force,
        access_log=args.access_log, events=args.events, users_db=args.users_db,
        database_url=SecretStr(args.database_url) if args.database_url else None, events_api=args.events_api,
    )
    for day, status in outcome.items():
        print(f"{day}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
