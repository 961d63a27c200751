"""Security detectors: each turns requests / events into *signal rows* of one common shape.

Payload rules (patterns in analytics/patterns/*.txt, see analytics/rules.py) match every request's
target text raw and URL-decoded once and twice (each distinct form once, joined by newlines). The
user agent part of a rule's target (rules on `user_agent` and `everywhere`) and the good-bot check
are evaluated once per distinct user agent and joined back: user agents repeat, and they are the
longest part of a request. Patterns therefore match within one part (path + query, referer, user
agent), never across two. All of this regex work happens once per request, in `match_payloads`;
each rule's alternation starts with a guard of its possible first characters (analytics/regex_guard.py).

Threshold rules count per client IP in a sliding window of `window_minutes` evaluated at every
qualifying row: the window ending at t is (t - W, t] on epoch microseconds (a row exactly W before t
is out); the signals of a rule are the rows of every window that reached the threshold. path_scan,
brute_force and credential_stuffing share one window pass. `flood` counts per calendar minute.
Requests whose user agent is a declared search-engine crawler (patterns/good_bots.txt) are ignored by
the behavioral rules (path_scan, flood; anomaly in analytics/anomalies.py) but not by the payload rules.
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
_UA_TARGETS = ("user_agent", "everywhere")  # targets with a user-agent part, matched per distinct agent


def _decode(col: Column) -> Column:
    """One round of URL decoding; a stray `%` is kept literally, undecodable text left as it was."""
    safe = F.regexp_replace(col, "%(?![0-9a-fA-F]{2})", "%25")
    return F.coalesce(F.try_url_decode(safe), col)


def _decoded(col: Column) -> Column:
    # decoding only changes text holding '%' or '+': skip the work for the others
    return F.when(col.contains("%") | col.contains("+"), _decode(col)).otherwise(col)


def with_variants(col: Column) -> Column:
    """Raw, decoded once and decoded twice, each distinct form once, joined by newlines."""
    once = _decoded(col)
    twice = _decoded(once)
    # string comparisons, no array functions: this runs on every request
    return (
        F.when(once == col, col)
        .when(twice == once, F.concat_ws("\n", col, once))
        .otherwise(F.concat_ws("\n", col, once, twice))
    )


def _first_match(text: Column, regex: str) -> Column:
    """The first match of regex in text, '' when none (or text is null)."""
    return F.coalesce(F.regexp_extract(text, regex, 0), F.lit(""))


def user_agent_matches(agents: DataFrame, patterns: dict[str, list[str]]) -> DataFrame:
    """Per distinct `_ua`: `_good_bot` and `_ua_m` (per payload rule, its match in the agent, or '')."""
    good_bots = R.combined_regex(patterns.get("good_bots") or ["$^"])
    ua = F.col("_ua")
    variants = with_variants(ua)
    per_rule = [
        _first_match(ua if r.target == "user_agent" else variants, R.combined_regex(patterns[r.category]))
        if r.target in _UA_TARGETS else F.lit("")
        for r in R.payload_rules(patterns)
    ]
    return agents.select("_ua", ua.rlike(good_bots).alias("_good_bot"), F.array(*per_rule).alias("_ua_m"))


MATCHED_COLUMNS = ("_ua", "_good_bot", "_hits")


def match_payloads(requests: DataFrame, patterns: dict[str, list[str]]) -> DataFrame:
    """Requests with the results of the pattern matching (MATCHED_COLUMNS), next to their own columns.

    `_ua` (user agent, '' when missing), `_good_bot` and `_hits` (per rule of `rules.payload_rules`, in
    order, the matched text or ''). The regex work of the detectors: do it once per request (the
    pipeline keeps the result in its per-request frame).
    """
    requests = requests.withColumn("_ua", F.coalesce(F.col("user_agent"), F.lit("")))
    agents = user_agent_matches(requests.select("_ua").distinct(), patterns)
    path = F.coalesce(F.col("path"), F.lit(""))
    path_query = F.when(F.col("query").isNull(), path).otherwise(F.concat(path, F.lit("?"), F.col("query")))
    texts = {
        "path": with_variants(path),
        "path_query": with_variants(path_query),
        "everywhere": F.concat_ws("\n", with_variants(path_query), with_variants(F.col("referer"))),
        "request": F.coalesce(F.col("request"), F.lit("")),
    }
    base = requests.join(F.broadcast(agents), "_ua", "left").withColumns(
        {f"_t_{name}": text for name, text in texts.items()}
    )
    matches = []
    for i, r in enumerate(R.payload_rules(patterns)):
        own = _first_match(F.col(f"_t_{r.target}"), R.combined_regex(patterns[r.category])) if r.target in texts \
            else F.lit("")
        ua_part = F.coalesce(F.element_at("_ua_m", i + 1), F.lit(""))
        matches.append(ua_part if r.target == "user_agent" else (F.when(own != "", own).otherwise(ua_part)
                                                                 if r.target in _UA_TARGETS else own))
    # a plain array (no higher-order function): Spark generates code for the whole regex pass
    return base.select(
        *requests.columns,
        F.coalesce(F.col("_good_bot"), F.lit(False)).alias("_good_bot"),
        F.array(*matches).alias("_hits"),
    )


def prepare(requests: DataFrame, patterns: dict[str, list[str]]) -> DataFrame:
    """Requests with what the detectors share: MATCHED_COLUMNS (`match_payloads`, unless present), `ts` /
    `ts_us`, `_user` (remote user) and `_request` (raw request line or 'METHOD path')."""
    if not set(MATCHED_COLUMNS) <= set(requests.columns):
        requests = match_payloads(requests, patterns)
    return requests.withColumns({
        "ts": F.col("requested_at"),
        "ts_us": F.unix_micros("requested_at"),
        "_user": F.when(~F.col("remote_user").isin("-", ""), F.col("remote_user")),
        "_request": F.coalesce(F.col("request"), F.concat_ws(" ", "method", "path")),
    })


def to_signals(df: DataFrame, keep: tuple[str, ...] = (), **values: Any) -> DataFrame:
    """Rows in the signal shape: `values` (Columns or literals), else df's column, else null; plus `keep`."""
    out = [F.col(name) for name in keep]
    for name in SIGNAL_COLUMNS:
        value = values.get(name, F.col(name) if name in df.columns else None)
        col = value if isinstance(value, Column) else F.lit(value)
        out.append(col.cast(_TYPES.get(name, "string")).alias(name))
    return df.select(*out)


def payload_signals(base: DataFrame, patterns: dict[str, list[str]]) -> DataFrame:
    """One signal per (request, payload rule) whose patterns matched (`_hits` of `match_payloads`).

    A 2xx answer to a request matching a rule with `escalate_on_success` makes it critical.
    """
    rules = F.array(*[
        F.struct(F.lit(r.category).alias("category"), F.lit(r.rule_id).alias("rule_id"),
                 F.lit(r.severity).alias("severity"), F.lit(r.escalate_on_success).alias("escalate"))
        for r in R.payload_rules(patterns)
    ])
    matched = base.where(F.size(F.array_remove("_hits", "")) > 0)  # before exploding: few rows match
    hit = matched.select("*", F.posexplode("_hits").alias("_pos", "_m")).where(F.col("_m") != "").withColumn(
        "hit", F.element_at(rules, F.col("_pos") + 1)
    )
    success = F.col("hit.escalate") & F.col("status").between(200, 299)
    return to_signals(
        hit, category=F.col("hit.category"), rule_id=F.col("hit.rule_id"), matched=F.col("_m"),
        severity=F.when(success, F.lit("critical")).otherwise(F.col("hit.severity")),
        user_id=F.col("_user"), request=F.col("_request"),
    )


def burst(rows: DataFrame, window_minutes: int) -> DataFrame:
    """Rows inside some window (t - W, t] whose count per (client_ip, category) reached `threshold`.

    Each row carries its rule's `threshold`, `ts_us`, `_distinct` and `_key`: distinct rules count the
    distinct non-null keys of the window (paths, user ids), the others its rows. `metric` is the count
    of the window ending at the row.
    """
    window_us = window_minutes * _US_PER_MINUTE
    ordered = Window.partitionBy("client_ip", "category").orderBy("ts_us")
    back, fwd = ordered.rangeBetween(-(window_us - 1), 0), ordered.rangeBetween(0, window_us - 1)
    metric = F.when(F.col("_distinct"), F.size(F.collect_set("_key").over(back))).otherwise(
        F.count(F.lit(1)).over(back)
    )
    rows = rows.withColumn("metric", metric.cast("double"))
    fired = F.max((F.col("metric") >= F.col("threshold")).cast("int")).over(fwd)
    return rows.withColumn("_fired", fired).where(F.col("_fired") == 1).drop("_fired")


def threshold_rule(category: str, threshold: float, window: int | None) -> dict[str, Any]:
    rule = R.THRESHOLD_RULES[category]
    return {"category": category, "rule_id": rule.rule_id, "severity": rule.severity, "threshold": threshold,
            "window_minutes": window}


def windowed_signals(
    base: DataFrame, events: DataFrame, patterns: dict[str, list[str]], s: SecuritySettings
) -> DataFrame:
    """Signals of path_scan, brute_force (HTTP) and credential_stuffing (events), in one window pass."""
    w = s.window_minutes
    login_re = R.combined_regex(patterns.get("login_endpoints") or ["$^"])
    to_login = F.coalesce(F.col("path"), F.lit("")).rlike(login_re)
    requests = base.withColumns({"user_id": F.col("_user"), "request": F.col("_request")})
    denied = requests.where(~F.col("_good_bot") & F.col("status").isin(403, 404))
    failed_logins = requests.where((F.upper("method") == "POST") & F.col("status").isin(401, 403) & to_login)
    failures = events.where(F.col("event_type") == "login_failure").select(
        "client_ip", "user_id", "path", F.col("occurred_at").alias("ts"),
        F.concat(F.lit("event login_failure user="), F.coalesce("user_id", F.lit("-")), F.lit(" path="),
                 F.coalesce("path", F.lit("-"))).alias("request"),
    )
    parts = [
        (denied, "path", threshold_rule("path_scan", s.path_scan_distinct_paths, w)),
        (failed_logins, None, threshold_rule("brute_force", s.brute_force_failures, w)),
        (failures, "user_id", threshold_rule("credential_stuffing", s.credential_stuffing_users, w)),
    ]
    tagged = [
        to_signals(
            df.withColumns({
                "_key": F.col(key) if key else F.lit(None).cast("string"), "_distinct": F.lit(key is not None),
                "ts_us": F.unix_micros("ts"),
            }),
            keep=("_key", "_distinct", "ts_us"), **rule,
        )
        for df, key, rule in parts
    ]
    rows = tagged[0].unionByName(tagged[1]).unionByName(tagged[2])
    # one shuffle and one sort for the three rules: partitioned by (client_ip, category)
    return burst(rows, w).select(*SIGNAL_COLUMNS)


def minute_counts(base: DataFrame) -> DataFrame:
    """Requests per (client_ip, calendar minute) of the non-crawler requests: client_ip, minute, n."""
    return (
        base.where(~F.col("_good_bot"))
        .groupBy("client_ip", F.date_trunc("minute", "ts").alias("minute"))
        .agg(F.count(F.lit(1)).alias("n"))
    )


def flood_signals(base: DataFrame, s: SecuritySettings) -> DataFrame:
    """Every request of an IP in a calendar minute holding >= flood_requests_per_minute of its requests."""
    hot = minute_counts(base).where(F.col("n") >= s.flood_requests_per_minute)
    rows = base.where(~F.col("_good_bot")).withColumn("minute", F.date_trunc("minute", "ts"))
    # few (ip, minute) pairs flood: a broadcast join keeps the requests where they are
    flooded = rows.join(F.broadcast(hot), ["client_ip", "minute"])
    return to_signals(
        flooded, metric=F.col("n"), user_id=F.col("_user"), request=F.col("_request"),
        **threshold_rule("flood", s.flood_requests_per_minute, 1),
    )
