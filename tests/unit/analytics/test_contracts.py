"""The Spark output schemas match the SQL contract (warehouse/migrations/001_initial.sql)."""

from __future__ import annotations

import re
from pathlib import Path

from pyspark.sql import types as T

from analytics.contracts import OUTPUT_SCHEMAS
from config.layout import OUTPUT_TABLES

SQL = Path(__file__).resolve().parents[3] / "warehouse" / "migrations" / "001_initial.sql"
SQL_TYPES = {
    "date": T.DateType(),
    "text": T.StringType(),
    "timestamptz": T.TimestampType(),
    "bigint": T.LongType(),
    "integer": T.IntegerType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "text[]": T.ArrayType(T.StringType(), True),
    "jsonb": T.StringType(),
}


def sql_columns(table: str) -> list[tuple[str, T.DataType]]:
    body = re.search(rf"CREATE TABLE webtrail\.{table} \((.*?)\n\);", SQL.read_text(), re.S)
    assert body, table
    cols = []
    for line in body.group(1).splitlines():
        words = line.split()
        if not words or words[0] in ("PRIMARY", "--") or words[0].isupper():
            continue
        cols.append((words[0], SQL_TYPES[words[1].rstrip(",")]))
    return cols


def test_output_schemas_match_sql() -> None:
    assert set(OUTPUT_SCHEMAS) == set(OUTPUT_TABLES)
    for table in OUTPUT_TABLES:
        ours = [(f.name, f.dataType) for f in OUTPUT_SCHEMAS[table].fields]
        assert ours == sql_columns(table), table
