"""Sessionization (README, "Tables" and "Sessions and midnight") in the gaps-and-islands form.

Device = (client, user agent) (a missing user agent counts as ''). Requests of a device are ordered
by (requested_at, source_file, line_number); a request opens a new session when the gap to the
previous one is *strictly greater* than `gap_minutes` (a gap of exactly 30 min stays in the same
session, as in GA4 / Snowplow "more than 30 minutes of inactivity"). Such a run of requests (an
island) is also cut where it passes 00:00 UTC + `carry_over` of a day after its first one: a session
begun before midnight may continue `overlap_minutes` into the next day (0 with `split_at_midnight`,
which makes that a split at midnight). The session number is the running sum of these cuts.

A session belongs to the day of its first request, whole: the run of day D reads
[D - overlap, D+1 + overlap). With overlap >= gap it sees the gap before each of D's requests (so it
knows which ones start a session), and no session started on D runs past D+1 + carry_over. The run
of D+1 recognises the same sessions as started on D and leaves them out: each session is counted
once, by one day, and every run's result depends only on its inputs (backfills in any order).

User attribution is per session: the user of the latest `login_success` event of the same device
with occurred_at <= session end (a login in the middle of a session attributes the whole session; no
split). visitor_key = user_id when known, else sha2(ip || 0x1f || ua). session_id = first 32 hex
chars of sha2(visitor_key || 0x1f || started_at ISO-8601 UTC || 0x1f || device hash): the device hash
is added to the design's (visitor key, first timestamp) so two devices of one user starting in the
same second cannot collide on the (day, session_id) key.

Only well-formed requests make sessions (README, "What a request is"): a request whose line is
empty, malformed or not HTTP (`junk`) is counted by the traffic, status, endpoint, IP and security
tables but belongs to no session and is never a page view. Such rows are ordered after every
well-formed one of their device and get a null `seq`, so they neither open nor extend a session.

Steps (chained by analytics/pipeline.py): `islands` (analytics/request_frame.py) -> `session_keys`
(one row per session, keys and numbers) -> `session_rows` (the table's columns, before is_bot) ->
`flag_bots`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window, functions

from analytics.facts import RequestFacts
from config import catalog
from config.settings import SessionSettings

SEP = "\x1f"
DAY_US = 86_400_000_000
SESSION_KEY = ("client_key", "device_agent", "seq")  # a session within one run
ISO_MICROS = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
SESSION_COLUMNS = catalog.dataset("sessions").names_without("day")  # `day` is set by contracts.conform


def islands(requests: DataFrame, settings: SessionSettings, device: Sequence[str], order: Sequence[str]) -> DataFrame:
    """requests plus `seq`, the session number within the device (null for a `junk` row): the islands,
    cut at the carry-over. `order` names the time column (epoch microseconds) first, then tiebreakers."""
    # the junk rows sort after the device's others: lag and running max never see them
    window = Window.partitionBy(*device).orderBy(functions.col("junk"), *order)
    running = window.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    at, previous = functions.col(order[0]), functions.col("_previous")
    gap_us = settings.gap_minutes * 60_000_000
    carry_us = int(settings.carry_over.total_seconds()) * 1_000_000
    # rows come in time order: the island's start is the latest gap-opened row so far
    island_start = functions.max(functions.when(functions.col("_gap_new"), at)).over(running)
    island_day = functions.col("_island_start") - functions.pmod("_island_start", functions.lit(DAY_US))

    def part(time_us: Column) -> Column:
        """Carry-over points (00:00 + carry_over of each day after the island's first) passed at time_us."""
        passed = functions.floor((time_us - functions.lit(carry_us) - island_day) / functions.lit(DAY_US))
        return functions.greatest(functions.lit(0), passed)

    # A row that does not open an island has the island start of the previous row, so that row's
    # carry-over part is part(previous time): no window of its own is needed for it.
    return (
        requests.withColumn("_previous", functions.lag(at).over(window))
        .withColumn("_gap_new", previous.isNull() | ((at - previous) > gap_us))
        .withColumn("_island_start", island_start)
        .withColumn("_new", (functions.col("_gap_new") | (part(at) != part(previous))).cast("int"))
        .withColumn("seq", functions.when(~functions.col("junk"), functions.sum("_new").over(running)))
        .drop("_previous", "_gap_new", "_island_start", "_new")
    )


def _first(condition: Column, value: str, last: bool = False) -> Column:
    """Value of the first (or last) row in request order where condition holds."""
    ordered = functions.struct("t", "file_rank", "line_number", functions.col(value).alias("v"))
    keyed = functions.when(condition, ordered)
    return (functions.max(keyed) if last else functions.min(keyed)).getField("v")


def session_keys(frame: DataFrame, external_referer: Column) -> DataFrame:
    """One row per session of the per-request frame (sessionable rows only): SESSION_KEY, the largest
    agent key seen (the session's user agent), `started_us`/`ended_us`, requests, bytes, page views,
    the template keys of the first and last page view and the host key of the first external referer
    (`external_referer`: the row's referer host key when it is external, else null)."""
    page_view = functions.col("page_view")
    return frame.where(functions.col("seq").isNotNull()).withColumn("_external", external_referer).groupBy(
        *SESSION_KEY
    ).agg(
        functions.max("agent_key").alias("agent_key"),
        functions.min("t").alias("started_us"),
        functions.max("t").alias("ended_us"),
        functions.count(functions.lit(1)).alias("requests"),
        functions.coalesce(functions.sum("bytes"), functions.lit(0)).alias("bytes"),
        functions.count(functions.when(page_view, 1)).alias("page_views"),
        _first(page_view, "template_key").alias("entry_key"),
        _first(page_view, "template_key", last=True).alias("exit_key"),
        _first(functions.col("_external").isNotNull(), "_external").alias("referrer_key"),
    )


def device_hash(client_ip: Column, user_agent: Column) -> Column:
    """sha2-256 hex of ip || 0x1f || user agent (null parts as '')."""
    return functions.sha2(
        functions.concat_ws(
            SEP, functions.coalesce(client_ip, functions.lit("")), functions.coalesce(user_agent, functions.lit(""))
        ),
        256,
    )


def device_logins(events: DataFrame, facts: RequestFacts, agents: DataFrame) -> DataFrame:
    """`login_success` events with a user id, on the keys of their device: client_key, device_agent,
    `_login` (occurred_at, user_id). Events of a device that made no request cannot match a session."""
    logins = events.where(
        (functions.col("event_type") == "login_success") & functions.col("user_id").isNotNull()
    ).select(
        "client_ip", functions.coalesce("user_agent", functions.lit("")).alias("_l_ua"),
        functions.struct("occurred_at", "user_id").alias("_login"),
    )
    clients = facts.clients.select(functions.col("key").alias("client_key"), "client_ip")
    devices = agents.select(functions.coalesce("user_agent", functions.lit("")).alias("_l_ua"), "device_agent")
    return (
        logins.join(clients, "client_ip")
        .join(functions.broadcast(devices.dropDuplicates(["_l_ua"])), "_l_ua")
        .select("client_key", "device_agent", "_login")
    )


def session_rows(keyed: DataFrame, names: dict[str, DataFrame], logins: DataFrame, users: DataFrame) -> DataFrame:
    """The sessions of `session_keys` with the table's columns (SESSION_COLUMNS but is_bot) and `_ua_bot`.

    `names`: `clients` (key, client_ip), `agents` (the agent lookup), `templates` (key, path_template),
    `hosts` (key, host): the texts of the keys. `logins`: `device_logins`.
    """
    on_device = (functions.col("client_key") == functions.col("_l_client")) & (
        functions.col("device_agent") == functions.col("_l_device")
    )
    candidate = logins.select(
        functions.col("client_key").alias("_l_client"), functions.col("device_agent").alias("_l_device"), "_login"
    )
    joined = keyed.join(
        candidate, on_device & (functions.col("_login.occurred_at") <= functions.timestamp_micros("ended_us")), "left"
    )
    kept = [name for name in keyed.columns if name not in SESSION_KEY]
    attributed = joined.groupBy(*SESSION_KEY).agg(
        *[functions.first(name).alias(name) for name in kept],
        functions.max("_login").getField("user_id").alias("user_id"),
    )
    agents = names["agents"].select(
        functions.col("key").alias("agent_key"), "user_agent", "browser_family", "os_family", "device_type", "_ua_bot"
    )
    device_ua = names["agents"].select(
        functions.col("key").alias("device_agent"), functions.coalesce("user_agent", functions.lit("")).alias("_ua")
    )
    clients = names["clients"].select(functions.col("key").alias("client_key"), "client_ip")
    templates = names["templates"]
    entry = templates.select(functions.col("key").alias("entry_key"),
                             functions.col("path_template").alias("entry_path"))
    exit_ = templates.select(functions.col("key").alias("exit_key"), functions.col("path_template").alias("exit_path"))
    hosts = names["hosts"].select(functions.col("key").alias("referrer_key"),
                                  functions.col("host").alias("referrer_domain"))
    user_info = users.select(
        "user_id", functions.col("plan").alias("user_plan"), functions.col("country").alias("user_country")
    ).dropDuplicates(["user_id"])
    named = (
        attributed.join(functions.broadcast(clients), "client_key")
        .join(functions.broadcast(agents), "agent_key", "left")
        .join(functions.broadcast(device_ua), "device_agent", "left")
        .join(functions.broadcast(entry), "entry_key", "left")
        .join(functions.broadcast(exit_), "exit_key", "left")
        .join(functions.broadcast(hosts), "referrer_key", "left")
        .join(user_info, "user_id", "left")
    )
    device = device_hash(functions.col("client_ip"), functions.col("_ua"))
    started = functions.timestamp_micros("started_us")
    columns = [name for name in SESSION_COLUMNS if name != "is_bot"]
    return (
        named.withColumns({
            "started_at": started,
            "ended_at": functions.timestamp_micros("ended_us"),
            "visitor_key": functions.coalesce("user_id", device),
        })
        .withColumn(
            "session_id",
            functions.substring(
                functions.sha2(
                    functions.concat_ws(
                        SEP, "visitor_key", functions.date_format("started_at", ISO_MICROS), device
                    ),
                    256
                ),
                1,
                32,
            ),
        )
        .withColumns({
            "duration_ms": functions.floor((functions.col("ended_us") - functions.col("started_us")) / 1000),
            "is_bounce": functions.col("page_views") <= 1,
        })
        .select(*SESSION_KEY, *columns, "_ua_bot")
    )


def flag_bots(sessions: DataFrame, automated_clients: DataFrame) -> DataFrame:
    """`session_rows` output with is_bot: bot by user agent, or from an automated client (client_key)."""
    auto = automated_clients.select("client_key").distinct().withColumn("_ip_bot", functions.lit(True))
    is_bot = functions.coalesce("_ua_bot", functions.lit(False)) | functions.coalesce("_ip_bot", functions.lit(False))
    flagged = sessions.join(functions.broadcast(auto), "client_key", "left").withColumn("is_bot", is_bot)
    return flagged.select(*SESSION_KEY, *SESSION_COLUMNS)
