"""Read warehouse tables into Arrow (for DuckDB investigations and the notebook API).

DuckDB's own postgres scanner is an extension it downloads at run time, and the packaged one
(`duckdb-ext-postgres`) is built for another DuckDB version, so webtrail reads the tables itself: one
``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` per table, restricted to the days asked for, parsed by
pyarrow with the column types taken from the PostgreSQL catalog. Timestamps travel as epoch
microseconds (no time-zone text to parse), arrays and JSON as JSON text, booleans as t / f.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import psycopg2.extensions
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg2 import sql

SCHEMA = "webtrail"

_INTEGER = {"smallint", "integer", "bigint"}
_FLOAT = {"real", "double precision", "numeric"}


@dataclass(frozen=True)
class Column:
    """One warehouse column and how it travels: 'ts' (epoch us), 'json' (JSON text) or plain."""

    name: str
    kind: str
    arrow: pa.DataType


def _column(name: str, data_type: str) -> Column:
    if data_type == "timestamp with time zone":
        return Column(name, "ts", pa.int64())
    if data_type == "date":
        return Column(name, "plain", pa.date32())
    if data_type in _INTEGER:
        return Column(name, "plain", pa.int64())
    if data_type in _FLOAT:
        return Column(name, "float", pa.float64())
    if data_type == "boolean":
        return Column(name, "plain", pa.bool_())
    if data_type in ("ARRAY", "jsonb", "json"):
        return Column(name, "json", pa.string())
    return Column(name, "text", pa.string())


def table_columns(cur: psycopg2.extensions.cursor, table: str) -> list[Column]:
    """The columns of ``webtrail.<table>`` in order; ValueError naming the table when it is missing."""
    cur.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (SCHEMA, table),
    )
    rows = cur.fetchall()
    if not rows:
        raise ValueError(f"no table {SCHEMA}.{table} in the warehouse (has a daily run loaded anything yet?)")
    return [_column(name, data_type) for name, data_type in rows]


def _select_item(column: Column) -> sql.Composable:
    ident = sql.Identifier(column.name)
    if column.kind == "ts":
        return sql.SQL("(extract(epoch FROM {0}) * 1000000)::bigint AS {0}").format(ident)
    if column.kind == "json":
        return sql.SQL("to_json({0})::text AS {0}").format(ident)
    if column.kind == "text":
        return sql.SQL("{0}::text AS {0}").format(ident)
    return ident


def read_days(conn: psycopg2.extensions.connection, table: str, days: Sequence[date] | None) -> pa.Table:
    """``webtrail.<table>`` as an Arrow table, only the given days (every day when None).

    Timestamp columns come back as ``timestamp[us, UTC]``; array and JSON columns as JSON text.
    The read runs in a read-only transaction that is rolled back.
    """
    with conn.cursor() as cur:
        cur.execute("SET TRANSACTION READ ONLY")
        columns = table_columns(cur, table)
        query = sql.SQL("SELECT {} FROM {}.{}").format(
            sql.SQL(", ").join(_select_item(c) for c in columns), sql.Identifier(SCHEMA), sql.Identifier(table)
        )
        if days is not None:
            query += sql.SQL(" WHERE day = ANY({}::date[])").format(sql.Literal([d.isoformat() for d in days]))
        buffer = io.BytesIO()
        copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true)").format(query)
        cur.copy_expert(copy.as_string(conn), buffer)
    conn.rollback()
    buffer.seek(0)
    names = [c.name for c in columns]
    if not buffer.getbuffer().nbytes:
        return pa.table({c.name: pa.array([], type=_final_type(c)) for c in columns})
    parsed = pacsv.read_csv(
        buffer,
        convert_options=pacsv.ConvertOptions(
            column_types={c.name: c.arrow for c in columns},
            true_values=["t"], false_values=["f"],
            strings_can_be_null=True, quoted_strings_can_be_null=False,
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
    )
    arrays = []
    for column in columns:
        values = parsed.column(column.name)
        if column.kind == "ts":
            values = pc.cast(values, pa.timestamp("us", tz="UTC"))
        arrays.append(values)
    return pa.table(arrays, names=names)


def _final_type(column: Column) -> pa.DataType:
    return pa.timestamp("us", tz="UTC") if column.kind == "ts" else column.arrow


def json_columns(conn: psycopg2.extensions.connection, table: str) -> list[str]:
    """The columns of a table that :func:`read_days` returns as JSON text (arrays and JSON)."""
    with conn.cursor() as cur:
        names = [c.name for c in table_columns(cur, table) if c.kind == "json"]
    conn.rollback()
    return names
