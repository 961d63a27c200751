"""Arrow record batches -> PostgreSQL ``COPY ... (FORMAT csv)`` bytes, streamed through a file-like.

Encoding rules (every value round-trips exactly, except NUL):
- text: written by Arrow's CSV writer, every string quoted (so ``""`` is the empty string, an unquoted
  empty field is NULL, and ``\\.`` / newlines / quotes / tabs / backslashes are plain data);
- NUL characters are removed from text, array elements and JSON (raw U+0000 and ``\\u0000`` escapes):
  PostgreSQL ``text`` and ``jsonb`` cannot hold them;
- invalid UTF-8 (should be replaced upstream) is decoded with ``errors='replace'``;
- timestamps: converted to UTC, written ISO 8601 with ``+00:00``; naive timestamps are taken as UTC;
- dates, booleans, numbers: Arrow's text form (``true``/``false``, ``2024-01-31``, ``nan``, ``inf``);
- lists: a PostgreSQL array literal, every element double-quoted with ``\\`` and ``"`` escaped;
- structs / maps: JSON text (for ``jsonb`` columns); JSON strings are passed through.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

_WRITE_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S+00:00"
# A \u0000 escape not itself escaped (preceded by an even number of backslashes).
_JSON_NUL = r"((?:^|[^\\])(?:\\\\)*)\\u0000"


def _strip_nul(arr: pa.Array) -> pa.Array:
    return pc.replace_substring(arr, pattern="\x00", replacement="")


def _valid_utf8(arr: pa.Array) -> pa.Array:
    """The string array, with invalid UTF-8 sequences replaced by U+FFFD."""
    try:
        arr.validate(full=True)
        return arr
    except pa.ArrowInvalid:
        raw = arr.cast(pa.large_binary()) if pa.types.is_large_string(arr.type) else arr.cast(pa.binary())
        return pa.array(
            [None if v is None else v.decode("utf-8", "replace") for v in raw.to_pylist()], pa.string()
        )


def _text(arr: pa.Array, is_json: bool = False) -> pa.Array:
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        arr = pa.array(
            [None if v is None else v.decode("utf-8", "replace") for v in arr.to_pylist()], pa.string()
        )
    arr = _strip_nul(_valid_utf8(arr))
    if is_json:
        while pc.any(pc.match_substring_regex(arr, _JSON_NUL)).as_py():
            arr = pc.replace_substring_regex(arr, _JSON_NUL, r"\1")
    return arr


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _to_json(arr: pa.Array) -> pa.Array:
    """Structs / maps / other nested values as JSON text (python path; rare and small)."""
    values = arr.to_pylist()
    if pa.types.is_map(arr.type):
        values = [None if v is None else dict(v) for v in values]
    texts = [None if v is None else json.dumps(v, default=_json_default, ensure_ascii=False) for v in values]
    return _text(pa.array(texts, pa.string()), is_json=True)


def _array_literal(arr: pa.Array) -> pa.Array:
    """list<...> -> '{"a","b\\"c",NULL}' (vectorized over the flat child values)."""
    start, end = arr.offsets[0].as_py(), arr.offsets[-1].as_py()
    offsets = pc.subtract(arr.offsets, pa.scalar(start, arr.offsets.type))  # zero-based, unsliced
    values = arr.values.slice(start, end - start)
    if pa.types.is_timestamp(values.type) or pa.types.is_nested(values.type):
        values = convert(values, "text")
    elif not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        values = values.cast(pa.string())
    values = _text(values)
    values = pc.replace_substring(values, pattern="\\", replacement="\\\\")
    values = pc.replace_substring(values, pattern='"', replacement='\\"')
    quoted = pc.fill_null(pc.binary_join_element_wise('"', values, '"', ""), "NULL")
    factory = pa.LargeListArray if pa.types.is_large_list(arr.type) else pa.ListArray
    rebuilt = factory.from_arrays(offsets, quoted, mask=arr.is_null())
    joined = pc.binary_join(rebuilt, ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


def convert(arr: pa.Array, pg_type: str) -> pa.Array:
    """One column of a batch in the form its CSV text must take for a column of ``pg_type``."""
    kind = arr.type
    if pa.types.is_dictionary(kind):
        return convert(arr.dictionary_decode(), pg_type)
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    ):
        return _text(arr, is_json=pg_type in ("json", "jsonb"))
    if pa.types.is_timestamp(kind):
        utc = arr.cast(pa.timestamp(kind.unit, "UTC"))
        return pc.strftime(utc, format=_TS_FORMAT)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        if pg_type in ("json", "jsonb"):
            return _to_json(arr)
        return _array_literal(arr)
    if pa.types.is_nested(kind):
        return _to_json(arr)
    return arr


def encode_batch(batch: pa.RecordBatch, pg_types: list[str]) -> bytes:
    """CSV bytes (no header) of a batch whose columns are in COPY column order."""
    columns = [convert(batch.column(i), pg_types[i]) for i in range(batch.num_columns)]
    prepared = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(prepared, sink, _WRITE_OPTIONS)
    return sink.getvalue().to_pybytes()


class CsvStream:
    """A read-only file-like over CSV chunks, encoded lazily, one batch at a time.

    ``cursor.copy_expert`` calls :meth:`read` until it returns ``b""``; only the current chunk is
    held in memory. ``rows`` counts the rows encoded so far; ``error`` keeps an encoding error.
    """

    def __init__(self, batches: Iterable[pa.RecordBatch], pg_types: list[str]) -> None:
        self._batches: Iterator[pa.RecordBatch] = iter(batches)
        self._pg_types = pg_types
        self._chunk = b""
        self._pos = 0
        self.rows = 0
        self.error: Exception | None = None

    def _next_chunk(self) -> bool:
        for batch in self._batches:
            if batch.num_rows == 0:
                continue
            self._chunk = encode_batch(batch, self._pg_types)
            self._pos = 0
            self.rows += batch.num_rows
            return True
        return False

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._chunk):
            try:
                if not self._next_chunk():
                    return b""
            except Exception as exc:  # psycopg2 reports it as QueryCanceled; keep the original
                self.error = exc
                raise
        end = len(self._chunk) if size is None or size < 0 else self._pos + size
        data = self._chunk[self._pos : end]
        self._pos += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:  # file-like completeness; COPY uses read()
        return self.read(size)
