"""The daily run: parse -> check -> analyse (Spark) -> load (PostgreSQL) -> report.

examples:
  python -m flows.daily                    # the bundled sample day, embedded PostgreSQL
  python -m flows.daily --date 2026-11-24 --access-log '/var/log/nginx/access.log*' \\
      --events 'events/*.jsonl' --users-db postgresql://... --database-url postgresql://...
  python -m flows.daily --json | jq .lines_rejected

exit codes: 0 loaded (or already loaded), 3 refused by a blocking quality gate, 1 other error, 2 usage
"""

from __future__ import annotations

if __name__ == "__main__":  # `python -m flows.daily`: Prefect's API starts now, overlapping the imports below
    from flows.early_api import start_api_early

    EARLY_API = start_api_early()

import argparse
import contextlib
import logging
import os
from datetime import date
from pathlib import Path
from typing import Any
from uuid import uuid4

from prefect import flow, get_run_logger
from prefect.artifacts import create_progress_artifact
from prefect.runtime import flow_run
from pydantic import SecretStr, ValidationError

from analytics.spark import start_spark_early
from checks.runner import QualityGateError
from config.layout import OUTPUT_TABLES, DayLayout
from config.plan import resolve_plan
from config.settings import WebtrailSettings
from flows.early_api import adopt, flow_settings
from flows.early_warehouse import start_embedded_early
from flows.stage_timer import StageTimer
from parsers.inputs import stored_bytes
from report.progress import observer, observing
from report.summary import RunSummary, input_rows
from report.terminal import (
    EXIT_BLOCKED,
    EXIT_ERROR,
    EXIT_LOADED,
    OutputMode,
    Terminal,
    console_logging,
    quiet_console,
    run_log_path,
    stderr_to_file,
)
from report.timings import RunTimeline, jvm_memory, spark_counts
from tasks.analytics import run_analytics
from tasks.ingest import (
    discover_inputs,
    enrich_user_agents_task,
    fetch_events_api,
    parse_access_logs_task,
    parse_events_task,
    read_users_task,
)
from tasks.quality import check_inputs, check_loaded, check_outputs, contract_seconds
from tasks.report import alert_findings, publish_report, write_html_report
from tasks.staging import prune_staging_task
from tasks.warehouse import (
    already_loaded,
    begin_run,
    end_run,
    fingerprint_inputs,
    load_day,
    prepare_warehouse,
    summarize_day,
)
from warehouse.connect import scrub
from warehouse.gateway import Warehouse
from warehouse.run_context import DayRun, RunOutcome, RunTotals


def _run_name() -> str:
    """`daily-<day>` with the day the run will really process (the sample's, or yesterday)."""
    params = flow_run.parameters
    try:
        day = resolve_plan(
            WebtrailSettings(), params.get("day"), params.get("access_log"), params.get("events"),
            params.get("users_db"), params.get("events_api"),
        ).day
    except Exception:  # noqa: BLE001 - a name must never fail the run
        day = params.get("day") or "unknown-day"
    return f"daily-{day}" + ("-force" if params.get("force") else "")


# params: a flow's parameters are its deployment's form in the Prefect UI, one argument each, not an object.
@flow(name="webtrail-daily", flow_run_name=_run_name, log_prints=True, timeout_seconds=12 * 3600)
def daily(  # noqa: PLR0913
    day: date | None = None,
    access_log: list[str] | None = None,
    events: list[str] | None = None,
    users_db: str | None = None,
    database_url: SecretStr | None = None,
    force: bool = False,
    events_api: str | None = None,
) -> dict[str, Any]:
    """Process one day end to end.

    Args:
        day: the UTC day to process; default: the sample's day, or yesterday for configured inputs.
        access_log: access-log files, globs or directories (rotated and compressed sets included).
        events: JSON-lines application event files or globs.
        users_db: the user database: SQLAlchemy URL, SQLite file or CSV export.
        database_url: PostgreSQL URL; default WEBTRAIL_DATABASE_URL, else the embedded PostgreSQL.
        force: reload the day even when the same inputs were already loaded.
        events_api: an HTTP JSON API to pull the day's events from, besides the event files.
    """
    logger = get_run_logger()
    settings = WebtrailSettings()
    plan = resolve_plan(settings, day, access_log, events, users_db, events_api)
    layout = DayLayout(settings.data_dir.resolve(), plan.day)
    timer = StageTimer(
        create_progress_artifact(0.0, key="webtrail-daily-progress", description=f"Processing {plan.day}")
    )
    logger.info("Processing %s%s", plan.day, " (bundled sample day)" if plan.from_sample else "")

    warehouse = prepare_warehouse(settings, database_url)
    access_files = discover_inputs(plan.access_logs, "access-logs")
    event_files = discover_inputs(plan.events, "events") if plan.events else []
    if plan.events_api:
        event_files.append(fetch_events_api(plan.events_api, layout, settings))

    observer().inputs(access_files + event_files)
    fingerprints = fingerprint_inputs(access_files + event_files, plan.users_db, settings)
    run = DayRun(layout=layout, run_id=uuid4(), settings=settings, warehouse=warehouse, fingerprints=fingerprints)
    if not force and already_loaded(run):
        logger.info("%s was already loaded from these exact inputs; pass --force to redo it.", plan.day)
        return {"day": plan.day.isoformat(), "status": "skipped"}

    begin_run(run, str(flow_run.id) if flow_run.id else None)
    totals = RunTotals()
    try:
        with timer.stage("parse"):
            access_stats = parse_access_logs_task(access_files, layout, settings)
            events_result = parse_events_task(event_files, layout, settings)
            totals = RunTotals(users_read=read_users_task(plan.users_db, layout))
            enrich_user_agents_task(layout)
        totals = RunTotals(input_rows(access_stats, events_result), totals.users_read)
        observer().files_parsed(list(totals.inputs))
        with timer.stage("input_checks"):
            timer.contracts["input_checks"] = contract_seconds(check_inputs(run, access_stats))
        observer().analytics_started(layout.output, OUTPUT_TABLES)
        with timer.stage("analytics"):
            outputs = run_analytics(layout, settings, stored_bytes([str(path) for path in access_files]))
        with timer.stage("output_checks"):
            timer.contracts["output_checks"] = contract_seconds(check_outputs(run, outputs))
        with timer.stage("load"):
            table_rows = load_day(run, outputs, list(totals.inputs))
        totals = RunTotals(totals.inputs, totals.users_read, table_rows)
        observer().tables_loaded(table_rows)
        with timer.stage("loaded_checks"):
            # After the commit: a blocking failure fails the run (and alerts) but cannot undo the load.
            timer.contracts["loaded_checks"] = contract_seconds(check_loaded(run))
        summary: RunSummary = summarize_day(run, totals)
        end_run(run, RunOutcome("completed", totals, timer.seconds))
    except BaseException as exc:
        try:
            end_run(run, RunOutcome("failed", totals, timer.seconds, f"{type(exc).__name__}: {exc}"))
        except Exception as audit_exc:  # noqa: BLE001 - never hide the original error
            logger.error("could not record the failure in pipeline_runs: %s", audit_exc)
        raise
    html_report = _html_report(warehouse, plan.day, settings, logger)
    publish_report(summary, timer.seconds, html_report)
    alert_findings(warehouse, plan.day, settings.security)
    prune_staging_task(settings, plan.day)
    logger.info(summary.to_text())
    return {**summary.to_dict(), "html_report": str(html_report) if html_report else None,
            "contract_seconds": timer.contracts, "rss_mib_after_stage": timer.rss_mib}


def _html_report(warehouse: Warehouse, day: date, settings: WebtrailSettings, logger: Any) -> Path | None:
    """The day's HTML report; the day is loaded whatever happens here, so a failure is only logged."""
    try:
        with StageTimer().stage("report"):
            return write_html_report(warehouse, day, settings.data_dir.resolve())
    except Exception as exc:  # noqa: BLE001 - the load committed; the report can be rebuilt later
        logger.error(
            "the HTML report of %s could not be written (%s: %s); rebuild it with python -m report.html --day %s",
            day, type(exc).__name__, exc, day,
        )
        return None


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.daily", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=date.fromisoformat, help="UTC day YYYY-MM-DD")
    parser.add_argument("--access-log", nargs="+", help="access-log files, globs or directories")
    parser.add_argument("--events", nargs="*", help="JSON-lines event files or globs")
    parser.add_argument("--users-db", help="SQLAlchemy URL, SQLite file or CSV of the user DB")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: WEBTRAIL_DATABASE_URL, else embedded)")
    parser.add_argument("--events-api", help="HTTP JSON API to pull the day's events from")
    parser.add_argument("--force", action="store_true", help="reload even if these inputs were loaded")
    parser.add_argument("--log-format", help="access-log format: a name (combined, main, ...), an nginx log_format "
                        "or Apache LogFormat string, or with --log-format-config the format's name in that file")
    parser.add_argument("--log-format-config", help="nginx or Apache config file to read the access-log format from")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="no progress and no summary; errors only")
    output.add_argument("--json", action="store_true", help="print the summary as JSON on stdout (no progress)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `python -m flows.daily`; returns the exit code (report/terminal.py)."""
    args = _parse_args(argv)  # exits 2 on a usage error
    # parser settings, read by the flow from the environment (WEBTRAIL_PARSER__*)
    for flag, variable in ((args.log_format, "WEBTRAIL_PARSER__LOG_FORMAT"),
                           (args.log_format_config, "WEBTRAIL_PARSER__LOG_FORMAT_CONFIG")):
        if flag:
            os.environ[variable] = flag
    terminal = Terminal(OutputMode.from_flags(args.quiet, args.json))
    try:
        settings = WebtrailSettings()
    except ValidationError as exc:
        terminal.error(f"invalid WEBTRAIL_* setting: {scrub(str(exc))}")
        return EXIT_ERROR
    run_observer = terminal.observer()
    timeline = RunTimeline()
    capture = (
        stderr_to_file(run_log_path(settings.data_dir.resolve())) if terminal.mode.captures_stderr
        else contextlib.nullcontext(None)
    )
    console_level = logging.WARNING if terminal.mode.quiet else None
    try:
        with capture as terminal.log_file, console_logging((QualityGateError,), console_level), \
                observing(run_observer), run_observer:
            # The JVM starts now, in the background, while Prefect starts and the parsers run; stderr: the log.
            spark_starter = (
                start_spark_early(settings.spark, log_bytes=_access_log_bytes(settings, args))
                if settings.spark.early_start else None
            )
            postgres_start = start_embedded_early(settings, args.database_url)
            timeline.api_waiting()
            timeline.early_api = adopt(globals().get("EARLY_API"), terminal.log_file)
            if postgres_start is not None:
                postgres_start.join()  # before the flow: its first task then finds the server up
            timeline.calling_flow()
            with flow_settings(timeline.early_api):
                result = daily.with_options(on_running=[timeline.on_running])(
                    day=args.date, access_log=args.access_log, events=args.events, users_db=args.users_db,
                    database_url=SecretStr(args.database_url) if args.database_url else None,
                    force=args.force, events_api=args.events_api,
                )
            timeline.flow_done()
            result["timings"] = timeline.to_dict(run_observer.finished, spark_starter, spark_counts())
            result["timings"]["contracts"] = result.pop("contract_seconds", None) or {}
            result["timings"]["rss_mib_after_stage"] = result.pop("rss_mib_after_stage", None) or {}
            result["timings"]["spark"]["memory_mib"] = jvm_memory()
    except QualityGateError as exc:
        terminal.blocked(_day_of(settings, args), str(exc).splitlines()[1:], run_observer.current_stage)
        return EXIT_BLOCKED
    except KeyboardInterrupt:
        terminal.error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - every other failure: one clear line, exit 1
        message = scrub(f"{type(exc).__name__}: {exc}", args.database_url)
        terminal.error(message.splitlines()[0] if message else type(exc).__name__)
        return EXIT_ERROR
    finally:
        if terminal.mode.captures_stderr:
            quiet_console()  # nothing after the last message: the log file has had everything
    if result.get("status") == "skipped":
        terminal.skipped(result)
    else:
        terminal.completed(result)
    return EXIT_LOADED


def _access_log_bytes(settings: WebtrailSettings, args: argparse.Namespace) -> int | None:
    """The run's access logs' size as stored, to size the JVM started early; None if not resolvable yet."""
    try:
        plan = resolve_plan(settings, args.date, args.access_log, args.events, args.users_db, args.events_api)
    except Exception:  # noqa: BLE001 - the flow reports a bad plan; the estimate just stays unknown
        return None
    return stored_bytes(plan.access_logs)


def _day_of(settings: WebtrailSettings, args: argparse.Namespace) -> str:
    """The day the run processed, for messages (the flag, else what the flow resolved it to)."""
    try:
        plan = resolve_plan(settings, args.date, args.access_log, args.events, args.users_db, args.events_api)
        return plan.day.isoformat()
    except Exception:  # noqa: BLE001 - a message must not fail
        return args.date.isoformat() if args.date else "the day"


if __name__ == "__main__":
    from flows.quick_exit import exit_now

    exit_now(main())
