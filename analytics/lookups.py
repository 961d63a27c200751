"""What each distinct value of a day means, computed once per value and joined to the requests by key.

A day has far fewer distinct request lines, user agents, referers and hosts than requests (10M
generated requests: 41k request lines, 210 agents, 18k referers), and a regex gives the same answer
each time it sees a value. So every regex (security patterns, path templates, host normalization,
crawler claims, the count rules' filters) runs here, over the dictionaries of analytics/facts.py, and
the per-request frame joins the answers by their integer keys. Every lookup also has a row for key
-1, the null value (the facts' null keys are read as -1: `key_or_null`).

Payload patterns match within one part of a request: the path and query (raw and URL-decoded once
and twice), the referer (likewise), the user agent; never across two parts. A rule's `everywhere`
match is its match in the path and query, else in the referer, else in the user agent.

Several lookups give a *canonical key*: the smallest key of the values that share a text (a path, a
path template; a host), so that counting distinct paths or grouping by
template is done on integers. Hosts are keyed in the referers' key space: a vhost's host gets the
canonical key of the referers with the same host, or a negative key of its own when no referer has it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window, functions

from analytics import count_signals, crawlers, detectors, hosts, paths, rules, text_variants, window_rules
from analytics.contracts import MAX_METHOD_CHARS, bounded_text
from analytics.detectors import Detection
from analytics.facts import RequestFacts
from analytics.performance import KIND_TEMPLATES

NULL_KEY = -1
_ANY = "exists({0}, match -> match != '')"


def key_or_null(key_column: str) -> Column:
    """A fact's key, -1 where the value was null (every lookup has a row for -1)."""
    return functions.coalesce(functions.col(key_column), functions.lit(NULL_KEY))


def with_null_row(dictionary: DataFrame) -> DataFrame:
    """The dictionary plus the row of key -1, whose values are null."""
    null_row = dictionary.sparkSession.createDataFrame([(NULL_KEY, *[None] * (len(dictionary.columns) - 1))],
                                                       dictionary.schema)
    return dictionary.unionByName(null_row)


def any_match(column: str) -> Column:
    """Whether an array of per-rule matches holds one ('' is no match)."""
    return functions.expr(_ANY.format(column))


def _steps(frame: DataFrame, steps: list[dict[str, Column]]) -> DataFrame:
    for step in steps:
        frame = frame.withColumns(step)
    return frame


def _canonical(frame: DataFrame, value: Column, name: str) -> DataFrame:
    """frame plus `name`: the smallest key among the rows with the same `value` (null for a null value)."""
    same = Window.partitionBy(value)
    return frame.withColumn(name, functions.when(value.isNotNull(), functions.min("key").over(same)))


def request_lookup(facts: RequestFacts, detection: Detection) -> DataFrame:
    """Per request key: the dictionary's columns plus path template, page and session eligibility,
    the endpoint it counts under, canonical keys of its path and template, `_own` (per
    payload rule, rules.payload_rules order, its first match in the request-side text, '' if none),
    `_masks` (the count rules it qualifies for, per status and crawler case: count_signals.count_mask),
    and `_malformed_line` (why the request line is malformed whatever its status, or null)."""
    active = rules.payload_rules(detection.patterns)
    frame = with_null_row(facts.requests)
    method, path, query = functions.col("method"), functions.col("path"), functions.col("query")
    kind = functions.col("request_kind")
    by_kind = functions.create_map(*[functions.lit(x) for pair in sorted(KIND_TEMPLATES.items()) for x in pair])
    kind_template = functions.try_element_at(by_kind, kind)
    frame = _steps(frame, paths.path_template_steps(path, "path_template"))
    frame = frame.withColumns({
        "page_eligible": paths.is_page_view(method, functions.lit(200), path),
        "junk": ~functions.coalesce(kind == "http", method.isNotNull()),
        "endpoint_method": bounded_text(functions.coalesce(functions.upper(method), functions.lit("-")),
                                        MAX_METHOD_CHARS),
        "endpoint_template": functions.coalesce(kind_template, functions.col("path_template"), functions.lit("-")),
        "foldable": kind_template.isNull(),
        "_rule_path": functions.coalesce(path, functions.lit("")),
        "_path_query": functions.when(query.isNull(), functions.coalesce(path, functions.lit(""))).otherwise(
            functions.concat(functions.coalesce(path, functions.lit("")), functions.lit("?"), query)),
        "_malformed_line": window_rules.malformed_reason(
            kind, method, path, functions.col("protocol"), functions.col("request"), functions.lit(0)),
        **count_signals.term_columns(detection.patterns, detection.settings),
    })
    frame = _steps(frame, text_variants.target_steps({rule.target for rule in active if rule.target != "user_agent"}))
    own = []
    for rule in active:
        if rule.target == "user_agent":
            own.append(functions.lit(""))
            continue
        regex = rules.combined_regex(detection.patterns[rule.category])
        own.append(detectors.first_match(functions.col(text_variants.TARGET_TEXT[rule.target]), regex))
    frame = frame.withColumns({"_own": functions.array(*own), "_masks": count_signals.masks()})
    frame = _canonical(_canonical(frame, path, "path_key"), functions.col("path_template"), "template_key")
    kept = [name for name in frame.columns if not name.startswith(("_v_", "_request", "_t_")) and "__" not in name]
    return frame.select(*kept)


def agent_lookup(facts: RequestFacts, user_agents: DataFrame, detection: Detection) -> DataFrame:
    """Per agent key: the user agent, `device_agent` (the agent as sessions and devices see it: null and
    '' are one agent, -1), its classification (staged user_agents), the crawler checks (`_good_ua`,
    `_claimed`, `_ua_allowed`) and `_ua_m`: per payload rule its first match in the agent ('' if none;
    for `everywhere` rules in the raw and decoded agent)."""
    agents = with_null_row(facts.agents)
    ua = functions.coalesce(functions.col("user_agent"), functions.lit(""))
    device = functions.when(ua == "", functions.lit(NULL_KEY)).otherwise(functions.col("key"))
    classified = user_agents.select(
        functions.col("user_agent").alias("_classified"), "browser_family", "os_family", "device_type",
        functions.col("is_bot").alias("_ua_bot"),
    ).dropDuplicates(["_classified"])
    agents = agents.join(classified, functions.col("user_agent") == functions.col("_classified"), "left").drop(
        "_classified")
    return detectors.user_agent_matches(agents.withColumns({"_ua": ua, "device_agent": device}), detection)


def referer_lookup(facts: RequestFacts, detection: Detection) -> DataFrame:
    """Per referer key: `referer_host` (normalized host of an absolute URL, else null), its canonical
    `referer_host_key`, and `_ref_m`: per payload rule with target `everywhere` its first match in the
    referer, raw and decoded ('' if none)."""
    referers = with_null_row(facts.referers)
    referers = _steps(referers, hosts.host_steps({"referer_host": hosts.referer_raw_host(functions.col("referer"))}))
    referers = _steps(referers, text_variants.variant_steps({"_v_referer": functions.col("referer")}))
    matches = []
    for rule in rules.payload_rules(detection.patterns):
        if rule.target != "everywhere":
            matches.append(functions.lit(""))
            continue
        regex = rules.combined_regex(detection.patterns[rule.category])
        matches.append(detectors.first_match(functions.col("_v_referer"), regex))
    named = referers.select("key", "referer", "referer_host", functions.array(*matches).alias("_ref_m"))
    return _canonical(named, functions.col("referer_host"), "referer_host_key")


def vhost_lookup(facts: RequestFacts) -> DataFrame:
    """Per vhost key: `vhost_host`, the normalized host (lower case, no port, no www.), and its key in the
    referers' host keys (`vhost_host_key`: a negative key of its own when no referer has that host)."""
    vhosts = _steps(with_null_row(facts.vhosts), hosts.host_steps({"vhost_host": functions.col("vhost")}))
    referer_hosts = _steps(facts.referers, hosts.host_steps(
        {"_host": hosts.referer_raw_host(functions.col("referer"))}))
    shared = referer_hosts.where(functions.col("_host").isNotNull()).groupBy(
        functions.col("_host").alias("vhost_host")).agg(functions.min("key").alias("_referer_host_key"))
    own_key = functions.lit(-2) - functions.col("key")  # never a referer's (those are >= -1)
    return vhosts.join(functions.broadcast(shared), "vhost_host", "left").select(
        "key", "vhost", "vhost_host",
        functions.when(functions.col("vhost_host").isNotNull(),
                       functions.coalesce("_referer_host_key", own_key)).alias("vhost_host_key"),
    )


def file_lookup(facts: RequestFacts) -> DataFrame:
    """Per file key: `file_rank`, the position of its name in name order (requests are ordered by
    time, then source file name, then line number)."""
    files = with_null_row(facts.files)
    rank = functions.dense_rank().over(Window.orderBy(functions.col("source_file").asc_nulls_first()))
    return files.select("key", "source_file", rank.alias("file_rank"))


def client_tags(facts: RequestFacts, detection: Detection) -> DataFrame | None:
    """client_key, `_engine` (the search engine whose published ranges hold the address, or null) and
    `_client_allowed` (allowlisted address or network) of the clients whose tags can matter: every
    client when an address allowlist is configured, else those whose agent claims a search engine;
    None when no client can have a tag (no engine ranges and no allowlist)."""
    settings = detection.settings
    allowlist = bool(settings.allow_ips or settings.allow_cidrs)
    if not allowlist and not detection.engines:
        return None
    clients = facts.clients.select(functions.col("key").alias("client_key"), "client_ip")
    if not allowlist:
        claim = crawlers.claimed_engine(functions.col("user_agent"), detection.engines)
        claiming = facts.agents.where(claim.isNotNull()).select(functions.col("key").alias("agent_key"))
        keys = facts.rows.join(functions.broadcast(claiming), "agent_key").select("client_key").distinct()
        clients = clients.join(keys, "client_key")
    tags = crawlers.ip_tags(clients, detection.engines, settings.allow_ips, settings.allow_cidrs)
    return clients.join(tags, "client_ip").select(
        "client_key", "_engine", functions.col("_allowed").alias("_client_allowed"))


@dataclass(frozen=True)
class Lookups:
    """The lookups of one day (each a small frame keyed by `key`; `clients` by client_key, or None)."""

    requests: DataFrame  # request_lookup
    agents: DataFrame  # agent_lookup
    referers: DataFrame  # referer_lookup
    vhosts: DataFrame  # vhost_lookup
    files: DataFrame  # file_lookup
    clients: DataFrame | None  # client_tags

    def templates(self) -> DataFrame:
        """key, path_template: the text of each template key (a request key whose template it is)."""
        return self.requests.select("key", "path_template")

    def hosts(self) -> DataFrame:
        """key, host: the text of each host key (referrer_domain)."""
        return self.referers.where(functions.col("key") == functions.col("referer_host_key")).select(
            "key", functions.col("referer_host").alias("host"))


def day_lookups(facts: RequestFacts, user_agents: DataFrame, detection: Detection) -> dict[str, DataFrame]:
    """Every lookup of the day, as plans by Lookups field (analytics/day.py computes and keeps them)."""
    plans = {
        "requests": request_lookup(facts, detection),
        "agents": agent_lookup(facts, user_agents, detection),
        "referers": referer_lookup(facts, detection),
        "vhosts": vhost_lookup(facts),
        "files": file_lookup(facts),
    }
    tags = client_tags(facts, detection)
    return plans if tags is None else {**plans, "clients": tags}
