"""Read everything the HTML report of one day shows, with bound parameters only.

`report_data(conn, day)` returns plain Python values (str, int, float, bool, None, lists, dicts) that
`report.html` renders; every text value may come from the logs and is escaped there, never here.
The run facts are those of the run that loaded the day (`day_loads.run_id`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg2.extensions

TOP_ROWS = 25
TREND_DAYS = 7
MAX_FINDINGS = 500

# Human session durations, in seconds: [low, high) buckets of the duration histogram.
DURATION_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0 s", 0, 1), ("1-10 s", 1, 10), ("10-30 s", 10, 30), ("30 s-1 min", 30, 60), ("1-3 min", 60, 180),
    ("3-10 min", 180, 600), ("10-30 min", 600, 1800), ("30 min-1 h", 1800, 3600), ("1 h+", 3600, float("inf")),
)


class DayNotLoadedError(LookupError):
    """The warehouse holds no loaded run for the requested day."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _rows(cur: psycopg2.extensions.cursor, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    cur.execute(query, params)
    columns = [d.name for d in cur.description or []]
    return [{c: _plain(v) for c, v in zip(columns, row, strict=True)} for row in cur.fetchall()]


def _one(cur: psycopg2.extensions.cursor, query: str, params: Mapping[str, Any]) -> dict[str, Any]:
    rows = _rows(cur, query, params)
    return rows[0] if rows else {}


_LOADED_RUN = """
SELECT l.day, l.run_id::text AS run_id, l.loaded_at, r.flow_run_id, r.status, r.started_at, r.finished_at,
       r.lines_read, r.lines_parsed, r.lines_rejected, r.events_read, r.events_rejected, r.users_read,
       r.stage_timings
FROM webtrail.day_loads l LEFT JOIN webtrail.pipeline_runs r ON r.run_id = l.run_id
WHERE l.day = %(day)s
"""

_TOTALS = """
SELECT coalesce(sum(requests), 0)::bigint AS requests, coalesce(sum(bytes), 0)::bigint AS bytes,
       coalesce(sum(status_4xx), 0)::bigint AS status_4xx, coalesce(sum(status_5xx), 0)::bigint AS status_5xx,
       count(*) FILTER (WHERE is_spike) AS spike_minutes, max(p95_ms) AS max_p95_ms
FROM webtrail.traffic_minute WHERE day = %(day)s
"""

_MINUTES = """
SELECT minute_at, requests, status_4xx, status_5xx, p95_ms, is_spike, spike_score
FROM webtrail.traffic_minute WHERE day = %(day)s ORDER BY minute_at
"""

_STATUS = "SELECT status, requests, bytes FROM webtrail.status_daily WHERE day = %(day)s ORDER BY status"

_ENDPOINTS = """
SELECT method, path_template, hits, errors, error_rate, p50_ms, p95_ms, p99_ms, bytes
FROM webtrail.endpoint_daily WHERE day = %(day)s
ORDER BY hits DESC, method, path_template LIMIT %(limit)s
"""

_SESSIONS = """
SELECT count(*) FILTER (WHERE NOT is_bot) AS human_sessions, count(*) FILTER (WHERE is_bot) AS bot_sessions,
       count(DISTINCT visitor_key) FILTER (WHERE NOT is_bot) AS human_visitors,
       count(*) FILTER (WHERE NOT is_bot AND is_bounce) AS bounces,
       avg(page_views) FILTER (WHERE NOT is_bot) AS avg_page_views,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE NOT is_bot) AS median_duration_ms
FROM webtrail.sessions WHERE day = %(day)s
"""

_DURATIONS = """
SELECT duration_ms FROM webtrail.sessions WHERE day = %(day)s AND NOT is_bot
"""

_PAGES = """
SELECT path_template, views, unique_visitors, entries, exits, bounce_rate, avg_time_on_page_ms
FROM webtrail.page_daily WHERE day = %(day)s ORDER BY views DESC, path_template LIMIT %(limit)s
"""

_FUNNEL = """
SELECT step_number, step_name, visitors, conversion_from_previous, conversion_from_start
FROM webtrail.funnel_daily WHERE day = %(day)s ORDER BY step_number
"""

_REFERRERS = """
SELECT referrer_domain, sessions, visitors FROM webtrail.referrer_daily WHERE day = %(day)s
ORDER BY sessions DESC, referrer_domain LIMIT %(limit)s
"""

# One query per client dimension; the column name comes from this fixed list, never from input.
_CLIENT_DIMENSIONS = {
    "browser": "browser_family", "os": "os_family", "device": "device_type",
    "bot": "CASE WHEN is_bot THEN 'bot' ELSE 'human' END",
}
_CLIENTS = """
SELECT {expr} AS name, sum(requests)::bigint AS requests, sum(sessions)::bigint AS sessions,
       sum(visitors)::bigint AS visitors
FROM webtrail.client_daily WHERE day = %(day)s GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %(limit)s
"""

_FINDINGS = """
SELECT client_ip, category, rule_id, severity, first_seen_at, last_seen_at, request_count, distinct_paths,
       user_ids, score, evidence
FROM webtrail.security_findings WHERE day = %(day)s
ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], severity), request_count DESC, client_ip,
         category
LIMIT %(limit)s
"""

_FINDINGS_BY_SEVERITY = """
SELECT severity, category, count(*) AS findings FROM webtrail.security_findings WHERE day = %(day)s
GROUP BY 1, 2 ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], severity), 2
"""

_IPS = """
SELECT client_ip, requests, bytes, status_4xx, status_5xx, status_4xx + status_5xx AS errors, distinct_paths,
       distinct_user_agents, is_flagged
FROM webtrail.ip_daily WHERE day = %(day)s ORDER BY {order} DESC, client_ip LIMIT %(limit)s
"""

_INPUTS = """
SELECT kind, path, size_bytes, lines_read, lines_parsed, lines_rejected, sha256
FROM webtrail.run_inputs WHERE run_id = %(run_id)s::uuid ORDER BY kind, path
"""

_REJECTED = """
SELECT source_file, reason, count(*) AS stored_lines FROM webtrail.rejected_lines WHERE day = %(day)s
GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
"""

_QUALITY = """
SELECT dataset, check_name, column_name, level, outcome, metric_values->'measured_value' AS measured_value,
       metric_values->>'threshold' AS threshold
FROM webtrail.quality_results WHERE run_id = %(run_id)s::uuid
ORDER BY CASE WHEN outcome = 'PASSED' THEN 1 ELSE 0 END, dataset, check_name, column_key
"""

_TREND = """
WITH days AS (SELECT day FROM webtrail.day_loads WHERE day BETWEEN %(first)s AND %(day)s),
traffic AS (
    SELECT day, sum(requests)::bigint AS requests, sum(status_4xx + status_5xx)::bigint AS errors
    FROM webtrail.traffic_minute WHERE day BETWEEN %(first)s AND %(day)s GROUP BY day
),
sess AS (
    SELECT day, count(*) FILTER (WHERE NOT is_bot) AS sessions
    FROM webtrail.sessions WHERE day BETWEEN %(first)s AND %(day)s GROUP BY day
),
finds AS (
    SELECT day, count(*) AS findings
    FROM webtrail.security_findings WHERE day BETWEEN %(first)s AND %(day)s GROUP BY day
)
SELECT days.day, coalesce(traffic.requests, 0) AS requests, coalesce(traffic.errors, 0) AS errors,
       coalesce(sess.sessions, 0) AS sessions, coalesce(finds.findings, 0) AS findings
FROM days LEFT JOIN traffic USING (day) LEFT JOIN sess USING (day) LEFT JOIN finds USING (day)
ORDER BY days.day
"""


def loaded_days(conn: psycopg2.extensions.connection) -> list[date]:
    """Every day the warehouse holds a load of, oldest first."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('webtrail.day_loads') IS NOT NULL")
        if not cur.fetchone()[0]:
            return []
        cur.execute("SELECT day FROM webtrail.day_loads ORDER BY day")
        days = [row[0] for row in cur.fetchall()]
    conn.rollback()
    return days


def duration_histogram(durations_ms: list[int]) -> list[dict[str, Any]]:
    """Sessions per duration bucket (DURATION_BUCKETS), every bucket present."""
    counts = [0] * len(DURATION_BUCKETS)
    for ms in durations_ms:
        seconds = ms / 1000
        for index, (_, low, high) in enumerate(DURATION_BUCKETS):
            if low <= seconds < high:
                counts[index] += 1
                break
    return [{"bucket": label, "sessions": n} for (label, _, _), n in zip(DURATION_BUCKETS, counts, strict=True)]


def _evidence(value: Any) -> dict[str, Any]:
    data = json.loads(value) if isinstance(value, str) else value
    return _plain(data) if isinstance(data, dict) else {"samples": _plain(data) if isinstance(data, list) else []}


def _sessions(cur: psycopg2.extensions.cursor, params: Mapping[str, Any]) -> dict[str, Any]:
    summary = _one(cur, _SESSIONS, params)
    human = int(summary.get("human_sessions") or 0)
    summary["bounce_rate"] = (int(summary.get("bounces") or 0) / human) if human else None
    cur.execute(_DURATIONS, params)
    summary["durations"] = duration_histogram([int(row[0]) for row in cur.fetchall()])
    return summary


STAGE_ORDER = ("parse", "input_checks", "analytics", "output_checks", "load", "loaded_checks")


def _in_run_order(timings: Mapping[str, Any]) -> dict[str, Any]:
    """Stage timings in the order the stages run (jsonb does not keep the order they were written in)."""
    rank = {name: index for index, name in enumerate(STAGE_ORDER)}
    return {stage: timings[stage] for stage in sorted(timings, key=lambda stage: (rank.get(stage, len(rank)), stage))}


def _run_facts(cur: psycopg2.extensions.cursor, run: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    run_params = {**params, "run_id": run.get("run_id")}
    has_run = run.get("run_id") is not None
    return {
        "run": run,
        "inputs": _rows(cur, _INPUTS, run_params) if has_run else [],
        "rejected": _rows(cur, _REJECTED, params),
        "quality": _rows(cur, _QUALITY, run_params) if has_run else [],
        "stage_timings": _in_run_order(run.get("stage_timings") or {}),
    }


def report_data(conn: psycopg2.extensions.connection, day: date) -> dict[str, Any]:
    """Everything the day's report shows; raises DayNotLoadedError when the day was never loaded."""
    params = {"day": day, "limit": TOP_ROWS}
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('webtrail.day_loads') IS NOT NULL")
        run = _one(cur, _LOADED_RUN, params) if cur.fetchone()[0] else {}
        if not run:
            conn.rollback()
            raise DayNotLoadedError(f"the warehouse has no loaded run for {day.isoformat()}")
        findings = _rows(cur, _FINDINGS, {**params, "limit": MAX_FINDINGS})
        for finding in findings:
            finding["evidence"] = _evidence(finding["evidence"])
        data = {
            "day": day.isoformat(),
            "totals": _one(cur, _TOTALS, params),
            "minutes": _rows(cur, _MINUTES, params),
            "status": _rows(cur, _STATUS, params),
            "endpoints": _rows(cur, _ENDPOINTS, params),
            "sessions": _sessions(cur, params),
            "pages": _rows(cur, _PAGES, params),
            "funnel": _rows(cur, _FUNNEL, params),
            "referrers": _rows(cur, _REFERRERS, params),
            "clients": {
                name: _rows(cur, _CLIENTS.format(expr=expr), params)  # noqa: S608 - fixed column list
                for name, expr in _CLIENT_DIMENSIONS.items()
            },
            "findings": findings,
            "findings_by_severity": _rows(cur, _FINDINGS_BY_SEVERITY, params),
            "findings_total": _one(
                cur, "SELECT count(*) AS n FROM webtrail.security_findings WHERE day = %(day)s", params
            ).get("n", 0),
            "top_ips_requests": _rows(cur, _IPS.format(order="requests"), params),  # noqa: S608 - fixed
            "top_ips_errors": _rows(cur, _IPS.format(order="status_4xx + status_5xx"), params),  # noqa: S608
            "facts": _run_facts(cur, run, params),
            "trend": _rows(cur, _TREND, {**params, "first": day - timedelta(days=TREND_DAYS - 1)}),
        }
    conn.rollback()  # read-only: leave no transaction open
    return data
