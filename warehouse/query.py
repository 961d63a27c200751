"""Small read helpers for tests and the CLI (table names checked against the catalog)."""

from __future__ import annotations

from datetime import date

import psycopg2.extensions
from psycopg2 import sql

from warehouse.schema import SCHEMA


def _table(cur: psycopg2.extensions.cursor, table: str) -> sql.Composed:
    cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.{table}",))
    row = cur.fetchone()
    if not (row and row[0]):
        raise ValueError(f"no table {SCHEMA}.{table}")
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))


def _finish_read(conn: psycopg2.extensions.connection, was_idle: bool) -> None:
    """End the read-only transaction we opened; leave a caller's open transaction alone."""
    if was_idle and not conn.autocommit:
        conn.rollback()


def _idle(conn: psycopg2.extensions.connection) -> bool:
    return conn.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE


def table_checksum(conn: psycopg2.extensions.connection, table: str, day: date) -> str:
    """md5 over the day's rows (text form, sorted): equal checksums mean identical content."""
    was_idle = _idle(conn)
    with conn.cursor() as cur:
        name = _table(cur, table)
        cur.execute(
            sql.SQL(
                "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                " FROM {} t WHERE day = %s"
            ).format(name),
            (day,),
        )
        row = cur.fetchone()
    _finish_read(conn, was_idle)
    return str(row[0]) if row else ""


def count_rows(conn: psycopg2.extensions.connection, table: str, day: date | None = None) -> int:
    """Rows of ``webtrail.<table>``, of one day when ``day`` is given."""
    was_idle = _idle(conn)
    with conn.cursor() as cur:
        name = _table(cur, table)
        if day is None:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(name))
        else:
            cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE day = %s").format(name), (day,))
        row = cur.fetchone()
    _finish_read(conn, was_idle)
    return int(row[0]) if row else 0
