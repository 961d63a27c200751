"""polars and Spark types of the catalog's datasets (config/catalog), and the staging schemas.

The polars parsers write exactly these columns in this order; the Spark analytics and the Soda
contracts in checks/contracts/ read them by these names. Timestamps are UTC.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from config import catalog
from config.catalog import ColumnType, Dataset
from config.catalog.value_keys import DICTIONARIES, KEY_COLUMNS

UTC_TS = pl.Datetime("us", "UTC")

# The polars type of each catalog column type (config/catalog/model.py).
POLARS_TYPES: dict[ColumnType, pl.DataType] = {
    ColumnType.TEXT: pl.String(),
    ColumnType.INT32: pl.Int32(),
    ColumnType.INT64: pl.Int64(),
    ColumnType.FLOAT64: pl.Float64(),
    ColumnType.BOOLEAN: pl.Boolean(),
    ColumnType.TIMESTAMP: UTC_TS,
    ColumnType.DATE: pl.Date(),
    ColumnType.TEXT_LIST: pl.List(pl.String()),
    ColumnType.JSON: pl.String(),
}


def polars_schema(declared: Dataset) -> dict[str, pl.DataType]:
    """The polars schema (column order and types) of a catalog dataset."""
    return {column.name: POLARS_TYPES[column.type] for column in declared.columns}


# The staging datasets (config/catalog/staging.py describes each row and column).
REQUESTS_SCHEMA: dict[str, pl.DataType] = polars_schema(catalog.dataset("requests"))
# A request as a line parser yields it: every requests column but the value keys, which the polars
# parser adds per batch (parsers/value_keys.py) and the Spark parser does without.
PARSED_REQUESTS_SCHEMA: dict[str, pl.DataType] = {
    name: dtype for name, dtype in REQUESTS_SCHEMA.items() if name not in KEY_COLUMNS
}
DICTIONARY_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    name: polars_schema(catalog.dataset(name)) for name in DICTIONARIES
}
REJECTED_SCHEMA: dict[str, pl.DataType] = polars_schema(catalog.dataset("rejected"))
EVENTS_SCHEMA: dict[str, pl.DataType] = polars_schema(catalog.dataset("events"))
USERS_SCHEMA: dict[str, pl.DataType] = polars_schema(catalog.dataset("users"))
USER_AGENTS_SCHEMA: dict[str, pl.DataType] = polars_schema(catalog.dataset("user_agents"))
PARSE_STATS_SCHEMA: dict[str, pl.DataType] = polars_schema(catalog.dataset("parse_stats"))

# What a logged request line was (README, "What a request is"). Every line with a client, a
# timestamp and a status is a request, whatever its request line:
#   http       METHOD SP target [SP HTTP/x.y]: method, path and protocol are set (any RFC 9110 token
#              is a method: PROPFIND, PRI and SSTP_DUPLEX_POST are data, not errors)
#   non_http   METHOD SP target SP protocol where the protocol is not HTTP/<version> (RTSP/1.0,
#              http/1.1): method, path and protocol are kept as logged
#   malformed  anything else: TLS or binary bytes the server escaped, a bare word ("HELP"), a method
#              with no target: method, path, query and protocol are null, the raw line is kept
#   empty      "-" or "": the client closed the connection before sending a request line (nginx
#              logs `"-" 400 0`, Apache `"-" 408`): method, path, query and protocol are null
REQUEST_KINDS: tuple[str, ...] = ("http", "non_http", "malformed", "empty")

EVENT_TYPES: tuple[str, ...] = (
    "page_view", "login_success", "login_failure", "signup", "add_to_cart", "checkout", "purchase",
    "logout",
)


def spark_column_type(column_type: ColumnType) -> Any:
    """The Spark type of a catalog column type (Spark is imported lazily: the polars parsers need none)."""
    from pyspark.sql import types as spark_types

    by_type = {
        ColumnType.TEXT: spark_types.StringType(),
        ColumnType.INT32: spark_types.IntegerType(),
        ColumnType.INT64: spark_types.LongType(),
        ColumnType.FLOAT64: spark_types.DoubleType(),
        ColumnType.BOOLEAN: spark_types.BooleanType(),
        ColumnType.TIMESTAMP: spark_types.TimestampType(),
        ColumnType.DATE: spark_types.DateType(),
        ColumnType.TEXT_LIST: spark_types.ArrayType(spark_types.StringType(), True),
        ColumnType.JSON: spark_types.StringType(),
    }
    return by_type[column_type]


def spark_struct(declared: Dataset) -> Any:
    """The Spark StructType of a catalog dataset, in column order.

    Every field is nullable, NOT NULL columns included: Spark does not enforce nullability, and a
    non-nullable field would change the Parquet files the stages exchange (PostgreSQL enforces it).
    """
    from pyspark.sql import types as spark_types

    return spark_types.StructType(
        [spark_types.StructField(column.name, spark_column_type(column.type), True) for column in declared.columns]
    )


def spark_type(dtype: pl.DataType) -> Any:
    """The Spark type of a staging column given as its polars type (the catalog type it maps from)."""
    for column_type, polars_type in POLARS_TYPES.items():  # TEXT comes before JSON: both are strings
        if polars_type == dtype:
            return spark_column_type(column_type)
    raise KeyError(f"polars type {dtype} is no type of config/catalog (ColumnType)")


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A zero-row frame with the given schema (a day without events still has a typed dataset)."""
    return pl.DataFrame(schema=schema)
