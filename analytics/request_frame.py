"""The one per-request frame every table and rule reads: integer keys, numbers, flags and sessions.

Built once per day from the facts (analytics/facts.py) and the lookups (analytics/lookups.py): each
request gets, by broadcast joins on integer keys, what its request line, user agent, referer, vhost,
file and client mean; then one shuffle by client and one sort by (client, device, time) give its
session number `seq` (the islands, analytics/sessions.py `islands`). The frame keeps that
partitioning: the per-client and per-session aggregations that read it need no further shuffle.

Columns (FRAME_COLUMNS): the fact keys (a null value's key is -1), `device_agent` (the agent as a
device: null and '' are one), `t` (epoch microseconds of requested_at), `file_rank`, `line_number`,
`status`, `bytes`, `request_time_ms`; `in_day` (requested within the day, not in the overlap on either
side), `junk` (no well-formed request line: never in a session), `page_view`, `template_key`,
`path_key`, the host keys of its referer and vhost; for the security rules (analytics/signals.py)
`good_bot`, `fake`, `ip_allowed`, `counted` (not allowlisted: it counts for the rules), `count_mask`,
`malformed` and `payload`; and `seq`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from pyspark.sql import Column, DataFrame, functions

from analytics import count_signals
from analytics.facts import RequestFacts
from analytics.lookups import Lookups, any_match, key_or_null
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


def _infos(lookups: Lookups) -> list[tuple[DataFrame, str]]:
    """(the columns the frame takes from each lookup, the key column it joins on)."""
    requests = lookups.requests.select(
        functions.col("key").alias("request_key"), "junk", "page_eligible", "template_key", "path_key", "_masks",
        functions.col("_malformed_line").isNotNull().alias("_line_malformed"),
        any_match("_own").alias("_request_payload"),
    )
    agents = lookups.agents.select(
        functions.col("key").alias("agent_key"), "device_agent", "_good_ua", "_claimed", "_ua_allowed",
        any_match("_ua_m").alias("_agent_payload"),
    )
    referers = lookups.referers.select(
        functions.col("key").alias("referer_key"), "referer_host_key", any_match("_ref_m").alias("_referer_payload"))
    vhosts = lookups.vhosts.select(functions.col("key").alias("vhost_key"), "vhost_host_key")
    files = lookups.files.select(functions.col("key").alias("file_key"), "file_rank")
    return [(requests, "request_key"), (agents, "agent_key"), (referers, "referer_key"), (vhosts, "vhost_key"),
            (files, "file_key")]


def _crawlers(rows: DataFrame, clients: DataFrame | None) -> DataFrame:
    """rows plus `good_bot` (a verified crawler, or a declared one of an engine without ranges), `fake`
    (a claim of a search engine from outside its ranges), `ip_allowed` and `counted` (not allowlisted)."""
    if clients is not None:
        rows = rows.join(functions.broadcast(clients), "client_key", "left")
        engine, client_allowed = functions.col("_engine"), functions.coalesce("_client_allowed", functions.lit(False))
    else:
        engine, client_allowed = functions.lit(None).cast("string"), functions.lit(False)
    claimed = functions.col("_claimed")
    verified = claimed.isNotNull() & functions.coalesce(claimed == engine, functions.lit(False))
    allowed = client_allowed | functions.coalesce(functions.col("_ua_allowed"), functions.lit(False))
    return rows.withColumns({
        "good_bot": verified | (claimed.isNull() & functions.coalesce(functions.col("_good_ua"), functions.lit(False))),
        "fake": claimed.isNotNull() & ~verified,
        "ip_allowed": client_allowed,
        "counted": ~allowed,
    })


def request_frame(facts: RequestFacts, lookups: Lookups, day: date, settings: SessionSettings) -> DataFrame:
    """The day's per-request frame (module docstring), partitioned by client and sorted by device and time."""
    rows = facts.rows.select(
        *[key_or_null(name).alias(name) for name in (*KEYS, "file_key")],
        functions.unix_micros("requested_at").alias("t"), "line_number", "status", "bytes", "request_time_ms",
    )
    for info, key in _infos(lookups):
        rows = rows.join(functions.broadcast(info), key)
    rows = _crawlers(rows.drop("file_key"), lookups.clients)
    flagged = rows.withColumns({
        "in_day": in_day(day),
        "count_mask": functions.coalesce(count_signals.count_mask(), functions.lit(0)),
        "malformed": functions.col("_line_malformed") | (functions.col("status") == 400),
        "payload": functions.col("_request_payload") | functions.col("_referer_payload")
        | functions.col("_agent_payload"),
    })
    kept = [name for name in flagged.columns if not name.startswith("_")]
    sessions = islands(flagged.select(*kept).repartition("client_key"), settings, DEVICE, ORDER)
    page_view = functions.col("page_eligible") & (functions.col("status") < 400) & ~functions.col("junk")
    return sessions.withColumn("page_view", page_view).drop("page_eligible")
