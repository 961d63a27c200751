"""Incremental Parquet writing with a fixed schema, published atomically when complete."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from parsers.schema import empty_frame


def arrow_schema(schema: dict[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema polars writes for a staging schema (strings as large_string, UTC us)."""
    return empty_frame(schema).to_arrow().schema


class ParquetSink:
    """Write polars frames batch by batch to one Parquet file.

    Rows go to ``<out>.tmp`` and the file is renamed to ``out`` only on a clean exit, so a crash
    never leaves a half-written file where a later stage would read it. A sink that received no
    rows still writes a valid zero-row file: later stages can always open it.
    """

    def __init__(self, out: Path, schema: dict[str, pl.DataType]) -> None:
        self.out = Path(out)
        self.schema = schema
        self.arrow = arrow_schema(schema)
        self.rows = 0
        self._tmp = self.out.with_name(self.out.name + ".tmp")
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ParquetSink:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self._tmp, self.arrow, compression="zstd", compression_level=1)
        return self

    def write(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        assert self._writer is not None, "use ParquetSink as a context manager"
        frame = df.select(pl.col(n).cast(t) for n, t in self.schema.items())
        self._writer.write_table(frame.to_arrow().cast(self.arrow))
        self.rows += df.height

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._writer is not None
        self._writer.close()
        if exc_type is None:
            os.replace(self._tmp, self.out)
        else:
            self._tmp.unlink(missing_ok=True)
