"""Spark schemas of the staging inputs and of the output tables (warehouse/migrations/001_initial.sql).

The output schemas list the columns of each table in the order of the SQL; `conform` selects and
casts a DataFrame to that contract. A unit test checks these schemas against the migration file.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from parsers import schema as staging
from parsers.schema import spark_schema

REQUESTS = spark_schema(staging.REQUESTS_SCHEMA)
EVENTS = spark_schema(staging.EVENTS_SCHEMA)
USERS = spark_schema(staging.USERS_SCHEMA)
USER_AGENTS = spark_schema(staging.USER_AGENTS_SCHEMA)

S, L, INT, D, B, TS, DT = (
    T.StringType(),
    T.LongType(),
    T.IntegerType(),
    T.DoubleType(),
    T.BooleanType(),
    T.TimestampType(),
    T.DateType(),
)


def _struct(*cols: tuple[str, T.DataType]) -> T.StructType:
    return T.StructType([T.StructField(n, t, True) for n, t in cols])


OUTPUT_SCHEMAS: dict[str, T.StructType] = {
    "sessions": _struct(
        ("day", DT),
        ("session_id", S),
        ("visitor_key", S),
        ("user_id", S),
        ("client_ip", S),
        ("user_agent", S),
        ("started_at", TS),
        ("ended_at", TS),
        ("duration_ms", L),
        ("page_views", INT),
        ("requests", INT),
        ("bytes", L),
        ("entry_path", S),
        ("exit_path", S),
        ("is_bounce", B),
        ("is_bot", B),
        ("browser_family", S),
        ("os_family", S),
        ("device_type", S),
        ("referrer_domain", S),
        ("user_plan", S),
        ("user_country", S),
    ),
    "user_daily": _struct(
        ("day", DT),
        ("user_id", S),
        ("sessions", INT),
        ("page_views", INT),
        ("requests", INT),
        ("bytes", L),
        ("events", INT),
        ("purchases", INT),
        ("first_seen_at", TS),
        ("last_seen_at", TS),
    ),
    "page_daily": _struct(
        ("day", DT),
        ("path_template", S),
        ("views", INT),
        ("unique_visitors", INT),
        ("entries", INT),
        ("exits", INT),
        ("bounces", INT),
        ("bounce_rate", D),
        ("avg_time_on_page_ms", D),
    ),
    "funnel_daily": _struct(
        ("day", DT),
        ("step_number", INT),
        ("step_name", S),
        ("visitors", INT),
        ("conversion_from_previous", D),
        ("conversion_from_start", D),
    ),
    "client_daily": _struct(
        ("day", DT),
        ("browser_family", S),
        ("os_family", S),
        ("device_type", S),
        ("is_bot", B),
        ("requests", L),
        ("sessions", INT),
        ("visitors", INT),
    ),
    "referrer_daily": _struct(("day", DT), ("referrer_domain", S), ("sessions", INT), ("visitors", INT)),
    "traffic_minute": _struct(
        ("day", DT),
        ("minute_at", TS),
        ("requests", INT),
        ("bytes", L),
        ("status_2xx", INT),
        ("status_3xx", INT),
        ("status_4xx", INT),
        ("status_5xx", INT),
        ("p50_ms", D),
        ("p95_ms", D),
        ("p99_ms", D),
        ("unique_clients", INT),
        ("is_spike", B),
        ("spike_score", D),
    ),
    "endpoint_daily": _struct(
        ("day", DT),
        ("method", S),
        ("path_template", S),
        ("hits", L),
        ("errors", L),
        ("error_rate", D),
        ("p50_ms", D),
        ("p95_ms", D),
        ("p99_ms", D),
        ("max_ms", D),
        ("bytes", L),
    ),
    "status_daily": _struct(("day", DT), ("status", INT), ("requests", L), ("bytes", L)),
    "security_findings": _struct(
        ("day", DT),
        ("client_ip", S),
        ("category", S),
        ("rule_id", S),
        ("severity", S),
        ("first_seen_at", TS),
        ("last_seen_at", TS),
        ("request_count", L),
        ("distinct_paths", INT),
        ("user_ids", T.ArrayType(S, True)),
        ("score", D),
        ("evidence", S),
    ),
    "ip_daily": _struct(
        ("day", DT),
        ("client_ip", S),
        ("requests", L),
        ("bytes", L),
        ("status_4xx", L),
        ("status_5xx", L),
        ("distinct_paths", INT),
        ("distinct_user_agents", INT),
        ("first_seen_at", TS),
        ("last_seen_at", TS),
        ("is_flagged", B),
    ),
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
    cut = F.substring(col, 1, max_chars)
    return F.when(F.octet_length(cut) > MAX_KEY_BYTES, F.substring(cut, 1, MAX_KEY_BYTES // 4)).otherwise(cut)


def conform(df: DataFrame, table: str, day: date | None = None) -> DataFrame:
    """Select the table's columns in contract order, cast to contract types; `day` set when given."""
    cols: list[Column] = [
        (F.lit(day) if f.name == "day" and day is not None else F.col(f.name)).cast(f.dataType).alias(f.name)
        for f in OUTPUT_SCHEMAS[table].fields
    ]
    return df.select(*cols)


def empty(spark: SparkSession, schema: T.StructType) -> DataFrame:
    """A zero-row DataFrame with the given schema."""
    return spark.createDataFrame([], schema)
