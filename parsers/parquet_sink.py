"""Incremental Parquet writing with a fixed schema, published atomically when complete."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from parsers.schema import empty_frame


@dataclass(frozen=True)
class ColumnEncoding:
    """Which columns skip pyarrow's defaults (a dictionary page and min/max statistics for every column).

    ``plain``: columns with nearly one value per row (line numbers, timestamps, byte counts), where a
    dictionary is built only to be abandoned. ``no_statistics``: long free-text columns (request
    lines, user agents) that no reader filters on, where min/max means comparing every value.
    ``categorical``: string columns the frames bring as polars Categoricals (the parser's value keys
    make them anyway, parsers/value_keys.py); a frame may still bring one as a String. The file holds
    the same strings either way.
    """

    plain: frozenset[str] = frozenset()
    no_statistics: frozenset[str] = frozenset()
    categorical: frozenset[str] = frozenset()


# How a `categorical` column reaches the encoder: an Arrow dictionary of the batch's distinct strings,
# which the Parquet writer takes as its dictionary page instead of hashing every string again.
DICTIONARY_TYPE = pa.dictionary(pa.uint32(), pa.string())


def arrow_schema(schema: dict[str, pl.DataType], categorical: frozenset[str] = frozenset()) -> pa.Schema:
    """The Arrow schema polars hands over for a staging schema without converting its strings
    (string_view, UTC us timestamps); the ``categorical`` columns as dictionaries."""
    fields = empty_frame(schema).to_arrow(compat_level=pl.CompatLevel.newest()).schema
    return pa.schema([field.with_type(DICTIONARY_TYPE) if field.name in categorical else field for field in fields])


class ParquetSink:
    """Write polars frames batch by batch to one Parquet file.

    Rows go to ``<out>.tmp`` and the file is renamed to ``out`` only on a clean exit, so a crash
    never leaves a half-written file where a later stage would read it. A sink that received no
    rows still writes a valid zero-row file: later stages can always open it.

    Strings go to the encoder as polars' string views (converting them to large strings copied every
    string). The Arrow schema is not stored in the file: every reader (polars, pyarrow, DuckDB,
    Spark) takes the types from the Parquet ones, which are the same whatever Arrow type was written
    (strings are UTF-8 byte arrays, timestamps microseconds adjusted to UTC).
    """

    def __init__(self, out: Path, schema: dict[str, pl.DataType], encoding: ColumnEncoding | None = None) -> None:
        self.out = Path(out)
        self.schema = schema
        self.encoding = encoding or ColumnEncoding()
        self.arrow = arrow_schema(schema, self.encoding.categorical)
        self._categorical = pl.Categorical(pl.Categories.random())  # for a categorical column brought as a String
        self.rows = 0
        self._tmp = self.out.with_name(self.out.name + ".tmp")
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ParquetSink:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        names = list(self.schema)
        self._writer = pq.ParquetWriter(
            self._tmp,
            self.arrow,
            compression="zstd",
            compression_level=1,
            use_dictionary=[name for name in names if name not in self.encoding.plain],
            write_statistics=[name for name in names if name not in self.encoding.no_statistics],
            store_schema=False,
        )
        return self

    def write(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        assert self._writer is not None, "use ParquetSink as a context manager"
        frame = df.select(self._column(name, dtype, df.schema[name]) for name, dtype in self.schema.items())
        self._writer.write_table(frame.to_arrow(compat_level=pl.CompatLevel.newest()).cast(self.arrow))
        self.rows += df.height

    def _column(self, name: str, dtype: pl.DataType, given: pl.DataType) -> pl.Expr:
        """Column ``name`` in its schema type, a categorical column as any Categorical (no re-encoding)."""
        if name not in self.encoding.categorical:
            return pl.col(name).cast(dtype)
        return pl.col(name) if isinstance(given, pl.Categorical) else pl.col(name).cast(self._categorical)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._writer is not None
        self._writer.close()
        if exc_type is None:
            os.replace(self._tmp, self.out)
        else:
            self._tmp.unlink(missing_ok=True)
