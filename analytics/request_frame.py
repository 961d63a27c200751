"""The one per-request frame every table and rule reads: integer keys, numbers, flags and sessions.

Built once per day from the facts (analytics/facts.py) and the lookups (analytics/lookups.py): each
request gets, by broadcast joins on integer keys, what its request line, user agent and file mean
(`junk`, `page_view`, `device_agent`, `template_key`, `file_rank`), then one shuffle by client and one
sort by (client, device, time) give its session number `seq` (the islands, analytics/sessions.py
`islands`). The frame keeps that partitioning: the per-client and per-session aggregations that read
it need no further shuffle.

Columns (FRAME_COLUMNS): the fact keys (a null value's key is -1), `device_agent` (the agent as a
device: null and '' are one), `t` (epoch microseconds of requested_at), `file_rank`, `line_number`,
`status`, `bytes`, `request_time_ms`, `in_day` (requested within the day, not in the overlap on either
side), `junk` (no well-formed request line: never in a session), `page_view`, `template_key`, the host
keys of its referer and vhost (`referer_host_key`, `vhost_host_key`) and `seq`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from pyspark.sql import Column, DataFrame, functions

from analytics.facts import RequestFacts
from analytics.lookups import Lookups, key_or_null
from analytics.sessions import islands
from config.settings import SessionSettings

DAY_US = 86_400_000_000
KEYS = ("client_key", "agent_key", "request_key", "referer_key", "vhost_key", "remote_user_key")
DEVICE = ("client_key", "device_agent")
# Requests of a device in the order sessions take them (time, then file name, then line).
ORDER = ("t", "file_rank", "line_number")


def day_micros(day: date) -> int:
    """Epoch microseconds of the day's 00:00 UTC."""
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp()) * 1_000_000


def in_day(day: date) -> Column:
    """Whether the row's `t` falls within the day [00:00, 24:00) UTC."""
    start = day_micros(day)
    return (functions.col("t") >= start) & (functions.col("t") < start + DAY_US)


def request_frame(facts: RequestFacts, lookups: Lookups, day: date, settings: SessionSettings) -> DataFrame:
    """The day's per-request frame (module docstring), partitioned by client and sorted by device and time."""
    request_info = lookups.requests.select(
        functions.col("key").alias("request_key"), "junk", "page_eligible", "template_key"
    )
    agent_info = lookups.agents.select(functions.col("key").alias("agent_key"), "device_agent")
    file_info = lookups.files.select(functions.col("key").alias("file_key"), "file_rank")
    referer_info = lookups.referers.select(functions.col("key").alias("referer_key"), "referer_host_key")
    vhost_info = lookups.vhosts.select(functions.col("key").alias("vhost_key"), "vhost_host_key")
    rows = facts.rows.select(
        *[key_or_null(name).alias(name) for name in (*KEYS, "file_key")],
        functions.unix_micros("requested_at").alias("t"), "line_number", "status", "bytes", "request_time_ms",
    )
    joined = (
        rows.join(functions.broadcast(request_info), "request_key")
        .join(functions.broadcast(agent_info), "agent_key")
        .join(functions.broadcast(file_info), "file_key")
        .join(functions.broadcast(referer_info), "referer_key")
        .join(functions.broadcast(vhost_info), "vhost_key")
        .drop("file_key")
        .withColumn("in_day", in_day(day))
    )
    sessions = islands(joined.repartition("client_key"), settings, DEVICE, ORDER)
    page_view = functions.col("page_eligible") & (functions.col("status") < 400) & ~functions.col("junk")
    return sessions.withColumn("page_view", page_view).drop("page_eligible")
