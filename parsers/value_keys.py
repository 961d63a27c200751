"""Integer keys for the staged requests' repeated strings, and their dictionaries (config/catalog/value_keys.py).

Each keyed column is cast to a polars Categorical over a category set of its own, made for one
``parse_access_logs`` call: a value's physical code is the same in every frame cast with that set,
from any thread (a category set is a concurrent map handing out codes 0, 1, 2, ...), so each batch is
keyed on its parse thread, with no lock and no pass over the strings in the writer. The u32 code, as
Int32, is the key; a null value has a null key. Only the written rows (the day window) are keyed, so
at the end the category set itself, in code order, is the dictionary of the values. The keyed
columns stay Categoricals on their way to the Parquet writer, which takes each batch's distinct
strings from them instead of hashing every string again (parsers/parquet_sink.py).

Columns carried by a dictionary (the request line's method, path, ...) are taken from the rows: each
batch keeps them for the keys no earlier batch claimed, one row per new key. Claiming looks the keys
up in a bitmap of claimed keys under a lock (integers only), so past the first batches nearly nothing
is gathered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import polars as pl

from config.catalog.value_keys import KEY, VALUE_KEYS, ValueKey
from config.layout import staging_file
from parsers.parquet_sink import ColumnEncoding, ParquetSink
from parsers.schema import DICTIONARY_SCHEMAS

# A dictionary's key and value are unique per row: a Parquet dictionary of them is built only to be dropped.
DICTIONARY_ENCODINGS: dict[str, ColumnEncoding] = {
    value_key.dictionary: ColumnEncoding(plain=frozenset({KEY, value_key.source})) for value_key in VALUE_KEYS
}


class ValueKeyEncoder:
    """The keys of one parse: the same value gets the same key in every batch, thread and file keyed
    through this encoder; ``dictionary`` then gives each key's row once."""

    def __init__(self) -> None:
        self._sets = {value_key.dictionary: pl.Categories.random() for value_key in VALUE_KEYS}
        self._types = {name: pl.Categorical(categories) for name, categories in self._sets.items()}
        # polars drops a category set no live frame uses, and its codes would start over from 0
        self._keep_alive = [pl.Series(dtype=dtype) for dtype in self._types.values()]
        self._claimed = {value_key.dictionary: np.zeros(0, dtype=np.bool_) for value_key in VALUE_KEYS}
        self._carried: dict[str, list[pl.DataFrame]] = {value_key.dictionary: [] for value_key in VALUE_KEYS}
        self._lock = threading.Lock()

    def encode(self, requests: pl.DataFrame) -> pl.DataFrame:
        """``requests`` (parsed rows, all of them written) with the key columns appended, in VALUE_KEYS
        order, and each keyed column as the Categorical it was keyed through (ParquetSink writes it
        from its dictionary: ColumnEncoding.categorical). Safe to call from several threads."""
        columns = [self._categorical(requests, value_key) for value_key in VALUE_KEYS]
        keys = [column.to_physical().cast(pl.Int32).alias(value_key.key_column)
                for column, value_key in zip(columns, VALUE_KEYS, strict=True)]
        keyed = requests.with_columns(*columns, *keys)
        for value_key in VALUE_KEYS:
            if value_key.carried:
                self._keep_carried(keyed, value_key)
        return keyed

    def _categorical(self, requests: pl.DataFrame, value_key: ValueKey) -> pl.Series:
        """One keyed column as a Categorical of its category set: each value looked up, or one lookup
        when the batch holds a single value (the source file always; a comparison costs a tenth)."""
        values = requests.get_column(value_key.source)
        categorical = self._types[value_key.dictionary]
        if values.len() and not values.null_count() and (values == values[0]).all():
            return values.head(1).cast(categorical).new_from_index(0, values.len())
        return values.cast(categorical)

    def _keep_carried(self, keyed: pl.DataFrame, value_key: ValueKey) -> None:
        """Keep the carried columns of the keys of ``keyed`` no earlier batch claimed, one row each."""
        keys = keyed.get_column(value_key.key_column)
        nulls = keys.null_count()
        if nulls == keys.len():
            return
        codes = (keys.fill_null(0) if nulls else keys).to_numpy()
        with self._lock:
            claimed = self._grown(value_key.dictionary, int(codes.max()))
            unclaimed = ~claimed[codes]
            if nulls:
                unclaimed &= keys.is_not_null().to_numpy()
            rows = np.flatnonzero(unclaimed)
            # one row per new key without a sort: each row writes its number at its key, one write stays
            owner = np.empty(claimed.size, dtype=np.int64)
            owner[codes[rows]] = rows
            rows = rows[owner[codes[rows]] == rows]
            claimed[codes[rows]] = True
        if rows.size:
            taken = keyed.select(pl.col(value_key.key_column).alias(KEY), *value_key.carried)[rows]
            # gathered string views still point into the batch's lines: copied out (through Arrow's large
            # strings), or every batch with a new key would be held to the end of the parse
            taken = pl.DataFrame(pl.from_arrow(taken.to_arrow()))
            with self._lock:
                self._carried[value_key.dictionary].append(taken)

    def _grown(self, dictionary: str, largest: int) -> np.ndarray:
        """The claimed-key bitmap of ``dictionary``, long enough for key ``largest`` (lock held)."""
        claimed = self._claimed[dictionary]
        if largest >= claimed.size:  # codes are handed out densely from 0
            grown = np.zeros(max(largest + 1, 2 * claimed.size), dtype=np.bool_)
            grown[: claimed.size] = claimed
            claimed = self._claimed[dictionary] = grown
        return claimed

    def dictionary(self, value_key: ValueKey) -> pl.DataFrame:
        """The rows of one dictionary, sorted by key: every value keyed so far (the category set in
        code order), with its carried columns. Call it once every batch is encoded."""
        schema = DICTIONARY_SCHEMAS[value_key.dictionary]
        values = self._sets[value_key.dictionary].to_series()
        rows = pl.DataFrame({KEY: pl.int_range(0, values.len(), dtype=pl.Int32, eager=True), value_key.source: values})
        rows = rows.drop_nulls(value_key.source)  # a code reserved by a cast that failed has no value
        if value_key.carried:
            empty = pl.DataFrame(schema={name: schema[name] for name in (KEY, *value_key.carried)})
            carried = pl.concat([empty, *self._carried[value_key.dictionary]])
            rows = rows.join(carried, on=KEY, how="left", maintain_order="left")
        return rows.select(pl.col(name).cast(dtype) for name, dtype in schema.items())

    def write(self, sinks: dict[str, ParquetSink]) -> None:
        """Every dictionary into its sink (``dictionary_sinks``)."""
        for value_key in VALUE_KEYS:
            sinks[value_key.dictionary].write(self.dictionary(value_key))


@contextmanager
def dictionary_sinks(directory: Path) -> Iterator[dict[str, ParquetSink]]:
    """A ParquetSink for every dictionary, at its staging path in ``directory``: each is published on a
    clean exit (a zero-row file when it got no rows), none when the block raises."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(ParquetSink(staging_file(directory, name), schema, DICTIONARY_ENCODINGS[name]))
            for name, schema in DICTIONARY_SCHEMAS.items()
        }
