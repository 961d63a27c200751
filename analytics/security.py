"""Security findings per (day, client ip, category), `ip_daily`, and the automated IPs.

The rules (`RULES`) produce signal rows (analytics/signals.py); `findings_from_signals` groups them by
(client_ip, category) into one finding with the highest severity, first/last seen, counts, sorted
user ids, score (the rule's metric at its peak: distinct paths, failures, users, requests per
minute, z-score; null for payload rules) and a JSON evidence (rule, threshold, window, detail,
up to 5 matched texts and the first 5 signal rows: time, raw request line or event, status).
Payload and Sigma rules need `injection_min_requests` matching requests in the day. The rules
(`RULES`): payload, Sigma and flood (analytics/request_rules.py; patterns matched in
analytics/detectors.py, Sigma compiled in analytics/sigma.py), the count rules of the public
detectors (analytics/count_rules.py), malformed_request, credential_stuffing and account_takeover
(analytics/window_rules.py), anomaly and error_ratio_anomaly (analytics/anomalies.py).

Count rules slide windows that fire on the same sequences as CrowdSec's leaky buckets and
fail2ban's jails (analytics/count_rules.py explains the equivalence and its limits); `flood` uses
calendar minutes, `anomaly` and `error_ratio_anomaly` the whole day. The sliding windows of every
rule are evaluated together, exactly and in O(rows), by analytics/windows.py.
"""

from __future__ import annotations

import functools

from pyspark.sql import DataFrame, Window, functions

from analytics import anomalies, count_signals, request_rules, rules, window_rules, windows
from analytics import signals as signals_shape
from analytics.facts import RequestFacts
from config.settings import SecuritySettings

SAMPLES = 5


def _descriptions() -> dict[str, str]:
    return {r.category: r.description for r in rules.PAYLOAD_RULES} | {
        k: v.description for k, v in rules.THRESHOLD_RULES.items()
    }


def findings_from_signals(signals: DataFrame, settings: SecuritySettings) -> DataFrame:
    """One finding per (client_ip, category) with its evidence (columns of security_findings, no day).

    One pass over the signals (FINDING_COLUMNS): a window per (client_ip, category) ranks them for the
    samples, and one aggregation computes every finding column and the first SAMPLES samples. Distinct
    paths are counted as the size of their set, which keeps the aggregation in the same pass.
    """
    rank = functions.array_position(
        functions.array(*[functions.lit(x) for x in rules.SEVERITIES]), functions.col("severity")
    )
    ordered = Window.partitionBy("client_ip", "category").orderBy("ts", "request", "status")
    sample = functions.struct(functions.col("ts").alias("at"), "request", "status", "matched", "user_id")
    ranked = signals.withColumn("_sample_rank", functions.row_number().over(ordered))
    agg = ranked.groupBy("client_ip", "category").agg(
        functions.max(functions.struct(rank.alias("rank"), functions.col("severity"), functions.col("rule_id"))).alias(
            "top"
        ),
        functions.min("ts").alias("first_seen_at"),
        functions.max("ts").alias("last_seen_at"),
        functions.count(functions.lit(1)).alias("request_count"),
        functions.size(functions.collect_set("path")).alias("distinct_paths"),
        functions.array_sort(functions.collect_set("user_id")).alias("user_ids"),
        functions.max("metric").alias("score"),
        functions.max("threshold").alias("threshold"),
        functions.max("window_minutes").alias("window_minutes"),
        functions.max("detail").alias("detail"),
        functions.slice(functions.array_sort(functions.collect_set("matched")), 1, SAMPLES).alias("matched"),
        functions.array_sort(
            functions.collect_list(functions.when(functions.col("_sample_rank") <= SAMPLES, sample))
        ).alias("samples"),
    )
    enough = functions.col("category").isin(list(rules.THRESHOLD_RULES)) | (
        functions.col("request_count") >= settings.injection_min_requests
    )
    desc = functions.create_map(*[functions.lit(x) for kv in sorted(_descriptions().items()) for x in kv])
    evidence = functions.to_json(functions.struct(
        functions.col("top.rule_id").alias("rule_id"), "category",
        functions.try_element_at(desc, functions.col("category")).alias("description"),
        "threshold", "window_minutes", "detail", "matched", "samples",
    ))
    return agg.where(enough).select(
        "client_ip", "category",
        functions.col("top.rule_id").alias("rule_id"), functions.col("top.severity").alias("severity"),
        "first_seen_at", "last_seen_at", "request_count", functions.col("distinct_paths").cast("int"), "user_ids",
        functions.col("score").cast("double"), evidence.alias("evidence"),
    )


# Every rule of one day, one registry: each a pure function RuleInput -> signal rows (analytics/signals.py
# states the input contract and the shape). README "Detection coverage" maps them to the public detectors.
RULES: dict[str, signals_shape.Rule] = {
    "payload": request_rules.payload_signals,
    "sigma": request_rules.sigma_signals,
    "count": count_signals.count_signals,
    "malformed_request": window_rules.malformed_signals,
    "credential_stuffing": window_rules.credential_stuffing_signals,
    "account_takeover": window_rules.account_takeover_signals,
    "flood": request_rules.flood_signals,
    "anomaly": anomalies.rate_signals,
    "error_ratio_anomaly": anomalies.error_ratio_anomaly_signals,
}


def findings_of(day: signals_shape.RuleInput, settings: SecuritySettings) -> DataFrame:
    """All findings of one day (columns of security_findings but day, plus client_key).

    Every rule's rows get their client's address, then go through one shuffle by client IP: the
    windows (analytics/windows.py), the samples' ranking and the findings' aggregation all group by
    client IP first, so none of them shuffles again.
    """
    parts = functools.reduce(DataFrame.unionByName, [rule(day) for rule in RULES.values()])
    addresses = day.facts.clients.select(functions.col("key").alias("client_key"), functions.col("client_ip").alias(
        "_address"))
    named = parts.join(addresses, "client_key", "left").withColumn(
        "client_ip", functions.coalesce("client_ip", "_address")).drop("_address", "client_key")
    return findings_from_signals(windows.fire(named.repartition("client_ip")), settings)


def allowed_events(
    events: DataFrame, requests: DataFrame, facts: RequestFacts, settings: SecuritySettings
) -> DataFrame:
    """The events that count for the rules: those of an allowlisted client address are left out."""
    if not (settings.allow_ips or settings.allow_cidrs):
        return events
    allowed = requests.where(functions.col("ip_allowed")).select("client_key").distinct()
    addresses = facts.clients.select(functions.col("key").alias("client_key"), "client_ip").join(allowed, "client_key")
    return events.join(functions.broadcast(addresses.select("client_ip")), "client_ip", "left_anti")


def automated_clients(findings: DataFrame, settings: SecuritySettings) -> DataFrame:
    """Distinct clients (client_ip and client_key) with a finding in one of `settings.bot_categories`."""
    bot = functions.col("category").isin(list(settings.bot_categories))
    return findings.where(bot).select("client_ip").distinct()


def ip_daily(per_client: DataFrame, findings: DataFrame, facts: RequestFacts) -> DataFrame:
    """Per client IP: requests, bytes, 4xx, 5xx, distinct paths / user agents, first/last seen, is_flagged.

    `per_client`: analytics/rule_input.py `per_client` (the day's counts per client key).
    """
    addresses = facts.clients.select(functions.col("key").alias("client_key"), "client_ip")
    flagged = findings.select("client_ip").distinct().withColumn("is_flagged", functions.lit(True))
    named = per_client.join(addresses, "client_key").withColumns({
        "first_seen_at": functions.timestamp_micros("first_us"), "last_seen_at": functions.timestamp_micros("last_us"),
    })
    joined = named.join(functions.broadcast(flagged), "client_ip", "left")
    return joined.withColumn("is_flagged", functions.coalesce("is_flagged", functions.lit(False)))
