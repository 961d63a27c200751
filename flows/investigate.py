"""Investigate an IP, a user or a path over a time window: staged requests + warehouse tables.

    python -m flows.investigate --ip 203.0.113.45
    python -m flows.investigate --user-id u1042 --start 2026-11-24T00:00:00 --end 2026-11-25T00:00:00
    python -m flows.investigate --path '/wp-admin*'
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import SecretStr

from config.settings import WebtrailSettings
from report.investigate import InvestigationQuery, resolve_window
from tasks.investigate import latest_day, publish_investigation, run_investigation, warehouse_url


def _run_name() -> str:
    """investigate-ip-<ip>, investigate-user-<id> or investigate-path-<glob> (printable, bounded)."""
    params = flow_run.parameters
    kind, subject = next(
        ((k, params[p]) for k, p in (("ip", "ip"), ("user", "user_id"), ("path", "path_pattern")) if params.get(p)),
        ("window", ""),
    )
    text = re.sub(r"[^\x21-\x7e]+", "_", str(subject))[:80]
    return f"investigate-{kind}-{text}" if text else "investigate"


@flow(name="webtrail-investigate", flow_run_name=_run_name)
def investigate(
    ip: str | None = None,
    user_id: str | None = None,
    path_pattern: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
    database_url: SecretStr | None = None,
) -> dict[str, Any]:
    """Everything the pipeline knows about an IP, a user or a path in a time window.

    Args:
        ip: client IP address to look at (exact match).
        user_id: user id; its sessions' IPs are looked at.
        path_pattern: glob over the whole request path, e.g. '/wp-admin*' or '*.env' (`*`, `?`).
        start: window start (UTC when no offset); default: the latest loaded day, or end - 1 day.
        end: window end, excluded (UTC when no offset); default: start + 1 day.
        limit: maximum rows per list (requests, findings, sessions).
        database_url: PostgreSQL URL; default WEBTRAIL_DATABASE_URL, else the embedded PostgreSQL.
    """
    settings = WebtrailSettings()
    url = warehouse_url(settings, database_url)
    latest = latest_day(url) if start is None and end is None else None
    window_start, window_end = resolve_window(start, end, latest)
    query = InvestigationQuery(
        start=window_start, end=window_end, ip=ip, user_id=user_id, path_pattern=path_pattern, limit=limit
    )
    get_run_logger().info("Investigating %s from %s to %s", query.describe(), window_start, window_end)
    result = run_investigation(url, settings, query)
    publish_investigation(result)
    return result.summary()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flows.investigate", description=__doc__.splitlines()[0])
    parser.add_argument("--ip", help="client IP address")
    parser.add_argument("--user-id", help="user id")
    parser.add_argument("--path", dest="path_pattern", help="glob over the request path, e.g. '/admin*'")
    parser.add_argument("--start", type=datetime.fromisoformat, help="window start, ISO 8601 (UTC by default)")
    parser.add_argument("--end", type=datetime.fromisoformat, help="window end (excluded), ISO 8601")
    parser.add_argument("--limit", type=int, default=200, help="maximum rows per list")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: WEBTRAIL_DATABASE_URL, else embedded)")
    args = parser.parse_args(argv)
    if not (args.ip or args.user_id or args.path_pattern):
        parser.error("give --ip, --user-id or --path")
    return args


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `python -m flows.investigate`."""
    args = _parse_args(argv)
    summary = investigate(
        ip=args.ip, user_id=args.user_id, path_pattern=args.path_pattern, start=args.start, end=args.end,
        limit=args.limit, database_url=SecretStr(args.database_url) if args.database_url else None,
    )
    for key, value in summary.items():
        print(f"{key}: {value}")
    print("Details: the 'webtrail-investigation' artifacts of this flow run (Prefect UI, Artifacts).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
