"""Streamed COPY loading of Parquet into ``webtrail.*`` and the atomic replace of one day.

Parquet (a file, or a directory of Spark part files) is read batch by batch with ``pyarrow.dataset``
and encoded to CSV on the fly (:mod:`warehouse.csvstream`), so memory stays bounded by one batch.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from psycopg2 import sql

from config import catalog
from config.catalog import ColumnType
from warehouse import csvstream
from warehouse.schema import SCHEMA

log = logging.getLogger(__name__)

BATCH_ROWS = 65_536
COPY_READ_SIZE = 1 << 20
# Namespace (first key) of the two-key advisory lock of a day replace; the second key is the day.
DAY_LOCK_NAMESPACE = zlib.crc32(b"webtrail.replace_day") & 0x7FFFFFFF
REJECTED = catalog.dataset("rejected")  # the staged quarantine files, loaded into rejected_lines
REJECTED_COLUMNS = REJECTED.column_names
_ARROW_TYPES = {ColumnType.TEXT: pa.string(), ColumnType.INT64: pa.int64()}  # the types REJECTED uses


class LoadError(RuntimeError):
    """Parquet and table do not fit (missing table or column), or a row is for another day."""


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # format_type(), e.g. 'text', 'timestamp with time zone', 'text[]', 'jsonb'
    not_null: bool
    has_default: bool


@dataclass(frozen=True)
class Quarantine:
    """The rejected-line Parquet files of a day (missing ones skipped), at most ``cap`` lines kept
    per source file."""

    files: Sequence[Path]
    cap: int = 1_000


@dataclass(frozen=True)
class Manifest:
    """The ``day_loads`` row written with the day's data: which run loaded it, from which inputs."""

    run_id: str
    input_sha256: frozenset[str] = frozenset()


@dataclass
class LoadResult:
    """Rows copied per table, and rejected lines seen / stored per source file."""

    day: date
    rows: dict[str, int] = field(default_factory=dict)
    rejected_seen: dict[str, int] = field(default_factory=dict)
    rejected_stored: dict[str, int] = field(default_factory=dict)


def table_columns(cur: psycopg2.extensions.cursor, table: str) -> list[Column]:
    """Columns of ``webtrail.<table>`` in table order (generated columns excluded)."""
    cur.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.atthasdef
        FROM pg_attribute a
        WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attgenerated = ''
        ORDER BY a.attnum
        """,
        (f"{SCHEMA}.{table}",),
    )
    columns = [Column(*row) for row in cur.fetchall()]
    if not columns:
        raise LoadError(f"table {SCHEMA}.{table} does not exist (run the migrations?)")
    return columns


def open_dataset(path: Path) -> ds.Dataset:
    """A Parquet file or a directory of part files (``_SUCCESS``, ``.crc`` and hidden files ignored)."""
    if not Path(path).exists():
        raise LoadError(f"Parquet input {path} does not exist")
    return ds.dataset(str(path), format="parquet", partitioning="hive")


def plan_columns(
    table: str, columns: list[Column], parquet: pa.Schema, constants: Mapping[str, Any], source: str
) -> list[Column]:
    """COPY column list: table order, restricted to the Parquet columns plus ``constants``."""
    by_name = {c.name: c for c in columns}
    extra = [name for name in parquet.names if name not in by_name]
    if extra:
        raise LoadError(f"table {SCHEMA}.{table} has no column {extra[0]!r} (found in Parquet {source})")
    provided = set(parquet.names) | set(constants)
    for column in columns:
        if column.not_null and not column.has_default and column.name not in provided:
            raise LoadError(
                f"table {SCHEMA}.{table}: NOT NULL column {column.name!r} is missing in Parquet {source}"
            )
    return [c for c in columns if c.name in provided]


def _check_day(batch: pa.RecordBatch, table: str, day: date) -> None:
    index = batch.schema.get_field_index("day")
    if index < 0 or batch.num_rows == 0:
        return
    values = batch.column(index).cast(pa.date32())
    wrong = pc.sum(pc.fill_null(pc.not_equal(values, pa.scalar(day, pa.date32())), True)).as_py()
    if wrong:
        raise LoadError(f"table {SCHEMA}.{table}: {wrong} row(s) of the Parquet are not for day {day}")


def _with_constants(
    batches: Iterable[pa.RecordBatch],
    plan: list[Column],
    constants: Mapping[str, Any],
    table: str,
    day: date | None,
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        arrays = []
        for column in plan:
            if column.name in batch.schema.names:
                arrays.append(batch.column(batch.schema.get_field_index(column.name)))
            else:
                arrays.append(pa.repeat(pa.scalar(constants[column.name]), batch.num_rows))
        out = pa.RecordBatch.from_arrays(arrays, names=[c.name for c in plan])
        if day is not None:
            _check_day(out, table, day)
        yield out


# The COPY target and source, plus three keyword-only options (constant columns, the day every
# row must belong to, the source named in errors) that its two callers set differently.
# params: seven, see above
def copy_batches(
    cur: psycopg2.extensions.cursor,
    table: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    constants: Mapping[str, Any] | None = None,
    day: date | None = None,
    source: str = "<batches>",
) -> int:
    """COPY record batches into ``webtrail.<table>``; returns the rows sent. No commit."""
    constants = dict(constants or {})
    constants = {k: v for k, v in constants.items() if k not in schema.names}
    plan = plan_columns(table, table_columns(cur, table), schema, constants, source)
    stream = csvstream.CsvStream(
        _with_constants(batches, plan, constants, table, day), [c.pg_type for c in plan]
    )
    statement = sql.SQL("COPY {}.{} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(SCHEMA),
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c.name) for c in plan),
    )
    try:
        cur.copy_expert(statement, stream, size=COPY_READ_SIZE)
    except psycopg2.Error:
        if stream.error is not None:  # our own error inside read(): raise it, not "COPY cancelled"
            raise stream.error from None
        raise
    return stream.rows


def copy_parquet(
    cur: psycopg2.extensions.cursor,
    table: str,
    path: Path,
    *,
    day: date | None = None,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """COPY a Parquet file / part-file directory into ``webtrail.<table>``; ``day`` fills a missing
    ``day`` column and is checked against a present one. Returns the rows copied. No commit."""
    dataset = open_dataset(path)
    if not dataset.files:
        return 0  # Spark wrote only _SUCCESS: an empty table
    constants = {"day": day} if day is not None else {}
    batches = dataset.to_batches(batch_size=batch_rows)
    return copy_batches(cur, table, dataset.schema, batches, constants=constants, day=day, source=str(path))


def _capped_rejected(
    paths: Sequence[Path], cap: int, seen: Counter[str], stored: Counter[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Rejected-line batches keeping the first ``cap`` rows of every source file."""
    for path in paths:
        dataset = open_dataset(path)
        for batch in dataset.to_batches(columns=list(REJECTED_COLUMNS), batch_size=batch_rows):
            arrays = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
            for name in ("source_file", "reason", "raw_text"):
                arrays[name] = pc.fill_null(arrays[name].cast(pa.string()), "")
            files = arrays["source_file"]
            keep: list[pa.Array] = []
            for value in pc.unique(files).to_pylist():
                rows = pc.indices_nonzero(pc.equal(files, value))
                seen[value] += len(rows)
                room = max(0, cap - stored[value])
                if room:
                    keep.append(rows.slice(0, room))
                    stored[value] += min(room, len(rows))
            if keep:
                kept = pa.concat_arrays(keep)
                taken = kept.take(pc.sort_indices(kept))
                yield pa.RecordBatch.from_arrays(
                    [arrays[n].take(taken) for n in REJECTED_COLUMNS], names=list(REJECTED_COLUMNS)
                )


def _lock_day(cur: psycopg2.extensions.cursor, day: date) -> None:
    cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (DAY_LOCK_NAMESPACE, day.toordinal()))


def _delete_day(cur: psycopg2.extensions.cursor, table: str, day: date) -> None:
    cur.execute(
        sql.SQL("DELETE FROM {}.{} WHERE day = %s").format(sql.Identifier(SCHEMA), sql.Identifier(table)),
        (day,),
    )


def replace_day(
    conn: psycopg2.extensions.connection,
    day: date,
    tables: Mapping[str, Path],
    *,
    quarantine: Quarantine | None = None,
    manifest: Manifest | None = None,
    batch_rows: int = BATCH_ROWS,
) -> LoadResult:
    """Replace everything of ``day`` in one transaction; a failure or crash leaves the previous state.

    Takes ``pg_advisory_xact_lock`` on the day (a concurrent replace of the same day waits), deletes
    the day's rows of every table in ``tables`` (and ``rejected_lines`` with a ``quarantine``), then
    COPYs each table's Parquet and the quarantine's lines. With a ``manifest`` the ingest manifest
    ``day_loads`` records the run and its input checksums.
    """
    if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        raise LoadError("replace_day() needs a connection without an open transaction")
    if conn.autocommit:
        raise LoadError("replace_day() needs a connection with autocommit off (one transaction)")
    result = LoadResult(day)
    with conn, conn.cursor() as cur:
        _lock_day(cur, day)
        targets = list(dict.fromkeys([*tables, *(["rejected_lines"] if quarantine is not None else [])]))
        for table in targets:
            if "day" not in {c.name for c in table_columns(cur, table)}:
                raise LoadError(f"table {SCHEMA}.{table} has no day column: it cannot be replaced by day")
            _delete_day(cur, table, day)
        for table, path in tables.items():
            result.rows[table] = copy_parquet(cur, table, Path(path), day=day, batch_rows=batch_rows)
            log.info("loaded %d rows into %s.%s for %s", result.rows[table], SCHEMA, table, day)
        if quarantine is not None:
            seen: Counter[str] = Counter()
            stored: Counter[str] = Counter()
            files = [Path(path) for path in quarantine.files if Path(path).exists()]
            schema = pa.schema([(column.name, _ARROW_TYPES[column.type]) for column in REJECTED.columns])
            batches = _capped_rejected(files, quarantine.cap, seen, stored, batch_rows)
            result.rows["rejected_lines"] = copy_batches(
                cur, "rejected_lines", schema, batches, constants={"day": day}, day=day
            )
            result.rejected_seen, result.rejected_stored = dict(seen), dict(stored)
        if manifest is not None:
            cur.execute(
                sql.SQL(
                    "INSERT INTO {}.day_loads (day, run_id, input_sha256, tables, loaded_at) "
                    "VALUES (%s, %s, %s, %s, now()) "
                    "ON CONFLICT (day) DO UPDATE SET run_id = EXCLUDED.run_id, "
                    "input_sha256 = EXCLUDED.input_sha256, tables = EXCLUDED.tables, loaded_at = now()"
                ).format(sql.Identifier(SCHEMA)),
                (day, str(manifest.run_id), sorted(manifest.input_sha256), targets),
            )
    return result
