"""Per-request rules that need no window: payload rules, Sigma rules, and `flood`.

- payload rules (analytics/rules.py PAYLOAD_RULES and user pattern files): one signal per (request,
  rule) whose patterns matched (`_hits`, analytics/detectors.py `match_payloads`).
- Sigma rules (analytics/sigma.py): one signal per (request, rule) matched (`_sigma`).
- flood (medium): every request of an IP in a calendar minute holding >= flood_requests_per_minute
  of its requests (declared crawlers left out).

Each is a rule of analytics/security.py `RULES`: (requests, events, detection) -> signal rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions

from analytics import rules, signals
from analytics.detectors import Detection, with_variants


def exploit_label(text: Column, labels: list[tuple[str, str]]) -> Column:
    """The label of the first labelled pattern matching text ('known_exploit' when none does).

    One array of (label, regex) filtered by the text: a CASE chain of ~100 regexes overflows Spark's
    generated code. Evaluated on the few matched requests only (payload_signals).
    """
    table = functions.array(
        *[
            functions.struct(functions.lit(label).alias("label"), functions.lit("(?i)" + src).alias("re"))
            for label, src in labels
        ]
    )
    first = functions.element_at(functions.filter(table, lambda entry: functions.regexp(text, entry["re"])), 1)
    return functions.coalesce(first["label"], functions.lit("known_exploit"))


def payload_signals(requests: DataFrame, events: DataFrame, detection: Detection) -> DataFrame:
    """One signal per (request, payload rule) whose patterns matched (events are not read).

    A 2xx answer to a request matching a rule with `escalate_on_success` makes it critical. A
    known_exploit signal's rule_id is the label of its pattern (the CVE id), and its `matched` text
    starts with it ('CVE-2021-44228: ${jndi:').
    """
    rule_info = functions.array(
        *[
            functions.struct(
                functions.lit(rule.category).alias("category"),
                functions.lit(rule.rule_id).alias("rule_id"),
                functions.lit(rule.severity).alias("severity"),
                functions.lit(rule.escalate_on_success).alias("escalate"),
            )
            for rule in rules.payload_rules(detection.patterns)
        ]
    )
    matched = requests.where(functions.size(functions.array_remove("_hits", "")) > 0)  # few rows match
    hit = (
        matched.select("*", functions.posexplode("_hits").alias("_pos", "_m"))
        .where(functions.col("_m") != "")
        .withColumn("hit", functions.element_at(rule_info, functions.col("_pos") + 1))
    )
    success = functions.col("hit.escalate") & functions.col("status").between(200, 299)
    path = functions.coalesce(functions.col("path"), functions.lit(""))
    path_query = functions.when(functions.col("query").isNull(), path).otherwise(
        functions.concat(path, functions.lit("?"), functions.col("query"))
    )
    texts = [with_variants(path_query), functions.col("_ua")]
    if "referer" in requests.columns:
        texts.append(with_variants(functions.col("referer")))
    exploit = functions.col("hit.category") == "known_exploit"
    hit = hit.withColumn(
        "_label", functions.when(exploit, exploit_label(functions.concat_ws("\n", *texts), detection.labels))
    )
    rule_id = functions.when(exploit & (functions.col("_label") != "known_exploit"), functions.col("_label")).otherwise(
        functions.col("hit.rule_id")
    )
    matched_text = functions.when(
        exploit, functions.concat(functions.col("_label"), functions.lit(": "), functions.col("_m"))
    ).otherwise(functions.col("_m"))
    return signals.to_signals(
        hit, category=functions.col("hit.category"), rule_id=rule_id, matched=matched_text,
        severity=functions.when(success, functions.lit("critical")).otherwise(functions.col("hit.severity")),
        user_id=functions.col("_user"), request=functions.col("_request"),
    )


def sigma_signals(requests: DataFrame, events: DataFrame, detection: Detection) -> DataFrame:
    """One signal per (request, Sigma rule matched) (events are not read): category sigma, rule_id the
    rule's id, severity its level, and `matched` 'title [tags]'."""
    load = detection.sigma
    if not load.rules:
        return signals.no_signals(requests)
    info = functions.array(
        *[
            functions.struct(
                functions.lit(rule.rule_id).alias("rule_id"),
                functions.lit(rule.severity).alias("severity"),
                functions.lit(f"{rule.title} [{', '.join(rule.tags)}]").alias("matched"),
                functions.lit(rule.title).alias("title"),
            )
            for rule in load.rules
        ]
    )
    hit = requests.where(functions.size("_sigma") > 0).select(
        "*", functions.explode("_sigma").alias("_index")
    ).withColumn("hit", functions.element_at(info, functions.col("_index") + 1))
    return signals.to_signals(
        hit, category="sigma", rule_id=functions.concat(functions.lit("SIGMA-"), functions.col("hit.rule_id")),
        severity=functions.col("hit.severity"), matched=functions.col("hit.matched"), detail=functions.col("hit.title"),
        user_id=functions.col("_user"), request=functions.col("_request"),
    )


def minute_counts(requests: DataFrame) -> DataFrame:
    """Requests per (client_ip, calendar minute) of the non-crawler requests: client_ip, minute, n."""
    return (
        requests.where(~functions.col("_good_bot"))
        .groupBy("client_ip", functions.date_trunc("minute", "ts").alias("minute"))
        .agg(functions.count(functions.lit(1)).alias("n"))
    )


def flood_signals(requests: DataFrame, events: DataFrame, detection: Detection) -> DataFrame:
    """Every request of an IP in a calendar minute holding >= flood_requests_per_minute of its requests
    (events are not read)."""
    settings = detection.settings
    hot = minute_counts(requests).where(functions.col("n") >= settings.flood_requests_per_minute)
    rows = requests.where(~functions.col("_good_bot")).withColumn("minute", functions.date_trunc("minute", "ts"))
    # few (ip, minute) pairs flood: a broadcast join keeps the requests where they are
    flooded = rows.join(functions.broadcast(hot), ["client_ip", "minute"])
    return signals.to_signals(
        flooded, metric=functions.col("n"), user_id=functions.col("_user"), request=functions.col("_request"),
        **signals.threshold_rule("flood", settings.flood_requests_per_minute, 1),
    )
