"""The count rules (analytics/count_rules.py) over a day's requests, as window candidates.

A rule's filter reads a request's line (path, query, method, protocol), its status and whether its
client is a crawler (or claims to be one falsely). The rules compare the status with a few named
statuses only (count_rules.NAMED_STATUSES), so the filters are evaluated once per request line
(in its lookup, analytics/lookups.py) for each named status, any other status, and each of the three
crawler cases, into bitmasks (`mask_columns`); a request takes the mask of its status and case
(`count_mask`, bit i = COUNT_RULES[i]).

Most requests qualify for some rule (every non-static request of a browser qualifies for the crawl
rule), but few clients come near a threshold. A window (t - W, t] touches at most W // 60 + 2
calendar minutes, so a client can only fire a rule when its qualifying requests in some such run of
minutes reach the threshold (a distinct count never exceeds the row count), and for the rule counting
distinct user agents, when it has that many agents in the day (`possible_rules`, from the per-minute
counts). Only the requests of the (client, rule) pairs that pass become candidates: tagged with their
rule, their distinct key and
their time scaled to the rule's window, `floor(t * S / W)` with S = 10^6 units per window, so every
rule's window is (t - S, t] on its axis (to W / 10^6: 10 us for a 10 s window). analytics/windows.py
evaluates the windows with every other rule's.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window, functions

from analytics import rules, signals
from analytics.count_rules import COUNT_RULES, DISTINCT_KEYS, NAMED_STATUSES, OTHER_STATUS, Terms, describe, limit
from analytics.request_rules import literal_array
from config.settings import SecuritySettings

SCALE = 1_000_000  # window units per window
# The crawler cases a request's client can be in: (name, crawler, fake claim).
CASES = (("plain", False, False), ("crawler", True, False), ("fake", False, True))
STATUSES = (*NAMED_STATUSES, OTHER_STATUS)


def term_columns(patterns: dict[str, list[str]], settings: SecuritySettings) -> dict[str, Column]:
    """The status-free parts of Terms, as columns of a frame with the request-line columns: computed
    once per request line, read by every (status, case) mask."""
    path = functions.coalesce(functions.col("path"), functions.lit(""))
    last_name = functions.substring_index(path, "/", -1)
    ext = functions.lower(functions.substring_index(last_name, ".", -1))

    def matches(name: str) -> Column:
        return path.rlike(rules.combined_regex(patterns.get(name) or ["$^"]))

    return {
        "_t_path": path,
        "_t_lower_path": functions.lower(path),
        "_t_method": functions.upper(functions.coalesce("method", functions.lit(""))),
        "_t_static": last_name.contains(".") & ext.isin(*settings.static_extensions),
        "_t_admin": matches("admin_interfaces"),
        "_t_cms": matches("cms_scan"),
        "_t_login": matches("login_endpoints"),
        "_t_last_name": last_name,
    }


def terms(status: Column, crawler: Column, fake: Column) -> Terms:
    """The Terms of a request line of `term_columns`, answered `status`, in one crawler case."""
    code = status
    denied = code.isin(403, 404)
    return Terms(
        path=functions.col("_t_path"),
        lower_path=functions.col("_t_lower_path"),
        query=functions.col("query"),
        method=functions.col("_t_method"),
        status=code,
        static=functions.col("_t_static"),
        crawler=crawler,
        admin=denied & functions.col("_t_admin"),
        cms=denied & functions.col("_t_cms"),
        login=functions.col("_t_login"),
        last_name=functions.col("_t_last_name"),
        fake=fake,
    )


def mask(row: Terms) -> Column:
    """The bitmask of the COUNT_RULES a request of these terms qualifies for (bit i: COUNT_RULES[i])."""
    bits = [
        functions.when(functions.coalesce(rule.when(row), functions.lit(False)), functions.lit(1 << index))
        .otherwise(functions.lit(0))
        for index, rule in enumerate(COUNT_RULES)
    ]
    return reduce(lambda left, right: left.bitwiseOR(right), bits)


def masks() -> Column:
    """The mask of each (status of STATUSES, crawler case), in that order, of a request line with the
    columns of `term_columns`.

    One expression evaluated for each of the 18 (status, case) pairs (a `transform` over them): written
    out 18 times, the masks' Python-side construction took seconds (a JVM call per column operation,
    38k of them), and a join of the lines with a grid of the pairs took seconds to run.
    """
    pairs = functions.array(*[
        functions.struct(functions.lit(status).alias("status"), functions.lit(crawler).alias("crawler"),
                         functions.lit(fake).alias("fake"))
        for status in STATUSES for _, crawler, fake in CASES
    ])
    return functions.transform(pairs, lambda pair: mask(terms(pair["status"], pair["crawler"], pair["fake"])))


def count_mask() -> Column:
    """A request's mask: the one of its status (else OTHER_STATUS) and its crawler case (`good_bot`,
    `fake`), from the request line's `_masks` array (`masks`: STATUSES x CASES order)."""
    status = functions.col("status")
    position = functions.lit(len(NAMED_STATUSES))
    for index, named in reversed(list(enumerate(NAMED_STATUSES))):
        position = functions.when(status == named, functions.lit(index)).otherwise(position)
    case = functions.when(functions.col("fake"), functions.lit(2)).when(functions.col("good_bot"), functions.lit(1)) \
        .otherwise(functions.lit(0))
    return functions.element_at(functions.col("_masks"), position * len(CASES) + case + 1)


def rule_totals() -> list[Column]:
    """Aggregates of the counted requests: those qualifying for each rule (`_rule_<i>`)."""
    mask = functions.col("count_mask")
    counted = functions.col("counted")
    return [
        functions.count(functions.when(counted & (mask.bitwiseAND(functions.lit(1 << index)) != 0), 1)).alias(
            f"_rule_{index}")
        for index in range(len(COUNT_RULES))
    ]


def _span_minutes(window_seconds: float) -> int:
    """The most calendar minutes a window (t - W, t] of W seconds can touch."""
    return int(window_seconds // 60) + 2


def most_in_a_window(per_minute: DataFrame, counts: dict[str, float]) -> DataFrame:
    """Per client: for each count column of `per_minute` (name -> its window in seconds), the most of
    it in the calendar minutes any one window can touch (`_most_<name>`): an upper bound of what a
    window ending at any request of the client holds."""
    order = Window.partitionBy("client_key").orderBy("minute_us")
    spans = {
        name: functions.sum(name).over(order.rangeBetween(0, (_span_minutes(window) - 1) * 60_000_000))
        for name, window in counts.items()
    }
    return per_minute.select("client_key", *[column.alias(f"_span_{name}") for name, column in spans.items()]) \
        .groupBy("client_key").agg(*[functions.max(f"_span_{name}").alias(f"_most_{name}") for name in counts])


def possible_rules(per_client: DataFrame, per_minute: DataFrame, settings: SecuritySettings) -> DataFrame:
    """client_key and `_possible`: the mask of the rules the client can fire, as far as its counts tell:
    enough qualifying requests in the minutes one window can touch (a distinct count never exceeds the
    row count), and for the rule counting distinct user agents, enough agents in the day."""
    windows = {f"_rule_{index}": limit(rule, settings).window_seconds for index, rule in enumerate(COUNT_RULES)}
    most = most_in_a_window(per_minute, windows).join(per_client.select("client_key", "agents"), "client_key")
    bits = []
    for index, rule in enumerate(COUNT_RULES):
        enough = functions.col(f"_most__rule_{index}") >= limit(rule, settings).threshold
        if rule.distinct == "agent":
            enough = enough & (functions.col("agents") >= limit(rule, settings).threshold)
        bits.append(functions.when(enough, functions.lit(1 << index)).otherwise(functions.lit(0)))
    possible = reduce(lambda left, right: left.bitwiseOR(right), bits)
    return most.select("client_key", possible.alias("_possible")).where(functions.col("_possible") != 0)


def _scaled_time(window_us: Column) -> Column:
    """floor(t * SCALE / window_us) without overflowing a long."""
    us = functions.col("t")
    return functions.floor(us / window_us) * SCALE + functions.floor((us % window_us) * SCALE / window_us)


def count_signals(day: signals.RuleInput) -> DataFrame:
    """Candidates of every COUNT_RULES rule of the clients that can fire it (module docstring).

    Each candidate row is exploded into one row per rule it qualifies for; the rules' fields come from
    arrays indexed by the rule's position (one literal each, not an expression per rule).
    """
    settings = day.detection.settings
    limits = [limit(rule, settings) for rule in COUNT_RULES]
    slots = list(DISTINCT_KEYS)

    def field(values: list[object]) -> Column:
        return literal_array([str(value) for value in values])

    meta = {
        "rule_id": field([rule.rule_id for rule in COUNT_RULES]),
        "category": field([rule.category for rule in COUNT_RULES]),
        "severity": field([rule.severity for rule in COUNT_RULES]),
        "detail": field([describe(rule, settings) for rule in COUNT_RULES]),
        "threshold": field([float(lim.threshold) for lim in limits]).cast("array<double>"),
        "window_us": field([int(lim.window_seconds * 1_000_000) for lim in limits]).cast("array<long>"),
        "slot": field([slots.index(rule.distinct) + 1 if rule.distinct else 0 for rule in COUNT_RULES]).cast(
            "array<int>"),
    }
    mask = functions.col("count_mask").bitwiseAND(functions.col("_possible"))
    qualifying = functions.filter(
        functions.sequence(functions.lit(0), functions.lit(len(COUNT_RULES) - 1)),
        # bit `bit` of the mask (exact in a double: the masks have 18 bits)
        lambda bit: functions.pmod(functions.floor(mask / functions.pow(functions.lit(2), bit)), functions.lit(2)) == 1,
    )
    exploded = day.candidates.where(mask != 0).select("*", functions.explode(qualifying).alias("_bit"))
    position = functions.col("_bit") + 1
    tagged = exploded.withColumns({name: functions.element_at(values, position) for name, values in meta.items()})
    texts = functions.array(*[functions.col(DISTINCT_KEYS[slot]).cast("string") for slot in slots])
    key = functions.when(functions.col("slot") > 0, functions.element_at(texts, functions.col("slot")))
    window_us = functions.col("window_us")
    return signals.to_signals(
        tagged.withColumn("key", key), **signals.request_texts(), matched=functions.col("key"),
        window_minutes=functions.ceil(window_us / signals.US_PER_MINUTE), window_at=_scaled_time(window_us),
        window_span=SCALE, window_key=functions.col("key"), window_distinct=functions.col("slot") > 0,
    )
