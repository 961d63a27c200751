"""The count rules (analytics/count_rules.py) over a day's requests, as window candidates.

A rule's filter reads a request's line (path, query, method, protocol), its status and whether its
client is a crawler (or claims to be one falsely). So the filters are evaluated once per distinct
(request line, status) of the day, for each of the three crawler cases, into bitmasks (`classes`);
a request takes the mask of its case (`count_mask`, bit i = COUNT_RULES[i]).

Most requests qualify for some rule (every non-static request of a browser qualifies for the crawl
rule), but few clients come near a threshold. A client can only fire a rule when it has at least
`threshold` qualifying requests in the day (a distinct count never exceeds the row count), and for
the rule counting distinct user agents, at least `threshold` agents in the day. Only the requests of
the (client, rule) pairs that pass become candidates: tagged with their rule, their distinct key and
their time scaled to the rule's window, `floor(t * S / W)` with S = 10^6 units per window, so every
rule's window is (t - S, t] on its axis (to W / 10^6: 10 us for a 10 s window). analytics/windows.py
evaluates the windows with every other rule's.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, functions

from analytics import rules, signals
from analytics.count_rules import COUNT_RULES, DISTINCT_KEYS, Terms, describe, limit
from analytics.detectors import Detection
from config.settings import SecuritySettings

SCALE = 1_000_000  # window units per window
# The crawler cases a request's client can be in: (mask column, crawler, fake claim).
CASES = (("mask_plain", False, False), ("mask_crawler", True, False), ("mask_fake", False, True))


def terms(patterns: dict[str, list[str]], settings: SecuritySettings, crawler: Column, fake: Column) -> Terms:
    """The Terms of a frame with the request-line columns and `status`."""
    path = functions.coalesce(functions.col("path"), functions.lit(""))
    last_name = functions.substring_index(path, "/", -1)
    ext = functions.lower(functions.substring_index(last_name, ".", -1))
    denied = functions.col("status").isin(403, 404)

    def matches(name: str) -> Column:
        return functions.when(denied, path.rlike(rules.combined_regex(patterns.get(name) or ["$^"]))).otherwise(
            functions.lit(False)
        )

    return Terms(
        path=path,
        lower_path=functions.lower(path),
        query=functions.col("query"),
        method=functions.upper(functions.coalesce("method", functions.lit(""))),
        status=functions.col("status"),
        static=last_name.contains(".") & ext.isin(*settings.static_extensions),
        crawler=crawler,
        admin=matches("admin_interfaces"),
        cms=matches("cms_scan"),
        login=path.rlike(rules.combined_regex(patterns.get("login_endpoints") or ["$^"])),
        last_name=last_name,
        fake=fake,
    )


def _mask(row: Terms) -> Column:
    bits = [
        functions.when(functions.coalesce(rule.when(row), functions.lit(False)), functions.lit(1 << index))
        .otherwise(functions.lit(0))
        for index, rule in enumerate(COUNT_RULES)
    ]
    return reduce(lambda left, right: left.bitwiseOR(right), bits)


def class_masks(classes: DataFrame, detection: Detection) -> DataFrame:
    """`classes` (request_key, status and the request lookup's columns) plus one mask per crawler case."""
    settings = detection.settings
    return classes.withColumns({
        name: _mask(terms(detection.patterns, settings, functions.lit(crawler), functions.lit(fake)))
        for name, crawler, fake in CASES
    })


def count_mask() -> Column:
    """The mask of a request of the classes frame, by its crawler case (`good_bot`, `fake`)."""
    return (
        functions.when(functions.col("fake"), functions.col("mask_fake"))
        .when(functions.col("good_bot"), functions.col("mask_crawler"))
        .otherwise(functions.col("mask_plain"))
    )


def rule_totals() -> list[Column]:
    """Per-client aggregates: the requests qualifying for each rule (`_rule_<i>`)."""
    mask = functions.col("count_mask")
    return [
        functions.count(functions.when(mask.bitwiseAND(functions.lit(1 << index)) != 0, 1)).alias(f"_rule_{index}")
        for index in range(len(COUNT_RULES))
    ]


def possible_rules(per_client: DataFrame, settings: SecuritySettings) -> DataFrame:
    """client_key and `_possible`: the mask of the rules the client has enough requests (and agents) for."""
    bits = []
    for index, rule in enumerate(COUNT_RULES):
        enough = functions.col(f"_rule_{index}") >= limit(rule, settings).threshold
        if rule.distinct == "agent":
            enough = enough & (functions.col("agents") >= limit(rule, settings).threshold)
        bits.append(functions.when(enough, functions.lit(1 << index)).otherwise(functions.lit(0)))
    possible = reduce(lambda left, right: left.bitwiseOR(right), bits)
    return per_client.select("client_key", possible.alias("_possible")).where(functions.col("_possible") != 0)


def _scaled_time(window_us: Column) -> Column:
    """floor(t * SCALE / window_us) without overflowing a long."""
    us = functions.col("t")
    return functions.floor(us / window_us) * SCALE + functions.floor((us % window_us) * SCALE / window_us)


def count_signals(day: signals.RuleInput) -> DataFrame:
    """Candidates of every COUNT_RULES rule of the clients that can fire it (module docstring)."""
    settings = day.detection.settings
    texts = day.candidates.withColumn(
        "_mask", functions.col("count_mask").bitwiseAND(functions.col("_possible"))
    ).where(functions.col("_mask") != 0)
    tags = []
    for index, rule in enumerate(COUNT_RULES):
        lim = limit(rule, settings)
        key, text = DISTINCT_KEYS[rule.distinct] if rule.distinct else (None, None)
        tag = functions.struct(
            functions.lit(rule.rule_id).alias("rule_id"),
            functions.lit(rule.category).alias("category"),
            functions.lit(rule.severity).alias("severity"),
            functions.lit(float(lim.threshold)).alias("threshold"),
            functions.lit(int(lim.window_seconds * 1_000_000)).cast("long").alias("window_us"),
            (functions.col(key) if key else functions.lit(None)).cast("string").alias("key"),
            (functions.col(text) if text else functions.lit(None)).cast("string").alias("key_text"),
            functions.lit(rule.distinct is not None).alias("distinct"),
            functions.lit(describe(rule, settings)).alias("detail"),
        )
        qualifies = functions.col("_mask").bitwiseAND(functions.lit(1 << index)) != 0
        tags.append(functions.when(qualifies, tag))
    tagged = texts.select(
        "*", functions.explode(functions.array_compact(functions.array(*tags))).alias("_rule")
    ).select("*", "_rule.*")
    window_us = functions.col("window_us")
    return signals.to_signals(
        tagged, **signals.request_texts(), matched=functions.col("key_text"),
        window_minutes=functions.ceil(window_us / signals.US_PER_MINUTE), window_at=_scaled_time(window_us),
        window_span=SCALE, window_key=functions.col("key"), window_distinct=functions.col("distinct"),
    )
