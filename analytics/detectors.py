"""Security detectors: each turns requests / events into *signal rows* of one common shape.

Payload rules (patterns in analytics/patterns/*.txt, see analytics/rules.py) match every request's
target text raw and URL-decoded once and twice. Threshold rules count per client IP in a sliding
window of `window_minutes` evaluated at every qualifying row: the window ending at t is (t - W, t]
on epoch microseconds (a row exactly W before t is out); the signals of a rule are the rows of every
window that reached the threshold. `flood` counts per calendar minute. Requests whose user agent is a
declared search-engine crawler (patterns/good_bots.txt) are ignored by the behavioral rules
(path_scan, flood, anomaly) but not by the payload rules.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from analytics import rules as R
from config.settings import SecuritySettings

_US_PER_MINUTE = 60_000_000
_TYPES = {
    "status": "int", "metric": "double", "threshold": "double", "window_minutes": "int", "ts": "timestamp",
}
SIGNAL_COLUMNS = (
    "client_ip", "category", "rule_id", "severity", "ts", "path", "user_id", "request", "status", "matched",
    "metric", "threshold", "window_minutes", "detail",
)


def _decode(col: Column) -> Column:
    """One round of URL decoding; a stray `%` is kept literally, undecodable text left as it was."""
    safe = F.regexp_replace(col, "%(?![0-9a-fA-F]{2})", "%25")
    return F.coalesce(F.try_url_decode(safe), col)


def with_variants(col: Column) -> Column:
    """Raw, decoded once and decoded twice, joined by newlines (patterns see all three)."""
    once = _decode(col)
    return F.concat_ws("\n", col, once, _decode(once))


def prepare(requests: DataFrame, patterns: dict[str, list[str]]) -> DataFrame:
    """Requests (REQUESTS columns) with what the detectors share: ts, ts_us, user, targets, good-bot flag."""
    good_bots = R.combined_regex(patterns.get("good_bots") or ["$^"])
    path = F.coalesce(F.col("path"), F.lit(""))
    path_query = F.when(F.col("query").isNull(), path).otherwise(F.concat(path, F.lit("?"), F.col("query")))
    ua = F.coalesce(F.col("user_agent"), F.lit(""))
    return requests.select(
        "client_ip", "path", "method", "status",
        F.col("requested_at").alias("ts"), F.unix_micros("requested_at").alias("ts_us"),
        F.coalesce(F.col("request"), F.concat_ws(" ", "method", "path")).alias("request"),
        F.when(~F.col("remote_user").isin("-", ""), F.col("remote_user")).alias("user_id"),
        ua.rlike(good_bots).alias("is_good_bot"),
        with_variants(path).alias("_t_path"),
        with_variants(path_query).alias("_t_path_query"),
        with_variants(F.concat_ws("\n", path_query, F.col("referer"), ua)).alias("_t_everywhere"),
        ua.alias("_t_user_agent"),
        F.coalesce(F.col("request"), F.lit("")).alias("_t_request"),
    )


def to_signals(df: DataFrame, **values: Any) -> DataFrame:
    """Rows in the signal shape: `values` (Columns or literals), else df's column, else null."""
    out = []
    for name in SIGNAL_COLUMNS:
        value = values.get(name, F.col(name) if name in df.columns else None)
        col = value if isinstance(value, Column) else F.lit(value)
        out.append(col.cast(_TYPES.get(name, "string")).alias(name))
    return df.select(*out)


def payload_signals(base: DataFrame, patterns: dict[str, list[str]]) -> DataFrame:
    """One signal per (request, payload rule) whose patterns match the rule's target text.

    A 2xx answer to a request matching a rule with `escalate_on_success` makes it critical.
    """
    hits = F.array(*[
        F.struct(
            F.lit(r.category).alias("category"), F.lit(r.rule_id).alias("rule_id"),
            F.lit(r.severity).alias("severity"), F.lit(r.escalate_on_success).alias("escalate"),
            F.regexp_extract(F.col(f"_t_{r.target}"), R.combined_regex(patterns[r.category]), 0).alias("m"),
        )
        for r in R.payload_rules(patterns)
    ])
    hit = base.select("*", F.explode(F.filter(hits, lambda h: h["m"] != "")).alias("hit"))
    success = F.col("hit.escalate") & F.col("status").between(200, 299)
    return to_signals(
        hit, category=F.col("hit.category"), rule_id=F.col("hit.rule_id"), matched=F.col("hit.m"),
        severity=F.when(success, F.lit("critical")).otherwise(F.col("hit.severity")),
    )


def burst(rows: DataFrame, threshold: float, window_minutes: int, distinct: str | None = None) -> DataFrame:
    """Rows inside some window (t - W, t] whose count (or distinct count) per IP reached threshold."""
    window_us = window_minutes * _US_PER_MINUTE
    ordered = Window.partitionBy("client_ip").orderBy("ts_us")
    back, fwd = ordered.rangeBetween(-(window_us - 1), 0), ordered.rangeBetween(0, window_us - 1)
    metric = F.size(F.collect_set(distinct).over(back)) if distinct else F.count(F.lit(1)).over(back)
    rows = rows.withColumn("metric", metric.cast("double"))
    fired = F.max((F.col("metric") >= threshold).cast("int")).over(fwd)
    return rows.withColumn("_fired", fired).where(F.col("_fired") == 1).drop("_fired")


def _rule(category: str, threshold: float, window: int | None) -> dict[str, Any]:
    rule = R.THRESHOLD_RULES[category]
    return {"category": category, "rule_id": rule.rule_id, "severity": rule.severity, "threshold": threshold,
            "window_minutes": window}


def threshold_signals(
    base: DataFrame, events: DataFrame, patterns: dict[str, list[str]], s: SecuritySettings
) -> DataFrame:
    """Signals of path_scan, brute_force (HTTP), credential_stuffing (events) and flood."""
    w = s.window_minutes
    behave = base.where(~F.col("is_good_bot"))
    denied = behave.where(F.col("status").isin(403, 404))
    scans = burst(denied, s.path_scan_distinct_paths, w, distinct="path")
    login_re = R.combined_regex(patterns.get("login_endpoints") or ["$^"])
    to_login = F.coalesce(F.col("path"), F.lit("")).rlike(login_re)
    failed_logins = base.where((F.upper("method") == "POST") & F.col("status").isin(401, 403) & to_login)
    brute = burst(failed_logins, s.brute_force_failures, w)
    failures = events.where(F.col("event_type") == "login_failure").select(
        "client_ip", "user_id", "path",
        F.col("occurred_at").alias("ts"), F.unix_micros("occurred_at").alias("ts_us"),
        F.concat(F.lit("event login_failure user="), F.coalesce("user_id", F.lit("-")), F.lit(" path="),
                 F.coalesce("path", F.lit("-"))).alias("request"),
    )
    stuffing = burst(failures, s.credential_stuffing_users, w, distinct="user_id")
    per_minute = F.count(F.lit(1)).over(Window.partitionBy("client_ip", F.date_trunc("minute", "ts")))
    flood = behave.withColumn("metric", per_minute).where(F.col("metric") >= s.flood_requests_per_minute)
    out = (
        to_signals(scans, **_rule("path_scan", s.path_scan_distinct_paths, w))
        .unionByName(to_signals(brute, **_rule("brute_force", s.brute_force_failures, w)))
        .unionByName(to_signals(stuffing, **_rule("credential_stuffing", s.credential_stuffing_users, w)))
        .unionByName(to_signals(flood, **_rule("flood", s.flood_requests_per_minute, 1)))
    )
    return out


def anomaly_signals(base: DataFrame, s: SecuritySettings) -> DataFrame:
    """All requests of IPs whose requests per active minute have a robust z-score >= anomaly_score.

    z = 0.6745 (x - median) / MAD over all IPs of the day (MAD 0: (x - median) / (1.2533 mean absolute
    deviation); both 0: no score). Only IPs with >= anomaly_min_requests requests are flagged.
    """
    behave = base.where(~F.col("is_good_bot"))
    per_ip = behave.groupBy("client_ip").agg(
        F.count(F.lit(1)).alias("n"), F.countDistinct(F.date_trunc("minute", "ts")).alias("minutes")
    ).withColumn("rate", F.col("n") / F.col("minutes"))
    median = per_ip.agg(F.percentile("rate", 0.5).alias("median"))
    dev = per_ip.crossJoin(median).withColumn("dev", F.abs(F.col("rate") - F.col("median")))
    spread = dev.agg(F.percentile("dev", 0.5).alias("mad"), F.avg("dev").alias("mean_ad"))
    diff = F.col("rate") - F.col("median")
    z = F.when(F.col("mad") > 0, 0.6745 * diff / F.col("mad")).when(
        F.col("mean_ad") > 0, diff / (1.253314 * F.col("mean_ad")))
    flagged = dev.crossJoin(spread).withColumn("z", z).where(
        (F.col("n") >= s.anomaly_min_requests) & (F.col("z") >= s.anomaly_score)
    ).select(
        "client_ip", F.col("z").alias("metric"),
        F.format_string(
            "requests=%d active_minutes=%d rate=%.3f median=%.3f mad=%.3f", "n", "minutes", "rate", "median", "mad"
        ).alias("detail"),
    )
    rows = behave.join(F.broadcast(flagged), "client_ip")
    return to_signals(rows, **_rule("anomaly", s.anomaly_score, None))
