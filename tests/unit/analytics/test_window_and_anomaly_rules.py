"""malformed_request, account_takeover, error_ratio_anomaly and minute spikes: each fires on its case and
stays quiet on a near miss just under its threshold (values checked by hand in the comments)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, functions

from analytics import anomalies
from analytics.security import automated_clients
from config.settings import SecuritySettings
from tests.analytics_day import analysis

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
TLS_JUNK = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
NEW = {"malformed_request", "account_takeover", "error_ratio_anomaly"}

SETTINGS = SecuritySettings(
    window_minutes=10,
    malformed_requests=3,
    account_takeover_failures=5,
    error_ratio_min_requests=10,
    error_ratio_min=0.5,
    error_ratio_score=4.5,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def malformed_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # 10.3.0.1: junk (fixed below), a non-HTTP protocol and a 400 within 599 s: 3 malformed, fires
    rows += [
        {"client_ip": "10.3.0.1", "requested_at": at(0), "path": "/junk"},
        {"client_ip": "10.3.0.1", "requested_at": at(300), "path": "/", "protocol": "FOO/1.0",
         "request": "GET / FOO/1.0"},
        {"client_ip": "10.3.0.1", "requested_at": at(599), "path": "/api", "status": 400},
    ]
    # 10.3.0.2: two 400s and a good request: 2 malformed, one under the threshold
    rows += [{"client_ip": "10.3.0.2", "requested_at": at(i), "status": 400 if i < 2 else 200} for i in range(3)]
    # 10.3.0.3: three 400s over exactly 600 s: the window ending at the last one, (0, 600], holds 2
    rows += [{"client_ip": "10.3.0.3", "requested_at": at(s), "status": 400} for s in (0, 300, 600)]
    # 10.3.0.4: HTTP/0.9-style lines without protocol, answered 200: not malformed
    rows += [{"client_ip": "10.3.0.4", "requested_at": at(i), "protocol": None, "request": "GET /"} for i in range(4)]
    return rows


def ratio_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # baseline: 8 IPs with 10 requests, 0,0,1,1,1,1,2,2 of them a 404 on a broken image (shared by many)
    for host_number, errors in enumerate((0, 0, 1, 1, 1, 1, 2, 2)):
        rows += [
            {"client_ip": f"10.5.0.{host_number}", "requested_at": at(k), "path": "/broken.webp" if k < errors else "/",
             "status": 404 if k < errors else 200}
            for k in range(10)
        ]
    # a heavy legit user: 100 requests, 5 errors (0.05)
    rows += [{"client_ip": "10.5.1.1", "requested_at": at(k), "status": 404 if k < 5 else 200} for k in range(100)]
    # the anomaly: 8 of 10 answered 4xx/5xx (0.8); a 0.4 IP; 5 requests all failing (under min requests)
    rows += [{"client_ip": "10.5.0.9", "requested_at": at(k), "path": f"/x{k}", "status": 404 if k < 7 else (
        500 if k == 7 else 200)} for k in range(10)]
    rows += [{"client_ip": "10.5.0.10", "requested_at": at(k), "status": 403 if k < 4 else 200} for k in range(10)]
    rows += [{"client_ip": "10.5.0.11", "requested_at": at(k), "status": 404} for k in range(5)]
    # a declared crawler with 20 404s: left out of the baseline and never scored
    rows += [{"client_ip": "66.249.66.1", "requested_at": at(k), "path": f"/old/{k}", "status": 404,
           "user_agent": BOT_UA} for k in range(20)]
    return rows


def logins(ip: str, pattern: str, start: float = 0, step: float = 10) -> list[dict[str, Any]]:
    """Login events of one IP: F = failure (user f<i>), S = success (user s-<ip>), `step` seconds apart."""
    out = []
    for attempt, outcome in enumerate(pattern):
        user = f"f{attempt}" if outcome == "F" else f"s-{ip}"
        out.append({"client_ip": ip, "occurred_at": at(start + attempt * step), "user_id": user, "path": "/login",
                    "event_type": "login_failure" if outcome == "F" else "login_success"})
    return out


def login_events() -> list[dict[str, Any]]:
    return [
        *logins("10.4.0.1", "FFFFFS"),  # 5 failures then a success: fires, user_ids = the success's user
        *logins("10.4.0.2", "FFFFS"),  # 4 failures: one under the threshold
        *logins("10.4.0.3", "FFS" * 3, step=120),  # a user mistyping twice then logging in, three times
        # 5 failures at 0..4 s, the success at 600 s: its window (0 s, 600 s] holds 4 of them
        *logins("10.4.0.4", "FFFFF", step=1),
        {"client_ip": "10.4.0.4", "occurred_at": at(600), "user_id": "s4", "path": "/login",
         "event_type": "login_success"},
        *logins("10.4.0.5", "S", start=45),  # a success from another IP while 10.4.0.1 fails
    ]


@pytest.fixture(scope="module")
def requests(frames: Any) -> DataFrame:
    df = frames.requests(malformed_rows() + ratio_rows())
    # binary junk as the parser keeps it: no method, path or protocol, the raw request line only
    junk = functions.col("path") == "/junk"
    return df.withColumns({
        "method": functions.when(junk, functions.lit(None)).otherwise(functions.col("method")),
        "protocol": functions.when(junk, functions.lit(None)).otherwise(functions.col("protocol")),
        "request": functions.when(junk, functions.lit(TLS_JUNK)).otherwise(functions.col("request")),
        "path": functions.when(junk, functions.lit(None)).otherwise(functions.col("path")),
    })


@pytest.fixture(scope="module")
def found(frames: Any, requests: DataFrame) -> tuple[DataFrame, dict[tuple[str, str], Any]]:
    findings = analysis(requests, frames.events(login_events()), SETTINGS).findings
    return findings, {(r.client_ip, r.category): r for r in findings.collect()}


def test_new_rules_fire_and_near_misses_do_not(found) -> None:
    _, rows = found
    assert {k for k in rows if k[1] in NEW} == {
        ("10.3.0.1", "malformed_request"),
        ("10.4.0.1", "account_takeover"),
        ("10.5.0.9", "error_ratio_anomaly"),
    }


def test_malformed_request_finding(found) -> None:
    _, rows = found
    finding = rows[("10.3.0.1", "malformed_request")]
    assert (finding.rule_id, finding.severity, finding.request_count, finding.score) == ("WT-SEC-014", "medium", 3, 3.0)
    evidence = json.loads(finding.evidence)
    assert evidence["threshold"] == 3 and evidence["window_minutes"] == 10
    assert evidence["matched"] == ["protocol FOO/1.0", "status 400", "tls handshake"]
    assert [s["request"] for s in evidence["samples"]] == [TLS_JUNK, "GET / FOO/1.0", "GET /api HTTP/1.1"]


def test_account_takeover_finding(found) -> None:
    _, rows = found
    finding = rows[("10.4.0.1", "account_takeover")]
    assert (finding.rule_id, finding.severity, finding.request_count, finding.score, finding.user_ids) == (
        "WT-SEC-015", "high", 1, 5.0, ["s-10.4.0.1"]
    )
    assert finding.first_seen_at.astimezone(UTC) == at(50)
    evidence = json.loads(finding.evidence)
    assert evidence["detail"] == "login_failure events in the window before the success: 5 (distinct users: 5)"
    assert evidence["samples"][0]["request"] == "event login_success user=s-10.4.0.1 path=/login"


def test_error_ratio_finding(found) -> None:
    # eligible ratios (>= 10 requests, crawler left out): 0,0,.05,.1,.1,.1,.1,.2,.2,.4,.8 -> median .1;
    # absolute deviations 0,0,0,0,.05,.1,.1,.1,.1,.3,.7 -> MAD .1; z(.8) = 0.6745 * .7 / .1 = 4.7215
    _, rows = found
    finding = rows[("10.5.0.9", "error_ratio_anomaly")]
    assert (finding.rule_id, finding.severity, finding.request_count) == ("WT-SEC-016", "low", 8)
    assert finding.score == pytest.approx(0.6745 * 7)
    assert json.loads(finding.evidence)["detail"] == "requests=10 errors=8 ratio=0.800 median=0.100 mad=0.100"


def test_error_ratio_near_misses(requests: DataFrame) -> None:
    day = analysis(requests, None, SETTINGS)
    per_client = day.rule_counts()[0]
    addresses = day.facts.clients.withColumnRenamed("key", "client_key")

    def flagged(**overrides: Any) -> set[str]:
        settings = SETTINGS.model_copy(update=overrides)
        flags = anomalies.error_ratio_flags(per_client, settings).join(addresses, "client_key")
        return {r.client_ip for r in flags.select("client_ip").collect()}

    assert flagged() == {"10.5.0.9"}
    assert flagged(error_ratio_score=4.73) == set()  # z 4.7215 just under
    assert flagged(error_ratio_min=0.81) == set()  # ratio 0.8 just under the floor


def test_bot_categories_cover_the_certain_ones(found) -> None:
    findings, _ = found
    auto = {r.client_ip for r in automated_clients(findings, SecuritySettings()).collect()}
    assert {"10.3.0.1", "10.4.0.1"} <= auto and "10.5.0.9" not in auto


def test_minute_spikes(spark: Any) -> None:
    def scores(counts: list[int], threshold: float) -> list[tuple[int, bool, float | None]]:
        rows = [(at(60 * i), n) for i, n in enumerate(counts)]
        df = spark.createDataFrame(rows, "minute_at timestamp, requests int")
        out = anomalies.minute_spikes(df, threshold).orderBy("minute_at").collect()
        assert [r.requests for r in out] == counts and out[0].asDict().keys() >= {"minute_at", "requests"}
        return [(r.requests, r.is_spike, r.spike_score) for r in out]

    # median 5.5, MAD 1: z(40) = 0.6745 * 34.5 = 23.27 spikes, z(13) = 0.6745 * 7.5 = 5.06 just under 5.1
    got = scores([3, 4, 5, 5, 5, 6, 6, 7, 13, 40], 5.1)
    assert [(n, spike) for n, spike, _ in got if spike] == [(40, True)]
    assert dict((n, z) for n, _, z in got)[13] == pytest.approx(0.6745 * 7.5)
    # MAD 0: scale 1.2533 * mean absolute deviation (8 / 6); all equal: no score, no spike
    z9 = 8 / (1.253314 * 8 / 6)
    assert scores([1, 1, 1, 1, 1, 9], 4.7)[-1] == (9, True, pytest.approx(z9))
    assert scores([2, 2, 2], 1.0) == [(2, False, None)] * 3
