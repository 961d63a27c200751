"""Which findings alert, what their events carry, and that the digest escapes hostile evidence."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from prefect.events.worker import EventsWorker

from report.findings import alertable, finding_event, findings_markdown
from tasks.report import emit_finding_events


def finding(ip: str, category: str, severity: str, request: str = "GET / HTTP/1.1") -> dict[str, Any]:
    return {
        "day": date(2026, 11, 24), "client_ip": ip, "category": category, "severity": severity,
        "rule_id": "WT-SEC-001", "request_count": 3,
        "first_seen_at": datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        "last_seen_at": datetime(2026, 11, 24, 10, 5, tzinfo=UTC),
        "evidence": json.dumps({"samples": [{"request": request, "status": 404}]}),
    }


FINDINGS = [
    finding("10.0.0.1", "path_scan", "medium"),
    finding("10.0.0.2", "sql_injection", "high"),
    finding("10.0.0.3", "sensitive_file", "critical"),
    finding("10.0.0.4", "anomaly", "low"),
]


def test_alertable_keeps_high_and_critical_most_severe_first() -> None:
    assert [f["client_ip"] for f in alertable(FINDINGS, "high")] == ["10.0.0.3", "10.0.0.2"]
    assert len(alertable(FINDINGS, "low")) == 4
    assert [f["client_ip"] for f in alertable(FINDINGS, "critical")] == ["10.0.0.3"]


def test_event_has_the_ip_as_resource_and_the_rule_in_the_payload() -> None:
    event = finding_event(FINDINGS[1])
    assert event["event"] == "webtrail.security.finding"
    assert event["resource"]["prefect.resource.id"] == "webtrail.ip.10.0.0.2"
    assert event["payload"] == {
        "day": "2026-11-24", "category": "sql_injection", "severity": "high", "rule_id": "WT-SEC-001",
        "request_count": 3, "first_seen_at": "2026-11-24 10:00:00+00:00", "last_seen_at": "2026-11-24 10:05:00+00:00",
    }


def test_digest_escapes_injected_markdown_and_html() -> None:
    hostile = finding("10.0.0.9", "xss", "high", request='GET /<img src=x onerror=alert(1)>|[x](http://e) HTTP/1.1')
    text = findings_markdown("2026-11-24", [hostile])
    row = text.splitlines()[-1]
    assert "<img" not in text and "&lt;img src=x onerror=alert\\(1\\)&gt;" in row
    assert "\\|\\[x\\]\\(http://e\\)" in row
    assert row.count(" | ") == 7  # the injected pipe did not add a column
    assert findings_markdown("2026-11-24", []).endswith("No findings.")


def test_serious_findings_are_emitted_as_prefect_events(
    prefect_harness: None, asserting_events_worker: EventsWorker, mock_should_emit_events: Any
) -> None:
    assert emit_finding_events(FINDINGS, "high") == 2
    asserting_events_worker.drain()
    emitted = asserting_events_worker._client.events  # type: ignore[attr-defined]
    assert [(e.event, e.resource.id) for e in emitted] == [
        ("webtrail.security.finding", "webtrail.ip.10.0.0.3"),
        ("webtrail.security.finding", "webtrail.ip.10.0.0.2"),
    ]
    assert emitted[0].payload["severity"] == "critical"


@pytest.fixture
def asserting_events_worker(monkeypatch: pytest.MonkeyPatch):
    from prefect.testing.fixtures import asserting_events_worker as fixture

    yield from fixture.__wrapped__(monkeypatch)


@pytest.fixture
def mock_should_emit_events(monkeypatch: pytest.MonkeyPatch):
    from prefect.testing.fixtures import mock_should_emit_events as fixture

    return fixture.__wrapped__(monkeypatch)
