"""Dictionary keys of the staged requests: which column keys which repeated string value, declared once.

The Spark analytics shuffle and sort the day's requests many times; integers move far cheaper than
the wide strings they stand for (client IP, user agent, request line, referer), so the parser gives
each repeated value a small integer key on its row and writes one dictionary per kind of value
(key -> value) beside requests.parquet. Spark reads the keys and joins the small dictionaries where
it needs the strings. The parser (parsers/value_keys.py), the catalog (config/catalog/staging.py:
the key columns of `requests` and the dictionary datasets) and the tests all read this declaration.

Keys belong to one parse of one day: the same value may have another key on another day.
"""

from __future__ import annotations

from dataclasses import dataclass

KEY = "key"  # the key column of every dictionary


@dataclass(frozen=True)
class ValueKey:
    """One keyed value of the staged requests.

    ``key_column`` on each requests row holds the key of its ``source`` value (null exactly when the
    value is null); the dictionary dataset ``dictionary`` has one row per key: ``key``, ``source``,
    then ``carried``, the requests columns that are a function of the source value, as on its rows.
    """

    key_column: str
    source: str
    dictionary: str
    carried: tuple[str, ...] = ()

    @property
    def value_columns(self) -> tuple[str, ...]:
        """The requests columns a dictionary row holds besides its key, in order."""
        return (self.source, *self.carried)


VALUE_KEYS: tuple[ValueKey, ...] = (
    ValueKey("client_key", "client_ip", "client_keys"),
    ValueKey("agent_key", "user_agent", "agent_keys"),
    # method, path, query, protocol and request_kind are split from the request line alone
    # (parsers/access_convert.py, parsers/fast_path.py), so one request line has one of each
    ValueKey("request_key", "request", "request_keys", ("method", "path", "query", "protocol", "request_kind")),
    ValueKey("referer_key", "referer", "referer_keys"),
    ValueKey("vhost_key", "vhost", "vhost_keys"),
    ValueKey("remote_user_key", "remote_user", "remote_user_keys"),
    ValueKey("file_key", "source_file", "file_keys"),
)

KEY_COLUMNS: tuple[str, ...] = tuple(value_key.key_column for value_key in VALUE_KEYS)
DICTIONARIES: tuple[str, ...] = tuple(value_key.dictionary for value_key in VALUE_KEYS)
