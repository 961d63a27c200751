"""The day's requests as the security rules read them (signals.RuleInput), from the per-request frame.

Per request: whether its client is a crawler (`good_bot`: a verified crawler, or a declared one of an
engine without ranges) or falsely claims to be one (`fake`), whether it is allowlisted (such requests
count for no rule), the count rules it qualifies for (`count_mask`), why it is malformed, and whether
a payload pattern matched one of its parts. All of it comes from lookups by key: the agent's claim and
patterns (analytics/lookups.py), the client's published ranges and allowlists (analytics/crawlers.py,
only for the clients whose agent claims an engine, unless an allowlist is configured), and what the
request line means with its status (`classes`: once per distinct (request line, status)).

Only a few requests can become signals: those with a payload match, a malformed line, a count rule
its client can fire (analytics/count_signals.py), a flooded minute, or an anomalous client. They are
picked in one pass (`candidates`) after the per-client and per-minute counts, and the rules read them.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions

from analytics import anomalies, count_signals, lookups, window_rules
from analytics.detectors import Detection
from analytics.facts import RequestFacts
from analytics.lookups import Lookups
from analytics.request_rules import minute_of
from analytics.signals import REQUEST_COLUMNS
from config.settings import SecuritySettings

_ANY = "exists({0}, match -> match != '')"


def _any_match(column: str) -> Column:
    return functions.expr(_ANY.format(column))


def client_tags(rows: DataFrame, facts: RequestFacts, agents: DataFrame, detection: Detection) -> DataFrame | None:
    """client_key, `_engine`, `_client_allowed` of the clients whose tags can matter: every client when an
    allowlist of addresses is configured, else those whose agent claims a search engine; None when no
    client can have a tag (no engine ranges and no allowlist)."""
    settings = detection.settings
    allowlist = bool(settings.allow_ips or settings.allow_cidrs)
    if not allowlist and not detection.engines:
        return None
    clients = facts.clients.select(functions.col("key").alias("client_key"), "client_ip")
    if not allowlist:
        claiming = agents.where(functions.col("_claimed").isNotNull()).select(
            functions.col("key").alias("agent_key"))
        keys = rows.join(functions.broadcast(claiming), "agent_key").select("client_key").distinct()
        clients = clients.join(keys, "client_key")
    tagged = lookups.client_tags(clients, detection)
    return tagged.select("client_key", "_engine", functions.col("_allowed").alias("_client_allowed"))


def with_crawlers(rows: DataFrame, tags: DataFrame | None, agents: DataFrame) -> DataFrame:
    """rows plus `good_bot`, `fake`, `allowed` (address, network or agent allowlisted) and `ip_allowed`."""
    agent_info = agents.select(
        functions.col("key").alias("agent_key"), "_good_ua", "_claimed", "_ua_allowed",
        _any_match("_ua_m").alias("_agent_payload"),
    )
    rows = rows.join(functions.broadcast(agent_info), "agent_key")
    if tags is not None:
        rows = rows.join(functions.broadcast(tags), "client_key", "left")
    else:
        rows = rows.withColumns({"_engine": functions.lit(None).cast("string"),
                                 "_client_allowed": functions.lit(None).cast("boolean")})
    claimed = functions.col("_claimed")
    verified = claimed.isNotNull() & functions.coalesce(claimed == functions.col("_engine"), functions.lit(False))
    ip_allowed = functions.coalesce(functions.col("_client_allowed"), functions.lit(False))
    return rows.withColumns({
        "good_bot": verified | (claimed.isNull() & functions.coalesce(functions.col("_good_ua"), functions.lit(False))),
        "fake": claimed.isNotNull() & ~verified,
        "ip_allowed": ip_allowed,
        "allowed": ip_allowed | functions.coalesce(functions.col("_ua_allowed"), functions.lit(False)),
    })


def classes(frame: DataFrame, requests: DataFrame, detection: Detection) -> DataFrame:
    """Per distinct (request_key, status) of the frame's rows: the count rules' masks per crawler case
    (analytics/count_signals.py) and `malformed`, the reason the request is malformed (or null)."""
    pairs = frame.select("request_key", "status").distinct()
    named = pairs.join(functions.broadcast(requests.withColumnRenamed("key", "request_key")), "request_key")
    reason = window_rules.malformed_reason(
        *[functions.col(name) for name in ("request_kind", "method", "path", "protocol", "request", "status")]
    )
    masked = count_signals.class_masks(named, detection).withColumn("malformed", reason)
    return masked.select("request_key", "status", *[case for case, _, _ in count_signals.CASES], "malformed")


def rule_rows(frame: DataFrame, day_lookups: Lookups, tags: DataFrame | None, kinds: DataFrame) -> DataFrame:
    """The day's requests with REQUEST_COLUMNS, `ip_allowed` and `allowed` (allowlisted ones included).

    `frame`: the in-day rows of the per-request frame (analytics/request_frame.py); `tags`: `client_tags`;
    `kinds`: `classes` (both small, computed once by the caller).
    """
    rows = with_crawlers(frame, tags, day_lookups.agents)
    request_payload = day_lookups.requests.select(
        functions.col("key").alias("request_key"), _any_match("_own").alias("_request_payload"))
    referer_payload = day_lookups.referers.select(
        functions.col("key").alias("referer_key"), _any_match("_ref_m").alias("_referer_payload"))
    rows = (
        rows.join(functions.broadcast(request_payload), "request_key")
        .join(functions.broadcast(referer_payload), "referer_key")
        .join(functions.broadcast(kinds), ["request_key", "status"], "left")
        .withColumns({
            "count_mask": functions.coalesce(count_signals.count_mask(), functions.lit(0)),
            "payload": functions.col("_request_payload") | functions.col("_referer_payload")
            | functions.col("_agent_payload"),
        })
    )
    return rows.select(*REQUEST_COLUMNS, "ip_allowed", "allowed")


def per_client(rows: DataFrame) -> DataFrame:
    """Per client of the counted requests: `requests_counted` and `errors` (4xx/5xx) of its requests that
    are not a crawler's, the requests qualifying for each count rule, and its distinct `agents`."""
    human = ~functions.col("good_bot")
    return rows.groupBy("client_key").agg(
        functions.count(functions.when(human, 1)).alias("requests_counted"),
        functions.count(functions.when(human & functions.col("status").between(400, 599), 1)).alias("errors"),
        *count_signals.rule_totals(),
        functions.countDistinct("device_agent").alias("agents"),
    )


def per_minute(rows: DataFrame) -> DataFrame:
    """Per (client, calendar minute) of the counted requests that are not a crawler's: `n`."""
    return (
        rows.where(~functions.col("good_bot"))
        .groupBy("client_key", minute_of().alias("minute_us"))
        .agg(functions.count(functions.lit(1)).alias("n"))
    )


def candidates(counted: DataFrame, per_client_counts: DataFrame, per_minute_counts: DataFrame,
               settings: SecuritySettings) -> DataFrame:
    """The counted requests some request rule can turn into a signal (module docstring), with what the
    day's counts say of them: `_possible` (the count rules their client can fire), `_rate_metric` /
    `_rate_detail` and `_error_metric` / `_error_detail` (their client is anomalous: analytics/anomalies.py)
    and `_hot_n` (their minute is a flood)."""
    possible = count_signals.possible_rules(per_client_counts, settings)
    rate = anomalies.rate_flags(per_minute_counts, settings).select(
        "client_key", functions.col("metric").alias("_rate_metric"), functions.col("detail").alias("_rate_detail"))
    error = anomalies.error_ratio_flags(per_client_counts, settings).select(
        "client_key", functions.col("metric").alias("_error_metric"), functions.col("detail").alias("_error_detail"))
    interest = possible.join(rate, "client_key", "full").join(error, "client_key", "full")
    hot = per_minute_counts.where(functions.col("n") >= settings.flood_requests_per_minute).select(
        "client_key", "minute_us", functions.col("n").alias("_hot_n"))
    rows = (
        counted.withColumn("minute_us", minute_of())
        .join(functions.broadcast(interest), "client_key", "left")
        .join(functions.broadcast(hot), ["client_key", "minute_us"], "left")
        .withColumn("_possible", functions.coalesce("_possible", functions.lit(0)))
    )
    error_answer = functions.col("status").between(400, 599)
    behaviour = ~functions.col("good_bot") & (
        functions.col("_rate_metric").isNotNull() | functions.col("_hot_n").isNotNull()
        | (functions.col("_error_metric").isNotNull() & error_answer)
    )
    wanted = (
        functions.col("payload") | functions.col("malformed").isNotNull()
        | (functions.col("count_mask").bitwiseAND(functions.col("_possible")) != 0) | behaviour
    )
    return rows.where(wanted)


def texts(rows: DataFrame, facts: RequestFacts, day_lookups: Lookups) -> DataFrame:
    """rows (with request, agent, referer and remote-user keys) plus the texts and lookup columns of
    those keys: the request line and its parts, the rule keys of analytics/count_rules.py, `_own`,
    `user_agent`, `_ua`, `_ua_m`, `referer`, `_ref_m`, `remote_user`."""
    request = day_lookups.requests.select(
        functions.col("key").alias("request_key"), "request", "method", "path", "query", "protocol", "request_kind",
        "rule_path_key", "_rule_path", "path_query_key", "_path_query", "query_key", "_own",
    )
    agent = day_lookups.agents.select(functions.col("key").alias("agent_key"), "user_agent", "_ua", "_ua_m")
    referer = day_lookups.referers.select(functions.col("key").alias("referer_key"), "referer", "_ref_m")
    user = lookups.with_null_row(facts.remote_users).withColumnRenamed("key", "remote_user_key")
    return (
        rows.join(functions.broadcast(request), "request_key")
        .join(functions.broadcast(agent), "agent_key")
        .join(functions.broadcast(referer), "referer_key")
        .join(functions.broadcast(user), "remote_user_key")
    )
