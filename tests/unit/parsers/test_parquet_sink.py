"""ParquetSink: the column encodings it is asked for, and values every reader gets back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
from polars.testing import assert_frame_equal

from parsers.parquet_sink import ColumnEncoding, ParquetSink

SCHEMA: dict[str, pl.DataType] = {
    "line_number": pl.Int64(),
    "at": pl.Datetime("us", "UTC"),
    "kind": pl.String(),
    "text": pl.String(),
}
ROWS = pl.DataFrame(
    {
        "line_number": [1, 2, 3],
        "at": [
            datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC),
            None,
            datetime(2026, 11, 24, 23, 59, 59, 999999, tzinfo=UTC),
        ],
        "kind": ["http", "http", None],
        "text": ["a string longer than twelve bytes", "", "é ünïcode"],
    },
    schema=SCHEMA,
)


def write(path: Path, encoding: ColumnEncoding | None) -> Path:
    with ParquetSink(path, SCHEMA, encoding) as sink:
        sink.write(ROWS.head(2))
        sink.write(ROWS.tail(1))
    return path


def test_encoding_skips_dictionary_and_statistics_where_asked(tmp_path: Path) -> None:
    encoding = ColumnEncoding(plain=frozenset({"line_number", "at"}), no_statistics=frozenset({"text"}))
    meta = pq.ParquetFile(write(tmp_path / "out.parquet", encoding)).metadata
    chunks = {meta.schema.column(i).name: meta.row_group(0).column(i) for i in range(meta.num_columns)}
    assert {name for name, chunk in chunks.items() if chunk.dictionary_page_offset is not None} == {"kind", "text"}
    assert {name for name, chunk in chunks.items() if chunk.is_stats_set} == {"line_number", "at", "kind"}
    # the first row group is the first write: lines 1 and 2
    assert chunks["line_number"].statistics.min == 1 and chunks["line_number"].statistics.max == 2
    assert b"ARROW:schema" not in (meta.metadata or {})


def test_default_encoding_keeps_dictionaries_and_statistics(tmp_path: Path) -> None:
    meta = pq.ParquetFile(write(tmp_path / "out.parquet", None)).metadata
    chunks = [meta.row_group(0).column(i) for i in range(meta.num_columns)]
    assert all(chunk.is_stats_set and chunk.dictionary_page_offset is not None for chunk in chunks)


def test_polars_pyarrow_and_duckdb_read_the_values_written(tmp_path: Path) -> None:
    path = write(tmp_path / "out.parquet", ColumnEncoding(plain=frozenset({"line_number"})))
    assert_frame_equal(pl.read_parquet(path), ROWS)
    arrow = pq.read_table(path)
    assert str(arrow.schema.field("at").type) == "timestamp[us, tz=UTC]"
    assert_frame_equal(pl.DataFrame(pl.from_arrow(arrow)), ROWS)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    described = con.sql("DESCRIBE SELECT * FROM read_parquet(?)", params=[str(path)]).fetchall()
    types = {row[0]: row[1] for row in described}
    assert types == {"line_number": "BIGINT", "at": "TIMESTAMP WITH TIME ZONE", "kind": "VARCHAR", "text": "VARCHAR"}
    read = con.sql("SELECT * FROM read_parquet(?) ORDER BY line_number", params=[str(path)])
    assert_frame_equal(read.pl(), ROWS)


def test_categorical_columns_are_written_as_the_same_strings(tmp_path: Path) -> None:
    """A `categorical` column may come as a polars Categorical (written from its dictionary) or as a
    String, batch by batch; the file holds plain UTF-8 strings either way, with their statistics."""
    encoding = ColumnEncoding(categorical=frozenset({"kind", "text"}))
    categories = pl.Categorical(pl.Categories.random())
    path = tmp_path / "out.parquet"
    with ParquetSink(path, SCHEMA, encoding) as sink:
        sink.write(ROWS.head(2).with_columns(pl.col("kind", "text").cast(categories)))
        sink.write(ROWS.tail(1))
    assert_frame_equal(pl.read_parquet(path), ROWS)
    meta = pq.ParquetFile(path).metadata
    assert [str(meta.schema.column(i).logical_type) for i in (2, 3)] == ["String", "String"]
    text = meta.row_group(0).column(3)
    assert text.dictionary_page_offset is not None
    assert (text.statistics.min, text.statistics.max) == ("", "a string longer than twelve bytes")
    con = duckdb.connect()
    described = con.sql("DESCRIBE SELECT kind, text FROM read_parquet(?)", params=[str(path)]).fetchall()
    assert [row[:2] for row in described] == [("kind", "VARCHAR"), ("text", "VARCHAR")]
