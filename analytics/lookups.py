"""What each distinct value of a day means, computed once per value and joined to the requests by key.

A day has far fewer distinct request lines, user agents, referers and hosts than requests (10M
generated requests: 41k request lines, 210 agents, 18k referers), and a regex gives the same answer
each time it sees a value. So every regex (security patterns, path templates, host normalization,
crawler claims) runs here, over the dictionaries of analytics/facts.py, and the per-request frames
join the answers by their integer keys. Every lookup also has a row for key -1, the null value (the
facts' null keys are read as -1: `key_or_null`).

Payload patterns match within one part of a request: the path and query (raw and URL-decoded once
and twice), the referer (likewise), the user agent; never across two parts. A rule's `everywhere`
match is its match in the path and query, else in the referer, else in the user agent.

Several lookups give a *canonical key*: the smallest request key of the values that share a text
(a path, a path template, a path with its query), so that counting distinct paths or grouping by
template is done on integers.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window, functions

from analytics import crawlers, detectors, hosts, paths, rules, text_variants
from analytics.contracts import MAX_METHOD_CHARS, bounded_text
from analytics.detectors import Detection
from analytics.facts import RequestFacts
from analytics.performance import KIND_TEMPLATES

NULL_KEY = -1


def key_or_null(key_column: str) -> Column:
    """A fact's key, -1 where the value was null (every lookup has a row for -1)."""
    return functions.coalesce(functions.col(key_column), functions.lit(NULL_KEY))


def with_null_row(dictionary: DataFrame) -> DataFrame:
    """The dictionary plus the row of key -1, whose values are null."""
    null_row = dictionary.sparkSession.createDataFrame([(NULL_KEY, *[None] * (len(dictionary.columns) - 1))],
                                                       dictionary.schema)
    return dictionary.unionByName(null_row)


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
    the endpoint it counts under, canonical keys of its path, template and path+query, and `_own`:
    per payload rule (rules.payload_rules order) its first match in the request-side text ('' if none)."""
    active = rules.payload_rules(detection.patterns)
    frame = with_null_row(facts.requests)
    method, path, query = functions.col("method"), functions.col("path"), functions.col("query")
    kind = functions.col("request_kind")
    by_kind = functions.create_map(*[functions.lit(x) for pair in sorted(KIND_TEMPLATES.items()) for x in pair])
    kind_template = functions.try_element_at(by_kind, kind)
    page = paths.is_page_view(method, functions.lit(200), path)
    frame = _steps(frame, paths.path_template_steps(path, "path_template"))
    frame = frame.withColumns({
        "page_eligible": page,
        "junk": ~functions.coalesce(kind == "http", method.isNotNull()),
        "endpoint_method": bounded_text(functions.coalesce(functions.upper(method), functions.lit("-")),
                                        MAX_METHOD_CHARS),
        "endpoint_template": functions.coalesce(kind_template, functions.col("path_template"), functions.lit("-")),
        "foldable": kind_template.isNull(),
        "_rule_path": functions.coalesce(path, functions.lit("")),
        "_path_query": functions.when(query.isNull(), functions.coalesce(path, functions.lit(""))).otherwise(
            functions.concat(functions.coalesce(path, functions.lit("")), functions.lit("?"), query)),
    })
    frame = _steps(frame, text_variants.target_steps({rule.target for rule in active if rule.target != "user_agent"}))
    own = []
    for rule in active:
        if rule.target == "user_agent":
            own.append(functions.lit(""))
            continue
        regex = rules.combined_regex(detection.patterns[rule.category])
        own.append(detectors.first_match(functions.col(text_variants.TARGET_TEXT[rule.target]), regex))
    frame = frame.withColumn("_own", functions.array(*own))
    frame = _canonical(frame, path, "path_key")
    frame = _canonical(frame, functions.col("_rule_path"), "rule_path_key")
    frame = _canonical(frame, functions.col("path_template"), "template_key")
    frame = _canonical(frame, functions.col("_path_query"), "path_query_key")
    frame = _canonical(frame, query, "query_key")
    frame = _canonical(frame, functions.struct("endpoint_method", "endpoint_template"), "endpoint_key")
    kept = [name for name in frame.columns if not name.startswith(("_v_", "_request")) and "__" not in name]
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
    """Per referer key: `referer_host` (normalized host of an absolute URL, else null) and `_ref_m`: per
    payload rule with target `everywhere` its first match in the referer, raw and decoded ('' if none)."""
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
    return referers.select("key", "referer", "referer_host", functions.array(*matches).alias("_ref_m"))


def vhost_lookup(facts: RequestFacts) -> DataFrame:
    """Per vhost key: `vhost_host`, the normalized host (lower case, no port, no www.)."""
    vhosts = with_null_row(facts.vhosts)
    vhosts = _steps(vhosts, hosts.host_steps({"vhost_host": functions.col("vhost")}))
    return vhosts.select("key", "vhost", "vhost_host")


def host_dictionary(referers: DataFrame, vhosts: DataFrame) -> DataFrame:
    """Every normalized host of the referers and vhosts, numbered: key, host."""
    names = referers.select(functions.col("referer_host").alias("host")).union(
        vhosts.select(functions.col("vhost_host").alias("host"))
    ).where(functions.col("host").isNotNull()).distinct()
    return names.select((functions.row_number().over(Window.orderBy("host")) - 1).alias("key"), "host")


def with_host_key(lookup: DataFrame, host_column: str, host_names: DataFrame, name: str) -> DataFrame:
    """lookup plus `name`: the key of its `host_column` in the host dictionary (null for no host)."""
    named = host_names.select(functions.col("host").alias(host_column), functions.col("key").alias(name))
    return lookup.join(functions.broadcast(named), host_column, "left")


def file_lookup(facts: RequestFacts) -> DataFrame:
    """Per file key: `file_rank`, the position of its name in name order (requests are ordered by
    time, then source file name, then line number)."""
    files = with_null_row(facts.files)
    rank = functions.dense_rank().over(Window.orderBy(functions.col("source_file").asc_nulls_first()))
    return files.select("key", "source_file", rank.alias("file_rank"))


def client_tags(clients: DataFrame, detection: Detection) -> DataFrame:
    """Per client of `clients` (client_key, client_ip): `_engine` (the search engine whose published
    ranges hold the address, or null) and `_allowed` (allowlisted address or network)."""
    settings = detection.settings
    tags = crawlers.ip_tags(clients, detection.engines, settings.allow_ips, settings.allow_cidrs)
    return clients.join(tags, "client_ip")


@dataclass(frozen=True)
class Lookups:
    """The lookups of one day (each a small frame keyed by `key`)."""

    requests: DataFrame  # request_lookup
    agents: DataFrame  # agent_lookup
    referers: DataFrame  # referer_lookup plus referer_host_key
    vhosts: DataFrame  # vhost_lookup plus vhost_host_key
    files: DataFrame  # file_lookup
    hosts: DataFrame  # host_dictionary: key, host

    def templates(self) -> DataFrame:
        """key, path_template: the text of each template key (a request key whose template it is)."""
        return self.requests.select("key", "path_template")


def day_lookups(facts: RequestFacts, user_agents: DataFrame, detection: Detection) -> Lookups:
    """Every lookup of the day, as plans (analytics/pipeline.py computes and keeps them)."""
    referers, vhosts = referer_lookup(facts, detection), vhost_lookup(facts)
    host_names = host_dictionary(referers, vhosts)
    return Lookups(
        requests=request_lookup(facts, detection),
        agents=agent_lookup(facts, user_agents, detection),
        referers=with_host_key(referers, "referer_host", host_names, "referer_host_key"),
        vhosts=with_host_key(vhosts, "vhost_host", host_names, "vhost_host_key"),
        files=file_lookup(facts),
        hosts=host_names,
    )
