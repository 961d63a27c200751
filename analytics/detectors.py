"""What the security rules match with (`Detection`), and the matching of user agents and Sigma rules.

Payload rules (patterns in analytics/patterns/*.txt, see analytics/rules.py) match the text of
their target raw and URL-decoded once and twice (each distinct form once, joined by newlines). All
of it runs once per distinct value, in analytics/lookups.py: the request-side targets per request
line, the referer part per referer, the user-agent part and the crawler checks (claimed engine,
declared crawler, allowlisted agent) per user agent, the published-range and allowlist checks per
client address (analytics/crawlers.py). Each rule's alternation starts with a guard of its possible
first characters (analytics/regex_guard.py).

A crawler is verified when its claimed engine's ranges hold its address; verified crawlers are
ignored by the behavioral rules (probing, crawl, DoS, flood, anomaly) but not by the payload rules.

Sigma rules (analytics/sigma.py) are evaluated once per distinct combination of the values they read
(`sigma_keys`): a rule on the path alone once per request line, one on the user agent alone once
per agent, one on the path and the status once per (request line, status).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, functions

from analytics import crawlers, rules, sigma, text_variants
from config.settings import SecuritySettings

_UA_TARGETS = ("user_agent", "everywhere")  # targets with a user-agent part


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


def with_variants(col: Column) -> Column:
    """Raw, decoded once and decoded twice, each distinct form once, joined by newlines.

    One nested expression (for the few matched rows of payload_signals); the lookups build the same
    text in steps (analytics/text_variants.py), which keeps their plans small.
    """
    once = text_variants.decoded(col)
    return text_variants.joined_variants(col, once, text_variants.decoded(once))


def first_match(text: Column, regex: str) -> Column:
    """The first match of regex in text, '' when none (or text is null)."""
    return functions.coalesce(functions.regexp_extract(text, regex, 0), functions.lit(""))


def user_agent_matches(agents: DataFrame, detection: Detection) -> DataFrame:
    """agents (with `_ua`: the agent, '' when missing) plus `_good_ua` (a declared crawler), `_claimed`
    (the engine it claims), `_ua_allowed` and `_ua_m`: per payload rule (rules.payload_rules order)
    its first match in the agent ('' if none; raw and decoded for `everywhere` rules)."""
    good_bots = rules.combined_regex(detection.patterns.get("good_bots") or ["$^"])
    allow_agents = detection.settings.allow_user_agents
    allowed = rules.combined_regex(allow_agents) if allow_agents else None
    ua, variants = functions.col("_ua"), functions.col("_ua_variants")
    per_rule = []
    for rule in rules.payload_rules(detection.patterns):
        if rule.target not in _UA_TARGETS:
            per_rule.append(functions.lit(""))
            continue
        text = ua if rule.target == "user_agent" else variants
        per_rule.append(first_match(text, rules.combined_regex(detection.patterns[rule.category])))
    for step in text_variants.variant_steps({"_ua_variants": ua}):
        agents = agents.withColumns(step)
    return agents.withColumns({
        "_good_ua": ua.rlike(good_bots),
        "_claimed": crawlers.claimed_engine(ua, detection.engines),
        "_ua_allowed": ua.rlike(allowed) if allowed else functions.lit(False),
        "_ua_m": functions.array(*per_rule),
    }).drop(*[name for name in agents.columns if name.startswith("_ua_variants")])


# The key column that stands for each request column a Sigma condition may read (sigma.FIELDS), or
# the column itself for the numbers every request carries.
SIGMA_KEY_OF = {
    "method": "request_key", "path": "request_key", "query": "request_key", "request": "request_key",
    "protocol": "request_key", "request_kind": "request_key", "user_agent": "agent_key", "referer": "referer_key",
    "client_ip": "client_key", "remote_user": "remote_user_key", "vhost": "vhost_key",
    "status": "status", "bytes": "bytes", "request_time_ms": "request_time_ms",
}


def read_columns(condition: Column, columns: DataFrame) -> set[str]:
    """The request columns a condition reads (analysed against `columns`, a frame of request columns)."""
    analyzed = columns.select(condition.alias("_c"))._jdf.queryExecution().analyzed()
    attributes = analyzed.references().toSeq()
    return {attributes.apply(position).name() for position in range(attributes.size())}


def sigma_keys(load: sigma.SigmaLoad, columns: DataFrame) -> dict[int, tuple[str, ...]]:
    """For each Sigma rule (by index), the sorted fact columns whose distinct combinations decide it."""
    return {
        index: tuple(sorted({SIGMA_KEY_OF[name] for name in read_columns(rule.condition, columns)}))
        for index, rule in enumerate(load.rules)
    }
