"""The lookups' texts built in steps equal the nested expressions; a Sigma rule is evaluated once per
distinct combination of the values it reads, with the same result as per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyspark.sql import functions

from analytics import detectors, request_rules, sigma, text_variants
from config.settings import SecuritySettings
from tests.analytics_day import analysis

AGENT_RULE = """
title: A scripted agent
id: 0f3c0a1e-2222-4000-8000-000000000001
level: low
logsource: {category: webserver}
detection:
  sel:
    cs-user-agent|startswith: 'curl/'
  condition: sel
"""
NULL_AGENT_RULE = """
title: No agent at all
id: 0f3c0a1e-2222-4000-8000-000000000002
level: low
logsource: {category: webserver}
detection:
  sel:
    cs-user-agent: null
  condition: sel
"""
PATH_RULE = """
title: Export with a token
id: 0f3c0a1e-2222-4000-8000-000000000003
level: high
logsource: {category: webserver}
detection:
  sel_path:
    cs-uri-stem|contains: '/export'
  sel_token:
    cs-uri-query|contains: 'token='
  condition: all of sel_*
"""
STATUS_RULE = """
title: Export answered 200
id: 0f3c0a1e-2222-4000-8000-000000000004
level: high
logsource: {category: webserver}
detection:
  sel:
    cs-uri-stem|contains: '/export'
    sc-status: 200
  condition: sel
"""


def test_variant_steps_give_raw_once_and_twice_decoded_forms_like_the_nested_expression(spark: Any) -> None:
    rows = [("/a%2541",), ("/plain",), ("/x%20y",), (None,), ("/p+q%",)]
    df = spark.createDataFrame(rows, "text string")
    stepped = df
    for step in text_variants.variant_steps({"_v": functions.col("text")}):
        stepped = stepped.withColumns(step)
    out = stepped.select("text", "_v", detectors.with_variants(functions.col("text")).alias("_nested"))
    got = {row.text: (row._v, row._nested) for row in out.collect()}
    # %2541 -> %41 -> A; %20 -> ' ' then nothing more; '+' decodes to ' ' and a stray '%' stays
    assert got["/a%2541"] == ("/a%2541\n/a%41\n/aA",) * 2
    assert got["/plain"] == ("/plain",) * 2
    assert got["/x%20y"] == ("/x%20y\n/x y",) * 2
    assert got[None] == ("",) * 2
    assert got["/p+q%"] == ("/p+q%\n/p q%",) * 2


def test_target_steps_give_each_request_side_text(spark: Any) -> None:
    rows = [("/a", "b=%31", "GET /a?b=%31 HTTP/1.1")]
    df = spark.createDataFrame(rows, "path string, query string, request string")
    for step in text_variants.target_steps(["path", "path_query", "everywhere", "request"]):
        df = df.withColumns(step)
    row = df.first()
    assert row._v_path == "/a"
    # an `everywhere` rule matches the path and query here, and the referer and agent in their own lookups
    assert text_variants.TARGET_TEXT["everywhere"] == text_variants.TARGET_TEXT["path_query"] == "_v_path_query"
    assert row._v_path_query == "/a?b=%31\n/a?b=1"
    assert row._request == "GET /a?b=%31 HTTP/1.1"


def _load(tmp_path: Path) -> sigma.SigmaLoad:
    for index, text in enumerate((AGENT_RULE, NULL_AGENT_RULE, PATH_RULE, STATUS_RULE)):
        (tmp_path / f"rule{index}.yml").write_text(text.lstrip(), encoding="utf-8")
    load = sigma.load_rules(tmp_path)
    assert not load.errors
    return load


def test_sigma_rules_are_evaluated_per_distinct_value_of_the_keys_they_read(frames: Any, tmp_path: Path) -> None:
    load = _load(tmp_path)
    columns = frames.requests([{"client_ip": "10.0.0.1"}])
    keys = detectors.sigma_keys(load, columns)
    by_title = {rule.title: keys[index] for index, rule in enumerate(load.rules)}
    assert by_title == {
        "A scripted agent": ("agent_key",), "No agent at all": ("agent_key",),
        "Export with a token": ("request_key",), "Export answered 200": ("request_key", "status"),
    }


def test_sigma_per_distinct_value_matches_the_per_request_condition(frames: Any, tmp_path: Path) -> None:
    load = _load(tmp_path)
    rows = [
        {"client_ip": "10.0.0.1", "user_agent": "curl/8.1", "path": "/export", "query": "token=1"},
        {"client_ip": "10.0.0.2", "user_agent": None, "path": "/export", "status": 404},
        {"client_ip": "10.0.0.3", "user_agent": "", "path": "/export", "query": "token=2", "status": 200},
        {"client_ip": "10.0.0.4", "user_agent": "curl/8.1", "path": "/home"},
    ]
    timed = [{**row, "requested_at": frames.at(index)} for index, row in enumerate(rows)]
    day = analysis(frames.requests(timed), None, SecuritySettings(sigma_rules_dir=tmp_path))
    matched = request_rules.sigma_matches(day.rule_day().requests, day.facts, day.detection)
    named = matched.join(day.facts.clients.withColumnRenamed("key", "client_key"), "client_key")
    titles = [rule.title for rule in load.rules]
    got: dict[str, list[str]] = {}
    for row in named.collect():
        got.setdefault(row.client_ip, []).append(titles[row._index])
    # the null agent is not '' for a Sigma null match; status 200 is the default of frames.requests
    assert {ip: sorted(names) for ip, names in got.items()} == {
        "10.0.0.1": ["A scripted agent", "Export answered 200", "Export with a token"],
        "10.0.0.2": ["No agent at all"],
        "10.0.0.3": ["Export answered 200", "Export with a token"],
        "10.0.0.4": ["A scripted agent"],
    }
