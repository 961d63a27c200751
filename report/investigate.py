"""Ad-hoc investigation of an IP, a user or a path: the window, the staged requests and the warehouse rows.

No Prefect here: `flows/investigate.py` and `tasks/investigate.py` wrap these functions, and
report/investigate_render.py renders the result. The staged
requests Parquet of each day is scanned lazily with polars filters; the warehouse tables are read
with bound parameters only (psycopg2), never with SQL built from the query values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import psycopg2.extensions

from config.layout import DayLayout
from parsers.schema import PARSED_REQUESTS_SCHEMA

MAX_WINDOW_DAYS = 31
REQUEST_COLUMNS = ("requested_at", "client_ip", "method", "path", "query", "status", "bytes", "user_agent")
TOP_IPS = 20


@dataclass(frozen=True)
class InvestigationQuery:
    """What to look for: at least one of ip / user_id / path_pattern, within [start, end)."""

    start: datetime
    end: datetime
    ip: str | None = None
    user_id: str | None = None
    path_pattern: str | None = None
    limit: int = 200

    def __post_init__(self) -> None:
        if not (self.ip or self.user_id or self.path_pattern):
            raise ValueError("give at least one of ip, user_id or path_pattern")
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if self.end - self.start > timedelta(days=MAX_WINDOW_DAYS):
            raise ValueError(f"the window is limited to {MAX_WINDOW_DAYS} days")
        if self.limit < 1:
            raise ValueError("limit must be at least 1")

    @property
    def days(self) -> list[date]:
        """Every UTC day the window touches."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def describe(self) -> str:
        parts = [f"{k} {v}" for k, v in (("ip", self.ip), ("user", self.user_id), ("path", self.path_pattern)) if v]
        return ", ".join(parts)


@dataclass
class InvestigationResult:
    """What the investigation found; rows are plain dicts (log content not yet escaped)."""

    query: InvestigationQuery
    ips: list[str]
    days_scanned: list[date]
    days_missing: list[date]
    request_count: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    requests_by_ip: list[dict[str, Any]] = field(default_factory=list)
    requests_by_status: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    ip_daily: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "query": self.query.describe(),
            "start": self.query.start.isoformat(),
            "end": self.query.end.isoformat(),
            "ips": self.ips,
            "requests": self.request_count,
            "findings": len(self.findings),
            "sessions": len(self.sessions),
            "days_without_staging": [d.isoformat() for d in self.days_missing],
        }


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def resolve_window(
    start: datetime | None, end: datetime | None, latest_day: date | None
) -> tuple[datetime, datetime]:
    """The [start, end) window: one given bound extends to a day; none means the latest loaded day."""
    if start is not None and end is not None:
        return as_utc(start), as_utc(end)
    if start is not None:
        return as_utc(start), as_utc(start) + timedelta(days=1)
    if end is not None:
        return as_utc(end) - timedelta(days=1), as_utc(end)
    if latest_day is None:
        raise ValueError("no day has been loaded yet: give start and end")
    first = datetime.combine(latest_day, time(0), tzinfo=UTC)
    return first, first + timedelta(days=1)


def glob_to_regex(pattern: str) -> str:
    """An anchored regex for a glob over the whole path: `*` any run of characters, `?` one character."""
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return "^" + "".join(parts) + "$"


def glob_to_like(pattern: str) -> str:
    """The same glob as a SQL LIKE pattern (LIKE's own `%`, `_` and `\\` escaped)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    first = datetime.combine(day, time(0), tzinfo=UTC)
    return first, first + timedelta(days=1)


def scan_requests(
    data_dir: Path, query: InvestigationQuery, ips: Sequence[str] | None
) -> tuple[pl.LazyFrame | None, list[date], list[date]]:
    """Lazy scan of the matching staged requests of the window's days (None when no day is staged).

    Each day's file is restricted to its own UTC day, so the lines staged with a neighbouring day for
    the session overlap are counted once. `ips` narrows to those client IPs.
    """
    frames: list[pl.LazyFrame] = []
    scanned: list[date] = []
    missing: list[date] = []
    for day in query.days:
        path = DayLayout(data_dir, day).requests
        if not path.exists():
            missing.append(day)
            continue
        scanned.append(day)
        low, high = _day_bounds(day)
        # without the value keys, which days staged before them lack: the days concatenate whatever their age
        frames.append(
            pl.scan_parquet(path).select(*PARSED_REQUESTS_SCHEMA).filter(
                pl.col("requested_at").is_between(max(low, query.start), min(high, query.end), closed="left")
            )
        )
    if not frames:
        return None, scanned, missing
    lazy = pl.concat(frames, how="vertical")
    if ips is not None:
        lazy = lazy.filter(pl.col("client_ip").is_in(list(ips)))
    if query.path_pattern:
        lazy = lazy.filter(pl.col("path").str.contains(glob_to_regex(query.path_pattern)))
    return lazy, scanned, missing


def summarize_requests(lazy: pl.LazyFrame, limit: int) -> dict[str, Any]:
    """Count, the first `limit` requests in time order, and breakdowns per IP and per status."""
    count = lazy.select(pl.len()).collect().item()
    sample = lazy.sort("requested_at", "client_ip").head(limit).select(REQUEST_COLUMNS).collect()
    by_ip = (
        lazy.group_by("client_ip")
        .agg(
            pl.len().alias("requests"),
            pl.col("path").n_unique().alias("distinct_paths"),
            (pl.col("status") >= 400).sum().alias("errors"),
            pl.col("requested_at").min().alias("first_seen_at"),
            pl.col("requested_at").max().alias("last_seen_at"),
        )
        .sort(["requests", "client_ip"], descending=[True, False])
        .head(TOP_IPS)
        .collect()
    )
    by_status = lazy.group_by("status").agg(pl.len().alias("requests")).sort("status").collect()
    return {
        "count": int(count),
        "requests": sample.to_dicts(),
        "by_ip": by_ip.to_dicts(),
        "by_status": by_status.to_dicts(),
    }


def _fetch(cur: psycopg2.extensions.cursor, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    cur.execute(sql, params)
    columns = [d.name for d in cur.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


_USER_IPS_SQL = """
SELECT DISTINCT client_ip FROM webtrail.sessions
WHERE day = ANY(%(days)s) AND user_id = %(user_id)s
  AND started_at < %(end)s AND ended_at >= %(start)s
ORDER BY client_ip
"""

_FINDINGS_SQL = """
SELECT day, client_ip, category, rule_id, severity, first_seen_at, last_seen_at, request_count,
       distinct_paths, user_ids, score, evidence
FROM webtrail.security_findings
WHERE day = ANY(%(days)s)
  AND (client_ip = ANY(%(ips)s) OR (%(user_id)s::text IS NOT NULL AND %(user_id)s::text = ANY(user_ids)))
  AND first_seen_at < %(end)s AND last_seen_at >= %(start)s
ORDER BY day, array_position(ARRAY['critical', 'high', 'medium', 'low'], severity), client_ip, category
LIMIT %(limit)s
"""

_SESSIONS_SQL = """
SELECT day, session_id, user_id, client_ip, started_at, ended_at, duration_ms, page_views, requests,
       entry_path, exit_path, is_bot, browser_family, os_family, device_type, user_agent
FROM webtrail.sessions
WHERE day = ANY(%(days)s)
  AND (client_ip = ANY(%(ips)s) OR (%(user_id)s::text IS NOT NULL AND user_id = %(user_id)s::text))
  AND started_at < %(end)s AND ended_at >= %(start)s
ORDER BY started_at, session_id
LIMIT %(limit)s
"""

_IP_DAILY_SQL = """
SELECT day, client_ip, requests, bytes, status_4xx, status_5xx, distinct_paths, distinct_user_agents,
       first_seen_at, last_seen_at, is_flagged
FROM webtrail.ip_daily
WHERE day = ANY(%(days)s) AND client_ip = ANY(%(ips)s)
ORDER BY day, client_ip
LIMIT %(limit)s
"""


def _has_tables(cur: psycopg2.extensions.cursor) -> bool:
    cur.execute("SELECT to_regclass('webtrail.day_loads') IS NOT NULL AND to_regclass('webtrail.sessions') IS NOT NULL")
    row = cur.fetchone()
    return bool(row and row[0])


def user_ips(conn: psycopg2.extensions.connection, query: InvestigationQuery) -> list[str]:
    """Client IPs of the user's sessions in the window."""
    if not query.user_id:
        return []
    with conn.cursor() as cur:
        if not _has_tables(cur):
            return []
        params = {"days": query.days, "user_id": query.user_id, "start": query.start, "end": query.end}
        return [row["client_ip"] for row in _fetch(cur, _USER_IPS_SQL, params)]


def warehouse_rows(
    conn: psycopg2.extensions.connection, query: InvestigationQuery, ips: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """security_findings, sessions and ip_daily rows of the IPs (or the user) in the window."""
    params = {
        "days": query.days, "ips": list(ips), "user_id": query.user_id,
        "start": query.start, "end": query.end, "limit": query.limit,
    }
    with conn.cursor() as cur:
        if not _has_tables(cur):
            return {"findings": [], "sessions": [], "ip_daily": []}
        return {
            "findings": _fetch(cur, _FINDINGS_SQL, params),
            "sessions": _fetch(cur, _SESSIONS_SQL, params),
            "ip_daily": _fetch(cur, _IP_DAILY_SQL, params),
        }


def investigate(
    conn: psycopg2.extensions.connection, data_dir: Path, query: InvestigationQuery
) -> InvestigationResult:
    """Run the whole investigation.

    The IPs looked at: the given ip; else the IPs of the user's sessions; else (path only) the
    IPs that requested matching paths most. Requests are those of these IPs (and matching the path
    glob when given); findings, sessions and ip_daily rows are those of these IPs (or the user).
    """
    ips: list[str] | None
    if query.ip:
        ips = [query.ip]
    elif query.user_id:
        ips = user_ips(conn, query)
    else:
        ips = None
    lazy, scanned, missing = scan_requests(data_dir, query, ips)
    stats = summarize_requests(lazy, query.limit) if lazy is not None else None
    if ips is None:
        ips = [row["client_ip"] for row in stats["by_ip"]] if stats else []
    result = InvestigationResult(query=query, ips=ips, days_scanned=scanned, days_missing=missing)
    if stats:
        result.request_count = stats["count"]
        result.requests = stats["requests"]
        result.requests_by_ip = stats["by_ip"]
        result.requests_by_status = stats["by_status"]
    rows = warehouse_rows(conn, query, ips)
    result.findings, result.sessions, result.ip_daily = rows["findings"], rows["sessions"], rows["ip_daily"]
    conn.rollback()  # read-only: leave no transaction open
    return result
