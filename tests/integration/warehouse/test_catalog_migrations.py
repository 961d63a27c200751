"""The dataset catalog (config/catalog) against the tables the SQL migrations really create.

Every migration is applied to a real PostgreSQL (the `db_url` fixture); the columns, types,
nullability and primary keys read back from information_schema must be the declared ones.
"""

from __future__ import annotations

import psycopg2
import pytest

from config import catalog

pytestmark = pytest.mark.integration

LOADED = [d.name for d in catalog.DATASETS.values() if d.kind in ("output", "warehouse")]


def _columns(conn: psycopg2.extensions.connection, table: str) -> list[tuple[str, str, bool]]:
    """(name, type as format_type spells it, nullable) of webtrail.<table> in table order."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT column_name,
                   CASE WHEN data_type = 'ARRAY' THEN substr(udt_name, 2) || '[]' ELSE data_type END,
                   is_nullable = 'YES'
            FROM information_schema.columns
            WHERE table_schema = 'webtrail' AND table_name = %s
            ORDER BY ordinal_position
            """,
            (table,),
        )
        return [tuple(row) for row in cur.fetchall()]


def _primary_key(conn: psycopg2.extensions.connection, table: str) -> tuple[str, ...]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT k.column_name
            FROM information_schema.table_constraints c
            JOIN information_schema.key_column_usage k
              ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
            WHERE c.table_schema = 'webtrail' AND c.table_name = %s AND c.constraint_type = 'PRIMARY KEY'
            ORDER BY k.ordinal_position
            """,
            (table,),
        )
        return tuple(row[0] for row in cur.fetchall())


@pytest.mark.parametrize("table", LOADED)
def test_table_columns_are_the_declared_ones(conn: psycopg2.extensions.connection, table: str) -> None:
    declared = catalog.dataset(table)
    expected = [(c.name, c.type.value, c.nullable) for c in declared.columns]
    assert _columns(conn, table) == expected, f"webtrail.{table} differs from config/catalog"


@pytest.mark.parametrize("table", LOADED)
def test_primary_key_is_the_declared_one(conn: psycopg2.extensions.connection, table: str) -> None:
    assert _primary_key(conn, table) == catalog.dataset(table).primary_key


def test_every_daily_table_of_the_warehouse_is_declared(conn: psycopg2.extensions.connection) -> None:
    """A table with a `day` column that is not audit or manifest must be in the catalog."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'webtrail' AND column_name = 'day'"
        )
        daily = {row[0] for row in cur.fetchall()}
    operations = {"pipeline_runs", "run_inputs", "quality_results", "day_loads"}  # run audit, not datasets
    assert daily - operations == set(LOADED)
