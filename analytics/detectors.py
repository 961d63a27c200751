"""Security detectors: each turns requests / events into *signal rows* of one common shape.

Payload rules (patterns in analytics/patterns/*.txt, see analytics/rules.py) match every request's
target text raw and URL-decoded once and twice (each distinct form once, joined by newlines). The
user agent part of a rule's target (rules on `user_agent` and `everywhere`) and the good-bot check
are evaluated once per distinct user agent and joined back: user agents repeat, and they are the
longest part of a request. Patterns therefore match within one part (path + query, referer, user
agent), never across two. All of this regex work happens once per distinct text (path and query; with the referer
for `everywhere`; the request line), in `match_payloads`;
each rule's alternation starts with a guard of its possible first characters (analytics/regex_guard.py).

The user agent part and the crawler checks (claimed engine, declared crawler, allowlisted agent)
run once per distinct user agent, the published-range and allowlist checks once per distinct client
IP (analytics/crawlers.py); Sigma rules (analytics/sigma.py) are one boolean column each in the same
pass. A crawler is verified when its claimed engine's ranges hold its address; verified crawlers
are ignored by the behavioral rules (probing, crawl, DoS, flood, anomaly) but not by the payload rules.

The count rules of the public detectors live in analytics/count_rules.py. Here: credential_stuffing
(distinct user ids in a sliding window of `window_minutes` over login_failure events: the window
ending at t is (t - W, t] on epoch microseconds) and `flood` (requests per calendar minute).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from analytics import crawlers, distinct_values, rules, sigma
from config.settings import SecuritySettings

US_PER_MINUTE = 60_000_000
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


@dataclass(frozen=True)
class Detection:
    """What the detectors match with: patterns, exploit labels, crawler ranges, Sigma rules, settings."""

    patterns: dict[str, list[str]]
    labels: list[tuple[str, str]]
    engines: list[crawlers.Engine]
    sigma: sigma.SigmaLoad
    settings: SecuritySettings


def load_detection(settings: SecuritySettings) -> Detection:
    """The Detection of settings: built-in patterns plus `patterns_dir`, ranges, `sigma_rules_dir`."""
    return Detection(
        rules.load_patterns(settings.patterns_dir), rules.exploit_labels(settings.patterns_dir),
        crawlers.load_engines(settings.crawler_ranges_dir), sigma.load_rules(settings.sigma_rules_dir), settings,
    )


def exploit_label(text: Column, labels: list[tuple[str, str]]) -> Column:
    """The label of the first labelled pattern matching text ('known_exploit' when none does).

    One array of (label, regex) filtered by the text: a CASE chain of ~100 regexes overflows Spark's
    generated code. Evaluated on the few matched requests only (payload_signals).
    """
    table = F.array(*[F.struct(F.lit(label).alias("label"), F.lit("(?i)" + src).alias("re")) for label, src in labels])
    first = F.element_at(F.filter(table, lambda entry: F.regexp(text, entry["re"])), 1)
    return F.coalesce(first["label"], F.lit("known_exploit"))


def user_agent_matches(agents: DataFrame, detection: Detection) -> DataFrame:
    """Per distinct `_ua`: `_good_ua` (declared crawler), `_claimed` (engine claimed), `_ua_allowed` and
    `_ua_m` (per payload rule, its match in the agent, or '')."""
    good_bots = rules.combined_regex(detection.patterns.get("good_bots") or ["$^"])
    allow_agents = detection.settings.allow_user_agents
    allowed = rules.combined_regex(allow_agents) if allow_agents else None
    ua = F.col("_ua")
    variants = with_variants(ua)
    per_rule = []
    for rule in rules.payload_rules(detection.patterns):
        if rule.target not in _UA_TARGETS:
            per_rule.append(F.lit(""))
            continue
        text = ua if rule.target == "user_agent" else variants
        per_rule.append(_first_match(text, rules.combined_regex(detection.patterns[rule.category])))
    return agents.select(
        "_ua", ua.rlike(good_bots).alias("_good_ua"), crawlers.claimed_engine(ua, detection.engines).alias("_claimed"),
        (ua.rlike(allowed) if allowed else F.lit(False)).alias("_ua_allowed"), F.array(*per_rule).alias("_ua_m"),
    )


MATCHED_COLUMNS = ("_ua", "_good_bot", "_claimed", "_engine", "_ip_allowed", "_allowed", "_hits", "_sigma")


def _target_texts() -> dict[str, Column]:
    """The text each payload target matches, from the request columns it reads (`_TARGET_KEYS`)."""
    path = F.coalesce(F.col("path"), F.lit(""))
    path_query = F.when(F.col("query").isNull(), path).otherwise(F.concat(path, F.lit("?"), F.col("query")))
    return {
        "path": with_variants(path),
        "path_query": with_variants(path_query),
        "everywhere": F.concat_ws("\n", with_variants(path_query), with_variants(F.col("referer"))),
        "request": F.coalesce(F.col("request"), F.lit("")),
    }


# The request columns each target's text is made of: its matches are computed once per distinct
# combination of them (analytics/distinct_values.py): one frame for the path, query and request line
# (one broadcast, not one per target), one for `everywhere`, which keeps path, query and referer
# together, as a pattern may match across the newline that joins them.
_TARGET_KEYS: dict[str, tuple[str, ...]] = {
    "path": ("path", "query", "request"), "path_query": ("path", "query", "request"),
    "everywhere": ("path", "query", "referer"), "request": ("path", "query", "request"),
}


def _own_matches(requests: DataFrame, active_rules: list[rules.PayloadRule], detection: Detection) -> DataFrame:
    """requests plus `_own_<category>` for each rule with a target of _TARGET_KEYS: the rule's first
    match in the target text, or '' (computed per distinct key of the target, joined back)."""
    texts = _target_texts()
    by_keys: dict[tuple[str, ...], dict[str, Column]] = {}
    for rule in active_rules:
        if rule.target in _TARGET_KEYS:
            regex = rules.combined_regex(detection.patterns[rule.category])
            by_keys.setdefault(_TARGET_KEYS[rule.target], {})[f"_own_{rule.category}"] = _first_match(
                texts[rule.target], regex
            )
    source = requests
    for keys, columns in by_keys.items():
        # (path, query, referer) has many more distinct values than the others (122k of 1M requests
        # against 10k (path, query)): only the few that matched are broadcast
        requests = distinct_values.with_distinct(
            requests, keys, columns, default="" if "referer" in keys else None, values_of=source
        )
    return requests


def match_payloads(requests: DataFrame, detection: Detection) -> DataFrame:
    """Requests with the results of the pattern matching (MATCHED_COLUMNS), next to their own columns.

    `_ua` (user agent, '' when missing); `_claimed` (the search engine the agent claims) and `_engine`
    (the engine whose published ranges hold the client IP); `_good_bot` (a verified crawler, or a
    declared one of an engine without ranges); `_allowed` (allowlisted IP, network or agent); `_hits`
    (per rule of `rules.payload_rules`, in order, the matched text or ''); `_sigma` (indexes of the
    Sigma rules that matched). User agents, client IPs and the texts of the other targets are matched
    once per distinct value and joined back.
    """
    requests = requests.withColumn("_ua", F.coalesce(F.col("user_agent"), F.lit("")))
    own_columns = requests.columns
    agents = user_agent_matches(requests.select("_ua").distinct(), detection)
    ips = crawlers.ip_tags(requests, detection.engines, detection.settings.allow_ips, detection.settings.allow_cidrs)
    active_rules = rules.payload_rules(detection.patterns)
    base = _own_matches(requests, active_rules, detection)
    base = base.join(F.broadcast(agents), "_ua", "left").join(F.broadcast(ips), "client_ip", "left")
    matches = []
    for index, rule in enumerate(active_rules):
        own = F.col(f"_own_{rule.category}") if rule.target in _TARGET_KEYS else F.lit("")
        ua_part = F.coalesce(F.element_at("_ua_m", index + 1), F.lit(""))
        matches.append(ua_part if rule.target == "user_agent" else (F.when(own != "", own).otherwise(ua_part)
                                                                 if rule.target in _UA_TARGETS else own))
    claimed = F.col("_claimed")
    verified = claimed.isNotNull() & F.coalesce(claimed == F.col("_engine"), F.lit(False))
    good = verified | (claimed.isNull() & F.coalesce(F.col("_good_ua"), F.lit(False)))
    sigma_hits = [F.when(rule.condition, F.lit(index)) for index, rule in enumerate(detection.sigma.rules)]
    # a plain array (no higher-order function): Spark generates code for the whole regex pass
    return base.select(
        *own_columns, good.alias("_good_bot"), claimed.alias("_claimed"), F.col("_engine"),
        # _ip_allowed alone decides whose login events are ignored: an agent string is the client's to choose
        F.coalesce(F.col("_allowed"), F.lit(False)).alias("_ip_allowed"),
        (F.coalesce(F.col("_allowed"), F.lit(False)) | F.coalesce(F.col("_ua_allowed"), F.lit(False)))
        .alias("_allowed"),
        F.array(*matches).alias("_hits"),
        (F.array_compact(F.array(*sigma_hits)) if sigma_hits else F.array().cast("array<int>")).alias("_sigma"),
    )


def prepare(requests: DataFrame, detection: Detection) -> DataFrame:
    """Requests with what the detectors share: MATCHED_COLUMNS (`match_payloads`, unless present), `ts` /
    `ts_us`, `_user` (remote user) and `_request` (raw request line or 'METHOD path')."""
    if not set(MATCHED_COLUMNS) <= set(requests.columns):
        requests = match_payloads(requests, detection)
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


def payload_signals(base: DataFrame, detection: Detection) -> DataFrame:
    """One signal per (request, payload rule) whose patterns matched (`_hits` of `match_payloads`).

    A 2xx answer to a request matching a rule with `escalate_on_success` makes it critical. A
    known_exploit signal's rule_id is the label of its pattern (the CVE id), and its `matched` text
    starts with it ('CVE-2021-44228: ${jndi:').
    """
    patterns = detection.patterns
    rule_info = F.array(*[
        F.struct(F.lit(rule.category).alias("category"), F.lit(rule.rule_id).alias("rule_id"),
                 F.lit(rule.severity).alias("severity"), F.lit(rule.escalate_on_success).alias("escalate"))
        for rule in rules.payload_rules(patterns)
    ])
    matched = base.where(F.size(F.array_remove("_hits", "")) > 0)  # before exploding: few rows match
    hit = matched.select("*", F.posexplode("_hits").alias("_pos", "_m")).where(F.col("_m") != "").withColumn(
        "hit", F.element_at(rule_info, F.col("_pos") + 1)
    )
    success = F.col("hit.escalate") & F.col("status").between(200, 299)
    path = F.coalesce(F.col("path"), F.lit(""))
    path_query = F.when(F.col("query").isNull(), path).otherwise(F.concat(path, F.lit("?"), F.col("query")))
    texts = [with_variants(path_query), F.col("_ua")]
    if "referer" in base.columns:
        texts.append(with_variants(F.col("referer")))
    exploit = F.col("hit.category") == "known_exploit"
    hit = hit.withColumn("_label", F.when(exploit, exploit_label(F.concat_ws("\n", *texts), detection.labels)))
    rule_id = F.when(exploit & (F.col("_label") != "known_exploit"), F.col("_label")).otherwise(F.col("hit.rule_id"))
    matched = F.when(exploit, F.concat(F.col("_label"), F.lit(": "), F.col("_m"))).otherwise(F.col("_m"))
    return to_signals(
        hit, category=F.col("hit.category"), rule_id=rule_id, matched=matched,
        severity=F.when(success, F.lit("critical")).otherwise(F.col("hit.severity")),
        user_id=F.col("_user"), request=F.col("_request"),
    )


def sigma_signals(base: DataFrame, load: sigma.SigmaLoad) -> DataFrame:
    """One signal per (request, Sigma rule matched): category sigma, rule_id the rule's id, severity its
    level, and `matched` 'title [tags]'."""
    if not load.rules:
        return to_signals(base.limit(0), category="sigma")
    info = F.array(*[
        F.struct(F.lit(rule.rule_id).alias("rule_id"), F.lit(rule.severity).alias("severity"),
                 F.lit(f"{rule.title} [{', '.join(rule.tags)}]").alias("matched"), F.lit(rule.title).alias("title"))
        for rule in load.rules
    ])
    hit = base.where(F.size("_sigma") > 0).select("*", F.explode("_sigma").alias("_i")).withColumn(
        "hit", F.element_at(info, F.col("_i") + 1)
    )
    return to_signals(
        hit, category="sigma", rule_id=F.concat(F.lit("SIGMA-"), F.col("hit.rule_id")),
        severity=F.col("hit.severity"), matched=F.col("hit.matched"), detail=F.col("hit.title"),
        user_id=F.col("_user"), request=F.col("_request"),
    )


def burst(rows: DataFrame, window_minutes: int) -> DataFrame:
    """Rows inside some window (t - W, t] whose count per (client_ip, category) reached `threshold`.

    Each row carries its rule's `threshold`, `ts_us`, `_distinct` and `_key`: distinct rules count the
    distinct non-null keys of the window (user ids), the others its rows. `metric` is the count of
    the window ending at the row.
    """
    window_us = window_minutes * US_PER_MINUTE
    ordered = Window.partitionBy("client_ip", "category").orderBy("ts_us")
    back, fwd = ordered.rangeBetween(-(window_us - 1), 0), ordered.rangeBetween(0, window_us - 1)
    metric = F.when(F.col("_distinct"), F.size(F.collect_set("_key").over(back))).otherwise(
        F.count(F.lit(1)).over(back)
    )
    rows = rows.withColumn("metric", metric.cast("double"))
    fired = F.max((F.col("metric") >= F.col("threshold")).cast("int")).over(fwd)
    return rows.withColumn("_fired", fired).where(F.col("_fired") == 1).drop("_fired")


def threshold_rule(category: str, threshold: float, window: int | None) -> dict[str, Any]:
    rule = rules.THRESHOLD_RULES[category]
    return {"category": category, "rule_id": rule.rule_id, "severity": rule.severity, "threshold": threshold,
            "window_minutes": window}


def windowed_signals(events: DataFrame, settings: SecuritySettings) -> DataFrame:
    """Signals of credential_stuffing: distinct user ids with login_failure events from one IP in the window."""
    window = settings.window_minutes
    failures = events.where(F.col("event_type") == "login_failure").select(
        "client_ip", "user_id", "path", F.col("occurred_at").alias("ts"),
        F.concat(F.lit("event login_failure user="), F.coalesce("user_id", F.lit("-")), F.lit(" path="),
                 F.coalesce("path", F.lit("-"))).alias("request"),
    )
    rule = threshold_rule("credential_stuffing", settings.credential_stuffing_users, window)
    tagged = to_signals(
        failures.withColumns({"_key": F.col("user_id"), "_distinct": F.lit(True), "ts_us": F.unix_micros("ts")}),
        keep=("_key", "_distinct", "ts_us"), **rule,
    )
    return burst(tagged, window).select(*SIGNAL_COLUMNS)


def minute_counts(base: DataFrame) -> DataFrame:
    """Requests per (client_ip, calendar minute) of the non-crawler requests: client_ip, minute, n."""
    return (
        base.where(~F.col("_good_bot"))
        .groupBy("client_ip", F.date_trunc("minute", "ts").alias("minute"))
        .agg(F.count(F.lit(1)).alias("n"))
    )


def flood_signals(base: DataFrame, settings: SecuritySettings) -> DataFrame:
    """Every request of an IP in a calendar minute holding >= flood_requests_per_minute of its requests."""
    hot = minute_counts(base).where(F.col("n") >= settings.flood_requests_per_minute)
    rows = base.where(~F.col("_good_bot")).withColumn("minute", F.date_trunc("minute", "ts"))
    # few (ip, minute) pairs flood: a broadcast join keeps the requests where they are
    flooded = rows.join(F.broadcast(hot), ["client_ip", "minute"])
    return to_signals(
        flooded, metric=F.col("n"), user_id=F.col("_user"), request=F.col("_request"),
        **threshold_rule("flood", settings.flood_requests_per_minute, 1),
    )
