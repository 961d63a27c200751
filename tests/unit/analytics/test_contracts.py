"""The Spark schemas of analytics/contracts.py are the catalog's datasets (config/catalog) in Spark types.

That the catalog matches the SQL tables is tests/integration/warehouse/test_catalog_migrations.py.
"""

from __future__ import annotations

from pyspark.sql import types

from analytics.contracts import EVENTS, OUTPUT_SCHEMAS, REQUESTS, USER_AGENTS, USERS
from config import catalog
from config.catalog import ColumnType
from config.layout import OUTPUT_TABLES
from parsers.schema import spark_column_type

SPARK_TYPES = {
    ColumnType.TEXT: types.StringType(),
    ColumnType.INT32: types.IntegerType(),
    ColumnType.INT64: types.LongType(),
    ColumnType.FLOAT64: types.DoubleType(),
    ColumnType.BOOLEAN: types.BooleanType(),
    ColumnType.TIMESTAMP: types.TimestampType(),
    ColumnType.DATE: types.DateType(),
    ColumnType.TEXT_LIST: types.ArrayType(types.StringType(), True),
    ColumnType.JSON: types.StringType(),
}


def _expected(name: str) -> list[tuple[str, types.DataType, bool]]:
    # Every Spark field stays nullable: PostgreSQL enforces NOT NULL, and the Parquet schemas the
    # stages exchange must not change.
    return [(c.name, SPARK_TYPES[c.type], True) for c in catalog.dataset(name).columns]


def _fields(schema: types.StructType) -> list[tuple[str, types.DataType, bool]]:
    return [(f.name, f.dataType, f.nullable) for f in schema.fields]


def test_output_schemas_are_the_catalog_tables() -> None:
    assert tuple(OUTPUT_SCHEMAS) == OUTPUT_TABLES
    for table in OUTPUT_TABLES:
        assert _fields(OUTPUT_SCHEMAS[table]) == _expected(table), table


def test_spark_types_of_the_vocabulary() -> None:
    assert {column_type: spark_column_type(column_type) for column_type in ColumnType} == SPARK_TYPES
    assert OUTPUT_SCHEMAS["security_findings"]["user_ids"].dataType == types.ArrayType(types.StringType(), True)
    assert OUTPUT_SCHEMAS["security_findings"]["evidence"].dataType == types.StringType()


def test_staging_schemas_are_the_catalog_datasets() -> None:
    for name, schema in (("requests", REQUESTS), ("events", EVENTS), ("users", USERS), ("user_agents", USER_AGENTS)):
        assert _fields(schema) == _expected(name), name
