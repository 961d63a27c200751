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

from pyspark.sql import Column, DataFrame, Window, functions

from analytics import crawlers, distinct_values, rules, sigma, text_variants
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
    """One round of URL decoding (analytics/text_variants.py `decode_once`)."""
    return text_variants.decode_once(col)


def _decoded(col: Column) -> Column:
    return text_variants.decoded(col)


def with_variants(col: Column) -> Column:
    """Raw, decoded once and decoded twice, each distinct form once, joined by newlines.

    One nested expression (for the few matched rows of payload_signals); the matching itself builds
    the same text in steps (analytics/text_variants.py), which keeps its plans small.
    """
    once = _decoded(col)
    return text_variants.joined_variants(col, once, _decoded(once))


def _first_match(text: Column, regex: str) -> Column:
    """The first match of regex in text, '' when none (or text is null)."""
    return functions.coalesce(functions.regexp_extract(text, regex, 0), functions.lit(""))


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
    table = functions.array(
        *[
            functions.struct(functions.lit(label).alias("label"), functions.lit("(?i)" + src).alias("re"))
            for label, src in labels
        ]
    )
    first = functions.element_at(functions.filter(table, lambda entry: functions.regexp(text, entry["re"])), 1)
    return functions.coalesce(first["label"], functions.lit("known_exploit"))


def user_agent_matches(agents: DataFrame, detection: Detection, extra: dict[str, Column] | None = None) -> DataFrame:
    """Per distinct `_ua`: `_good_ua` (declared crawler), `_claimed` (engine claimed), `_ua_allowed` and
    `_ua_m` (per payload rule, its match in the agent, or ''). With `extra` (columns over `user_agent`,
    which agents then holds next to `_ua`), the agents' `user_agent` and those columns too."""
    good_bots = rules.combined_regex(detection.patterns.get("good_bots") or ["$^"])
    allow_agents = detection.settings.allow_user_agents
    allowed = rules.combined_regex(allow_agents) if allow_agents else None
    ua = functions.col("_ua")
    variants = functions.col("_ua_variants")
    per_rule = []
    for rule in rules.payload_rules(detection.patterns):
        if rule.target not in _UA_TARGETS:
            per_rule.append(functions.lit(""))
            continue
        text = ua if rule.target == "user_agent" else variants
        per_rule.append(_first_match(text, rules.combined_regex(detection.patterns[rule.category])))
    for step in text_variants.variant_steps({"_ua_variants": ua}):
        agents = agents.withColumns(step)
    kept = ["user_agent", *[column.alias(name) for name, column in extra.items()]] if extra is not None else []
    return agents.select(
        "_ua",
        *kept,
        ua.rlike(good_bots).alias("_good_ua"),
        crawlers.claimed_engine(ua, detection.engines).alias("_claimed"),
        (ua.rlike(allowed) if allowed else functions.lit(False)).alias("_ua_allowed"),
        functions.array(*per_rule).alias("_ua_m"),
    )


MATCHED_COLUMNS = ("_ua", "_good_bot", "_claimed", "_engine", "_ip_allowed", "_allowed", "_hits", "_sigma")


# The request columns each target's text is made of: its matches are computed once per distinct
# combination of them (analytics/distinct_values.py): one frame for the path, query and request line
# (one broadcast, not one per target), one for `everywhere`, which keeps path, query and referer
# together, as a pattern may match across the newline that joins them.
_TARGET_KEYS: dict[str, tuple[str, ...]] = {
    "path": ("path", "query", "request"), "path_query": ("path", "query", "request"),
    "everywhere": ("path", "query", "referer"), "request": ("path", "query", "request"),
}


_PATH_KEYS = ("path", "query", "request")  # the key set of the path targets' frame
_AGENT_KEYS = ("user_agent",)  # the key set of the user agents' frame


def sigma_placement(requests: DataFrame, load: sigma.SigmaLoad) -> dict[int, tuple[str, ...]]:
    """For each Sigma rule (by index) whose condition reads only the columns of one distinct-value
    frame (`_PATH_KEYS` or `_AGENT_KEYS`), that frame's keys: its condition is then evaluated once per
    distinct value there (a condition's value depends only on the columns it reads)."""
    placed = {}
    for index, rule in enumerate(load.rules):
        analyzed = requests.select(rule.condition.alias("_c"))._jdf.queryExecution().analyzed()
        attributes = analyzed.references().toSeq()
        read = {attributes.apply(position).name() for position in range(attributes.size())}
        for keys in (_PATH_KEYS, _AGENT_KEYS):
            if read <= set(keys):
                placed[index] = keys
                break
    return placed


def _sigma_column(index: int) -> str:
    return f"_sigma_{index}"


def _own_matches(requests: DataFrame, active_rules: list[rules.PayloadRule], detection: Detection) -> DataFrame:
    """requests plus `_own_<category>` for each rule with a target of _TARGET_KEYS: the rule's first
    match in the target text, or '' (computed per distinct key of the target, joined back); and
    `_sigma_<index>` for the Sigma rules placed on the path keys (`sigma_placement`)."""
    by_keys: dict[tuple[str, ...], dict[str, Column]] = {}
    for index, keys in sigma_placement(requests, detection.sigma).items():
        if keys == _PATH_KEYS:
            by_keys.setdefault(keys, {})[_sigma_column(index)] = detection.sigma.rules[index].condition
    targets: dict[tuple[str, ...], set[str]] = {}
    for rule in active_rules:
        if rule.target in _TARGET_KEYS:
            regex = rules.combined_regex(detection.patterns[rule.category])
            keys = _TARGET_KEYS[rule.target]
            text = functions.col(text_variants.TARGET_TEXT[rule.target])
            by_keys.setdefault(keys, {})[f"_own_{rule.category}"] = _first_match(text, regex)
            targets.setdefault(keys, set()).add(rule.target)
    source = requests
    for keys, columns in by_keys.items():
        # (path, query, referer) has many more distinct values than the others (122k of 1M requests
        # against 10k (path, query)): only the few that matched are broadcast
        steps = [*text_variants.target_steps(targets.get(keys, set())), columns]
        requests = distinct_values.with_distinct(
            requests, keys, steps, default="" if "referer" in keys else None, values_of=source
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
    requests = requests.withColumn("_ua", functions.coalesce(functions.col("user_agent"), functions.lit("")))
    own_columns = requests.columns
    placed = sigma_placement(requests, detection.sigma)
    agent_sigma = {
        _sigma_column(index): detection.sigma.rules[index].condition
        for index, keys in placed.items() if keys == _AGENT_KEYS
    }
    # keyed on the raw agent (null apart from ''), which the Sigma conditions read
    agents = user_agent_matches(requests.select("user_agent", "_ua").distinct(), detection, agent_sigma)
    agents = agents.withColumnRenamed("user_agent", "_agent_key")
    ips = crawlers.ip_tags(requests, detection.engines, detection.settings.allow_ips, detection.settings.allow_cidrs)
    active_rules = rules.payload_rules(detection.patterns)
    base = _own_matches(requests, active_rules, detection)
    agent_key = functions.col("user_agent").eqNullSafe(functions.col("_agent_key"))
    base = base.join(functions.broadcast(agents.drop("_ua")), agent_key, "left")
    base = base.join(functions.broadcast(ips), "client_ip", "left")
    matches = []
    for index, rule in enumerate(active_rules):
        own = functions.col(f"_own_{rule.category}") if rule.target in _TARGET_KEYS else functions.lit("")
        ua_part = functions.coalesce(functions.element_at("_ua_m", index + 1), functions.lit(""))
        matches.append(ua_part if rule.target == "user_agent" else (functions.when(own != "", own).otherwise(ua_part)
                                                                 if rule.target in _UA_TARGETS else own))
    claimed = functions.col("_claimed")
    verified = claimed.isNotNull() & functions.coalesce(claimed == functions.col("_engine"), functions.lit(False))
    good = verified | (claimed.isNull() & functions.coalesce(functions.col("_good_ua"), functions.lit(False)))
    sigma_hits = [
        functions.when(functions.col(_sigma_column(index)) if index in placed else rule.condition, functions.lit(index))
        for index, rule in enumerate(detection.sigma.rules)
    ]
    # a plain array (no higher-order function): Spark generates code for the whole regex pass
    return base.select(
        *own_columns,
        good.alias("_good_bot"),
        claimed.alias("_claimed"),
        functions.col("_engine"),
        # _ip_allowed alone decides whose login events are ignored: an agent string is the client's to choose
        functions.coalesce(functions.col("_allowed"), functions.lit(False)).alias("_ip_allowed"),
        (
            functions.coalesce(functions.col("_allowed"), functions.lit(False))
            | functions.coalesce(functions.col("_ua_allowed"), functions.lit(False))
        ).alias("_allowed"),
        functions.array(*matches).alias("_hits"),
        (
            functions.array_compact(functions.array(*sigma_hits))
            if sigma_hits
            else functions.array().cast("array<int>")
        ).alias("_sigma"),
    )


def prepare(requests: DataFrame, detection: Detection) -> DataFrame:
    """Requests with what the detectors share: MATCHED_COLUMNS (`match_payloads`, unless present), `ts` /
    `ts_us`, `_user` (remote user) and `_request` (raw request line or 'METHOD path')."""
    if not set(MATCHED_COLUMNS) <= set(requests.columns):
        requests = match_payloads(requests, detection)
    return requests.withColumns({
        "ts": functions.col("requested_at"),
        "ts_us": functions.unix_micros("requested_at"),
        "_user": functions.when(~functions.col("remote_user").isin("-", ""), functions.col("remote_user")),
        "_request": functions.coalesce(functions.col("request"), functions.concat_ws(" ", "method", "path")),
    })


def to_signals(df: DataFrame, keep: tuple[str, ...] = (), **values: Any) -> DataFrame:
    """Rows in the signal shape: `values` (Columns or literals), else df's column, else null; plus `keep`."""
    out = [functions.col(name) for name in keep]
    for name in SIGNAL_COLUMNS:
        value = values.get(name, functions.col(name) if name in df.columns else None)
        col = value if isinstance(value, Column) else functions.lit(value)
        out.append(col.cast(_TYPES.get(name, "string")).alias(name))
    return df.select(*out)


def payload_signals(base: DataFrame, detection: Detection) -> DataFrame:
    """One signal per (request, payload rule) whose patterns matched (`_hits` of `match_payloads`).

    A 2xx answer to a request matching a rule with `escalate_on_success` makes it critical. A
    known_exploit signal's rule_id is the label of its pattern (the CVE id), and its `matched` text
    starts with it ('CVE-2021-44228: ${jndi:').
    """
    patterns = detection.patterns
    rule_info = functions.array(
        *[
            functions.struct(
                functions.lit(rule.category).alias("category"),
                functions.lit(rule.rule_id).alias("rule_id"),
                functions.lit(rule.severity).alias("severity"),
                functions.lit(rule.escalate_on_success).alias("escalate"),
            )
            for rule in rules.payload_rules(patterns)
        ]
    )
    matched = base.where(functions.size(functions.array_remove("_hits", "")) > 0)  # before exploding: few rows match
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
    if "referer" in base.columns:
        texts.append(with_variants(functions.col("referer")))
    exploit = functions.col("hit.category") == "known_exploit"
    hit = hit.withColumn(
        "_label", functions.when(exploit, exploit_label(functions.concat_ws("\n", *texts), detection.labels))
    )
    rule_id = functions.when(exploit & (functions.col("_label") != "known_exploit"), functions.col("_label")).otherwise(
        functions.col("hit.rule_id")
    )
    matched = functions.when(
        exploit, functions.concat(functions.col("_label"), functions.lit(": "), functions.col("_m"))
    ).otherwise(functions.col("_m"))
    return to_signals(
        hit, category=functions.col("hit.category"), rule_id=rule_id, matched=matched,
        severity=functions.when(success, functions.lit("critical")).otherwise(functions.col("hit.severity")),
        user_id=functions.col("_user"), request=functions.col("_request"),
    )


def sigma_signals(base: DataFrame, load: sigma.SigmaLoad) -> DataFrame:
    """One signal per (request, Sigma rule matched): category sigma, rule_id the rule's id, severity its
    level, and `matched` 'title [tags]'."""
    if not load.rules:
        return to_signals(base.limit(0), category="sigma")
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
    hit = base.where(functions.size("_sigma") > 0).select("*", functions.explode("_sigma").alias("_i")).withColumn(
        "hit", functions.element_at(info, functions.col("_i") + 1)
    )
    return to_signals(
        hit, category="sigma", rule_id=functions.concat(functions.lit("SIGMA-"), functions.col("hit.rule_id")),
        severity=functions.col("hit.severity"), matched=functions.col("hit.matched"), detail=functions.col("hit.title"),
        user_id=functions.col("_user"), request=functions.col("_request"),
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
    metric = functions.when(
        functions.col("_distinct"), functions.size(functions.collect_set("_key").over(back))
    ).otherwise(functions.count(functions.lit(1)).over(back))
    rows = rows.withColumn("metric", metric.cast("double"))
    fired = functions.max((functions.col("metric") >= functions.col("threshold")).cast("int")).over(fwd)
    return rows.withColumn("_fired", fired).where(functions.col("_fired") == 1).drop("_fired")


def threshold_rule(category: str, threshold: float, window: int | None) -> dict[str, Any]:
    rule = rules.THRESHOLD_RULES[category]
    return {"category": category, "rule_id": rule.rule_id, "severity": rule.severity, "threshold": threshold,
            "window_minutes": window}


def windowed_signals(events: DataFrame, settings: SecuritySettings) -> DataFrame:
    """Signals of credential_stuffing: distinct user ids with login_failure events from one IP in the window."""
    window = settings.window_minutes
    failures = events.where(functions.col("event_type") == "login_failure").select(
        "client_ip",
        "user_id",
        "path",
        functions.col("occurred_at").alias("ts"),
        functions.concat(
            functions.lit("event login_failure user="),
            functions.coalesce("user_id", functions.lit("-")),
            functions.lit(" path="),
            functions.coalesce("path", functions.lit("-")),
        ).alias("request"),
    )
    rule = threshold_rule("credential_stuffing", settings.credential_stuffing_users, window)
    tagged = to_signals(
        failures.withColumns(
            {"_key": functions.col("user_id"), "_distinct": functions.lit(True), "ts_us": functions.unix_micros("ts")}
        ),
        keep=("_key", "_distinct", "ts_us"),
        **rule,
    )
    return burst(tagged, window).select(*SIGNAL_COLUMNS)


def minute_counts(base: DataFrame) -> DataFrame:
    """Requests per (client_ip, calendar minute) of the non-crawler requests: client_ip, minute, n."""
    return (
        base.where(~functions.col("_good_bot"))
        .groupBy("client_ip", functions.date_trunc("minute", "ts").alias("minute"))
        .agg(functions.count(functions.lit(1)).alias("n"))
    )


def flood_signals(base: DataFrame, settings: SecuritySettings) -> DataFrame:
    """Every request of an IP in a calendar minute holding >= flood_requests_per_minute of its requests."""
    hot = minute_counts(base).where(functions.col("n") >= settings.flood_requests_per_minute)
    rows = base.where(~functions.col("_good_bot")).withColumn("minute", functions.date_trunc("minute", "ts"))
    # few (ip, minute) pairs flood: a broadcast join keeps the requests where they are
    flooded = rows.join(functions.broadcast(hot), ["client_ip", "minute"])
    return to_signals(
        flooded, metric=functions.col("n"), user_id=functions.col("_user"), request=functions.col("_request"),
        **threshold_rule("flood", settings.flood_requests_per_minute, 1),
    )
