"""Read-only DuckDB SQL over the staged raw requests of a window of days and the warehouse tables.

Views (created only when the query names them, so a query of ``requests`` never touches PostgreSQL):

- ``requests``: every staged request of the window's days, with a ``day`` column. Each day's file
  also holds the neighbouring days' overlap (``WEBTRAIL_SESSIONS__OVERLAP_MINUTES``, for sessions);
  the view keeps only the rows of the day's own UTC range, so no request is counted twice. The value
  keys (``client_key``, ...: config/catalog/value_keys.py) are left out: they are Spark's integers for
  the strings the view already has, and belong to one day (the same key is another value another day),
  so a join on them across days would be wrong; days staged before the keys read the same way.
- ``rejected``: the quarantined lines of those days' runs, with a ``day`` column.
- ``findings`` (``webtrail.security_findings``), ``sessions``, ``ip_daily``: the window's days of the
  warehouse tables, read through psycopg2 into Arrow (warehouse/arrow.py) and registered in DuckDB.

Only single SELECT statements run (``WITH``, ``VALUES``, ``FROM x`` included); anything else is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from config.layout import DayLayout
from parsers.schema import PARSED_REQUESTS_SCHEMA

STAGING_VIEWS: dict[str, Callable[[DayLayout], Path]] = {
    "requests": lambda layout: layout.requests,
    "rejected": lambda layout: layout.rejected,
}
WAREHOUSE_VIEWS: dict[str, str] = {"findings": "security_findings", "sessions": "sessions", "ip_daily": "ip_daily"}
VIEWS: tuple[str, ...] = (*STAGING_VIEWS, *WAREHOUSE_VIEWS)
# The staged columns a staging view shows (every one when not listed).
VIEW_COLUMNS: dict[str, tuple[str, ...]] = {"requests": tuple(PARSED_REQUESTS_SCHEMA)}
MAX_DAYS = 366


class QueryRefused(ValueError):
    """The text is not one read-only query; the message says why."""


def check_read_only(query: str) -> str:
    """The single SELECT statement of ``query``; QueryRefused for anything else."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryRefused(f"the query does not parse: {exc}") from None
    if not statements:
        raise QueryRefused("empty query: give one SELECT statement")
    if len(statements) > 1:
        raise QueryRefused(f"one query at a time: found {len(statements)} statements")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = str(kind).rsplit(".", 1)[-1]
        raise QueryRefused(f"read-only: only SELECT queries run here, this is a {name} statement")
    return query.strip().rstrip(";")


def referenced_views(query: str) -> set[str]:
    """The webtrail views the query names (parsed; a word match when DuckDB cannot bind the names)."""
    try:
        names = {n.lower() for n in duckdb.get_table_names(query)}
    except duckdb.Error:
        words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)}
        names = words
    return {v for v in VIEWS if v in names}


def window_days(last: date, days: int) -> list[date]:
    """``days`` days ending with ``last`` (included), oldest first."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"--days must be between 1 and {MAX_DAYS}")
    return [last - timedelta(days=n) for n in range(days - 1, -1, -1)]


@dataclass(frozen=True)
class PartitionRead:
    """One day partition a staging view read (or found missing)."""

    view: str
    day: date
    path: Path
    exists: bool
    rows: int = 0
    row_groups: int = 0
    bytes: int = 0


@dataclass
class QueryResult:
    """The rows (an Arrow table) and what was read to produce them."""

    table: Any  # pyarrow.Table
    partitions: list[PartitionRead] = field(default_factory=list)
    warehouse_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _partition(view: str, layout: DayLayout, path: Path) -> PartitionRead:
    if not path.exists():
        return PartitionRead(view, layout.day, path, False)
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    return PartitionRead(view, layout.day, path, True, meta.num_rows, meta.num_row_groups, path.stat().st_size)


class SqlWorkspace:
    """A DuckDB connection with the webtrail views of a window of days.

    ``warehouse`` opens a psycopg2 connection to the warehouse; it is called only when a query
    names a warehouse view, and at most once per workspace.
    """

    def __init__(self, data_dir: Path, days: Sequence[date], warehouse: Callable[[], Any] | None = None) -> None:
        if not days:
            raise ValueError("the window has no days")
        self.data_dir = Path(data_dir)
        self.days = sorted(set(days))
        self._open_warehouse = warehouse
        self._warehouse: Any = None
        self._loaded: dict[str, Any] = {}
        self.con = duckdb.connect(config={"threads": 2})
        self.con.execute("SET TimeZone = 'UTC'")
        # The query text may come from a deployment parameter: it reads the staging and nothing else
        # on the machine (no read_csv('/etc/...')), and cannot SET its way back out.
        self.con.execute("SET allowed_directories = [?]", [str((self.data_dir / "staging").resolve())])
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    def close(self) -> None:
        self.con.close()
        if self._warehouse is not None:
            self._warehouse.close()

    def __enter__(self) -> SqlWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _staging_view(self, view: str) -> list[PartitionRead]:
        reads = [_partition(view, DayLayout(self.data_dir, d), STAGING_VIEWS[view](DayLayout(self.data_dir, d)))
                 for d in self.days]
        present = [r for r in reads if r.exists]
        if not present:
            span = f"{self.days[0]} to {self.days[-1]}" if len(self.days) > 1 else str(self.days[0])
            raise FileNotFoundError(
                f"no staged {view} for {span} under {self.data_dir / 'staging'} (run the daily flow for those days)"
            )
        parts = []
        for read in present:
            day, path = _literal(read.day.isoformat()), _literal(str(read.path))
            # hive_partitioning off: the directory name day=D would otherwise add a second `day` column.
            columns = ", ".join(VIEW_COLUMNS.get(view, ("*",)))
            select = f"SELECT DATE {day} AS day, {columns} FROM read_parquet({path}, hive_partitioning = false)"  # noqa: S608
            if view == "requests":  # the day's own UTC range: the overlap rows belong to the neighbours
                low, high = read.day.isoformat(), (read.day + timedelta(days=1)).isoformat()
                select += (f" WHERE requested_at >= TIMESTAMPTZ {_literal(low + ' 00:00:00+00')}"
                           f" AND requested_at < TIMESTAMPTZ {_literal(high + ' 00:00:00+00')}")
            parts.append(select)
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS " + " UNION ALL ".join(parts))
        return reads

    def _warehouse_view(self, view: str) -> int:
        from warehouse.arrow import json_columns, read_days

        if self._open_warehouse is None:
            raise ValueError(f"the view {view} needs the warehouse, and none is configured")
        if self._warehouse is None:
            self._warehouse = self._open_warehouse()
        table = WAREHOUSE_VIEWS[view]
        arrow = read_days(self._warehouse, table, self.days)
        source = f"_wh_{view}"
        self.con.register(source, arrow)
        casts = {name: f"CAST({name} AS JSON) AS {name}" for name in json_columns(self._warehouse, table)}
        if "user_ids" in casts:  # text[]: a list, as in PostgreSQL
            casts["user_ids"] = "from_json(user_ids, '[\"VARCHAR\"]') AS user_ids"
        select = ", ".join(casts.get(name, name) for name in arrow.column_names)
        # Column names come from the warehouse catalog, the view name from WAREHOUSE_VIEWS.
        self.con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {select} FROM {source}")  # noqa: S608
        self._loaded[view] = arrow
        return arrow.num_rows

    def prepare(self, query: str) -> tuple[list[PartitionRead], dict[str, int]]:
        """Create the views the query names; the partitions and warehouse rows they read."""
        partitions: list[PartitionRead] = []
        warehouse_rows: dict[str, int] = {}
        for view in sorted(referenced_views(query)):
            if view in STAGING_VIEWS:
                partitions += self._staging_view(view)
            elif view not in self._loaded:
                warehouse_rows[view] = self._warehouse_view(view)
            else:
                warehouse_rows[view] = self._loaded[view].num_rows
        return partitions, warehouse_rows

    def query(self, query: str, params: Sequence[Any] | None = None) -> QueryResult:
        """Run one read-only query (``?`` placeholders bound to ``params``); its rows as Arrow."""
        started = time.perf_counter()
        text = check_read_only(query)
        partitions, warehouse_rows = self.prepare(text)
        try:
            table = self.con.sql(text, params=list(params) if params else None).to_arrow_table()
        except duckdb.Error as exc:
            raise ValueError(f"the query failed: {exc}") from None
        return QueryResult(table, partitions, warehouse_rows, time.perf_counter() - started)
