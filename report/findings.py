"""Security findings as alerts: which ones page someone, and a markdown digest safe to render."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from report.markdown import escape_markdown, markdown_table

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def alertable(findings: Sequence[Mapping[str, Any]], min_severity: str) -> list[Mapping[str, Any]]:
    """Findings at or above `min_severity`, most severe first, then by IP and category."""
    floor = SEVERITY_RANK[min_severity]
    chosen = [f for f in findings if SEVERITY_RANK.get(str(f["severity"]), -1) >= floor]
    return sorted(chosen, key=lambda f: (-SEVERITY_RANK[str(f["severity"])], str(f["client_ip"]), str(f["category"])))


def finding_event(finding: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of `prefect.events.emit_event` for one finding (the IP is the resource)."""
    return {
        "event": "webtrail.security.finding",
        "resource": {
            "prefect.resource.id": f"webtrail.ip.{finding['client_ip']}",
            "prefect.resource.name": str(finding["client_ip"]),
            # Labels, unlike the payload, can be matched by automations.
            "webtrail.severity": str(finding["severity"]),
            "webtrail.category": str(finding["category"]),
        },
        "payload": {
            "day": str(finding["day"]),
            "category": finding["category"],
            "severity": finding["severity"],
            "rule_id": finding["rule_id"],
            "request_count": int(finding["request_count"]),
            "first_seen_at": str(finding["first_seen_at"]),
            "last_seen_at": str(finding["last_seen_at"]),
        },
    }


def _evidence_sample(evidence: Any, limit: int = 2) -> str:
    """The first raw requests of the evidence, as plain text (escaped later by the table)."""
    data = json.loads(evidence) if isinstance(evidence, str) else evidence
    samples = data.get("samples", []) if isinstance(data, Mapping) else []
    return " ⏎ ".join(str(r.get("request", r)) if isinstance(r, Mapping) else str(r) for r in samples[:limit])


def findings_markdown(day: str, findings: Sequence[Mapping[str, Any]]) -> str:
    """A digest of the day's findings; every value from the logs is escaped."""
    if not findings:
        return f"# Security findings {escape_markdown(day)}\n\nNo findings."
    rows = [
        {
            "severity": f["severity"], "ip": f["client_ip"], "category": f["category"], "rule": f["rule_id"],
            "requests": f["request_count"], "first seen": f["first_seen_at"], "last seen": f["last_seen_at"],
            "evidence": _evidence_sample(f["evidence"]),
        }
        for f in sorted(findings, key=lambda f: (-SEVERITY_RANK.get(str(f["severity"]), -1), str(f["client_ip"])))
    ]
    columns = ["severity", "ip", "category", "rule", "requests", "first seen", "last seen", "evidence"]
    return f"# Security findings {escape_markdown(day)}\n\n{markdown_table(rows, columns)}\n"
