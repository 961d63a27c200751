"""CSV encoding rules of the COPY stream (pure pyarrow, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from warehouse.csvstream import CsvStream, convert, encode_batch


def test_array_literal_quotes_every_element() -> None:
    arr = pa.array([['a"b', "c\\d", None, "", "x,y"], [], None], pa.list_(pa.string()))
    assert convert(arr.slice(0), "text[]").to_pylist() == ['{"a\\"b","c\\\\d",NULL,"","x,y"}', "{}", None]
    assert convert(arr.slice(1), "text[]").to_pylist() == ["{}", None]  # sliced arrays keep offsets right
    ints = pa.array([[1, 2]], pa.large_list(pa.int64()))
    assert convert(ints, "bigint[]").to_pylist() == ['{"1","2"}']


def test_timestamps_are_utc_iso() -> None:
    aware = pa.array([datetime(2024, 1, 1, 12, tzinfo=UTC)], pa.timestamp("ms", "America/New_York"))
    naive = pa.array([datetime(2024, 1, 1, 12)], pa.timestamp("us"))
    assert convert(aware, "timestamp with time zone").to_pylist() == ["2024-01-01T12:00:00.000+00:00"]
    assert convert(naive, "timestamp with time zone").to_pylist() == ["2024-01-01T12:00:00.000000+00:00"]


def test_nul_rules() -> None:
    assert convert(pa.array(["a\x00b", None]), "text").to_pylist() == ["ab", None]
    json_text = pa.array(['{"a": "x\\u0000\\u0000y", "b": "\\\\u0000"}'])
    assert convert(json_text, "jsonb").to_pylist() == ['{"a": "xy", "b": "\\\\u0000"}']


def test_invalid_utf8_is_replaced() -> None:
    raw = pa.array([b"ok", b"bad\xff"], pa.binary())
    assert convert(raw, "text").to_pylist() == ["ok", "bad\ufffd"]


def test_null_and_empty_string_differ() -> None:
    batch = pa.RecordBatch.from_pydict(
        {"s": ["", None, "\\."], "d": [date(2024, 1, 2)] * 3, "b": [True, None, False]}
    )
    assert (
        encode_batch(batch, ["text", "date", "boolean"])
        == b'"",2024-01-02,true\n,2024-01-02,\n"\\.",2024-01-02,false\n'
    )


def test_stream_reads_in_small_pieces() -> None:
    batches = [pa.RecordBatch.from_pydict({"n": list(range(i, i + 3))}) for i in (0, 3)]
    stream = CsvStream(batches, ["integer"])
    data = b""
    while chunk := stream.read(2):
        assert len(chunk) <= 2
        data += chunk
    assert data == b"0\n1\n2\n3\n4\n5\n" and stream.rows == 6
