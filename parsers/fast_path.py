"""The compiled fast path of access-log parsing: lines -> typed request rows without a regex.

A format's token list (parsers/log_format.py) is compiled into a short program of steps (a literal,
a field up to a space, a quoted field with backslash escapes, the bracketed CLF time, a status, a
byte count) that the C extension parsers/_fastsplit.c runs over every line in one pass. The
extension takes a line only when it matches exactly as the format's regex would and every value
converts as parsers/access_convert.py converts it (request line in the strict ``METHOD SP target SP
HTTP/x.y`` form, valid CLF time, status 100-599, a client); every other line goes through the regex
path unchanged, so the rows are the same by construction. Strings come back as Arrow string_view
entries pointing into the lines' own buffers, so no text is copied.

Formats with fields the program does not convert (request times, vhosts, X-Forwarded-For, ...) and
JSON logs have no program and take the regex path only. Without the built extension (``pip install
-e .`` compiles it) every format takes the regex path.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from parsers.log_format import LogFormat, field_delimiter
from parsers.schema import PARSED_REQUESTS_SCHEMA

try:
    from parsers import _fastsplit
except ImportError:  # not built: the regex path parses everything (tests/unit/parsers/test_fast_path.py fails)
    _fastsplit = None

# Step codes and output columns of parsers/_fastsplit.c (enum OP_*, enum COL_*).
OP_LITERAL, OP_TOKEN, OP_QUOTED, OP_TIME, OP_STATUS, OP_BYTES, OP_DURATION = range(7)
STRING_COLUMNS = ("client_ip", "remote_user", "request", "referer", "user_agent", "method", "path", "query", "protocol")
_FIELD_COLUMN = {"client": 0, "remote_user": 1, "request": 2, "referer": 3, "user_agent": 4}
# Fields the rows do not use (captured and ignored by the regex path too).
_IGNORED = {"ident"}
_NUMBERS = {"status": OP_STATUS, "bytes": OP_BYTES}
# request times: the unit (enum UNIT_*) is the step's column
_DURATIONS = {"request_time_s": 0, "request_time_ms": 1, "request_time_us": 2}
_REQUIRED = {"client", "time_clf", "request", "status"}


@dataclass(frozen=True)
class FastProgram:
    """A format compiled to the extension's steps: (step code, output column or -1, literal bytes)."""

    format_name: str
    steps: tuple[tuple[int, int, bytes], ...]


def _merged(steps: list[tuple[int, int, bytes]]) -> tuple[tuple[int, int, bytes], ...]:
    """Adjacent literal steps joined (the token list has ' ' then '[' where the regex has ' \\[')."""
    out: list[tuple[int, int, bytes]] = []
    for step in steps:
        if step[0] == OP_LITERAL and out and out[-1][0] == OP_LITERAL:
            out[-1] = (OP_LITERAL, -1, out[-1][2] + step[2])
        else:
            out.append(step)
    return tuple(out)


def _step(tokens: list[tuple[str, str]], index: int) -> tuple[int, int, bytes] | None:
    """The step of field ``tokens[index]``, or None when the program cannot read it exactly."""
    name = tokens[index][1]
    kind = field_delimiter(tokens, index)[0]
    if index + 1 < len(tokens) and tokens[index + 1][0] != "lit":
        return None  # two fields back to back: the regex may split them where no separator is
    following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
    column = _FIELD_COLUMN.get(name, -1)
    if kind == "bare" and name in _DURATIONS and following[:1] not in tuple("0123456789."):
        return (OP_DURATION, _DURATIONS[name], b"")  # a digit or dot after it would make the regex backtrack
    if name not in _FIELD_COLUMN and name not in _IGNORED and name not in _NUMBERS and name != "time_clf":
        return None  # a field the rows use but the program does not convert (request time, vhost, ...)
    if kind == "quoted" and name not in _NUMBERS and name != "time_clf":
        return (OP_QUOTED, column, b"")
    if kind == "bracketed" and name == "time_clf":
        return (OP_TIME, -1, b"")
    if kind == "token" and (following[:1] in (" ", "\t") or index + 1 == len(tokens)):
        return (OP_TOKEN, column, b"")  # greedy up to a space or tab is then the regex's only choice
    if kind == "bare" and name in _NUMBERS and not following[:1].isdigit():
        return (_NUMBERS[name], -1, b"")  # a digit after the number would make the regex backtrack
    return None


def compile_program(fmt: LogFormat) -> FastProgram | None:
    """The fast-path program of a format, or None when only the regex path can parse it."""
    if fmt.is_json:
        return None
    tokens = fmt.tokens
    names = [value for kind, value in tokens if kind == "field"]
    if len(names) != len(set(names)) or not _REQUIRED <= set(names) or len(_DURATIONS.keys() & set(names)) > 1:
        return None  # a repeated field is renamed by the regex path (group_names), several times coalesce
    steps = []
    for index, (kind, value) in enumerate(tokens):
        step = (OP_LITERAL, -1, value.encode()) if kind == "lit" else _step(tokens, index)
        if step is None:
            return None
        steps.append(step)
    return FastProgram(fmt.name, _merged(steps))


@functools.lru_cache(maxsize=64)
def program_for(fmt: LogFormat) -> FastProgram | None:
    """compile_program, once per format (every batch of a file asks)."""
    return compile_program(fmt)


def available() -> bool:
    """Whether the compiled extension is built."""
    return _fastsplit is not None


def _strings(out: dict[str, object], name: str, rows: int, data: list[pa.Buffer]) -> pa.Array:
    buffers = [pa.py_buffer(out[f"{name}_valid"]), pa.py_buffer(out[name]), *data]
    return pa.Array.from_buffers(pa.string_view(), rows, buffers)


def _numbers(out: dict[str, object], name: str, arrow_type: pa.DataType, rows: int, validity: str = "") -> pa.Array:
    valid = pa.py_buffer(out[validity]) if validity else None
    return pa.Array.from_buffers(arrow_type, rows, [valid, pa.py_buffer(out[name])])


def _split(
    text: pl.Series, program: FastProgram, declined: np.ndarray | None = None, max_bytes: int = -1
) -> tuple[pl.DataFrame, np.ndarray] | None:
    """(the typed columns of the lines the extension takes, which lines it took as a bool array), or
    None when the extension is missing. It declines every line marked in ``declined`` and every line
    longer than ``max_bytes`` (when not -1) besides those it cannot read."""
    if _fastsplit is None or text.len() == 0:
        return None
    arrow = text.to_arrow(compat_level=pl.CompatLevel.newest())
    if arrow.type != pa.string_view():
        arrow = arrow.cast(pa.string_view())
    if arrow.null_count:
        return None  # lines are never null; the regex path handles whatever this would be
    _, views, *data = arrow.buffers()
    views = views.slice(arrow.offset * 16)  # a sliced array's views start further in
    # the declined lines are passed as nulls (a validity bitmap, least significant bit first)
    validity = None if declined is None else np.packbits(~declined, bitorder="little").tobytes()
    out = _fastsplit.split_lines(list(program.steps), len(arrow), views, validity, data, max_bytes)
    rows = out["rows"]
    columns = {name: _strings(out, name, rows, data) for name in STRING_COLUMNS}
    columns["requested_at"] = _numbers(out, "requested_at", pa.timestamp("us", "UTC"), rows)
    columns["status"] = _numbers(out, "status", pa.int32(), rows)
    columns["bytes"] = _numbers(out, "bytes", pa.int64(), rows, "bytes_valid")
    columns["request_time_ms"] = _numbers(out, "request_time_ms", pa.float64(), rows, "request_time_ms_valid")
    parsed = pl.from_arrow(pa.table(columns))
    assert isinstance(parsed, pl.DataFrame)
    return parsed, np.frombuffer(out["taken"], dtype=np.bool_)


def _requests(kept: pl.DataFrame, parsed: pl.DataFrame) -> pl.DataFrame:
    """PARSED_REQUESTS_SCHEMA rows from the compiled columns and their lines' source_file, line_number and
    has_invalid_utf8 (``kept``, row for row)."""
    requests = pl.concat([kept, parsed], how="horizontal").with_columns(
        request_kind=pl.lit("http"), vhost=pl.lit(None, pl.String)
    )
    return requests.select(pl.col(name).cast(dtype) for name, dtype in PARSED_REQUESTS_SCHEMA.items())


def split_fast(lines: pl.DataFrame, program: FastProgram) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """(requests the compiled path took, in PARSED_REQUESTS_SCHEMA; the other rows of ``lines``), or None
    when the extension is missing. ``lines`` has the columns line, line_number, source_file,
    has_invalid_utf8 of parsers/access_log.py."""
    split = _split(lines.get_column("line"), program) if lines.height else None
    if split is None:
        return None
    parsed, taken_array = split
    taken = pl.Series("taken", taken_array)
    kept = lines.filter(taken).select("source_file", "line_number", "has_invalid_utf8")
    return _requests(kept, parsed), lines.filter(~taken)


@dataclass(frozen=True)
class FirstPass:
    """What the compiled path took from a whole batch before any other check, and the rest."""

    requests: pl.DataFrame  # PARSED_REQUESTS_SCHEMA, in line order
    rest_lines: pl.Series  # the lines it did not take, in order
    rest_line_numbers: pl.Series  # their line numbers (Int64)


def first_pass(
    lines: pl.Series, first_line_number: int, source: str, program: FastProgram, declined: Sequence[int], max_bytes: int
) -> FirstPass | None:
    """The compiled path over every line of a batch (``lines``, numbered from ``first_line_number``).

    A line is taken only when no earlier check of parsers/access_log.py would reject it: the
    ``declined`` line numbers (lines that may hold control bytes, a truncated last line, lines with
    invalid UTF-8, whose byte length is the raw one) and lines over ``max_bytes`` are left, with every
    line it cannot read (empty, malformed, another format), for the usual checks and the regex path.
    None when the extension is missing."""
    mask = None
    if declined:
        mask = np.zeros(lines.len(), dtype=np.bool_)
        mask[np.asarray(declined, dtype=np.int64) - first_line_number] = True
    split = _split(lines, program, mask, max_bytes)
    if split is None:
        return None
    parsed, taken = split
    numbers = np.arange(first_line_number, first_line_number + lines.len(), dtype=np.int64)
    kept = pl.DataFrame(
        {
            "source_file": pl.repeat(source, parsed.height, dtype=pl.String, eager=True),
            "line_number": numbers[taken],
            "has_invalid_utf8": pl.repeat(False, parsed.height, eager=True),
        }
    )
    rest = ~taken
    return FirstPass(_requests(kept, parsed), lines.filter(pl.Series(rest)), pl.Series("line_number", numbers[rest]))
