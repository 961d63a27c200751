"""Column contracts of the staging datasets (Parquet) that every later stage reads.

The polars parsers write exactly these columns in this order; the Spark analytics and the Soda
contracts in checks/contracts/ read them by these names. Timestamps are UTC.
"""

from __future__ import annotations

from typing import Any

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

# One parsed access-log line.
REQUESTS_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "line_number": pl.Int64(),
    "client_ip": pl.String(),  # IPv4, IPv6 or hostname; X-Forwarded-For when trusted
    "remote_user": pl.String(),
    "requested_at": UTC_TS,
    "method": pl.String(),
    "path": pl.String(),
    "query": pl.String(),
    "protocol": pl.String(),
    "request": pl.String(),  # the raw request line, e.g. 'GET /a?b=1 HTTP/1.1'
    "request_kind": pl.String(),  # REQUEST_KINDS: why method / path / protocol may be null
    "status": pl.Int32(),
    "bytes": pl.Int64(),
    "referer": pl.String(),
    "user_agent": pl.String(),
    "request_time_ms": pl.Float64(),
    "vhost": pl.String(),
    "has_invalid_utf8": pl.Boolean(),
}

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

# One line that could not be parsed, kept with its reason (quarantine).
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "line_number": pl.Int64(),
    "reason": pl.String(),
    "raw_text": pl.String(),
}

# One application event from the JSON-lines stream.
EVENTS_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "occurred_at": UTC_TS,
    "event_type": pl.String(),
    "user_id": pl.String(),
    "anonymous_id": pl.String(),
    "client_ip": pl.String(),
    "user_agent": pl.String(),
    "path": pl.String(),
    "properties": pl.String(),  # the JSON object as text
    "source_file": pl.String(),
    "line_number": pl.Int64(),
}

EVENT_TYPES: tuple[str, ...] = (
    "page_view", "login_success", "login_failure", "signup", "add_to_cart", "checkout", "purchase",
    "logout",
)

# Snapshot of the user database.
USERS_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.String(),
    "email": pl.String(),
    "created_at": UTC_TS,
    "country": pl.String(),
    "plan": pl.String(),
    "is_admin": pl.Boolean(),
    "status": pl.String(),
}

# One row per distinct user-agent string.
USER_AGENTS_SCHEMA: dict[str, pl.DataType] = {
    "user_agent": pl.String(),
    "browser_family": pl.String(),
    "browser_version": pl.String(),
    "os_family": pl.String(),
    "os_version": pl.String(),
    "device_type": pl.String(),  # desktop, mobile, tablet, bot, other
    "is_bot": pl.Boolean(),
}


def spark_type(dtype: pl.DataType) -> Any:
    """The Spark type of a staging column: the same contract read by the Spark parser and analytics."""
    from pyspark.sql import types as T  # lazy: the polars parsers do not need Spark

    spark_types = {
        pl.String: T.StringType(), pl.Int64: T.LongType(), pl.Int32: T.IntegerType(), pl.Float64: T.DoubleType(),
        pl.Boolean: T.BooleanType(), pl.Datetime: T.TimestampType(),
    }
    return spark_types[type(dtype)]


def spark_schema(schema: dict[str, pl.DataType]) -> Any:
    """The Spark StructType (all columns nullable) of a staging dataset."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(name, spark_type(dtype), True) for name, dtype in schema.items()])


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A zero-row frame with the given schema (a day without events still has a typed dataset)."""
    return pl.DataFrame(schema=schema)
