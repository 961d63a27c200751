"""One day's requests as Spark reads them: integer keys and numbers, and the dictionaries of the keys.

The parser writes, next to each repeated text of a request (client address, user agent, request
line, referer, vhost, remote user, source file), an integer key, and one small dictionary per kind of
text (parsers/value_keys.py). Spark reads only the keys and the numbers: a row of the day is about
80 bytes instead of the ~600 of its texts, and the shuffle, the sort by client and time and every
aggregation move those 80 bytes. The texts come back through the dictionaries only where a rule reads
them (once per distinct value, analytics/lookups.py) and in the few rows of each output table.

A key is null exactly when its text is null. `encode_requests` builds the same keys and dictionaries
in Spark from the text columns, for tests that write requests as rows of text and for days staged
before the parser wrote keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession, Window, functions, types

from analytics import contracts
from config.catalog.value_keys import KEY, VALUE_KEYS
from config.layout import DayLayout

# key column of REQUESTS -> (its dictionary's staging dataset, the dictionary's value columns; the first
# one is the column the key stands for, the others are functions of it: the split request line)
KEYED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    value_key.key_column: (value_key.dictionary, value_key.value_columns) for value_key in VALUE_KEYS
}
# The numbers of a request, read as they are.
MEASURES = ("line_number", "requested_at", "status", "bytes", "request_time_ms")
FACT_COLUMNS = (*KEYED_COLUMNS, *MEASURES)


@dataclass(frozen=True)
class RequestFacts:
    """The day's requests as keys and numbers (`rows`: FACT_COLUMNS), and one dictionary per key
    (`key` plus the value columns of KEYED_COLUMNS)."""

    rows: DataFrame
    clients: DataFrame
    agents: DataFrame
    requests: DataFrame
    referers: DataFrame
    vhosts: DataFrame
    remote_users: DataFrame
    files: DataFrame

    def dictionary(self, key_column: str) -> DataFrame:
        """The dictionary of one key column of `rows` (e.g. `agent_key` -> `agents`)."""
        return getattr(self, _FIELD_OF[key_column])



# the RequestFacts field of each key column's dictionary
_FIELD_OF = {
    "client_key": "clients", "agent_key": "agents", "request_key": "requests", "referer_key": "referers",
    "vhost_key": "vhosts", "remote_user_key": "remote_users", "file_key": "files",
}


def _dictionary_schema(values: tuple[str, ...]) -> types.StructType:
    return types.StructType(
        [types.StructField(KEY, types.IntegerType(), True)]
        + [contracts.REQUESTS[name] for name in values]
    )


def read_facts(spark: SparkSession, layout: DayLayout) -> RequestFacts:
    """The staged day's facts: requests.parquet's keys and numbers, and the parser's dictionaries.

    A day staged before the parser wrote keys (no `client_key` in its requests.parquet) is encoded
    here instead (`encode_requests`).
    """
    if not layout.requests.exists():
        return encode_requests(contracts.empty(spark, contracts.REQUESTS))
    names = set(spark.read.parquet(str(layout.requests)).columns)
    if not set(KEYED_COLUMNS) <= names:
        return encode_requests(spark.read.schema(contracts.REQUESTS).parquet(str(layout.requests)))
    schema = types.StructType(
        [types.StructField(name, types.IntegerType(), True) for name in KEYED_COLUMNS]
        + [contracts.REQUESTS[name] for name in MEASURES]
    )
    rows = spark.read.schema(schema).parquet(str(layout.requests))
    dictionaries = {}
    for key_column, (dataset, values) in KEYED_COLUMNS.items():
        path = layout.staging_dataset(dataset)
        dictionaries[_FIELD_OF[key_column]] = spark.read.schema(_dictionary_schema(values)).parquet(str(path))
    return RequestFacts(rows=rows, **dictionaries)


def encode_requests(requests: DataFrame) -> RequestFacts:
    """RequestFacts of requests given as text columns (REQUESTS), with keys made here.

    Each dictionary numbers the distinct values of its column (0, 1, ...; null gets no key), and the
    rows get their values' keys by joins: for tests and for days staged without keys, not for speed.
    """
    dictionaries: dict[str, DataFrame] = {}
    requests = requests.drop(*KEYED_COLUMNS)
    rows = requests
    for key_column, (_, values) in KEYED_COLUMNS.items():
        source = values[0]
        distinct = requests.select(*values).where(functions.col(source).isNotNull()).dropDuplicates([source])
        numbered = distinct.withColumn(
            "key", (functions.row_number().over(Window.orderBy(source)) - 1).cast("int")
        ).select("key", *values)
        dictionaries[_FIELD_OF[key_column]] = numbered
        keys = numbered.select(functions.col(source).alias(f"_{source}"), functions.col("key").alias(key_column))
        rows = rows.join(keys, functions.col(source) == functions.col(f"_{source}"), "left").drop(f"_{source}")
    return RequestFacts(rows=rows.select(*FACT_COLUMNS), **dictionaries)
