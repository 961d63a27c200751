"""Per-request rules that need no window: payload rules, Sigma rules, and `flood`.

- payload rules (analytics/rules.py PAYLOAD_RULES and user pattern files): one signal per (request,
  rule) whose patterns matched one of its parts (analytics/lookups.py: `_own` per request line, `_ref_m`
  per referer, `_ua_m` per user agent; only the requests flagged `payload` are read).
- Sigma rules (analytics/sigma.py): one signal per (request, rule) matched, each rule evaluated once per
  distinct combination of the values it reads (analytics/detectors.py `sigma_keys`).
- flood (medium): every request of an IP in a calendar minute holding >= flood_requests_per_minute
  of its requests (declared crawlers left out).

Each is a rule of analytics/security.py `RULES`: RuleInput -> signal rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions

from analytics import detectors, rules, signals
from analytics.detectors import with_variants
from analytics.facts import RequestFacts

MINUTE_US = 60_000_000


def exploit_label(text: Column, labels: list[tuple[str, str]]) -> Column:
    """The label of the first labelled pattern matching text ('known_exploit' when none does).

    The positions of the patterns matching text, the first one's label: a CASE chain of ~100 regexes
    overflows Spark's generated code. The labels and the regexes are each one literal split into an
    array (one expression, not a hundred). Evaluated on the few matched requests only (payload_signals).
    """
    if not labels:
        return functions.lit("known_exploit")
    names = literal_array([label for label, _ in labels])
    regexes = literal_array(["(?i)" + source for _, source in labels])
    matching = functions.filter(
        functions.sequence(functions.lit(1), functions.lit(len(labels))),
        lambda position: functions.regexp(text, functions.element_at(regexes, position)),
    )
    first = functions.try_element_at(names, functions.try_element_at(matching, functions.lit(1)))
    return functions.coalesce(first, functions.lit("known_exploit"))


_SEPARATOR = "\x1e"  # the record separator: no pattern, label or rule text holds a control character


def literal_array(texts: list[str]) -> Column:
    """An array<string> literal of `texts`, built as one split string."""
    for text in texts:
        if "\x1e" in text:
            raise ValueError(f"a pattern or rule text holds a control character (U+001E): {text!r}")
    return functions.split(functions.lit("\x1e".join(texts)), _SEPARATOR)


def _hits(active: list[rules.PayloadRule]) -> Column:
    """Per payload rule, the request's match: its own part, else (`everywhere`) the referer's, else
    (`everywhere`, `user_agent`) the agent's."""
    matches = []
    for index, rule in enumerate(active):
        def part(column: str, position: int = index) -> Column:
            return functions.coalesce(functions.element_at(column, position + 1), functions.lit(""))

        own, referer, agent = part("_own"), part("_ref_m"), part("_ua_m")
        if rule.target == "user_agent":
            matches.append(agent)
        elif rule.target == "everywhere":
            matches.append(functions.when(own != "", own).when(referer != "", referer).otherwise(agent))
        else:
            matches.append(own)
    return functions.array(*matches)


def payload_signals(day: signals.RuleInput) -> DataFrame:
    """One signal per (request, payload rule) whose patterns matched.

    A 2xx answer to a request matching a rule with `escalate_on_success` makes it critical. A
    known_exploit signal's rule_id is the label of its pattern (the CVE id), and its `matched` text
    starts with it ('CVE-2021-44228: ${jndi:').
    """
    detection = day.detection
    active = rules.payload_rules(detection.patterns)
    rule_info = functions.array(
        *[
            functions.struct(
                functions.lit(rule.category).alias("category"),
                functions.lit(rule.rule_id).alias("rule_id"),
                functions.lit(rule.severity).alias("severity"),
                functions.lit(rule.escalate_on_success).alias("escalate"),
            )
            for rule in active
        ]
    )
    matched = day.candidates.where(functions.col("payload"))
    hit = (
        matched.withColumn("_hits", _hits(active))
        .select("*", functions.posexplode("_hits").alias("_pos", "_m"))
        .where(functions.col("_m") != "")
        .withColumn("hit", functions.element_at(rule_info, functions.col("_pos") + 1))
    )
    success = functions.col("hit.escalate") & functions.col("status").between(200, 299)
    path = functions.coalesce(functions.col("path"), functions.lit(""))
    path_query = functions.when(functions.col("query").isNull(), path).otherwise(
        functions.concat(path, functions.lit("?"), functions.col("query"))
    )
    texts = [with_variants(path_query), functions.col("_ua"), with_variants(functions.col("referer"))]
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
        hit, **signals.request_texts(), category=functions.col("hit.category"), rule_id=rule_id,
        matched=matched_text,
        severity=functions.when(success, functions.lit("critical")).otherwise(functions.col("hit.severity")),
    )


def sigma_matches(requests: DataFrame, facts: RequestFacts, detection: detectors.Detection) -> DataFrame:
    """The (request row, Sigma rule index `_index`) pairs that match: each rule is evaluated on the distinct
    combinations of the fact columns it reads, with their texts, and the matching ones joined back."""
    load = detection.sigma
    texts = {
        "request_key": facts.requests, "agent_key": facts.agents, "referer_key": facts.referers,
        "client_key": facts.clients, "remote_user_key": facts.remote_users, "vhost_key": facts.vhosts,
    }
    columns = facts.requests.limit(0)
    for dictionary in (facts.agents, facts.referers, facts.clients, facts.remote_users, facts.vhosts):
        columns = columns.crossJoin(dictionary.drop("key").limit(0))
    columns = columns.withColumns({"status": functions.lit(0), "bytes": functions.lit(0).cast("long"),
                                   "request_time_ms": functions.lit(0.0)})
    found = []
    for index, keys in detectors.sigma_keys(load, columns).items():
        combos = requests.select(*keys).distinct()
        for key in keys:
            if key in texts:
                named = texts[key].withColumnRenamed("key", f"_{key}")
                combos = combos.join(named, functions.col(key).eqNullSafe(functions.col(f"_{key}")), "left").drop(
                    f"_{key}")
        hits = combos.where(load.rules[index].condition).select(*keys, functions.lit(index).alias("_index"))
        found.append(requests.join(hits, list(keys)) if keys else requests.crossJoin(hits))
    if not found:
        return requests.limit(0).withColumn("_index", functions.lit(0))
    out = found[0]
    for more in found[1:]:
        out = out.unionByName(more)
    return out


def sigma_signals(day: signals.RuleInput) -> DataFrame:
    """One signal per (request, Sigma rule matched): category sigma, rule_id the rule's id, severity its
    level, and `matched` 'title [tags]'."""
    load = day.detection.sigma
    if not load.rules:
        return signals.no_signals(day.requests)
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
    hit = day.texts(sigma_matches(day.requests, day.facts, day.detection)).withColumn(
        "hit", functions.element_at(info, functions.col("_index") + 1)
    )
    return signals.to_signals(
        hit, **signals.request_texts(), category="sigma",
        rule_id=functions.concat(functions.lit("SIGMA-"), functions.col("hit.rule_id")),
        severity=functions.col("hit.severity"), matched=functions.col("hit.matched"), detail=functions.col("hit.title"),
    )


def minute_of(time_us: str = "t") -> Column:
    """The epoch microseconds of the minute holding the epoch microseconds in column `time_us`."""
    return functions.col(time_us) - functions.pmod(functions.col(time_us), functions.lit(MINUTE_US))


def flood_signals(day: signals.RuleInput) -> DataFrame:
    """Every request of an IP in a calendar minute holding >= flood_requests_per_minute of its requests
    (declared crawlers left out)."""
    settings = day.detection.settings
    flooded = day.candidates.where(functions.col("_hot_n").isNotNull() & ~functions.col("good_bot"))
    return signals.to_signals(
        flooded, **signals.request_texts(), metric=functions.col("_hot_n"),
        **signals.threshold_rule("flood", settings.flood_requests_per_minute, 1),
    )
