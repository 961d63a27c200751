"""The self-contained HTML report of one day, built from the warehouse.

    python -m report.html --day 2026-11-24                  # writes <data dir>/reports/2026-11-24.html
    python -m report.html --day 2026-11-24 --out day.html

Everything is inlined (styles, the ECharts library, the report script, the data): the file opens
from disk with no network. The daily flow writes it after each load (tasks/report.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from report.html_render import Column, chart, esc, kpi, number, page, percent, section, table
from report.html_sections import (
    clients_section,
    facts_section,
    findings_section,
    funnel_section,
    ips_section,
    trend_section,
)

NAV = (
    ("traffic", "Traffic"), ("status", "Status"), ("endpoints", "Endpoints"), ("sessions", "Sessions"),
    ("pages", "Top pages"), ("funnel", "Funnel"), ("referrers", "Referrers"), ("clients", "Clients"),
    ("security", "Security"), ("ips", "Top IPs"), ("facts", "Run facts"), ("trend", "7-day trend"),
)

if TYPE_CHECKING:
    from warehouse.gateway import Warehouse


def report_path(data_dir: Path, day: date) -> Path:
    """Where the daily run writes the day's report."""
    return data_dir / "reports" / f"{day.isoformat()}.html"


def _ratio(part: Any, whole: Any) -> float | None:
    return (float(part) / float(whole)) if whole else None


def _headline(data: Mapping[str, Any]) -> str:
    totals, sessions, facts = data["totals"], data["sessions"], data["facts"]["run"]
    errors = int(totals.get("status_4xx") or 0) + int(totals.get("status_5xx") or 0)
    error_rate = _ratio(errors, totals.get("requests"))
    return '<div class="kpis">' + "".join([
        kpi("kpi-requests", "requests", int(totals.get("requests") or 0)),
        kpi("kpi-bytes", "bytes", int(totals.get("bytes") or 0)),
        kpi("kpi-4xx", "4xx", int(totals.get("status_4xx") or 0)),
        kpi("kpi-5xx", "5xx", int(totals.get("status_5xx") or 0)),
        kpi("kpi-error-rate", "error rate (4xx+5xx)", error_rate, percent(error_rate)),
        kpi("kpi-human-sessions", "human sessions", int(sessions.get("human_sessions") or 0)),
        kpi("kpi-bot-sessions", "bot sessions", int(sessions.get("bot_sessions") or 0)),
        kpi("kpi-findings", "security findings", int(data.get("findings_total") or 0)),
        kpi("kpi-lines-rejected", "lines rejected", facts.get("lines_rejected")),
    ]) + "</div>"


def _traffic(data: Mapping[str, Any]) -> str:
    spikes = [m for m in data["minutes"] if m.get("is_spike")]
    body = chart("chart-traffic", bool(data["minutes"]), "tall")
    body += '<p class="empty">Drag the slider or scroll inside the chart to zoom; red pins mark spike minutes.</p>'
    body += "<h3>Spike minutes</h3>" + table("table-spikes", [
        Column("minute_at", "minute (UTC)"), Column("requests", "requests", "num"),
        Column("status_4xx", "4xx", "num"), Column("status_5xx", "5xx", "num"), Column("p95_ms", "p95 ms", "num"),
        Column("spike_score", "spike score", "num"),
    ], spikes, "No spike minutes.")
    return section("traffic", "Traffic per minute (UTC)", body)


def _status(data: Mapping[str, Any]) -> str:
    body = '<div class="grid2">' + chart("chart-status", bool(data["status"])) + table("table-status", [
        Column("status", "status", "num"), Column("requests", "requests", "num"), Column("bytes", "bytes", "num"),
    ], data["status"]) + "</div>"
    return section("status", "Status mix", body)


def _endpoints(data: Mapping[str, Any]) -> str:
    body = chart("chart-endpoints", bool(data["endpoints"]), "tall") + table("table-endpoints", [
        Column("method", "method"), Column("path_template", "endpoint"), Column("hits", "hits", "num"),
        Column("errors", "errors (5xx)", "num"),
        Column("error_rate", "error rate", "num", lambda row: esc(percent(row.get("error_rate")))),
        Column("p50_ms", "p50 ms", "num"), Column("p95_ms", "p95 ms", "num"), Column("p99_ms", "p99 ms", "num"),
        Column("bytes", "bytes", "num"),
    ], data["endpoints"])
    return section("endpoints", "Endpoints (top by hits)", body)


def _sessions(data: Mapping[str, Any]) -> str:
    sessions = data["sessions"]
    median = sessions.get("median_duration_ms")
    kpis = '<div class="kpis">' + "".join([
        kpi("kpi-sessions", "human sessions", int(sessions.get("human_sessions") or 0)),
        kpi("kpi-visitors", "human visitors", int(sessions.get("human_visitors") or 0)),
        kpi("kpi-bounce-rate", "bounce rate", sessions.get("bounce_rate"), percent(sessions.get("bounce_rate"))),
        kpi("kpi-median-duration", "median duration", median, "–" if median is None else f"{median / 1000:.0f} s"),
        kpi("kpi-pages-per-session", "page views / session", sessions.get("avg_page_views"),
            number(sessions.get("avg_page_views"), 2)),
    ]) + "</div>"
    has_sessions = any(bucket["sessions"] for bucket in sessions["durations"])
    body = kpis + "<h3>Duration of human sessions</h3>" + chart("chart-durations", has_sessions, "small")
    return section("sessions", "Sessions", body)


def _pages(data: Mapping[str, Any]) -> str:
    body = chart("chart-pages", bool(data["pages"]), "tall") + table("table-pages", [
        Column("path_template", "page"), Column("views", "views", "num"),
        Column("unique_visitors", "unique visitors", "num"), Column("entries", "entries", "num"),
        Column("exits", "exits", "num"),
        Column("bounce_rate", "bounce rate", "num", lambda row: esc(percent(row.get("bounce_rate")))),
        Column("avg_time_on_page_ms", "avg time on page ms", "num"),
    ], data["pages"])
    return section("pages", "Top pages", body)


def _referrers(data: Mapping[str, Any]) -> str:
    body = '<div class="grid2">' + chart("chart-referrers", bool(data["referrers"])) + table("table-referrers", [
        Column("referrer_domain", "referrer"), Column("sessions", "sessions", "num"),
        Column("visitors", "visitors", "num"),
    ], data["referrers"]) + "</div>"
    return section("referrers", "Referrers", body)


def render_report(data: Mapping[str, Any], generated_at: datetime | None = None) -> str:
    """The report document for the data of `warehouse.report_queries.report_data`."""
    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    run = data["facts"]["run"]
    subtitle = f"Day {data['day']} (UTC) · loaded by run {run.get('run_id') or '?'} · generated {generated}"
    body = "".join([
        _headline(data), _traffic(data), _status(data), _endpoints(data), _sessions(data), _pages(data),
        funnel_section(data), _referrers(data), clients_section(data), findings_section(data), ips_section(data),
        facts_section(data), trend_section(data),
    ])
    return page(
        f"webtrail · {data['day']}", subtitle, NAV, body, data,
        "webtrail day report · charts by Apache ECharts (Apache-2.0), inlined · works offline",
    )


def write_report(warehouse: Warehouse, day: date, out: Path) -> Path:
    """Read the day from the warehouse and write its report to `out` (atomically)."""
    from warehouse.report_queries import report_data

    with warehouse.connection(readonly=True) as conn:
        data = report_data(conn, day)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(render_report(data), encoding="utf-8")
    partial.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m report.html`: rebuild a loaded day's report. Exit 0 written, 1 error, 2 usage."""
    from config.settings import WebtrailSettings
    from warehouse.connect import WarehouseConnectionError
    from warehouse.gateway import Warehouse
    from warehouse.report_queries import DayNotLoadedError, loaded_days

    parser = argparse.ArgumentParser(prog="python -m report.html", description=__doc__.splitlines()[0])
    parser.add_argument("--day", type=date.fromisoformat, required=True, help="a loaded UTC day, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, help="output file (default <data dir>/reports/<day>.html)")
    parser.add_argument("--json", action="store_true", help="print {day, path} as JSON instead of a sentence")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: WEBTRAIL_DATABASE_URL, then "
                        "WEBTRAIL_DATABASE_SECRET_BLOCK, else embedded)")
    args = parser.parse_args(argv)
    settings = WebtrailSettings()
    out = args.out or report_path(settings.data_dir.resolve(), args.day)
    try:
        warehouse = Warehouse.resolve(settings, args.database_url)
        path = write_report(warehouse, args.day, out)
    except DayNotLoadedError as exc:
        with warehouse.connection(readonly=True) as conn:
            days = loaded_days(conn)
        shown = ", ".join(d.isoformat() for d in days[-10:]) or "none"
        print(f"error: {exc}. Loaded days: {shown}", file=sys.stderr)
        return 1
    except (WarehouseConnectionError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"day": args.day.isoformat(), "path": str(path)}))
    else:
        print(f"wrote {path}  (open it in a browser: file://{path.resolve()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
