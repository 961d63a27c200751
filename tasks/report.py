"""Report stage: Prefect artifacts for the run summary and alerts for serious findings."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from report.markdown import escape_markdown, markdown_table
from report.summary import RunSummary


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(summary: RunSummary, stage_seconds: dict[str, float]) -> None:
    """A run-summary table artifact and a markdown report artifact (log content escaped)."""
    day = summary.day.isoformat()
    create_table_artifact(
        key="webtrail-run-summary",
        table=[{"table": f"webtrail.{t}", "rows": n} for t, n in summary.table_rows.items()],
        description=f"Rows written for {day} by run {summary.run_id}",
    )
    inputs = markdown_table(
        summary.inputs, ["kind", "path", "lines_read", "lines_parsed", "lines_rejected", "sha256"]
    )
    findings = markdown_table(
        [{"category": k, "ips": v} for k, v in sorted(summary.findings_by_category.items())],
        ["category", "ips"],
    )
    timings = markdown_table([{"stage": k, "seconds": v} for k, v in stage_seconds.items()], ["stage", "seconds"])
    create_markdown_artifact(
        key="webtrail-daily-report",
        markdown=(
            f"# webtrail daily report: {escape_markdown(day)}\n\n"
            f"Access-log lines read {summary.lines_read}, parsed {summary.lines_parsed}, "
            f"rejected {summary.lines_rejected}. Sessions: {summary.human_sessions} human, "
            f"{summary.bot_sessions} bot.\n\n## Inputs\n\n{inputs}\n\n## Security findings (IPs per category)\n\n"
            f"{findings}\n\n## Stage timings\n\n{timings}\n"
        ),
        description=f"webtrail report for {day}",
    )
    get_run_logger().info("Published the run summary and report artifacts for %s", day)
