"""Security pattern matching: what every security rule (analytics/security.py) reads from a request.

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

The rules that turn these columns into signal rows are listed in analytics/security.py (`RULES`);
their input contract and output shape are in analytics/signals.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, functions

from analytics import crawlers, distinct_values, rules, sigma, text_variants
from config.settings import SecuritySettings

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
