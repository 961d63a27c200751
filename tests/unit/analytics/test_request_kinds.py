"""Requests whose request line is junk (request_kind malformed / empty / non_http) are counted by the
performance and security tables, kept out of sessions and page views, and seen by malformed_request.
Expected values worked out by hand in the comments."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest
from pyspark.sql import DataFrame

from analytics import contracts, window_rules
from analytics.day import DayAnalysis
from config.settings import SecuritySettings
from tests.analytics_day import analysis

TLS = r"\x16\x03\x01\x00\xF4\x01\x00\x00\xF0\x03\x03"


# params: the fields of one staged junk request
def junk(frames: Any, seconds: float, kind: str, request: str, status: int = 400, ip: str = "10.9.0.1",
         size: int = 157, **extra: Any) -> dict[str, Any]:
    """A row as the parser stages it: method, path and protocol null unless the line could be split."""
    row: dict[str, Any] = {"client_ip": ip, "requested_at": frames.at(seconds), "request": request,
                           "request_kind": kind, "status": status, "bytes": size, "method": None, "path": None,
                           "protocol": None, "user_agent": None}
    return {**row, **extra}


def requests(frames: Any, rows: list[dict[str, Any]]) -> DataFrame:
    """Typed REQUESTS rows; http rows get frames.requests' defaults, junk rows keep their nulls."""
    defaults = {"source_file": "access.log", "method": "GET", "path": "/", "protocol": "HTTP/1.1", "status": 200,
                "bytes": 100, "user_agent": frames.HUMAN_UA, "has_invalid_utf8": False}
    filled = [{"line_number": i + 1, "request": f"GET {r.get('path', '/')} HTTP/1.1", **r} for i, r in enumerate(rows)]
    return frames._df(filled, contracts.REQUESTS, defaults)


@pytest.fixture(scope="module")
def day(frames: Any) -> DataFrame:
    human = [{"client_ip": "10.9.0.7", "requested_at": frames.at(s), "path": p, "request_kind": "http"}
             for s, p in ((0, "/"), (60, "/product/1"), (120, "/cart"))]
    # the same device closes a pre-opened connection unused (empty) 10 s after its last page, then
    # comes back 40 min after it: a new session only if the empty request were a request of a session
    human_junk = [junk(frames, 130, "empty", "-", ip="10.9.0.7", size=0, user_agent=frames.HUMAN_UA),
                  junk(frames, 2500, "empty", "-", ip="10.9.0.7", size=0, user_agent=frames.HUMAN_UA),
                  {"client_ip": "10.9.0.7", "requested_at": frames.at(2500 + 35 * 60), "path": "/",
                   "request_kind": "http"}]
    scanner = [
        junk(frames, 0, "malformed", TLS),
        junk(frames, 1, "malformed", "HELP"),
        junk(frames, 2, "http", "PRI * HTTP/2.0", method="PRI", path="*", protocol="HTTP/2.0"),
        junk(frames, 3, "http", "SSTP_DUPLEX_POST /sra_{BA195980}/ HTTP/1.1", status=405, method="SSTP_DUPLEX_POST",
             path="/sra_{BA195980}/", protocol="HTTP/1.1"),
        junk(frames, 4, "non_http", "OPTIONS / RTSP/1.0", method="OPTIONS", path="/", protocol="RTSP/1.0"),
        junk(frames, 5, "http", "PROPFIND / HTTP/1.1", status=207, method="PROPFIND", path="/", protocol="HTTP/1.1"),
        *[junk(frames, 10 + i, "empty", "-", size=0) for i in range(6)],
    ]
    return requests(frames, human + human_junk + scanner).cache()


@pytest.fixture(scope="module")
def tables(day: DataFrame) -> dict[str, DataFrame]:
    return analysis(day).tables()


def test_every_request_counts_in_status_and_traffic(tables: dict[str, DataFrame]) -> None:
    # 3 + 3 human-device rows and 12 scanner rows
    statuses = {r.status: (r.requests, r.bytes) for r in tables["status_daily"].collect()}
    # 400: 2 human empties (0 B), TLS, HELP, PRI, RTSP (157 B each), 6 scanner empties (0 B)
    assert statuses == {200: (4, 400), 400: (12, 4 * 157), 405: (1, 157), 207: (1, 157)}
    assert sum(r.requests for r in tables["traffic_minute"].collect()) == 18


def test_endpoint_daily_templates_for_unsplittable_lines(tables: dict[str, DataFrame]) -> None:
    ends = {(r.method, r.path_template): (r.hits, r.bytes) for r in tables["endpoint_daily"].collect()}
    assert ends[("-", "(malformed)")] == (2, 314)
    assert ends[("-", "(empty)")] == (8, 0)
    assert ends[("OPTIONS", "(non-http)")] == (1, 157)
    assert ends[("PRI", "*")] == (1, 157) and ends[("PROPFIND", "/")] == (1, 157)
    assert sum(h for h, _ in ends.values()) == 18


def test_ip_daily_counts_junk(tables: dict[str, DataFrame]) -> None:
    rows = {r.client_ip: r for r in tables["ip_daily"].collect()}
    assert (rows["10.9.0.1"].requests, rows["10.9.0.1"].status_4xx, rows["10.9.0.1"].distinct_paths) == (12, 11, 3)
    assert rows["10.9.0.7"].requests == 6


def test_sessions_and_page_views_use_well_formed_requests_only(day: DataFrame, frames: Any) -> None:
    analysed: DayAnalysis = analysis(day)
    junk_rows = analysed.frame.where("junk").collect()
    assert len(junk_rows) == 11 and all(r["seq"] is None and not r["page_view"] for r in junk_rows)
    rows = analysed.sessions.collect()
    human = sorted((r.started_at.astimezone(UTC), r.requests, r.page_views) for r in rows if r.client_ip == "10.9.0.7")
    # the human's two sessions: 3 pages, then one 43 min later (the empties between are not requests of a visit)
    assert human == [(frames.at(0), 3, 3), (frames.at(2500 + 35 * 60), 1, 1)]
    # the PRI, SSTP and PROPFIND lines are well-formed: one session of 3 requests, no page view (not GET)
    scanner = [(r.requests, r.page_views) for r in rows if r.client_ip == "10.9.0.1"]
    assert scanner == [(3, 0)]


def test_malformed_request_sees_tls_probes_and_empty_bursts(day: DataFrame, frames: Any) -> None:
    settings = SecuritySettings(malformed_requests=10)
    findings = {(r.client_ip, r.category): r for r in analysis(day, None, settings).findings.collect()}
    finding = findings[("10.9.0.1", "malformed_request")]
    # TLS, HELP, PRI (method), SSTP (method), RTSP (protocol), 6 empties = 11 in 15 s; PROPFIND is WebDAV
    assert finding.request_count == 11 and finding.score == 11.0
    evidence = json.loads(finding.evidence)
    assert evidence["matched"] == ["empty request", "method PRI", "method SSTP_DUPLEX_POST", "no method",
                                   "protocol RTSP/1.0"]
    assert evidence["samples"][0]["request"] == TLS.replace("\\x", "\\x")
    # the human device's two empty requests 40 min apart stay far below the threshold
    assert ("10.9.0.7", "malformed_request") not in findings


def test_tls_reason(frames: Any) -> None:
    df = requests(frames, [junk(frames, 0, "malformed", TLS), junk(frames, 1, "malformed", "HELP")])
    reason = window_rules.malformed_reason(*(df[c] for c in ("request_kind", "method", "path", "protocol",
                                                               "request", "status")))
    assert [r[0] for r in df.select(reason).collect()] == ["tls handshake", "no method"]
