"""Count rules fire on the same sequences as a leaky bucket (a reference bucket written from CrowdSec's
documentation: capacity C, one event leaks every L seconds, overflow on the event poured into a
full bucket), and as fail2ban (maxretry N within findtime F). Distinct on a field, grouped by IP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics import count_rules
from config.settings import Bucket, Retry, SecuritySettings
from tests.analytics_day import findings as security_findings

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
CAPACITY, LEAK_SECONDS = 4, 10.0  # probing bucket of the test: 5 distinct 404 paths within 40 s overflow it
SETTINGS = SecuritySettings(
    probing=Bucket(capacity=CAPACITY, leak_seconds=LEAK_SECONDS), noscript=Retry(maxretry=3, findtime_seconds=60)
)


def bucket_overflows(times: list[float], capacity: int, leak: float) -> bool:
    """Reference leaky bucket: level drains 1 per `leak` seconds; an event poured at level > capacity - 1
    (the bucket already holds `capacity`) overflows it."""
    level, last = 0.0, None
    for moment in times:
        if last is not None:
            level = max(0.0, level - (moment - last) / leak)
        last = moment
        if level > capacity - 1 + 1e-9:
            return True
        level += 1
    return False


SEQUENCES: dict[str, list[float]] = {
    "burst_c_plus_1": [0, 1, 2, 3, 4],  # C + 1 at once: overflows
    "burst_c": [0, 1, 2, 3],  # C: held
    "rate_above_leak": [i * 0.9 * LEAK_SECONDS for i in range(60)],  # one every 9 s (leak 10 s): fills, overflows
    "rate_below_leak": [i * 1.1 * LEAK_SECONDS for i in range(60)],  # one every 11 s: drains faster than it fills
    "rate_at_leak": [i * LEAK_SECONDS for i in range(60)],  # exactly the leak: never more than C in the bucket
}


def ip_of(name: str) -> str:
    return f"10.7.0.{sorted(SEQUENCES).index(name) + 1}"


@pytest.fixture(scope="module")
def fired(frames: Any) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for name, times in SEQUENCES.items():
        rows += [{"client_ip": ip_of(name), "requested_at": T0 + timedelta(seconds=t), "path": f"/p{i}",
                  "status": 404} for i, t in enumerate(times)]
    # distinct: 20 404s on 4 paths, in 20 s: 4 distinct values never overflow a bucket of 4
    rows += [{"client_ip": "10.7.1.1", "requested_at": T0 + timedelta(seconds=i), "path": f"/q{i % 4}",
              "status": 404} for i in range(20)]
    # grouped by IP: two IPs with 3 distinct paths each in the same 10 s
    rows += [{"client_ip": f"10.7.2.{k}", "requested_at": T0 + timedelta(seconds=i), "path": f"/r{i}",
              "status": 404} for k in (1, 2) for i in range(3)]
    # fail2ban jail (noscript: maxretry 3 in 60 s): 3 script 404s within 60 s ban, 3 over 60 s do not
    rows += [{"client_ip": "10.7.3.1", "requested_at": T0 + timedelta(seconds=s), "path": f"/a{s}.php",
              "status": 404} for s in (0, 30, 59)]
    rows += [{"client_ip": "10.7.3.2", "requested_at": T0 + timedelta(seconds=s), "path": f"/b{s}.php",
              "status": 404} for s in (0, 30, 60)]
    found = security_findings(frames.requests(rows), frames.events([]), SETTINGS).collect()
    return {(r.client_ip, r.rule_id): r for r in found}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_window_fires_exactly_when_the_bucket_overflows(fired: dict[str, Any], name: str) -> None:
    expected = bucket_overflows(SEQUENCES[name], CAPACITY, LEAK_SECONDS)
    assert expected == (name in {"burst_c_plus_1", "rate_above_leak"})  # the reference itself
    assert ((ip_of(name), "WT-SEC-001") in fired) == expected


def test_distinct_field_and_group_by_ip(fired: dict[str, Any]) -> None:
    ips = {ip for ip, _ in fired}
    assert "10.7.1.1" not in ips and not {"10.7.2.1", "10.7.2.2"} & ips


def test_fail2ban_jail_is_maxretry_within_findtime(fired: dict[str, Any]) -> None:
    assert ("10.7.3.1", "WT-SEC-001-NS") in fired and ("10.7.3.2", "WT-SEC-001-NS") not in fired
    evidence = json.loads(fired[("10.7.3.1", "WT-SEC-001-NS")].evidence)
    assert evidence["detail"] == "fail2ban apache-noscript (maxretry 3, findtime 60s): >= 3 in 60s"
    assert evidence["threshold"] == 3 and evidence["window_minutes"] == 1


def test_bucket_evidence_names_the_public_rule(fired: dict[str, Any]) -> None:
    finding = fired[(ip_of("burst_c_plus_1"), "WT-SEC-001")]
    evidence = json.loads(finding.evidence)
    assert evidence["detail"] == "CrowdSec http-probing (capacity 4, leakspeed 10s): >= 5 distinct in 40s"
    assert (finding.request_count, finding.score, finding.category) == (5, 5.0, "path_scan")


def test_every_count_rule_has_a_public_counterpart_and_a_setting() -> None:
    settings = SecuritySettings()
    for rule in count_rules.COUNT_RULES:
        assert rule.public.startswith(("CrowdSec ", "fail2ban "))
        assert count_rules.limit(rule, settings).threshold >= 1
    assert len({r.rule_id for r in count_rules.COUNT_RULES}) == len(count_rules.COUNT_RULES)


# Request lines that reach every rule's filter (method, path, query, protocol), from the public rules'
# descriptions: a WordPress login POST, xmlrpc, an admin page, a plugin file, a home directory, a
# script, a login page, a random upper-case name, an author query, a cache-buster, a bad HTTP version.
RULE_LINES = [
    ("POST", "/wp-login.php", None, "HTTP/1.1"), ("POST", "/xmlrpc.php", None, "HTTP/1.1"),
    ("GET", "/admin/", None, "HTTP/1.1"), ("GET", "/wp-content/plugins/x/readme.txt", None, "HTTP/1.1"),
    ("GET", "/~alice", None, "HTTP/1.1"), ("GET", "/shell.php", None, "HTTP/1.1"), ("POST", "/login", None, "HTTP/1.1"),
    ("GET", "/QWERTY", None, "HTTP/1.1"), ("GET", "/", "author=1", "HTTP/1.1"), ("GET", "/news", "1234567", "HTTP/1.1"),
    ("GET", "/style.css", None, "HTTP/1.1"), ("OPTIONS", "/dav", None, "HTTP/1.1"), ("GET", "/", None, "HTTP/4.2"),
]


def test_rules_compare_a_status_only_with_the_named_ones(spark: Any) -> None:
    """Every rule decides every status 100-599 as it decides its class (count_rules.NAMED_STATUSES, else
    OTHER_STATUS), in each crawler case: what lets the lookups evaluate the rules once per status class."""
    from pyspark.sql import functions

    from analytics import count_signals
    from analytics.detectors import load_detection

    detection = load_detection(SecuritySettings())
    lines = spark.createDataFrame(RULE_LINES, "method string, path string, query string, protocol string")
    statuses = spark.range(100, 600).select(functions.col("id").cast("int").alias("status"))
    rows = (
        lines.withColumns(count_signals.term_columns(detection.patterns, detection.settings))
        .withColumn("_masks", count_signals.masks())
        .crossJoin(statuses)
    )
    cases = {"plain": (False, False), "crawler": (True, False), "fake": (False, True)}
    for case, (crawler, fake) in cases.items():
        chosen = rows.withColumns({"good_bot": functions.lit(crawler), "fake": functions.lit(fake)})
        direct = count_signals.mask(count_signals.terms(functions.col("status"), functions.lit(crawler),
                                                        functions.lit(fake)))
        differ = chosen.where(count_signals.count_mask() != direct)
        assert differ.count() == 0, (case, differ.select("method", "path", "status").head(5))
    # the rules do fire on these lines: the check is not vacuous
    assert rows.where(functions.col("_masks")[0] != 0).count() > 0
