"""Report stage: Prefect artifacts for the run summary and alerts for serious findings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from config.settings import SecuritySettings
from report.findings import alertable, finding_event, findings_markdown
from report.html import report_path, write_report
from report.markdown import escape_markdown, markdown_table
from report.summary import RunSummary
from warehouse.gateway import Warehouse
from warehouse.schema import SCHEMA


@task(name="write-html-report", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=[10])
def write_html_report(warehouse: Warehouse, day: date, data_dir: Path) -> Path:
    """Write the day's self-contained HTML report from the warehouse; publish it as a link artifact."""
    path = write_report(warehouse, day, report_path(data_dir, day))
    create_link_artifact(
        key="webtrail-html-report",
        link=path.resolve().as_uri(),
        link_text=f"webtrail report {day.isoformat()} ({path.name})",
        description=f"Self-contained HTML report of {day} (open the file in a browser; it needs no network)",
    )
    get_run_logger().info("HTML report of %s: %s", day, path)
    return path


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(summary: RunSummary, stage_seconds: dict[str, float], html_report: Path | None = None) -> None:
    """A run-summary table artifact and a markdown report artifact (log content escaped)."""
    day = summary.day.isoformat()
    if html_report is not None:
        where = "HTML report with charts (open the file in a browser): " + escape_markdown(
            html_report.resolve(), max_chars=1000
        )
    else:
        where = "No HTML report was written; rebuild it with: " + escape_markdown(
            f"python -m report.html --day {day}"
        )
    create_table_artifact(
        key="webtrail-run-summary",
        table=[{"table": f"{SCHEMA}.{table}", "rows": rows} for table, rows in summary.table_rows.items()],
        description=f"Rows written for {day} by run {summary.run_id}",
    )
    inputs = markdown_table(
        summary.inputs, ["kind", "path", "lines_read", "lines_parsed", "lines_rejected", "sha256"]
    )
    findings = markdown_table(
        [{"category": category, "ips": ips} for category, ips in sorted(summary.findings_by_category.items())],
        ["category", "ips"],
    )
    timings = markdown_table(
        [{"stage": stage, "seconds": seconds} for stage, seconds in stage_seconds.items()], ["stage", "seconds"]
    )
    create_markdown_artifact(
        key="webtrail-daily-report",
        markdown=(
            f"# webtrail daily report: {escape_markdown(day)}\n\n{where}\n\n"
            f"Access-log lines read {summary.lines_read}, parsed {summary.lines_parsed}, "
            f"rejected {summary.lines_rejected}. Sessions: {summary.human_sessions} human, "
            f"{summary.bot_sessions} bot.\n\n## Inputs\n\n{inputs}\n\n## Security findings (IPs per category)\n\n"
            f"{findings}\n\n## Stage timings\n\n{timings}\n"
        ),
        description=f"webtrail report for {day}",
    )
    get_run_logger().info("Published the run summary and report artifacts for %s", day)


def emit_finding_events(findings: list[dict], min_severity: str) -> int:
    """One `webtrail.security.finding` event per finding at or above `min_severity`."""
    chosen = alertable(findings, min_severity)
    for finding in chosen:
        emit_event(**finding_event(finding))
    return len(chosen)


@task(name="alert-findings", cache_policy=NO_CACHE)  # no retries: a retry would send every event again
def alert_findings(warehouse: Warehouse, day: date, security: SecuritySettings) -> int:
    """Emit events for serious findings of the day and publish their escaped markdown digest."""
    findings = warehouse.findings(day)
    create_markdown_artifact(
        key="webtrail-security-findings",
        markdown=findings_markdown(day.isoformat(), findings),
        description=f"Security findings of {day}",
    )
    emitted = emit_finding_events(findings, security.alert_min_severity)
    get_run_logger().info(
        "%d finding(s) for %s; %d at or above %s severity emitted as events",
        len(findings), day, emitted, security.alert_min_severity,
    )
    return emitted
