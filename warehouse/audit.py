"""Run audit: ``pipeline_runs``, ``run_inputs``, ``quality_results`` and the ingest-manifest check.

Every statement uses bound parameters. Each function commits its own write (``commit=False`` to
leave that to the caller), so a run's rows are visible even if the process dies right after.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import psycopg2.extensions
from psycopg2.extras import Json, execute_values

from warehouse.connect import scrub

RUN_STATUSES = ("running", "completed", "failed", "skipped", "abandoned")
MAX_ERROR_CHARS = 20_000
_COUNTS = ("lines_read", "lines_parsed", "lines_rejected", "events_read", "events_rejected", "users_read")


def _clean(text: str | None) -> str | None:
    """Error text as stored: no NUL, no passwords of URLs/DSNs, bounded length."""
    if text is None:
        return None
    return scrub(text.replace("\x00", ""))[:MAX_ERROR_CHARS]


def start_run(conn: psycopg2.extensions.connection, run_id: str, day: date, flow_run_id: str | None) -> None:
    """Insert the run as ``running`` and commit at once (a crashed run stays visible)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO webtrail.pipeline_runs (run_id, flow_run_id, day, status, started_at) "
            "VALUES (%s, %s, %s, 'running', now())",
            (str(run_id), flow_run_id, day),
        )
    conn.commit()


@dataclass(frozen=True)
class RunRecord:
    """How a run ended: its status, the counts of ``pipeline_runs`` (None for a stage that never ran),
    seconds per stage and the error text."""

    status: str
    counts: Mapping[str, int | None] = field(default_factory=dict)
    stage_timings: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {RUN_STATUSES}, not {self.status!r}")
        unknown = set(self.counts) - set(_COUNTS)
        if unknown:
            raise ValueError(f"unknown pipeline_runs counts {sorted(unknown)}: choose from {_COUNTS}")


def finish_run(
    conn: psycopg2.extensions.connection, run_id: str, record: RunRecord, *, commit: bool = True
) -> None:
    """Set the final status, counts, stage timings (seconds per stage) and error text of a run."""
    counts = tuple(record.counts.get(name) for name in _COUNTS)
    with conn.cursor() as cur:
        cur.execute(
            """
            UPDATE webtrail.pipeline_runs
            SET status = %s, finished_at = now(), lines_read = %s, lines_parsed = %s, lines_rejected = %s,
                events_read = %s, events_rejected = %s, users_read = %s, stage_timings = %s, error = %s
            WHERE run_id = %s
            """,
            (record.status, *counts, Json(dict(record.stage_timings)), _clean(record.error), str(run_id)),
        )
        if cur.rowcount != 1:
            raise LookupError(f"no pipeline run {run_id} (start_run() first)")
    if commit:
        conn.commit()


def running_runs(conn: psycopg2.extensions.connection, exclude: str) -> list[str]:
    """The ids of the runs still marked ``running``, other than ``exclude``."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT run_id::text FROM webtrail.pipeline_runs WHERE status = 'running' AND run_id <> %s "
            "ORDER BY started_at",
            (str(exclude),),
        )
        found = [row[0] for row in cur.fetchall()]
    conn.rollback()
    return found


def mark_abandoned(conn: psycopg2.extensions.connection, run_ids: Sequence[str]) -> int:
    """Set these ``running`` runs to ``abandoned`` with the time it was noticed; how many changed."""
    if not run_ids:
        return 0
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE webtrail.pipeline_runs SET status = 'abandoned', abandoned_at = now() "
            "WHERE run_id = ANY(%s::uuid[]) AND status = 'running'",
            (list(run_ids),),
        )
        changed = cur.rowcount
    conn.commit()
    return changed


def record_inputs(
    conn: psycopg2.extensions.connection,
    run_id: str,
    day: date,
    rows: Sequence[Mapping[str, Any]],
    *,
    commit: bool = True,
) -> None:
    """Upsert ``run_inputs``: one mapping per input file with kind, path, size_bytes, sha256,
    lines_read, lines_parsed, lines_rejected (all lines, not only the stored rejected ones)."""
    values = [
        (str(run_id), day, row["kind"], str(row["path"]), row["size_bytes"], row["sha256"], row["lines_read"],
         row["lines_parsed"], row["lines_rejected"])
        for row in rows
    ]
    with conn.cursor() as cur:
        execute_values(
            cur,
            """
            INSERT INTO webtrail.run_inputs
                (run_id, day, kind, path, size_bytes, sha256, lines_read, lines_parsed, lines_rejected)
            VALUES %s
            ON CONFLICT (run_id, path) DO UPDATE SET day = EXCLUDED.day, kind = EXCLUDED.kind,
                size_bytes = EXCLUDED.size_bytes, sha256 = EXCLUDED.sha256, lines_read = EXCLUDED.lines_read,
                lines_parsed = EXCLUDED.lines_parsed, lines_rejected = EXCLUDED.lines_rejected
            """,
            values,
        )
    if commit:
        conn.commit()


def record_quality(
    conn: psycopg2.extensions.connection,
    run_id: str,
    day: date,
    results: Sequence[Mapping[str, Any]],
    *,
    commit: bool = True,
) -> None:
    """Upsert ``quality_results``: mappings with dataset, check_name, check_type, outcome, and
    optionally column_name, level ('blocking' default / 'warn'), metric_values (dict)."""
    with conn.cursor() as cur:
        for result in results:
            cur.execute(
                """
                INSERT INTO webtrail.quality_results
                    (run_id, day, dataset, check_name, check_type, column_name, level, outcome, metric_values)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                ON CONFLICT (run_id, dataset, check_name, column_key) DO UPDATE SET
                    day = EXCLUDED.day, check_type = EXCLUDED.check_type, level = EXCLUDED.level,
                    outcome = EXCLUDED.outcome, metric_values = EXCLUDED.metric_values, checked_at = now()
                """,
                (
                    str(run_id),
                    day,
                    result["dataset"],
                    result["check_name"],
                    result["check_type"],
                    result.get("column_name"),
                    result.get("level", "blocking"),
                    result["outcome"],
                    Json(dict(result.get("metric_values") or {})),
                ),
            )
    if commit:
        conn.commit()


def day_already_loaded(conn: psycopg2.extensions.connection, day: date, input_checksums: set[str]) -> bool:
    """True when the warehouse holds ``day`` from a *completed* run with exactly these input sha256s.

    Reads the ingest manifest ``day_loads`` (written atomically with the day's data by
    ``replace_day``), so a later load with other inputs, or a run that loaded but then failed or
    crashed, makes this False.
    """
    if not input_checksums:
        return False
    was_idle = conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT l.input_sha256 FROM webtrail.day_loads l
            JOIN webtrail.pipeline_runs r ON r.run_id = l.run_id
            WHERE l.day = %s AND r.status = 'completed'
            """,
            (day,),
        )
        row = cur.fetchone()
    if was_idle and not conn.autocommit:
        conn.rollback()  # read-only: do not leave an idle-in-transaction session behind
    return row is not None and set(row[0]) == set(input_checksums)
