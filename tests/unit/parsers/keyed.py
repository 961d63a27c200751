"""Checks of the value keys a parse wrote (parsers/value_keys.py), shared by the parser tests.

Every parse of the ``parse_lines`` fixture goes through ``check_value_keys``, so each hand-written
corpus also checks the keys: null exactly when the value is, each key once in its dictionary, and
each key resolving to exactly its row's values.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from config.catalog.value_keys import KEY, VALUE_KEYS, ValueKey
from parsers.schema import REQUESTS_SCHEMA


def dictionary_of(directory: Path, value_key: ValueKey) -> pl.DataFrame:
    """The dictionary file of ``value_key`` as the parser writes it beside requests.parquet."""
    return pl.read_parquet(Path(directory) / f"{value_key.dictionary}.parquet")


def check_value_keys(requests: pl.DataFrame, directory: Path) -> None:
    """Every key of ``requests`` (read from ``directory``/requests.parquet) against its dictionary."""
    assert dict(requests.schema) == REQUESTS_SCHEMA, "the key columns follow the parsed ones"
    for value_key in VALUE_KEYS:
        dictionary = dictionary_of(directory, value_key)
        assert dictionary.columns == [KEY, *value_key.value_columns]
        assert dictionary.get_column(KEY).dtype == pl.Int32
        keys = dictionary.get_column(KEY)
        assert keys.null_count() == 0 and keys.is_unique().all(), value_key.dictionary
        assert dictionary.get_column(value_key.source).null_count() == 0, value_key.dictionary
        key = requests.get_column(value_key.key_column)
        assert (key.is_null() == requests.get_column(value_key.source).is_null()).all(), value_key.key_column
        assert set(keys.to_list()) == set(key.drop_nulls().to_list()), f"{value_key.dictionary}: only the rows' keys"
        rows = requests.select(value_key.key_column, *value_key.value_columns).drop_nulls(value_key.key_column)
        resolved = rows.join(dictionary, left_on=value_key.key_column, right_on=KEY, how="left", suffix="_resolved")
        for column in value_key.value_columns:
            same = resolved.get_column(column).eq_missing(resolved.get_column(f"{column}_resolved"))
            assert same.all(), f"{value_key.key_column} does not resolve to the row's {column}"
