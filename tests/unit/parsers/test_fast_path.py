"""The compiled fast path (parsers/fast_path.py, parsers/_fastsplit.c) against the regex path.

Each line is parsed twice by parse_batch: with the extension, and with it switched off so the regex
path parses everything. The two (requests, rejected) pairs must be equal frame for frame. The edge
lines are written by hand from the nginx and Apache log module documentation and RFC 9112; the
property test generates lines around them.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import ParserSettings
from parsers import fast_path
from parsers.access_log import parse_batch
from parsers.line_reader import LineBatch
from parsers.log_format import NAMED_FORMATS, compile_format

COMBINED = compile_format("combined")
HEAD = '203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] '


def line(request: str = "GET /index.html HTTP/1.1", tail: str = '200 512 "-" "Mozilla/5.0"', head: str = HEAD) -> str:
    return f'{head}"{request}" {tail}'


def both_paths(lines: list[str], monkeypatch: pytest.MonkeyPatch, formats=(COMBINED,)):
    """parse_batch with the fast path and with the regex path only; asserts they agree."""
    batch = LineBatch(1, pl.Series("line", lines, dtype=pl.String))
    fast = parse_batch(batch, "access.log", list(formats), ParserSettings())
    with monkeypatch.context() as patch:
        patch.setattr(fast_path, "_fastsplit", None)
        regex = parse_batch(batch, "access.log", list(formats), ParserSettings())
    assert fast[0].schema == regex[0].schema
    assert fast[0].to_dicts() == regex[0].to_dicts()
    assert fast[1].to_dicts() == regex[1].to_dicts()
    return fast


def taken(lines: list[str]) -> list[bool]:
    """Which lines the compiled path reads itself (the others go to the regex path)."""
    program = fast_path.program_for(COMBINED)
    frame = pl.DataFrame({"line": lines}).with_columns(
        line_number=pl.int_range(1, len(lines) + 1, dtype=pl.Int64),
        source_file=pl.lit("x"),
        has_invalid_utf8=pl.lit(False),
    )
    requests, _ = fast_path.split_fast(frame, program)
    numbers = set(requests["line_number"].to_list())
    return [number in numbers for number in range(1, len(lines) + 1)]


def test_extension_is_built() -> None:
    # Fails when setup.py's extension was not compiled: the parser would silently lose its fast path.
    from parsers import _fastsplit

    assert fast_path.available() and callable(_fastsplit.split_lines)


def test_programs_follow_the_format_tokens() -> None:
    assert fast_path.program_for(compile_format("combined")) is not None
    assert fast_path.program_for(compile_format("common")) is not None
    # fields the program does not convert keep those formats on the regex path
    assert fast_path.program_for(compile_format("combined_timed")) is not None
    for name in ("main", "vhost_combined", "combined_upstream", "json"):
        assert fast_path.program_for(compile_format(name)) is None
    custom = compile_format('$remote_addr [$time_local] "$request" $status "$http_user_agent"')
    assert fast_path.program_for(custom) is not None


TAKEN_LINES = [
    line(),
    line(tail='200 512 "-" "Mozilla/5.0 \\"compatible\\" x"'),  # Apache's \" inside a header
    line(tail='200 512 "-" "a\\\\b"'),  # Apache's \\
    line("GET /a\\x22b HTTP/1.1"),  # nginx writes a quote as \x22
    line("GET http://example.com/a?b=c HTTP/1.1"),  # absolute-form (RFC 9112 3.2.2)
    line("CONNECT example.com:443 HTTP/1.1"),  # authority-form
    line("OPTIONS * HTTP/1.1"),  # asterisk-form
    line("GET /a\tb HTTP/1.1"),
    line("GET /a? HTTP/2.0"),
    line("GET /?x=1?y=2 HTTP/2"),
    line("PROPFIND /dav HTTP/3"),
    line("GET /" + "a" * 12_000 + " HTTP/1.1"),  # a 12K-byte line
    line(head='203.0.113.7 - frank [24/Nov/2026:10:00:00 -0700] '),
    line(head='2001:db8::1 - - [24/Nov/2026:10:00:00 +0530] '),
    line(head='203.0.113.7 - - [29/Feb/2024:23:59:59 +1400] '),
    line(tail='304 - "-" "-"'),  # bytes '-'
    line(tail='200 0 "" ""'),  # an empty referer is "", not null
    line(tail='200 007 "https://example.com/?q=\\"x\\"" "UA\té"'),
    line(tail='599 1 "-" "-"'),  # the highest status (a CRLF file's CR never reaches a batch: the reader drops it)
]

HANDED_ON_LINES = [
    line("-", '400 0 "-" "-"'),  # nginx: client closed before a request line
    line("", '400 0 "-" "-"'),
    line("\\x16\\x03\\x01\\x00\\xa5\\x01", '400 157 "-" "-"'),  # TLS to a plain-HTTP port
    line("GET /"),  # HTTP/0.9 form
    line("GET /a b HTTP/1.1"),  # spaces in the target
    line("GET /a http/1.1"),  # not HTTP (the name is case-sensitive)
    line("GET /a HTTP/1.10"),
    line("RTSP/1.0 x"),
    line() + " ",  # trailing space: no format matches
    line(tail='999 512 "-" "-"'),  # bad_status
    line(tail='200 99999999999999999999 "-" "-"'),  # bytes overflow int64
    line(head='- - - [24/Nov/2026:10:00:00 +0000] '),  # missing_client
    line(head='203.0.113.7 - - [24/nov/2026:10:00:00 +0000] '),
    line(head='203.0.113.7 - - [29/Feb/2025:10:00:00 +0000] '),  # no such day
    line(head='203.0.113.7 - - [31/Apr/2026:10:00:00 +0000] '),
    line(head='203.0.113.7 - - [24/Nov/2026:23:59:60 +0000] '),  # leap second
    line(head='203.0.113.7 - - [24/Nov/2026:10:00:00] '),
    line(tail='200 512 "-" "unterminated\\"'),
    "short line",
]


def test_edge_lines_taken_or_handed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert taken(TAKEN_LINES) == [True] * len(TAKEN_LINES)
    assert taken(HANDED_ON_LINES) == [False] * len(HANDED_ON_LINES)
    requests, rejected = both_paths(TAKEN_LINES + HANDED_ON_LINES, monkeypatch)
    assert requests.height + rejected.height == len(TAKEN_LINES + HANDED_ON_LINES)


def test_values_worked_out_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    requests, _ = both_paths(TAKEN_LINES, monkeypatch)
    rows = requests.to_dicts()
    assert rows[12]["requested_at"] == datetime(2026, 11, 24, 17, 0, tzinfo=UTC)  # 10:00 -0700
    assert rows[12]["remote_user"] == "frank"
    assert rows[13]["requested_at"] == datetime(2026, 11, 24, 4, 30, tzinfo=UTC)  # 10:00 +0530
    assert rows[14]["requested_at"] == datetime(2024, 2, 29, 9, 59, 59, tzinfo=UTC)
    assert rows[1]["user_agent"] == 'Mozilla/5.0 \\"compatible\\" x'  # kept as logged, as the regex path does
    assert (rows[4]["path"], rows[4]["query"]) == ("http://example.com/a", "b=c")
    assert (rows[8]["path"], rows[8]["query"], rows[8]["protocol"]) == ("/a", "", "HTTP/2.0")
    assert (rows[9]["path"], rows[9]["query"]) == ("/", "x=1?y=2")
    assert rows[15]["bytes"] is None and rows[17]["bytes"] == 7
    assert (rows[16]["referer"], rows[16]["user_agent"]) == ("", "")
    assert rows[18]["status"] == 599 and rows[0]["request_kind"] == "http"


def test_other_formats_and_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    common = compile_format("common")
    both_paths([f'{HEAD}"GET / HTTP/1.1" 200 -', f'{HEAD}"GET / HTTP/1.1" 200 5'], monkeypatch, (common,))
    # a combined_timed line under detection's fallback list: the fast path hands it to the regex path
    formats = [COMBINED] + [compile_format(name) for name in NAMED_FORMATS if name not in ("combined", "json")]
    both_paths([line(), line() + " 0.123", line(request="-")], monkeypatch, formats)


TIMES = ["0.123", "-", "12", "0.000", "007.50", "1.", "1e3", ".5", "123456789012.345678", "99999.999999999", "0.1 "]


def test_request_times(monkeypatch: pytest.MonkeyPatch) -> None:
    timed = compile_format("combined_timed")
    requests, rejected = both_paths([f"{line()} {value}" for value in TIMES], monkeypatch, (timed,))
    assert requests["request_time_ms"].to_list()[:5] == [123.0, None, 12000.0, 0.0, 7500.0]
    # '1.', '1e3', '.5' and a trailing space fit no format; 18 digits are handed on and parsed there
    assert requests.height == 7 and rejected["reason"].to_list() == ["no_format_match"] * 4
    # apache %D (microseconds) and %{ms}T divide and keep as the regex path does
    for spec in ('%h %l %u %t "%r" %>s %b %D', '%h %l %u %t "%r" %>s %b %{ms}T'):
        fmt = compile_format(spec)
        assert fast_path.program_for(fmt) is not None
        both_paths([f'{HEAD}"GET / HTTP/1.1" 200 5 {value}' for value in TIMES], monkeypatch, (fmt,))


def test_non_utf8_bytes_and_crlf(parse_lines, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = (line() + "\r\n").encode() + line(tail='200 1 "-" "bad \xff"').encode("latin-1") + b"\n"
    fast = parse_lines(raw, log_format="combined")
    monkeypatch.setattr(fast_path, "_fastsplit", None)
    regex = parse_lines(raw, log_format="combined")
    assert fast[0].drop("source_file").to_dicts() == regex[0].drop("source_file").to_dicts()  # files differ
    assert fast[0].height == 2
    assert fast[0]["has_invalid_utf8"].to_list() == [False, True]


def test_hostile_views_are_bounds_checked() -> None:
    from parsers import _fastsplit

    data = pa.py_buffer(line().encode())
    views = bytearray(48)
    struct.pack_into("<i4sii", views, 0, 100, b"203.", 7, 0)  # buffer index out of range
    struct.pack_into("<i4sii", views, 16, 100, b"203.", 0, 1 << 30)  # offset past the buffer
    struct.pack_into("<i4sii", views, 32, -5, b"203.", 0, 0)  # negative length
    program = list(fast_path.program_for(COMBINED).steps)
    out = _fastsplit.split_lines(program, 3, pa.py_buffer(views), None, [data])
    assert out["rows"] == 0 and bytes(out["taken"]) == b"\0\0\0"
    with pytest.raises(ValueError):
        _fastsplit.split_lines(program, 4, pa.py_buffer(views), None, [data])


_TEXT = st.text(st.sampled_from(list('ab/?=%-" \\\t.:é中\ufffd0')), max_size=12)
_TIME = st.one_of(
    st.just("24/Nov/2026:10:00:00 +0000"),
    st.builds(
        "{:02d}/{}/{:04d}:{:02d}:{:02d}:{:02d} {}{:02d}{:02d}".format,
        st.integers(0, 32), st.sampled_from(["Jan", "Feb", "nov", "Dec", "Foo"]), st.integers(1960, 2100),
        st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), st.sampled_from("+-"),
        st.integers(0, 25), st.integers(0, 61),
    ),
)
_REQUEST = st.one_of(
    st.builds("{} {} {}".format, st.sampled_from(["GET", "POST", "M-SEARCH", "g\u00e9t", ""]), _TEXT,
              st.sampled_from(["HTTP/1.1", "HTTP/2", "HTTP/1.", "http/1.0", "HTTP/1.1 "])),
    _TEXT,
)
_GENERATED = st.builds(
    '{} - {} [{}] "{}" {} {} "{}" "{}"{}'.format,
    st.sampled_from(["203.0.113.7", "-", "::1"]), st.sampled_from(["-", "bob", "a\tb"]), _TIME, _REQUEST,
    st.sampled_from(["200", "404", "099", "600", "20", "2000"]),
    st.sampled_from(["0", "-", "12", "1" * 19, "-1", ""]), _TEXT, _TEXT, st.sampled_from(["", " ", "\r", "x"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_GENERATED, min_size=1, max_size=8))
def test_generated_lines_agree(monkeypatch: pytest.MonkeyPatch, lines: list[str]) -> None:
    both_paths(lines, monkeypatch)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700), st.integers(0, 600))
def test_compiled_control_byte_test_agrees(block: bytes, cut: int) -> None:
    from parsers.line_reader import _compiled_has_control, python_has_control_bytes

    assert _compiled_has_control is not None
    plain = b"x" * cut + block.replace(b"\r", b"\r\n")  # past the first 256-byte stretch too
    for sample in (block, plain, b"a" * cut + b"\r"):
        assert _compiled_has_control(sample) == python_has_control_bytes(sample)


_DURATION = st.one_of(
    st.from_regex(r"\A[0-9]{1,17}(\.[0-9]{1,17})?\Z"), st.sampled_from(["-", "1.", ".5", "1e3", "0.1 ", ""])
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_DURATION, min_size=1, max_size=8))
def test_generated_request_times_agree(monkeypatch: pytest.MonkeyPatch, values: list[str]) -> None:
    timed = compile_format("combined_timed")
    both_paths([f"{line()} {value}" for value in values], monkeypatch, (timed,))
