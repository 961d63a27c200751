"""Output tables: what the Spark analytics write and the warehouse loads into ``webtrail.<name>``.

Columns are in the order of the SQL table (warehouse/migrations/*.sql); `required` is NOT NULL
there. Every table has `day` first and in its primary key.
"""

from __future__ import annotations

from config.catalog.model import (
    BOOLEAN,
    DATE,
    FLOAT64,
    INT32,
    INT64,
    JSON,
    TEXT,
    TEXT_LIST,
    TIMESTAMP,
    Column,
    Dataset,
    optional,
    required,
)


def _day() -> Column:
    return required("day", DATE, "UTC day of the run")


# ---------------------------------------------------------------- behavior
SESSIONS = Dataset(
    name="sessions",
    kind="output",
    description="One visit (30 min of inactivity ends it), stored whole in the day it started.",
    columns=(
        _day(),
        required("session_id", TEXT, "hash of the visitor key and the first timestamp"),
        required("visitor_key", TEXT, "the user id when known, else a hash of (ip, user agent)"),
        optional("user_id", TEXT),
        required("client_ip", TEXT),
        optional("user_agent", TEXT),
        required("started_at", TIMESTAMP),
        required("ended_at", TIMESTAMP),
        required("duration_ms", INT64),
        required("page_views", INT32),
        required("requests", INT32),
        required("bytes", INT64),
        optional("entry_path", TEXT),
        optional("exit_path", TEXT),
        required("is_bounce", BOOLEAN, "one page view only"),
        required("is_bot", BOOLEAN, "bot by user agent or by behaviour"),
        optional("browser_family", TEXT),
        optional("os_family", TEXT),
        optional("device_type", TEXT),
        optional("referrer_domain", TEXT, "normalized host of the first external referer"),
        optional("user_plan", TEXT),
        optional("user_country", TEXT),
    ),
    primary_key=("day", "session_id"),
)

USER_DAILY = Dataset(
    name="user_daily",
    kind="output",
    description="One known user's activity in the day.",
    columns=(
        _day(),
        required("user_id", TEXT),
        required("sessions", INT32),
        required("page_views", INT32),
        required("requests", INT32),
        required("bytes", INT64),
        required("events", INT32),
        required("purchases", INT32),
        required("first_seen_at", TIMESTAMP),
        required("last_seen_at", TIMESTAMP),
    ),
    primary_key=("day", "user_id"),
)

PAGE_DAILY = Dataset(
    name="page_daily",
    kind="output",
    description="One path template (/product/{id}) in the day: views, visitors, entries, exits, bounces.",
    columns=(
        _day(),
        required("path_template", TEXT),
        required("views", INT32),
        required("unique_visitors", INT32),
        required("entries", INT32),
        required("exits", INT32),
        required("bounces", INT32),
        optional("bounce_rate", FLOAT64),
        optional("avg_time_on_page_ms", FLOAT64),
    ),
    primary_key=("day", "path_template"),
)

FUNNEL_DAILY = Dataset(
    name="funnel_daily",
    kind="output",
    description="One funnel step in the day: visitors reaching it and the conversion to it.",
    columns=(
        _day(),
        required("step_number", INT32),
        required("step_name", TEXT),
        required("visitors", INT32),
        optional("conversion_from_previous", FLOAT64),
        optional("conversion_from_start", FLOAT64),
    ),
    primary_key=("day", "step_number"),
)

CLIENT_DAILY = Dataset(
    name="client_daily",
    kind="output",
    description="One browser / OS / device / bot class in the day.",
    columns=(
        _day(),
        required("browser_family", TEXT),
        required("os_family", TEXT),
        required("device_type", TEXT),
        required("is_bot", BOOLEAN),
        required("requests", INT64),
        required("sessions", INT32),
        required("visitors", INT32),
    ),
    primary_key=("day", "browser_family", "os_family", "device_type", "is_bot"),
)

REFERRER_DAILY = Dataset(
    name="referrer_daily",
    kind="output",
    description="One referring domain in the day: the sessions it started.",
    columns=(_day(), required("referrer_domain", TEXT), required("sessions", INT32), required("visitors", INT32)),
    primary_key=("day", "referrer_domain"),
)

# ---------------------------------------------------------------- performance
TRAFFIC_MINUTE = Dataset(
    name="traffic_minute",
    kind="output",
    description="One minute of the day: requests, bytes, status classes, latency percentiles, spikes.",
    columns=(
        _day(),
        required("minute_at", TIMESTAMP),
        required("requests", INT32),
        required("bytes", INT64),
        required("status_2xx", INT32),
        required("status_3xx", INT32),
        required("status_4xx", INT32),
        required("status_5xx", INT32),
        optional("p50_ms", FLOAT64),
        optional("p95_ms", FLOAT64),
        optional("p99_ms", FLOAT64),
        required("unique_clients", INT32),
        required("is_spike", BOOLEAN, "requests far above the day's minutes"),
        optional("spike_score", FLOAT64),
    ),
    primary_key=("day", "minute_at"),
)

ENDPOINT_DAILY = Dataset(
    name="endpoint_daily",
    kind="output",
    description="One method + path template in the day: hits, 5xx errors, latency percentiles, bytes.",
    columns=(
        _day(),
        required("method", TEXT),
        required("path_template", TEXT, "(malformed), (empty), (non-http) without an HTTP target"),
        required("hits", INT64),
        required("errors", INT64, "5xx responses"),
        required("error_rate", FLOAT64),
        optional("p50_ms", FLOAT64),
        optional("p95_ms", FLOAT64),
        optional("p99_ms", FLOAT64),
        optional("max_ms", FLOAT64),
        required("bytes", INT64),
    ),
    primary_key=("day", "method", "path_template"),
)

STATUS_DAILY = Dataset(
    name="status_daily",
    kind="output",
    description="One HTTP status in the day: requests and bytes.",
    columns=(_day(), required("status", INT32), required("requests", INT64), required("bytes", INT64)),
    primary_key=("day", "status"),
)

# ---------------------------------------------------------------- security
SECURITY_FINDINGS = Dataset(
    name="security_findings",
    kind="output",
    description="One (client ip, category) the detectors flagged in the day, with its evidence.",
    columns=(
        _day(),
        required("client_ip", TEXT),
        required("category", TEXT),
        required("rule_id", TEXT),
        required("severity", TEXT, "low, medium, high, critical"),
        required("first_seen_at", TIMESTAMP),
        required("last_seen_at", TIMESTAMP),
        required("request_count", INT64),
        required("distinct_paths", INT32),
        required("user_ids", TEXT_LIST),
        optional("score", FLOAT64),
        required("evidence", JSON, "a sample of the raw requests that matched"),
    ),
    primary_key=("day", "client_ip", "category"),
)

IP_DAILY = Dataset(
    name="ip_daily",
    kind="output",
    description="One client ip in the day: requests, bytes, errors, spread, and whether it was flagged.",
    columns=(
        _day(),
        required("client_ip", TEXT),
        required("requests", INT64),
        required("bytes", INT64),
        required("status_4xx", INT64),
        required("status_5xx", INT64),
        required("distinct_paths", INT32),
        required("distinct_user_agents", INT32),
        required("first_seen_at", TIMESTAMP),
        required("last_seen_at", TIMESTAMP),
        required("is_flagged", BOOLEAN, "the ip has a security finding this day"),
    ),
    primary_key=("day", "client_ip"),
)

# In the order the analytics produce, check and load them.
OUTPUT_DATASETS: tuple[Dataset, ...] = (
    SESSIONS, USER_DAILY, PAGE_DAILY, FUNNEL_DAILY, CLIENT_DAILY, REFERRER_DAILY,
    TRAFFIC_MINUTE, ENDPOINT_DAILY, STATUS_DAILY, SECURITY_FINDINGS, IP_DAILY,
)
