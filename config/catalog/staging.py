"""Staging datasets: what the parsers write under staging/day=D/ and every later stage reads.

Parquet carries no NOT NULL here: `required` marks the columns the input contracts check for
missing values (checks/contracts/<name>.yml), and the primary key is the contract's duplicate check.
The value-key dictionaries (config/catalog/value_keys.py) have no contract: the parser writes them from
the keyed rows themselves (tests/unit/parsers/test_value_keys.py holds them to the rows' values).
"""

from __future__ import annotations

from config.catalog.model import (
    BOOLEAN,
    DATE,
    FLOAT64,
    INT32,
    INT64,
    TEXT,
    TIMESTAMP,
    Column,
    Dataset,
    optional,
    required,
)
from config.catalog.value_keys import KEY, VALUE_KEYS, ValueKey

_PARSED_REQUEST_COLUMNS: tuple[Column, ...] = (
    optional("source_file", TEXT, "the log file the line came from"),
    required("line_number", INT64, "1-based line number in source_file"),
    required("client_ip", TEXT, "IPv4, IPv6 or hostname; X-Forwarded-For when trusted"),
    optional("remote_user", TEXT),
    required("requested_at", TIMESTAMP),
    optional("method", TEXT),
    optional("path", TEXT),
    optional("query", TEXT),
    optional("protocol", TEXT),
    optional("request", TEXT, "the raw request line, e.g. 'GET /a?b=1 HTTP/1.1'"),
    required("request_kind", TEXT, "parsers.schema.REQUEST_KINDS: why method / path / protocol may be null"),
    required("status", INT32),
    optional("bytes", INT64),
    optional("referer", TEXT),
    optional("user_agent", TEXT),
    optional("request_time_ms", FLOAT64),
    optional("vhost", TEXT),
    optional("has_invalid_utf8", BOOLEAN, "the line had bytes that are not UTF-8 (replaced)"),
)


def _key_column(value_key: ValueKey) -> Column:
    return optional(
        value_key.key_column,
        INT32,
        f"key of {value_key.source} in {value_key.dictionary} (config/catalog/value_keys.py); null exactly when"
        f" {value_key.source} is null",
    )


REQUESTS = Dataset(
    name="requests",
    kind="staging",
    description="One access-log line with a client, a timestamp and a status, whatever its request line.",
    columns=(*_PARSED_REQUEST_COLUMNS, *(_key_column(value_key) for value_key in VALUE_KEYS)),
    primary_key=("source_file", "line_number"),
)


def _dictionary(value_key: ValueKey) -> Dataset:
    """The dataset of one kind of keyed value: its key, the value (never null) and the carried columns."""
    source = REQUESTS.column(value_key.source)
    description = (
        f"One distinct {value_key.source} of the day's staged requests with its key (requests.{value_key.key_column})."
    )
    if value_key.carried:
        description += (
            f" {', '.join(value_key.carried)} are as on the rows of that {value_key.source}: the parser derives them"
            f" from the {value_key.source} alone, so each key has exactly one of each."
        )
    return Dataset(
        name=value_key.dictionary,
        kind="staging",
        description=description,
        columns=(
            required(KEY, INT32, f"requests.{value_key.key_column}; unique within the day"),
            required(source.name, source.type, source.description),
            *(REQUESTS.column(name) for name in value_key.carried),
        ),
        primary_key=(KEY,),
    )


VALUE_KEY_DICTIONARIES: tuple[Dataset, ...] = tuple(_dictionary(value_key) for value_key in VALUE_KEYS)

_REJECTED_COLUMNS: tuple[Column, ...] = (
    optional("source_file", TEXT),
    optional("line_number", INT64),
    optional("reason", TEXT, "why the line was quarantined"),
    optional("raw_text", TEXT, "the line as read, NUL bytes removed, truncated"),
)

REJECTED = Dataset(
    name="rejected",
    kind="staging",
    description="One access-log line that gave no client, timestamp or status, with its reason (quarantine).",
    columns=_REJECTED_COLUMNS,
    primary_key=("source_file", "line_number"),
)

EVENTS = Dataset(
    name="events",
    kind="staging",
    description="One application event from the JSON-lines stream or the events API.",
    columns=(
        required("event_id", TEXT),
        required("occurred_at", TIMESTAMP),
        required("event_type", TEXT, "parsers.schema.EVENT_TYPES"),
        optional("user_id", TEXT),
        optional("anonymous_id", TEXT),
        optional("client_ip", TEXT),
        optional("user_agent", TEXT),
        optional("path", TEXT),
        optional("properties", TEXT, "the event's JSON object as text"),
        optional("source_file", TEXT),
        optional("line_number", INT64),
    ),
    primary_key=("event_id",),
)

EVENTS_REJECTED = Dataset(
    name="events_rejected",
    kind="staging",
    description="One events line that is not a valid event, with its reason (quarantine).",
    columns=_REJECTED_COLUMNS,
    primary_key=("source_file", "line_number"),
)

USERS = Dataset(
    name="users",
    kind="staging",
    description="One user of the user database, as snapshotted for the run.",
    columns=(
        required("user_id", TEXT),
        optional("email", TEXT),
        optional("created_at", TIMESTAMP),
        optional("country", TEXT),
        optional("plan", TEXT),
        optional("is_admin", BOOLEAN),
        optional("status", TEXT, "account status: active, inactive, pending, suspended, locked, deleted"),
    ),
    primary_key=("user_id",),
)

USER_AGENTS = Dataset(
    name="user_agents",
    kind="staging",
    description="One distinct user-agent string of the day's requests, parsed.",
    columns=(
        optional("user_agent", TEXT),
        optional("browser_family", TEXT),
        optional("browser_version", TEXT),
        optional("os_family", TEXT),
        optional("os_version", TEXT),
        optional("device_type", TEXT, "desktop, mobile, tablet, bot, other"),
        optional("is_bot", BOOLEAN),
    ),
    primary_key=("user_agent",),
)

PARSE_STATS = Dataset(
    name="parse_stats",
    kind="in_memory",
    description="One parsed access-log file with its line counts: lines_read = parsed + lines_rejected.",
    columns=(
        optional("source_file", TEXT),
        required("lines_read", INT64),
        required("lines_rejected", INT64),
    ),
    primary_key=("source_file",),
)

REJECTED_LINES = Dataset(
    name="rejected_lines",
    kind="warehouse",
    description="One quarantined line of a day in PostgreSQL (the first lines of each file, capped).",
    columns=(
        required("day", DATE),
        *(required(column.name, column.type, column.description) for column in _REJECTED_COLUMNS),
    ),
    primary_key=("day", "source_file", "line_number"),
)

STAGING_DATASETS: tuple[Dataset, ...] = (
    REQUESTS, *VALUE_KEY_DICTIONARIES, REJECTED, EVENTS, EVENTS_REJECTED, USERS, USER_AGENTS, PARSE_STATS,
)
