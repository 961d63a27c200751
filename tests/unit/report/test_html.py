"""The HTML report's escaping and structure, on hand-made data (no warehouse, no browser).

The hostile strings are the classic breakouts: a `</script>` inside inlined JSON, an HTML comment
opener, U+2028 (a line terminator in old JavaScript), an attribute breakout with an event handler,
and a `javascript:` URL.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from report.html import render_report
from report.html_render import asset, csp_hash, esc, inline_json
from warehouse.report_queries import duration_histogram

HOSTILE = [
    "/search?q=</script><script>alert(1)</script>",
    '/x"><img src=x onerror=alert(2)>',
    "javascript:alert(3)",
    "/a<!--b",
    "/line\u2028sep\u2029end",
    "/amp&lt;",
]


def _data(paths: list[str]) -> dict[str, Any]:
    """A minimal report_data() result whose every text field carries hostile paths."""
    finding = {
        "client_ip": "203.0.113.9", "category": "xss", "rule_id": "WT-XSS", "severity": "high",
        "first_seen_at": "2026-11-23T10:00:00+00:00", "last_seen_at": "2026-11-23T10:05:00+00:00",
        "request_count": 3, "distinct_paths": 3, "user_ids": ["u<1>"], "score": None,
        "evidence": {"description": "<b>desc</b>", "detail": "x</script>",
                     "samples": [{"at": "2026-11-23T10:00:00", "request": f"GET {p} HTTP/1.1", "status": 404,
                                  "matched": [p]} for p in paths]},
    }
    return {
        "day": "2026-11-23",
        "totals": {"requests": 10, "bytes": 1000, "status_4xx": 3, "status_5xx": 1, "spike_minutes": 0},
        "minutes": [{"minute_at": "2026-11-23T10:00:00+00:00", "requests": 10, "status_4xx": 3, "status_5xx": 1,
                     "p95_ms": 12.5, "is_spike": False, "spike_score": float("nan")}],
        "status": [{"status": 404, "requests": 3, "bytes": 100}],
        "endpoints": [{"method": "GET", "path_template": p, "hits": 1, "errors": 0, "error_rate": 0.0,
                       "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "bytes": 10} for p in paths],
        "sessions": {"human_sessions": 2, "bot_sessions": 1, "human_visitors": 2, "bounces": 1,
                     "bounce_rate": 0.5, "avg_page_views": 1.5, "median_duration_ms": 2000.0,
                     "durations": duration_histogram([0, 2000])},
        "pages": [{"path_template": p, "views": 1, "unique_visitors": 1, "entries": 1, "exits": 1,
                   "bounce_rate": 1.0, "avg_time_on_page_ms": None} for p in paths],
        "funnel": [],
        "referrers": [{"referrer_domain": p, "sessions": 1, "visitors": 1} for p in paths],
        "clients": {"browser": [{"name": paths[0], "requests": 5, "sessions": 1, "visitors": 1}],
                    "os": [], "device": [], "bot": [{"name": "human", "requests": 5, "sessions": 1, "visitors": 1}]},
        "findings": [finding],
        "findings_by_severity": [{"severity": "high", "category": "xss", "findings": 1}],
        "findings_total": 1,
        "top_ips_requests": [], "top_ips_errors": [],
        "facts": {"run": {"run_id": "r1", "status": "completed", "lines_read": 11, "lines_parsed": 10,
                          "lines_rejected": 1},
                  "inputs": [{"kind": "access_log", "path": paths[1], "size_bytes": 5, "lines_read": 11,
                              "lines_parsed": 10, "lines_rejected": 1, "sha256": "ab"}],
                  "rejected": [{"source_file": paths[0], "reason": "no_format_match", "stored_lines": 1}],
                  "quality": [], "stage_timings": {"parse": 1.5}},
        "trend": [{"day": "2026-11-23", "requests": 10, "errors": 4, "sessions": 2, "findings": 1}],
    }


class _Collector(HTMLParser):
    """Tags, attributes, script bodies and text of a document, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)

    def handle_comment(self, data: str) -> None:
        raise AssertionError(f"a comment opened in the document: {data[:80]!r}")


@pytest.fixture(scope="module")
def parsed() -> tuple[str, _Collector]:
    document = render_report(_data(HOSTILE))
    collector = _Collector()
    collector.feed(document)
    collector.close()
    return document, collector


def test_no_hostile_element_or_handler_reaches_the_document(parsed: tuple[str, _Collector]) -> None:
    _, doc = parsed
    assert {t for t, _ in doc.tags} & {"img", "iframe", "object", "embed", "form", "base", "svg"} == set()
    for tag, attrs in doc.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "a":
            assert (attrs.get("href") or "").startswith("#"), attrs
    assert len(doc.scripts) == 3, "exactly: the JSON data, the chart library, the report script"


def test_hostile_values_are_text_in_the_page(parsed: tuple[str, _Collector]) -> None:
    _, doc = parsed
    text = "".join(doc.text)
    for value in HOSTILE[:4]:
        assert value in text, value


def test_inlined_json_round_trips_and_cannot_close_its_element(parsed: tuple[str, _Collector]) -> None:
    document, doc = parsed
    data_script = doc.scripts[0]
    assert "<" not in data_script and ">" not in data_script and "\u2028" not in data_script
    data = json.loads(data_script)
    assert [e["path_template"] for e in data["endpoints"]] == HOSTILE
    assert data["minutes"][0]["spike_score"] is None  # NaN is not JSON
    assert re.search(r'<script type="application/json" id="webtrail-data">', document)


def test_inline_json_escapes() -> None:
    assert inline_json({"a": "</script><!--\u2028&"}) == '{"a":"\\u003c/script\\u003e\\u003c!--\\u2028\\u0026"}'
    assert json.loads(inline_json({"a": "</script><!--\u2028&"})) == {"a": "</script><!--\u2028&"}


def test_esc_covers_attributes() -> None:
    assert esc('"><img src=x onerror=alert(1)>') == "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert esc("it's") == "it&#x27;s"
    assert esc(None) == ""


def test_the_policy_allows_exactly_the_two_inlined_scripts(parsed: tuple[str, _Collector]) -> None:
    _, doc = parsed
    policy = next(a["content"] for t, a in doc.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert policy is not None
    hashes = re.findall(r"'sha256-[A-Za-z0-9+/=]+'", policy)
    assert hashes == [csp_hash(doc.scripts[1]), csp_hash(doc.scripts[2])]
    assert "connect-src 'none'" in policy and "default-src 'none'" in policy
    assert doc.scripts[1] == asset("echarts.common.min.js")


def test_no_network_reference_in_the_document(parsed: tuple[str, _Collector]) -> None:
    _, doc = parsed
    for tag, attrs in doc.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, attrs)


def test_numbers_and_kpis_carry_exact_values(parsed: tuple[str, _Collector]) -> None:
    _, doc = parsed
    values = {a["id"]: a.get("data-value") for t, a in doc.tags if a.get("id", "").startswith("kpi-")}
    assert values["kpi-requests"] == "10"
    assert values["kpi-5xx"] == "1"
    assert values["kpi-error-rate"] == repr(4 / 10)
    assert values["kpi-bounce-rate"] == "0.5"


def test_duration_histogram_buckets_by_hand() -> None:
    counts = {b["bucket"]: b["sessions"] for b in duration_histogram([0, 999, 1000, 9999, 10_000, 3_600_000])}
    assert counts == {"0 s": 2, "1-10 s": 2, "10-30 s": 1, "30 s-1 min": 0, "1-3 min": 0, "3-10 min": 0,
                      "10-30 min": 0, "30 min-1 h": 0, "1 h+": 1}
