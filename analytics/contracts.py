"""Spark schemas of the staging inputs and of the output tables, derived from config/catalog.

The output schemas list the columns of each table in catalog order, which is the order of the SQL
(tests/integration/warehouse/test_catalog.py); `conform` selects and casts a DataFrame to that
contract.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession, functions, types

from config import catalog
from parsers.schema import spark_struct

REQUESTS = spark_struct(catalog.dataset("requests"))
EVENTS = spark_struct(catalog.dataset("events"))
USERS = spark_struct(catalog.dataset("users"))
USER_AGENTS = spark_struct(catalog.dataset("user_agents"))

OUTPUT_SCHEMAS: dict[str, types.StructType] = {
    declared.name: spark_struct(declared) for declared in catalog.OUTPUT_DATASETS
}


# Text keys that PostgreSQL indexes (primary keys and secondary indexes): a btree entry cannot exceed
# ~2.7 kB, and log content is attacker-controlled. Values are cut *before* grouping, so two long
# values sharing a prefix fold into one group instead of breaking the key. client_ip is bounded by the
# parser; categories and families come from our own rule / user-agent catalogues.
MAX_PATH_TEMPLATE_CHARS = 1024
MAX_USER_ID_CHARS = 256
MAX_HOST_CHARS = 256  # DNS names are at most 253 characters
MAX_METHOD_CHARS = 64
MAX_KEY_BYTES = 2048  # UTF-8 bytes: with the other key columns still below the ~2.7 kB btree limit


def bounded_text(col: Column, max_chars: int) -> Column:
    """The first `max_chars` characters, and at most MAX_KEY_BYTES UTF-8 bytes (null stays null).

    A value still longer than MAX_KEY_BYTES bytes after the character cut (multi-byte text) is cut to
    MAX_KEY_BYTES // 4 characters, which always fits.
    """
    cut = functions.substring(col, 1, max_chars)
    too_long = functions.octet_length(cut) > MAX_KEY_BYTES
    return functions.when(too_long, functions.substring(cut, 1, MAX_KEY_BYTES // 4)).otherwise(cut)


def conform(df: DataFrame, table: str, day: date | None = None) -> DataFrame:
    """Select the table's columns in contract order, cast to contract types; `day` set when given."""
    columns: list[Column] = [
        (functions.lit(day) if field.name == "day" and day is not None else functions.col(field.name))
        .cast(field.dataType)
        .alias(field.name)
        for field in OUTPUT_SCHEMAS[table].fields
    ]
    return df.select(*columns)


def empty(spark: SparkSession, schema: types.StructType) -> DataFrame:
    """A zero-row DataFrame with the given schema."""
    return spark.createDataFrame([], schema)
