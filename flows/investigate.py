"""Investigate: your own SQL over the staged requests and warehouse tables, or an IP / user / path.

examples:
  python -m flows.investigate --sql "SELECT status, count(*) n FROM requests GROUP BY 1 ORDER BY n DESC"
  python -m flows.investigate --sql "SELECT * FROM findings WHERE severity = 'high'" --format json
  python -m flows.investigate --sql "SELECT client_ip, count(*) FROM requests GROUP BY 1" --days 7 --explain
  python -m flows.investigate --ip 203.0.113.45
  python -m flows.investigate --user-id u1042 --start 2026-11-24T00:00:00 --end 2026-11-25T00:00:00
  python -m flows.investigate --path '/wp-admin*' --format csv

The command runs directly (no Prefect: it answers in about a second); --prefect runs it as a Prefect
flow run instead, publishing the artifacts, as the webtrail-investigate deployment does.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from typing import Any

FORMAT_CHOICES = ("table", "csv", "json")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.investigate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sql", help="a read-only DuckDB query over requests, rejected, findings, sessions, ip_daily")
    parser.add_argument("--day", type=date.fromisoformat, help="last day of the --sql window (default: newest staged)")
    parser.add_argument("--days", type=int, default=1, help="days in the --sql window, ending with --day (default 1)")
    parser.add_argument("--explain", action="store_true", help="show which day partitions and tables were read")
    parser.add_argument("--ip", help="client IP address")
    parser.add_argument("--user-id", help="user id")
    parser.add_argument("--path", dest="path_pattern", help="glob over the request path, e.g. '/admin*'")
    parser.add_argument("--start", type=datetime.fromisoformat, help="window start, ISO 8601 (UTC by default)")
    parser.add_argument("--end", type=datetime.fromisoformat, help="window end (excluded), ISO 8601")
    parser.add_argument("--limit", type=int, default=200, help="maximum rows per list of an investigation")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default="table", help="output: table (default), csv, json")
    parser.add_argument("--max-rows", type=int, default=100, help="rows printed by --format table (default 100)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: WEBTRAIL_DATABASE_URL, else embedded)")
    parser.add_argument("--prefect", action="store_true", help="run as a Prefect flow run (artifacts in the UI)")
    args = parser.parse_args(argv)
    if args.sql and (args.ip or args.user_id or args.path_pattern):
        parser.error("give either --sql or --ip / --user-id / --path, not both")
    if not (args.sql or args.ip or args.user_id or args.path_pattern):
        parser.error("give --sql, --ip, --user-id or --path")
    if args.sql and (args.start or args.end):
        parser.error("--sql takes --day and --days for its window, not --start / --end")
    return args


def _run_sql_direct(args: argparse.Namespace) -> int:
    import webtrail
    from webtrail.output import emit

    with webtrail.connect(database_url=args.database_url) as client:
        result = client.query(args.sql, args.day, args.days)
    if args.explain:
        _print_explain(result, sys.stdout if args.format == "table" else sys.stderr)
    columns = result.columns
    rows = [list(r.values()) for r in result.table.to_pylist()]
    emit(args.format, columns, rows, max_rows=args.max_rows)
    return 0


def _print_explain(result: Any, out: Any) -> None:
    from webtrail.output import print_table

    rows = [[p.view, p.day, "read" if p.exists else "missing", p.rows, p.row_groups, p.bytes,
             f"{p.path.parent.name}/{p.path.name}"] for p in result.partitions]
    rows += [[view, "window days", "warehouse", count, "", "", f"webtrail.{view}"]
             for view, count in result.warehouse_rows.items()]
    print_table(f"Read in {result.seconds:.2f} s", ["view", "day", "partition", "rows", "row groups", "bytes",
                                                     "source"], rows, out)


def _investigate_direct(args: argparse.Namespace) -> int:
    from config.settings import WebtrailSettings
    from report.investigate import InvestigationQuery, resolve_window
    from report.investigate_render import result_sections
    from warehouse.gateway import Warehouse
    from webtrail.output import emit_sections

    settings = WebtrailSettings()
    warehouse = Warehouse.resolve(settings, args.database_url)
    latest_day = warehouse.latest_day() if args.start is None and args.end is None else None
    start, end = resolve_window(args.start, args.end, latest_day)
    query = InvestigationQuery(start=start, end=end, ip=args.ip, user_id=args.user_id,
                               path_pattern=args.path_pattern, limit=args.limit)
    result = warehouse.investigate(settings.data_dir.resolve(), query)
    emit_sections(args.format, result_sections(result), result.summary())
    return 0


def run_direct(argv: list[str] | None = None) -> int:
    """`python -m flows.investigate` without Prefect: exit 0, 2 for a refused query or bad usage, 1 on errors."""
    args = _parse_args(argv)
    try:
        return _run_sql_direct(args) if args.sql else _investigate_direct(args)
    except ValueError as exc:  # refused or failed query, bad window: the message says why
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


# Importing Prefect alone takes seconds: the direct command line stops here, before that import.
if __name__ == "__main__" and "--prefect" not in sys.argv[1:]:
    sys.exit(run_direct(sys.argv[1:]))

import re  # noqa: E402

from prefect import flow, get_run_logger  # noqa: E402
from prefect.runtime import flow_run  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from config.settings import WebtrailSettings  # noqa: E402
from report.investigate import InvestigationQuery, resolve_window  # noqa: E402
from tasks.investigate import (  # noqa: E402
    latest_day,
    publish_investigation,
    publish_sql_result,
    resolve_warehouse,
    run_investigation,
    run_sql,
)
from webtrail.client import SqlRequest  # noqa: E402


def _run_name() -> str:
    """investigate-ip-<ip>, investigate-user-<id>, investigate-path-<glob> or investigate-sql (printable)."""
    params = flow_run.parameters
    if params.get("sql"):
        return "investigate-sql"
    kind, subject = next(
        ((k, params[p]) for k, p in (("ip", "ip"), ("user", "user_id"), ("path", "path_pattern")) if params.get(p)),
        ("window", ""),
    )
    text = re.sub(r"[^\x21-\x7e]+", "_", str(subject))[:80]
    return f"investigate-{kind}-{text}" if text else "investigate"


# params: a flow's parameters are its deployment's form in the Prefect UI, one argument each, not an object.
@flow(name="webtrail-investigate", flow_run_name=_run_name)
def investigate(  # noqa: PLR0913
    ip: str | None = None,
    user_id: str | None = None,
    path_pattern: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
    database_url: SecretStr | None = None,
    sql: str | None = None,
    day: date | None = None,
    days: int = 1,
) -> dict[str, Any]:
    """Everything the pipeline knows about an IP, a user or a path in a time window, or your own SQL.

    Args:
        ip: client IP address to look at (exact match).
        user_id: user id; its sessions' IPs are looked at.
        path_pattern: glob over the whole request path, e.g. '/wp-admin*' or '*.env' (`*`, `?`).
        start: window start (UTC when no offset); default: the latest loaded day, or end - 1 day.
        end: window end, excluded (UTC when no offset); default: start + 1 day.
        limit: maximum rows per list (requests, findings, sessions; rows of a sql result artifact).
        database_url: PostgreSQL URL; default WEBTRAIL_DATABASE_URL, else the embedded PostgreSQL.
        sql: a read-only DuckDB query over the views requests, rejected, findings, sessions, ip_daily
            (instead of ip / user_id / path_pattern).
        day: last day of the sql window; default: the newest staged day.
        days: number of days in the sql window, ending with day.
    """
    settings = WebtrailSettings()
    warehouse = resolve_warehouse(settings, database_url)
    if sql:
        result = run_sql(warehouse, settings, SqlRequest(sql, day, days))
        publish_sql_result(sql, result, limit)
        return {"sql": sql, "rows": result.table.num_rows, "columns": result.columns,
                "days_read": sorted({p.day.isoformat() for p in result.partitions if p.exists}),
                "warehouse_rows": result.warehouse_rows}
    latest = latest_day(warehouse) if start is None and end is None else None
    window_start, window_end = resolve_window(start, end, latest)
    query = InvestigationQuery(
        start=window_start, end=window_end, ip=ip, user_id=user_id, path_pattern=path_pattern, limit=limit
    )
    get_run_logger().info("Investigating %s from %s to %s", query.describe(), window_start, window_end)
    found = run_investigation(warehouse, settings, query)
    publish_investigation(found)
    return found.summary()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `python -m flows.investigate` (the Prefect path with --prefect)."""
    args = _parse_args(argv)
    if not args.prefect:
        return run_direct(argv)
    summary = investigate(
        ip=args.ip, user_id=args.user_id, path_pattern=args.path_pattern, start=args.start, end=args.end,
        limit=args.limit, database_url=SecretStr(args.database_url) if args.database_url else None,
        sql=args.sql, day=args.day, days=args.days,
    )
    from webtrail.output import write_json

    write_json(summary)
    print("Details: the 'webtrail-investigation' artifacts of this flow run (Prefect UI, Artifacts).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
