"""Sections of the day report with more structure: funnel, clients, findings with evidence, top IPs,
run facts and the 7-day trend. Every value from the data goes through `esc` (report/html_render.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from report.html_render import Column, chart, esc, number, percent, section, table

SEVERITIES = ("critical", "high", "medium", "low")
EVIDENCE_SAMPLES = 10


def funnel_section(data: Mapping[str, Any]) -> str:
    body = '<div class="grid2">' + chart("chart-funnel", bool(data["funnel"])) + table("table-funnel", [
        Column("step_number", "step", "num"), Column("step_name", "name"), Column("visitors", "visitors", "num"),
        Column("conversion_from_previous", "from previous", "num",
               lambda r: esc(percent(r.get("conversion_from_previous")))),
        Column("conversion_from_start", "from start", "num", lambda r: esc(percent(r.get("conversion_from_start")))),
    ], data["funnel"], "No funnel for this day (no events loaded).") + "</div>"
    return section("funnel", "Funnel (human visitors)", body)


def clients_section(data: Mapping[str, Any]) -> str:
    titles = {"browser": "Browser", "os": "Operating system", "device": "Device", "bot": "Bot or human"}
    parts = [
        f"<div><h3>{esc(title)} (requests)</h3>"
        + chart(f"chart-clients-{name}", bool(data["clients"].get(name)), "small")
        + "</div>"
        for name, title in titles.items()
    ]
    rows = [{"dimension": name, **row} for name in titles for row in data["clients"].get(name, [])]
    body = '<div class="grid4">' + "".join(parts) + "</div>" + "<h3>All client classes</h3>" + table(
        "table-clients",
        [Column("dimension", "dimension"), Column("name", "class"), Column("requests", "requests", "num"),
         Column("sessions", "sessions", "num"), Column("visitors", "visitors", "num")],
        rows,
    )
    return section("clients", "Clients", body)


def _severity(row: Mapping[str, Any]) -> str:
    value = str(row.get("severity"))
    css = value if value in SEVERITIES else "low"
    return f'<span class="sev sev-{esc(css)}">{esc(value)}</span>'


def _sample_text(sample: Any) -> str:
    if isinstance(sample, Mapping):
        return str(sample.get("request", ""))
    return str(sample)


def _evidence(row: Mapping[str, Any]) -> str:
    """The finding's evidence requests (when, request line, status, what matched), escaped."""
    evidence = row.get("evidence") or {}
    samples = evidence.get("samples") or [] if isinstance(evidence, Mapping) else []
    detail = evidence.get("detail") if isinstance(evidence, Mapping) else None
    items = []
    for sample in samples[:EVIDENCE_SAMPLES]:
        if isinstance(sample, Mapping):
            matched = sample.get("matched")
            matched_text = ", ".join(map(str, matched)) if isinstance(matched, list) else (matched or "")
            items.append(
                f'<tr><td class="mono">{esc(sample.get("at"))}</td><td class="mono evidence-request">'
                f'{esc(_sample_text(sample))}</td><td class="num">{esc(sample.get("status"))}</td>'
                f"<td>{esc(matched_text)}</td></tr>"
            )
        else:
            items.append(f'<tr><td></td><td class="mono evidence-request">{esc(sample)}</td><td></td><td></td></tr>')
    rows = "".join(items) or '<tr><td colspan="4" class="empty">no samples</td></tr>'
    extra = f"<div>{esc(detail if isinstance(detail, str) else json.dumps(detail))}</div>" if detail else ""
    description = evidence.get("description") if isinstance(evidence, Mapping) else None
    about = f"<div>{esc(description)}</div>" if description else ""
    return (
        f"<details><summary>{len(samples)} evidence request(s)</summary>{about}{extra}"
        "<table><thead><tr><th>at</th><th>request</th><th>status</th><th>matched</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></details>"
    )


def _user_ids(row: Mapping[str, Any], shown: int = 5) -> str:
    ids = [str(u) for u in row.get("user_ids") or []]
    more = f" (+{len(ids) - shown} more)" if len(ids) > shown else ""
    return esc(", ".join(ids[:shown]) + more)


def findings_section(data: Mapping[str, Any]) -> str:
    counts = {s: 0 for s in SEVERITIES}
    for row in data["findings_by_severity"]:
        counts[str(row["severity"])] = counts.get(str(row["severity"]), 0) + int(row["findings"])
    summary = " · ".join(
        f'<span id="findings-{esc(s)}" data-value="{counts[s]}">{esc(s)}: {counts[s]:,}</span>' for s in SEVERITIES
    )
    shown = len(data["findings"])
    total = int(data.get("findings_total") or 0)
    more = f" (the first {shown:,} of {total:,})" if shown < total else ""
    body = f"<p>{summary}{esc(more)}</p>" + chart("chart-findings", bool(data["findings_by_severity"]),
                                                   empty="No security findings for this day.")
    body += "<h3>Findings with their evidence</h3>" + table("table-findings", [
        Column("severity", "severity", show=_severity), Column("client_ip", "client IP"),
        Column("category", "category"), Column("rule_id", "rule"), Column("request_count", "requests", "num"),
        Column("distinct_paths", "distinct paths", "num"), Column("first_seen_at", "first seen"),
        Column("last_seen_at", "last seen"),
        Column("user_ids", "user ids", show=_user_ids),
        Column("evidence", "evidence", show=_evidence),
    ], data["findings"], "No security findings for this day.")
    return section("security", "Security findings by severity", body)


_IP_COLUMNS = [
    Column("client_ip", "client IP"), Column("requests", "requests", "num"), Column("errors", "4xx + 5xx", "num"),
    Column("status_4xx", "4xx", "num"), Column("status_5xx", "5xx", "num"), Column("bytes", "bytes", "num"),
    Column("distinct_paths", "distinct paths", "num"), Column("distinct_user_agents", "user agents", "num"),
    Column("is_flagged", "flagged", "num", lambda r: "yes" if r.get("is_flagged") else "no"),
]


def ips_section(data: Mapping[str, Any]) -> str:
    body = chart("chart-ips", bool(data["top_ips_requests"]), "tall")
    body += '<div class="grid2"><div><h3>By requests</h3>' + table("table-ips-requests", _IP_COLUMNS,
                                                                    data["top_ips_requests"]) + "</div>"
    body += "<div><h3>By errors (4xx + 5xx)</h3>" + table("table-ips-errors", _IP_COLUMNS,
                                                           data["top_ips_errors"]) + "</div></div>"
    return section("ips", "Top IPs", body)


def _quality_outcome(row: Mapping[str, Any]) -> str:
    outcome = str(row.get("outcome"))
    return f'<span class="outcome-{esc(outcome)}">{esc(outcome)}</span>'


def facts_section(data: Mapping[str, Any]) -> str:
    facts = data["facts"]
    run = facts["run"]
    counts = [
        ("lines read", "fact-lines-read", run.get("lines_read")),
        ("lines parsed", "fact-lines-parsed", run.get("lines_parsed")),
        ("lines rejected", "fact-lines-rejected", run.get("lines_rejected")),
        ("events read", "fact-events-read", run.get("events_read")),
        ("events rejected", "fact-events-rejected", run.get("events_rejected")),
        ("users read", "fact-users-read", run.get("users_read")),
    ]
    rows = "".join(
        f'<tr><th scope="row">{esc(label)}</th><td class="num" id="{esc(key)}" data-value="{esc(value)}">'
        f"{esc(number(value))}</td></tr>"
        for label, key, value in counts
    )
    when = f"run {esc(run.get('run_id'))}, {esc(run.get('status'))}, {esc(run.get('started_at'))} to " \
           f"{esc(run.get('finished_at'))}"
    outcomes: dict[str, int] = {}
    for check in facts["quality"]:
        outcomes[str(check["outcome"])] = outcomes.get(str(check["outcome"]), 0) + 1
    quality_summary = ", ".join(f"{esc(k)} {v}" for k, v in sorted(outcomes.items())) or "none"
    stages = [{"stage": k, "seconds": v} for k, v in facts["stage_timings"].items()]
    body = (
        f"<p>{when}</p><table class=\"facts\"><tbody>{rows}</tbody></table>"
        "<h3>Inputs</h3>" + table("table-inputs", [
            Column("kind", "kind"), Column("path", "path"), Column("size_bytes", "bytes", "num"),
            Column("lines_read", "read", "num"), Column("lines_parsed", "parsed", "num"),
            Column("lines_rejected", "rejected", "num"), Column("sha256", "sha256"),
        ], facts["inputs"])
        + "<h3>Rejected lines by reason (stored sample, capped per file)</h3>" + table("table-rejected", [
            Column("source_file", "file"), Column("reason", "reason"), Column("stored_lines", "lines", "num"),
        ], facts["rejected"], "No rejected lines.")
        + f"<h3>Quality checks ({quality_summary})</h3>" + table("table-quality", [
            Column("dataset", "dataset"), Column("check_name", "check"), Column("column_name", "column"),
            Column("level", "level"), Column("outcome", "outcome", show=_quality_outcome),
            Column("measured_value", "measured", "num"), Column("threshold", "threshold"),
        ], facts["quality"])
        + '<h3>Stage timings (seconds)</h3><div class="grid2">' + chart("chart-stages", bool(stages), "small")
        + table("table-stages", [Column("stage", "stage"), Column("seconds", "seconds", "num")], stages) + "</div>"
    )
    return section("facts", "Run facts", body)


def trend_section(data: Mapping[str, Any]) -> str:
    rows = [
        {**r, "error_rate": (r["errors"] / r["requests"]) if r["requests"] else None} for r in data["trend"]
    ]
    note = "" if len(rows) > 1 else "Only this day is loaded in the last 7 days: no trend yet."
    body = chart("chart-trend", len(rows) > 1, empty=note) + table("table-trend", [
        Column("day", "day"), Column("requests", "requests", "num"), Column("sessions", "human sessions", "num"),
        Column("error_rate", "error rate", "num", lambda r: esc(percent(r.get("error_rate")))),
        Column("findings", "findings", "num"),
    ], rows)
    return section("trend", "Last 7 days", body)
