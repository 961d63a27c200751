"""Rendering an investigation: markdown for the Prefect artifacts, table cells, terminal sections.

Every value that can come from the logs is escaped for markdown here; the terminal printer escapes
its own (webtrail/output.py). The query logic lives in report/investigate.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from report.investigate import REQUEST_COLUMNS, InvestigationResult
from report.markdown import escape_markdown, markdown_table


def table_cell(value: Any, max_chars: int = 300) -> Any:
    """A table-artifact cell: numbers and booleans as they are, anything else one bounded line of text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def request_table(result: InvestigationResult) -> list[dict[str, Any]]:
    """The matching requests as table-artifact rows (single-line, bounded cells)."""
    return [{k: table_cell(v) for k, v in row.items()} for row in result.requests]


def _evidence_text(evidence: Any) -> str:
    samples = evidence.get("samples", []) if isinstance(evidence, Mapping) else []
    first = samples[0] if samples else None
    if isinstance(first, Mapping):
        return str(first.get("request", first))
    return "" if first is None else str(first)


def investigation_markdown(result: InvestigationResult) -> str:
    """The investigation as markdown; every value that can come from the logs is escaped."""
    query = result.query
    head = [
        f"# Investigation: {escape_markdown(query.describe())}",
        "",
        f"Window {escape_markdown(query.start.isoformat())} to {escape_markdown(query.end.isoformat())} "
        "(UTC, end excluded). "
        f"IPs looked at: {escape_markdown(', '.join(result.ips) or 'none')}.",
        "",
        f"Matching requests: **{result.request_count}** (first {len(result.requests)} in the requests table "
        f"artifact); security findings: **{len(result.findings)}**; sessions: **{len(result.sessions)}**.",
    ]
    if result.days_missing:
        missing = ", ".join(d.isoformat() for d in result.days_missing)
        head += ["", f"No staged requests for: {escape_markdown(missing)}"]
    findings = [
        {**f, "user_ids": ", ".join(f.get("user_ids") or []), "evidence": _evidence_text(f.get("evidence"))}
        for f in result.findings
    ]
    sections = [
        ("Security findings", findings,
         ["day", "client_ip", "severity", "category", "rule_id", "request_count", "first_seen_at", "last_seen_at",
          "user_ids", "evidence"]),
        ("Requests per IP", result.requests_by_ip,
         ["client_ip", "requests", "distinct_paths", "errors", "first_seen_at", "last_seen_at"]),
        ("Requests per status", result.requests_by_status, ["status", "requests"]),
        ("IP days", result.ip_daily,
         ["day", "client_ip", "requests", "status_4xx", "status_5xx", "distinct_paths", "distinct_user_agents",
          "is_flagged"]),
        ("Sessions", result.sessions,
         ["started_at", "client_ip", "user_id", "requests", "page_views", "entry_path", "exit_path", "is_bot",
          "browser_family"]),
        ("First matching requests", result.requests[:50],
         ["requested_at", "client_ip", "method", "path", "status", "user_agent"]),
    ]
    body: list[str] = []
    for title, rows, columns in sections:
        body += ["", f"## {title}", ""]
        body.append(markdown_table(rows, columns) if rows else "None.")
    return "\n".join(head + body) + "\n"


# Columns of each section printed by `python -m flows.investigate` (terminal, CSV, JSON).
SECTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "Findings": ("day", "client_ip", "severity", "category", "rule_id", "request_count", "first_seen_at",
                 "last_seen_at", "user_ids", "evidence"),
    "Requests per IP": ("client_ip", "requests", "distinct_paths", "errors", "first_seen_at", "last_seen_at"),
    "Requests per status": ("status", "requests"),
    "IP days": ("day", "client_ip", "requests", "bytes", "status_4xx", "status_5xx", "distinct_paths",
                "distinct_user_agents", "is_flagged"),
    "Sessions": ("day", "started_at", "ended_at", "client_ip", "user_id", "requests", "page_views", "entry_path",
                 "exit_path", "is_bot", "browser_family"),
    "Matching requests": REQUEST_COLUMNS,
}


def result_sections(result: InvestigationResult) -> list[tuple[str, tuple[str, ...], list[list[Any]]]]:
    """(title, columns, rows) of every part of the result, log content not escaped (the printer does)."""
    findings = [{**f, "evidence": _evidence_text(f.get("evidence"))} for f in result.findings]
    sources = {
        "Findings": findings, "Requests per IP": result.requests_by_ip,
        "Requests per status": result.requests_by_status, "IP days": result.ip_daily,
        "Sessions": result.sessions, "Matching requests": result.requests,
    }
    return [
        (title, columns, [[row.get(c) for c in columns] for row in sources[title]])
        for title, columns in SECTION_COLUMNS.items()
    ]


def sql_markdown(query: str, result: Any) -> str:
    """An SQL investigation as markdown: the query, the day partitions and tables read, the row count."""
    read = [p for p in result.partitions if p.exists]
    missing = [p for p in result.partitions if not p.exists]
    lines = [
        "# SQL investigation", "", "```sql", query.replace("```", "` ` `"), "```", "",
        f"Rows: **{result.table.num_rows}** in {result.seconds:.2f} s (first rows in the table artifact).", "",
        "## Read", "",
    ]
    rows = [{"source": f"{p.view} day={p.day.isoformat()}", "rows": p.rows, "row_groups": p.row_groups} for p in read]
    rows += [{"source": f"webtrail.{view}", "rows": count, "row_groups": ""}
             for view, count in result.warehouse_rows.items()]
    lines.append(markdown_table(rows, ["source", "rows", "row_groups"]) if rows else "Nothing.")
    if missing:
        days = ", ".join(sorted({p.day.isoformat() for p in missing}))
        lines += ["", f"No staged partition for: {escape_markdown(days)}"]
    return "\n".join(lines) + "\n"
