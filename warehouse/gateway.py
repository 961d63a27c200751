"""`Warehouse`: the one gateway to webtrail's PostgreSQL. Flows, tasks, the command lines and the
notebook client reach the database only through it, with bound parameters throughout.

    warehouse = Warehouse.resolve(settings)            # flag, env, Prefect Secret block, else embedded
    warehouse.migrate()
    warehouse.begin_run(run_id, day, flow_run_id)     # marks dead `running` runs `abandoned`
"""

from __future__ import annotations

import contextlib
import logging
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2.extensions
from psycopg2 import sql
from psycopg2.extras import RealDictCursor
from pydantic import SecretStr

from config.settings import WebtrailSettings
from warehouse import audit
from warehouse.connect import connect, redact
from warehouse.schema import SCHEMA

if TYPE_CHECKING:
    from report.investigate import InvestigationQuery, InvestigationResult
    from warehouse.loader import LoadResult

log = logging.getLogger(__name__)

# Namespace (first key) of the two-key session advisory lock each live run holds; the second key is
# derived from the run id. A `running` row whose lock can be taken belongs to a dead process.
RUN_LOCK_NAMESPACE = zlib.crc32(b"webtrail.pipeline_run") & 0x7FFFFFFF

# The connection holding each live run's lock, by run id: per process, not per Warehouse object, so
# a copy of the gateway (Prefect may copy task parameters) still releases the lock at end_run.
_RUN_LOCKS: dict[str, psycopg2.extensions.connection] = {}
_RUN_LOCKS_GUARD = threading.Lock()


def run_lock_key(run_id: str) -> int:
    """The second advisory-lock key of a run: a signed 32-bit hash of its id."""
    unsigned = zlib.crc32(str(run_id).encode())
    return unsigned - (1 << 32) if unsigned >= 1 << 31 else unsigned


@dataclass(frozen=True)
class DayLoad:
    """What one run loads for its day: the Parquet of each table, the quarantined lines (at most
    ``rejected_cap`` per source file), the input checksums for the ingest manifest, and the per-file
    ``run_inputs`` rows."""

    day: date
    run_id: str
    tables: Mapping[str, Path]
    rejected: Sequence[Path] = ()
    rejected_cap: int = 1_000
    input_sha256: frozenset[str] = frozenset()
    inputs: Sequence[Mapping[str, Any]] = field(default_factory=tuple)


@dataclass(frozen=True)
class DayCounts:
    """What the warehouse holds for a day after a run: IPs per finding category, sessions, checks."""

    findings_by_category: dict[str, int]
    human_sessions: int
    bot_sessions: int
    quality: dict[str, int]


class Warehouse:
    """The PostgreSQL webtrail reads and writes. Its repr and str never show the password."""

    def __init__(self, url: str | SecretStr) -> None:
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)

    @classmethod
    def resolve(cls, settings: WebtrailSettings, override: str | SecretStr | None = None) -> Warehouse:
        """The configured warehouse: ``override`` (a flag or flow parameter), else
        ``WEBTRAIL_DATABASE_URL``, else the Prefect Secret block named by
        ``WEBTRAIL_DATABASE_SECRET_BLOCK``, else the embedded server (started when needed)."""
        if isinstance(override, str) and override:
            return cls(override)
        if isinstance(override, SecretStr):
            return cls(override)
        if settings.database_url is not None:
            return cls(settings.database_url)
        if settings.database_secret_block:
            return cls(_secret_block_url(settings.database_secret_block))
        from warehouse.embedded import embedded_url

        return cls(embedded_url(settings.postgres_dir))

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The full URL, password included: for libraries that connect themselves (Soda, DuckDB)."""
        return self._url.get_secret_value()

    @property
    def redacted_url(self) -> str:
        return redact(self.url)

    def __repr__(self) -> str:
        return f"Warehouse({self.redacted_url!r})"

    __str__ = __repr__

    @contextlib.contextmanager
    def connection(self, *, readonly: bool = False) -> Iterator[psycopg2.extensions.connection]:
        """A new connection (closed on exit); ``readonly`` for the sessions that only read."""
        conn = connect(self.url)
        try:
            if readonly:
                conn.set_session(readonly=True)
            yield conn
        finally:
            conn.close()

    def migrate(self) -> list[int]:
        """Apply the pending migrations; the versions applied now."""
        from warehouse.migrate import migrate

        with self.connection() as conn:
            return migrate(conn)

    # -- the run audit --------------------------------------------------------------------------
    def begin_run(self, run_id: str, day: date, flow_run_id: str | None) -> list[str]:
        """Record the run as ``running`` and hold its liveness lock until :meth:`end_run`.

        First marks every other ``running`` run whose lock is free (its process is gone) as
        ``abandoned``; returns their ids. The lock is taken before the row is written, so no live
        run can be seen without its lock.
        """
        run_id = str(run_id)
        holder = connect(self.url, application_name=f"webtrail-run-{run_id}")
        try:
            holder.autocommit = True
            with holder.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s, %s)", (RUN_LOCK_NAMESPACE, run_lock_key(run_id)))
            abandoned = self._abandon_dead_runs(holder, run_id)
            holder.autocommit = False
            audit.start_run(holder, run_id, day, flow_run_id)
            holder.autocommit = True
        except BaseException:
            holder.close()
            raise
        with _RUN_LOCKS_GUARD:
            _RUN_LOCKS[run_id] = holder
        if abandoned:
            log.warning("marked %d run(s) abandoned (their process is gone): %s", len(abandoned), ", ".join(abandoned))
        return abandoned

    def _abandon_dead_runs(self, holder: psycopg2.extensions.connection, run_id: str) -> list[str]:
        dead: list[str] = []
        with holder.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT run_id::text FROM {}.pipeline_runs WHERE status = 'running' AND run_id <> %s")
                .format(sql.Identifier(SCHEMA)),
                (run_id,),
            )
            for (candidate,) in cur.fetchall():
                if run_lock_key(candidate) == run_lock_key(run_id):
                    continue  # a hash collision with our own lock: this session could take it again
                key = (RUN_LOCK_NAMESPACE, run_lock_key(candidate))
                cur.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
                if cur.fetchone()[0]:
                    cur.execute("SELECT pg_advisory_unlock(%s, %s)", key)
                    dead.append(candidate)
        holder.autocommit = False
        audit.mark_abandoned(holder, dead)
        holder.autocommit = True
        return dead

    def end_run(self, run_id: str, record: audit.RunRecord) -> None:
        """Close the run's audit row and release its liveness lock."""
        run_id = str(run_id)
        try:
            with self.connection() as conn:
                audit.finish_run(conn, run_id, record)
        finally:
            with _RUN_LOCKS_GUARD:
                holder = _RUN_LOCKS.pop(run_id, None)
            if holder is not None:
                holder.close()

    def already_loaded(self, day: date, fingerprints: set[str] | frozenset[str]) -> bool:
        """True when ``day`` is loaded from a completed run with exactly these input checksums."""
        with self.connection() as conn:
            return audit.day_already_loaded(conn, day, set(fingerprints))

    def loaded_days(self, days: Sequence[date]) -> list[date]:
        """The days among ``days`` loaded by a completed run (none on a fresh warehouse), in order."""
        with self.connection(readonly=True) as conn, conn.cursor() as cur:
            if not _has_table(cur, "day_loads"):
                return []
            cur.execute(
                sql.SQL(
                    "SELECT loads.day FROM {schema}.day_loads loads "
                    "JOIN {schema}.pipeline_runs runs ON runs.run_id = loads.run_id "
                    "WHERE loads.day = ANY(%s) AND runs.status = 'completed' ORDER BY loads.day"
                ).format(schema=sql.Identifier(SCHEMA)),
                (list(days),),
            )
            return [row[0] for row in cur.fetchall()]

    def load_day(self, load: DayLoad) -> LoadResult:
        """Replace the day's rows of every table in one transaction (COPY), then record the inputs."""
        from warehouse.loader import Manifest, Quarantine, replace_day

        with self.connection() as conn:
            result = replace_day(
                conn, load.day, load.tables, quarantine=Quarantine(tuple(load.rejected), load.rejected_cap),
                manifest=Manifest(load.run_id, frozenset(load.input_sha256)),
            )
            audit.record_inputs(conn, load.run_id, load.day, list(load.inputs))
        return result

    def record_quality(self, run_id: str, day: date, results: Sequence[Mapping[str, Any]],
                       replaced_errors: Mapping[str, Sequence[str]]) -> None:
        """Store check outcomes; ``replaced_errors`` maps a check name to the datasets whose earlier
        rows of that check (an ERROR of an attempt that could not run) this attempt replaces."""
        with self.connection() as conn:
            with conn.cursor() as cur:
                for check_name, datasets in replaced_errors.items():
                    cur.execute(
                        sql.SQL(
                            "DELETE FROM {}.quality_results WHERE run_id = %s AND dataset = ANY(%s) "
                            "AND check_name = %s"
                        ).format(sql.Identifier(SCHEMA)),
                        (str(run_id), list(datasets), check_name),
                    )
            audit.record_quality(conn, str(run_id), day, results, commit=False)
            conn.commit()

    # -- reads ----------------------------------------------------------------------------------
    def day_counts(self, day: date, run_id: str) -> DayCounts:
        """Findings per category and sessions of ``day``, and the check outcomes of ``run_id``."""
        schema = sql.Identifier(SCHEMA)
        with self.connection(readonly=True) as conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT category, count(*) FROM {}.security_findings WHERE day = %s GROUP BY 1")
                .format(schema),
                (day,),
            )
            findings = {category: int(count) for category, count in cur.fetchall()}
            cur.execute(
                sql.SQL(
                    "SELECT count(*) FILTER (WHERE NOT is_bot), count(*) FILTER (WHERE is_bot) "
                    "FROM {}.sessions WHERE day = %s"
                ).format(schema),
                (day,),
            )
            human, bot = cur.fetchone()
            cur.execute(
                sql.SQL("SELECT outcome, count(*) FROM {}.quality_results WHERE run_id = %s GROUP BY 1")
                .format(schema),
                (str(run_id),),
            )
            quality = {outcome: int(count) for outcome, count in cur.fetchall()}
        return DayCounts(findings, int(human), int(bot), quality)

    def findings(self, day: date) -> list[dict[str, Any]]:
        """Every security finding of ``day``, as column -> value."""
        with self.connection(readonly=True) as conn, conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute(sql.SQL("SELECT * FROM {}.security_findings WHERE day = %s").format(sql.Identifier(SCHEMA)),
                        (day,))
            return [dict(row) for row in cur.fetchall()]

    def latest_day(self) -> date | None:
        """The newest loaded day (None on an empty or unmigrated warehouse)."""
        with self.connection(readonly=True) as conn, conn.cursor() as cur:
            if not _has_table(cur, "day_loads"):
                return None
            cur.execute(sql.SQL("SELECT max(day) FROM {}.day_loads").format(sql.Identifier(SCHEMA)))
            row = cur.fetchone()
            return row[0] if row else None

    def investigate(self, data_dir: Path, query: InvestigationQuery) -> InvestigationResult:
        """An investigation of an IP / user / path over the staged requests and the warehouse."""
        from report.investigate import investigate  # the report layer's query logic, on our connection

        with self.connection(readonly=True) as conn:
            return investigate(conn, data_dir, query)

    def table_rows(self, table: str, day: date | None, limit: int) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Columns and the first ``limit`` rows of ``webtrail.<table>`` (of ``day`` when given)."""
        query = sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))
        params: list[Any] = []
        if day is not None:
            query += sql.SQL(" WHERE day = %s")
            params.append(day)
        query += sql.SQL(" ORDER BY 1, 2 LIMIT %s")
        return self.read(query, [*params, limit])

    def read(self, query: str | sql.Composable, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Columns and rows of one query in a read-only session (values bound, never formatted in)."""
        with self.connection(readonly=True) as conn, conn.cursor() as cur:
            cur.execute(query, list(params) or None)
            columns = [column.name for column in cur.description or []]
            return columns, cur.fetchall()


def _has_table(cur: psycopg2.extensions.cursor, table: str) -> bool:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.{table}",))
    row = cur.fetchone()
    return bool(row and row[0])


def _secret_block_url(block_name: str) -> SecretStr:
    """The URL held by a Prefect Secret block. Imported only here: importing Prefect costs seconds,
    and the command lines without a secret block never pay it."""
    from prefect.blocks.system import Secret

    return SecretStr(str(Secret.load(block_name).get()))
