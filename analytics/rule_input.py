"""The day's per-client and per-minute counts, and the few requests the security rules read.

The per-request frame (analytics/request_frame.py) already says of each request whether its client
is a crawler or fakes one, whether it counts for the rules (not allowlisted), the count rules it
qualifies for, whether it is malformed and whether a payload pattern matched one of its parts.

Only a few requests can become signals: those with a payload match, those a count rule (or the
malformed rule) can count in a window that reaches its threshold (analytics/count_signals.py), those
of a flooded minute, or of an anomalous client (analytics/anomalies.py). The counts per client and
per (client, minute) decide which (`per_client`, `per_minute`: one aggregation each, which also give
ip_daily and traffic_minute their client counts), and one pass picks them (`candidates`), with their
texts (`texts`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions

from analytics import anomalies, count_signals, lookups
from analytics.facts import RequestFacts
from analytics.lookups import Lookups
from analytics.request_rules import minute_of
from config.settings import SecuritySettings


def _distinct(column: Column) -> Column:
    """The number of distinct non-null values (a set per group: no second aggregation of the rows)."""
    return functions.size(functions.collect_set(column))


def per_client(in_day: DataFrame) -> DataFrame:
    """Per client of the day's requests: ip_daily's counts (every request), and of the requests that
    count for the rules: `requests_counted` and `errors` (4xx/5xx) of those that are not a crawler's,
    the requests qualifying for each count rule (`_rule_<i>`), and the client's distinct `agents`."""
    status = functions.col("status")
    human = functions.col("counted") & ~functions.col("good_bot")
    return in_day.groupBy("client_key").agg(
        functions.count(functions.lit(1)).alias("requests"),
        functions.coalesce(functions.sum("bytes"), functions.lit(0)).alias("bytes"),
        functions.count(functions.when(status.between(400, 499), 1)).alias("status_4xx"),
        functions.count(functions.when(status.between(500, 599), 1)).alias("status_5xx"),
        _distinct(functions.col("path_key")).alias("distinct_paths"),
        _distinct(functions.when(functions.col("agent_key") != lookups.NULL_KEY, functions.col("agent_key"))).alias(
            "distinct_user_agents"),
        functions.min("t").alias("first_us"),
        functions.max("t").alias("last_us"),
        functions.count(functions.when(human, 1)).alias("requests_counted"),
        functions.count(functions.when(human & status.between(400, 599), 1)).alias("errors"),
        _distinct(functions.col("device_agent")).alias("agents"),
    )


def per_minute(in_day: DataFrame) -> DataFrame:
    """Per (client, calendar minute) of the day's requests: `requests` (all), `n` (those that count for
    the rules and are not a crawler's), and of the counted ones those qualifying for each count rule
    (`_rule_<i>`) and the malformed ones (`_malformed`)."""
    counted = functions.col("counted")
    human = counted & ~functions.col("good_bot")
    return in_day.groupBy("client_key", minute_of().alias("minute_us")).agg(
        functions.count(functions.lit(1)).alias("requests"),
        functions.count(functions.when(human, 1)).alias("n"),
        *count_signals.rule_totals(),
        functions.count(functions.when(counted & functions.col("malformed"), 1)).alias("_malformed"),
    )


def candidates(in_day: DataFrame, per_client_counts: DataFrame, per_minute_counts: DataFrame,
               settings: SecuritySettings) -> DataFrame:
    """The counted requests some request rule can turn into a signal (module docstring), with what the
    day's counts say of them: `_possible` (the count rules their client can fire), `_rate_metric` /
    `_rate_detail` and `_error_metric` / `_error_detail` (their client is anomalous: analytics/anomalies.py)
    and `_hot_n` (their minute is a flood)."""
    counted_minutes = per_minute_counts.where(functions.col("n") > 0)
    possible = count_signals.possible_rules(per_client_counts, per_minute_counts, settings)
    malformed = count_signals.most_in_a_window(per_minute_counts, {"_malformed": settings.window_minutes * 60}).where(
        functions.col("_most__malformed") >= settings.malformed_requests).select(
        "client_key", functions.lit(True).alias("_malformed_possible"))
    rate = anomalies.rate_flags(counted_minutes, settings).select(
        "client_key", functions.col("metric").alias("_rate_metric"), functions.col("detail").alias("_rate_detail"))
    error = anomalies.error_ratio_flags(per_client_counts, settings).select(
        "client_key", functions.col("metric").alias("_error_metric"), functions.col("detail").alias("_error_detail"))
    interest = possible.join(rate, "client_key", "full").join(error, "client_key", "full").join(
        malformed, "client_key", "full")
    hot = counted_minutes.where(functions.col("n") >= settings.flood_requests_per_minute).select(
        "client_key", "minute_us", functions.col("n").alias("_hot_n"))
    rows = (
        in_day.where(functions.col("counted")).withColumn("minute_us", minute_of())
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
        functions.col("payload") | (functions.col("malformed") & functions.col("_malformed_possible").isNotNull())
        | (functions.col("count_mask").bitwiseAND(functions.col("_possible")) != 0) | behaviour
    )
    return rows.where(wanted)


def texts(rows: DataFrame, facts: RequestFacts, day_lookups: Lookups) -> DataFrame:
    """rows (with request, agent, referer and remote-user keys) plus the texts and lookup columns of
    those keys: the request line and its parts, the rule keys of analytics/count_rules.py, `_own`,
    `user_agent`, `_ua`, `_ua_m`, `referer`, `_ref_m`, `remote_user`, and `malformed_reason` (why the
    request is malformed, analytics/window_rules.py, or null)."""
    request = day_lookups.requests.select(
        functions.col("key").alias("request_key"), "request", "method", "path", "query", "protocol", "request_kind",
        "_rule_path", "_path_query", "_own", "_malformed_line",
    )
    agent = day_lookups.agents.select(functions.col("key").alias("agent_key"), "user_agent", "_ua", "_ua_m")
    referer = day_lookups.referers.select(functions.col("key").alias("referer_key"), "referer", "_ref_m")
    user = lookups.with_null_row(facts.remote_users).withColumnRenamed("key", "remote_user_key")
    reason = functions.coalesce(
        functions.col("_malformed_line"), functions.when(functions.col("status") == 400, functions.lit("status 400")))
    return (
        rows.join(functions.broadcast(request), "request_key")
        .join(functions.broadcast(agent), "agent_key")
        .join(functions.broadcast(referer), "referer_key")
        .join(functions.broadcast(user), "remote_user_key")
        .withColumn("malformed_reason", reason)
    )
