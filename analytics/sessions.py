"""Sessionization (README, "Tables" and "Sessions and midnight") in the gaps-and-islands form.

Device = (client_ip, user_agent) (a missing user agent counts as ''). Requests of a device are
ordered by (requested_at, source_file, line_number); a request opens a new session when the gap to
the previous one is *strictly greater* than `gap_minutes` (a gap of exactly 30 min stays in the same
session, as in GA4 / Snowplow "more than 30 minutes of inactivity"). Such a run of requests (an
island) is also cut where it passes 00:00 UTC + `carry_over` of a day after its first one: a session
begun before midnight may continue `overlap_minutes` into the next day (0 with `split_at_midnight`,
which makes that a split at midnight). The session number is the running sum of these cuts.

A session belongs to the day of its first request, whole: the run of day D reads
[D - overlap, D+1 + overlap). With overlap >= gap it sees the gap before each of D's requests (so it
knows which ones start a session), and no session started on D runs past D+1 + carry_over. The run
of D+1 recognises the same sessions as started on D and leaves them out: each session is counted
once, by one day, and every run's result depends only on its inputs (backfills in any order).

User attribution is per session: the user of the latest `login_success` event of the same
(client_ip, user_agent) with occurred_at <= session end (a login in the middle of a session
attributes the whole session; no split). visitor_key = user_id when known, else
sha2(ip || 0x1f || ua). session_id = first 32 hex chars of sha2(visitor_key || 0x1f ||
started_at ISO-8601 UTC || 0x1f || device hash): the device hash is added to the design's
(visitor key, first timestamp) so two devices of one user starting in the same second cannot
collide on the (day, session_id) key. The caller assigns sessions to the day of their start.

Only well-formed requests make sessions (README, "What a request is"): a request whose line is
empty, malformed or not HTTP (`request_kind` other than `http`) is counted by the traffic, status,
endpoint, IP and security tables but belongs to no session and is never a page view. Such rows are
ordered after every well-formed one of their device and get a null `_seq`, so they neither open nor
extend a session; `session_rows` leaves them out.

Steps (chained by analytics/pipeline.py `build_tables`, which keeps the intermediates it reuses):
`prepare_requests` (per-request islands and columns) -> `session_rows` (one row per session) ->
`flag_bots` (is_bot from the automated IPs) -> `assign` (requests with their session).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window, functions

from analytics.contracts import MAX_HOST_CHARS, bounded_text
from analytics.distinct_values import merge_steps, with_distinct
from analytics.paths import is_page_view, path_template_steps
from config import catalog
from config.settings import SessionSettings

SEP = "\x1f"
DAY_US = 86_400_000_000
_ORDER = ("requested_at", "source_file", "line_number")
SESSION_KEY = ("client_ip", "_ua", "_seq")  # the session key within one run
ISO_MICROS = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
SESSION_COLUMNS = catalog.dataset("sessions").names_without("day")  # `day` is set by contracts.conform


def _bare_host(host: Column) -> Column:
    return functions.regexp_replace(
        functions.regexp_replace(functions.lower(functions.trim(host)), r"(:\d+)?\.?$", ""), r"^www\.", ""
    )


def _bounded_host(bare: Column) -> Column:
    return functions.when(bare != "", bounded_text(bare, MAX_HOST_CHARS))


def normalize_host(host: Column) -> Column:
    """Lower case, port and trailing dot removed, leading `www.` stripped, bounded; '' becomes null."""
    return _bounded_host(_bare_host(host))


def _referer_raw_host(referer: Column) -> Column:
    return functions.regexp_extract(referer, r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]+)", 1)


def referer_host(referer: Column) -> Column:
    """Normalized host of an absolute http(s)-like referer URL; null for '-', relative or garbage."""
    return normalize_host(_referer_raw_host(referer))


def host_steps(hosts: dict[str, Column]) -> list[dict[str, Column]]:
    """`normalize_host` of each (name, host) of `hosts` as steps (distinct_values.Steps) ending in `name`:
    the bare host, read three times, is a column of its own."""
    steps: list[dict[str, Column]] = [{}, {}]
    for name, host in hosts.items():
        steps[0][f"{name}__bare"] = _bare_host(host)
        steps[1][name] = _bounded_host(functions.col(f"{name}__bare"))
    return steps


def device_hash(client_ip: Column, user_agent: Column) -> Column:
    """sha2-256 hex of ip || 0x1f || user agent (null parts as '')."""
    return functions.sha2(
        functions.concat_ws(
            SEP, functions.coalesce(client_ip, functions.lit("")), functions.coalesce(user_agent, functions.lit(""))
        ),
        256,
    )


def is_sessionable() -> Column:
    """A request that may belong to a session: a well-formed HTTP request line (request_kind 'http';
    staging written before request_kind existed reads it as null: then a request with a method)."""
    return functions.coalesce(functions.col("request_kind") == "http", functions.col("method").isNotNull())


def assign_sessions(requests: DataFrame, settings: SessionSettings) -> DataFrame:
    """Requests with `_ua` and `_seq` (session number within the device; null for a request that is not
    `is_sessionable`): the islands, cut at the carry-over."""
    # the non-sessionable rows sort after the device's others: lag and running max never see them,
    # and the partitioning (client_ip, _ua) stays the one the later per-session steps reuse
    order = Window.partitionBy("client_ip", "_ua").orderBy(functions.col("_junk"), *_ORDER)
    running = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    at, previous = functions.col("_t"), functions.col("_previous")
    gap_us = settings.gap_minutes * 60_000_000
    carry_us = int(settings.carry_over.total_seconds()) * 1_000_000
    # rows come in time order: the island's start is the latest gap-opened row so far
    island_start = functions.max(functions.when(functions.col("_gap_new"), at)).over(running)
    island_day = functions.col("_island_start") - functions.pmod("_island_start", functions.lit(DAY_US))

    def part(time_us: Column) -> Column:
        """Carry-over points (00:00 + carry_over of each day after the island's first) passed at time_us."""
        passed = functions.floor((time_us - functions.lit(carry_us) - island_day) / functions.lit(DAY_US))
        return functions.greatest(functions.lit(0), passed)

    # Three windows over the device's rows, each carrying the whole row: the previous time, the
    # island's start, the running count of cuts. A row that does not open an island has the island
    # start of the previous row, so that row's carry-over part is part(previous time): no fourth
    # window (a lag of the part) is needed.
    return (
        requests.withColumns(
            {
                "_ua": functions.coalesce("user_agent", functions.lit("")),
                "_t": functions.unix_micros("requested_at"),
                "_junk": ~is_sessionable(),
            }
        )
        .withColumn("_previous", functions.lag(at).over(order))
        .withColumn("_gap_new", previous.isNull() | ((at - previous) > gap_us))
        .withColumn("_island_start", island_start)
        .withColumn("_new", (functions.col("_gap_new") | (part(at) != part(previous))).cast("int"))
        .withColumn("_seq", functions.when(~functions.col("_junk"), functions.sum("_new").over(running)))
        .drop("_t", "_previous", "_gap_new", "_island_start", "_new", "_junk")
    )


def _first(cond: Column, value: str, last: bool = False) -> Column:
    """Value of the first (or last) row in request order where cond holds."""
    keyed = functions.when(cond, functions.struct(*[functions.col(c) for c in _ORDER], functions.col(value).alias("v")))
    return (functions.max(keyed) if last else functions.min(keyed)).getField("v")


def prepare_requests(requests: DataFrame, settings: SessionSettings) -> DataFrame:
    """Requests (REQUESTS columns) with the per-request columns of sessionization, next to their own.

    Adds `_ua`, `_seq` (the islands), `path_template`, `is_page_view`, `_referer_host` (normalized
    referer host) and `_vhost_host` (normalized vhost). The result is partitioned by (client_ip, _ua),
    which every later per-session step reuses without another shuffle.
    """
    # the islands first: their sort and windows carry each row, so the narrower the better; the regex
    # work per distinct value (analytics/distinct_values.py) joins after them by broadcast, which keeps
    # the partitioning
    islands = assign_sessions(requests, settings)
    per_path = merge_steps(path_template_steps(functions.col("path"), "path_template"), [{"_page": is_page_view()}])
    enriched = with_distinct(islands, ("method", "status", "path"), per_path, values_of=requests)
    hosts = host_steps(
        {"_referer_host": _referer_raw_host(functions.col("referer")), "_vhost_host": functions.col("vhost")}
    )
    enriched = with_distinct(enriched, ("referer", "vhost"), hosts, values_of=requests)
    return enriched.withColumn("is_page_view", functions.col("_page") & functions.col("_seq").isNotNull()).drop(
        "_page"
    )


def site_hosts_frame(requests: DataFrame) -> DataFrame:
    """The site's own hosts as a one-column frame `host`: distinct vhosts and the top referer host.

    `requests`: output of `prepare_requests` (normalized hosts). The most frequent referer host (ties:
    the first by name) is the site itself: internal links.
    """
    top = (
        requests.select(functions.col("_referer_host").alias("host"))
        .where(functions.col("host").isNotNull())
        .groupBy("host")
        .count()
        .orderBy(functions.desc("count"), "host")
        .limit(1)
        .select("host")
    )
    vhosts = requests.select(functions.col("_vhost_host").alias("host")).where(functions.col("host").isNotNull())
    return vhosts.unionByName(top).distinct()


def _external_referer(reqs: DataFrame, site_hosts: Sequence[str] | DataFrame) -> DataFrame:
    """reqs with `_ref_host`: the referer host when it is neither the request's vhost nor a site host."""
    ref = functions.col("_referer_host")
    candidate = ref.isNotNull() & ~ref.eqNullSafe(functions.col("_vhost_host"))
    if isinstance(site_hosts, DataFrame):
        own = site_hosts.select(
            functions.col("host").alias("_referer_host"), functions.lit(True).alias("_own")
        ).distinct()
        # a broadcast join keeps the (client_ip, _ua) partitioning of reqs
        joined = reqs.join(functions.broadcast(own), "_referer_host", "left")
        return joined.withColumn("_ref_host", functions.when(candidate & functions.col("_own").isNull(), ref)).drop(
            "_own"
        )
    own_hosts = [h.lower().removeprefix("www.") for h in site_hosts]
    return reqs.withColumn("_ref_host", functions.when(candidate & ~ref.isin(own_hosts), ref))


def session_rows(
    reqs: DataFrame,
    user_agents: DataFrame,
    events: DataFrame,
    users: DataFrame,
    site_hosts: Sequence[str] | DataFrame = (),
) -> DataFrame:
    """Sessions of `prepare_requests` output before the automated-IP check (see `flag_bots`).

    The session key (SESSION_KEY), SESSION_COLUMNS except is_bot, and `_ua_bot` (bot by user agent).
    A referer is external when its host differs from the request's vhost and from `site_hosts`
    (hosts compared after `normalize_host`; a frame as from `site_hosts_frame`, or a list).
    """
    pv = functions.col("is_page_view")
    sess = _external_referer(reqs.where(functions.col("_seq").isNotNull()), site_hosts).groupBy(*SESSION_KEY).agg(
        functions.max("user_agent").alias("user_agent"),
        functions.min("requested_at").alias("started_at"),
        functions.max("requested_at").alias("ended_at"),
        functions.count(functions.lit(1)).alias("requests"),
        functions.coalesce(functions.sum("bytes"), functions.lit(0)).alias("bytes"),
        functions.count(functions.when(pv, 1)).alias("page_views"),
        _first(pv, "path_template").alias("entry_path"),
        _first(pv, "path_template", last=True).alias("exit_path"),
        _first(functions.col("_ref_host").isNotNull(), "_ref_host").alias("referrer_domain"),
    )
    logins = events.where(
        (functions.col("event_type") == "login_success") & functions.col("user_id").isNotNull()
    ).select(
        functions.col("client_ip").alias("_l_ip"),
        functions.coalesce("user_agent", functions.lit("")).alias("_l_ua"),
        functions.struct("occurred_at", "user_id").alias("_login"),
    )
    # Left join on the device, then back to one row per session: the sessions stay partitioned by
    # device (no shuffle of theirs), and only the logins move.
    on_device = (functions.col("client_ip") == functions.col("_l_ip")) & (
        functions.col("_ua") == functions.col("_l_ua")
    )
    joined = sess.join(logins, on_device & (functions.col("_login.occurred_at") <= functions.col("ended_at")), "left")
    kept = [c for c in sess.columns if c not in SESSION_KEY]
    attributed = joined.groupBy(*SESSION_KEY).agg(
        *[functions.first(c).alias(c) for c in kept], functions.max("_login").getField("user_id").alias("user_id")
    )
    device = device_hash(functions.col("client_ip"), functions.col("_ua"))
    ua_info = user_agents.select(
        "user_agent", "browser_family", "os_family", "device_type", functions.col("is_bot").alias("_ua_bot")
    ).dropDuplicates(["user_agent"])
    user_info = users.select(
        "user_id", functions.col("plan").alias("user_plan"), functions.col("country").alias("user_country")
    ).dropDuplicates(["user_id"])
    columns = [c for c in SESSION_COLUMNS if c != "is_bot"]
    return (
        attributed.withColumn("visitor_key", functions.coalesce("user_id", device))
        .withColumn(
            "session_id",
            functions.substring(
                functions.sha2(
                    functions.concat_ws(SEP, "visitor_key", functions.date_format("started_at", ISO_MICROS), device),
                    256,
                ),
                1,
                32,
            ),
        )
        .withColumn(
            "duration_ms",
            functions.floor((functions.unix_micros("ended_at") - functions.unix_micros("started_at")) / 1000),
        )
        .withColumn("is_bounce", functions.col("page_views") <= 1)
        .join(functions.broadcast(ua_info), "user_agent", "left")
        .join(user_info, "user_id", "left")
        .select(*SESSION_KEY, *columns, "_ua_bot")
    )


def flag_bots(sessions: DataFrame, automated_ips: DataFrame) -> DataFrame:
    """`session_rows` output with is_bot: bot by user agent, or from an automated IP (client_ip column)."""
    auto = automated_ips.select("client_ip").distinct().withColumn("_ip_bot", functions.lit(True))
    is_bot = functions.coalesce("_ua_bot", functions.lit(False)) | functions.coalesce("_ip_bot", functions.lit(False))
    flagged = sessions.join(functions.broadcast(auto), "client_ip", "left").withColumn("is_bot", is_bot)
    return flagged.select(*SESSION_KEY, *SESSION_COLUMNS)


def assign(reqs: DataFrame, sessions: DataFrame) -> DataFrame:
    """Requests of `prepare_requests` with their session's id, visitor key, user, is_bot and start.

    Keeps the session key columns (SESSION_KEY) so windows per session need no further shuffle.
    """
    return reqs.join(
        sessions.select(
            *SESSION_KEY,
            "session_id",
            "visitor_key",
            "user_id",
            "is_bot",
            functions.col("started_at").alias("session_started_at"),
        ),
        list(SESSION_KEY),
    )
