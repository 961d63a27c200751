"""Access-log parsing: hand-written lines with hand-worked expected values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from parsers.schema import PARSED_REQUESTS_SCHEMA, REJECTED_SCHEMA

TIMESTAMP = "[24/Nov/2026:13:55:36 +0000]"


def line(
    client: str = "203.0.113.9",
    req: str = "GET / HTTP/1.1",
    ts: str = TIMESTAMP,
    tail: str = " 0.042",
    status: str = "200",
    size: str = "5123",
) -> str:
    return f'{client} - - {ts} "{req}" {status} {size} "https://ref.example/" "Mozilla/5.0 (X11)"{tail}'


def row(df: pl.DataFrame, line_number: int = 1) -> dict:
    return df.filter(pl.col("line_number") == line_number).to_dicts()[0]


def test_sample_generator_line(parse_lines) -> None:
    req, rej, st = parse_lines([line(req="GET /product/123?ref=home HTTP/1.1")])
    assert dict(req.schema) == PARSED_REQUESTS_SCHEMA and dict(rej.schema) == REJECTED_SCHEMA
    parsed = row(req)
    assert st.format_name == "combined_timed"
    assert parsed["client_ip"] == "203.0.113.9" and parsed["remote_user"] is None
    assert parsed["requested_at"] == datetime(2026, 11, 24, 13, 55, 36, tzinfo=UTC)
    assert (parsed["method"], parsed["path"], parsed["query"], parsed["protocol"]) == (
        "GET",
        "/product/123",
        "ref=home",
        "HTTP/1.1",
    )
    assert parsed["request"] == "GET /product/123?ref=home HTTP/1.1"
    assert (parsed["status"], parsed["bytes"], parsed["request_time_ms"]) == (200, 5123, 42.0)
    assert parsed["referer"] == "https://ref.example/" and parsed["user_agent"] == "Mozilla/5.0 (X11)"
    assert parsed["vhost"] is None and parsed["has_invalid_utf8"] is False


def test_ipv6_hostname_offset_dash_bytes(parse_lines) -> None:
    req, _, _ = parse_lines(
        [
            line(client="2001:db8::1"),
            line(client="crawler.example.net", ts="[24/Nov/2026:15:55:36 +0200]", size="-"),
            line(ts="[24/Nov/2026:01:00:00 -0530]"),
        ]
    )
    assert req["client_ip"].to_list() == ["2001:db8::1", "crawler.example.net", "203.0.113.9"]
    assert row(req, 2)["requested_at"] == datetime(2026, 11, 24, 13, 55, 36, tzinfo=UTC)
    assert row(req, 2)["bytes"] is None
    assert row(req, 3)["requested_at"] == datetime(2026, 11, 24, 6, 30, tzinfo=UTC)


def test_request_line_split(parse_lines) -> None:
    req, _, _ = parse_lines(
        [
            line(req="GET /search?q=a?b&x= HTTP/1.1"),
            line(req="GET /?"),
            line(req="GET /a b c HTTP/1.0"),
            line(req=r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03"),
            line(req="CONNECT example.com:443 HTTP/1.1"),
        ]
    )
    got = req.select("method", "path", "query", "protocol").rows()
    assert got == [
        ("GET", "/search", "q=a?b&x=", "HTTP/1.1"),
        ("GET", "/", "", None),
        ("GET", "/a b c", None, "HTTP/1.0"),
        (None, None, None, None),  # TLS on the HTTP port: raw request kept for security rules
        ("CONNECT", "example.com:443", None, "HTTP/1.1"),
    ]
    assert req["request"][3] == r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03"


def test_apache_microseconds_vhost_and_xff(parse_lines) -> None:
    fmt = r"%v %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D \"%{X-Forwarded-For}i\""
    lines = [
        'shop.example 10.0.0.5 - - [24/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 10 "-" "ua" 1500 '
        '"198.51.100.7, 10.0.0.1"',
        'shop.example 10.0.0.5 - - [24/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 10 "-" "ua" 250 "-"',
    ]
    req, _, st = parse_lines(lines, log_format=fmt)
    assert st.format_name == "custom"
    assert req["request_time_ms"].to_list() == [1.5, 0.25]
    assert req["vhost"].to_list() == ["shop.example", "shop.example"]
    assert req["client_ip"].to_list() == ["10.0.0.5", "10.0.0.5"]  # XFF not trusted by default
    req, _, _ = parse_lines(lines, log_format=fmt, trust_x_forwarded_for=True)
    assert req["client_ip"].to_list() == ["198.51.100.7", "10.0.0.5"]


def test_nginx_seconds_and_iso_time(parse_lines) -> None:
    fmt = '$remote_addr [$time_iso8601] "$request" $status $body_bytes_sent $request_time'
    req, _, _ = parse_lines(
        [
            '1.2.3.4 [2026-11-24T15:00:00+02:00] "GET / HTTP/1.1" 200 0 1.250',
            '1.2.3.4 [2026-11-24T13:00:00Z] "GET / HTTP/1.1" 200 0 -',
        ],
        log_format=fmt,
    )
    assert req["requested_at"].to_list() == [datetime(2026, 11, 24, 13, tzinfo=UTC)] * 2
    assert req["request_time_ms"].to_list() == [1250.0, None]


def test_every_reject_reason(parse_lines) -> None:
    lines = [
        line(),  # 1 ok
        line(ts="[31/Feb/2026:10:00:00 +0000]"),  # 2 bad_timestamp
        line(req=""),  # 3 a request: the client sent no request line
        "this is not a log line",  # 4 no_format_match
        "",  # 5 empty_line
        line() + "\x00\x00",  # 6 binary_junk
        line(req="GET /" + "a" * 200 + " HTTP/1.1"),  # 7 line_too_long
        line(req="-"),  # 8 a request (nginx's "-" 400)
        line(client="-"),  # 9 missing_client
        line(status="000"),  # 10 bad_status: outside 100..599
    ]
    req, rej, st = parse_lines(lines, max_line_bytes=200)
    assert req["line_number"].to_list() == [1, 3, 8]
    assert req["request_kind"].to_list() == ["http", "empty", "empty"]
    assert dict(zip(rej["line_number"], rej["reason"], strict=True)) == {
        2: "bad_timestamp",
        4: "no_format_match",
        5: "empty_line",
        6: "binary_junk",
        7: "line_too_long",
        9: "missing_client",
        10: "bad_status",
    }
    assert st.lines_read == 10 == st.lines_parsed + st.lines_rejected
    assert st.rejected_by_reason == {
        "bad_status": 1,
        "bad_timestamp": 1,
        "binary_junk": 1,
        "empty_line": 1,
        "line_too_long": 1,
        "missing_client": 1,
        "no_format_match": 1,
    }
    assert "\x00" not in rej.filter(pl.col("line_number") == 6)["raw_text"][0]


def test_raw_text_truncated(parse_lines) -> None:
    _, rej, _ = parse_lines(["x" * 50], rejected_raw_chars=10, log_format="combined")
    assert rej["raw_text"].to_list() == ["x" * 10]


def test_day_window_and_overlap(parse_lines) -> None:
    lines = [
        line(ts="[23/Nov/2026:23:30:00 +0000]"),
        line(),
        line(ts="[25/Nov/2026:00:00:00 +0000]"),
        line(ts="[25/Nov/2026:01:00:00 +0200]"),  # 23:00 UTC on the 24th
        line(ts="[25/Nov/2026:00:30:00 +0000]"),
    ]
    req, _, st = parse_lines(lines)
    assert req["line_number"].to_list() == [2, 4]
    assert (st.lines_parsed, st.lines_outside_day) == (5, 3)
    # [23rd 23:30, 25th 00:30): the start is in the window, the end is not
    req, _, st = parse_lines(lines, overlap=timedelta(minutes=30))
    assert req["line_number"].to_list() == [1, 2, 3, 4]
    assert st.lines_outside_day == 1


def test_crlf_final_newline_and_invalid_utf8(parse_lines) -> None:
    data = (line() + "\r\n").encode() + line(req="GET /caf\xe9 HTTP/1.1").encode("latin-1") + b"\r\n"
    req, rej, st = parse_lines(data)
    assert st.lines_read == 2 and rej.height == 0
    assert req["request_time_ms"].to_list() == [42.0, 42.0]  # no '\r' left in the last field
    assert req["has_invalid_utf8"].to_list() == [False, True]
    assert req["path"][1] == "/caf\ufffd"


def test_no_final_newline_counts_last_line(parse_lines) -> None:
    _, _, st = parse_lines((line() + "\n" + line()).encode())
    assert (st.lines_read, st.lines_parsed) == (2, 2)


def test_mixed_formats_fall_back_when_detected(parse_lines) -> None:
    common = '1.2.3.4 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.0" 304 -'
    req, rej, st = parse_lines([line(), line(), line(tail=""), common])
    assert st.format_name == "combined_timed" and rej.height == 0
    assert req["request_time_ms"].to_list() == [42.0, 42.0, None, None]
    # an explicitly configured format is strict
    req, rej, _ = parse_lines([line(), line(tail=""), common], log_format="combined_timed")
    assert rej["reason"].to_list() == ["no_format_match"] * 2


def test_small_batches_keep_line_numbers(parse_lines) -> None:
    lines = [line() if i % 3 else "junk" for i in range(10)]
    req, rej, st = parse_lines(lines, batch_lines=3)
    assert rej["line_number"].to_list() == [1, 4, 7, 10]
    assert req["line_number"].to_list() == [2, 3, 5, 6, 8, 9]
    assert st.lines_read == 10


def test_json_lines_access_log(parse_lines) -> None:
    lines = [
        '{"remote_addr":"1.2.3.4","time_iso8601":"2026-11-24T15:00:00+02:00","request":"GET /a?x=1 HTTP/1.1",'
        '"status":404,"body_bytes_sent":"12","http_user_agent":"ua","request_time":0.5,"host":"h"}',
        '{"remote_addr":"1.2.3.4","time_local":"24/Nov/2026:13:00:00 +0000","request":"GET / HTTP/1.1",'
        '"status":"200","body_bytes_sent":0}',
        '{"broken": ',
    ]
    req, rej, st = parse_lines(lines)
    assert st.format_name == "json"
    parsed = row(req)
    assert (
        parsed["status"], parsed["bytes"], parsed["path"], parsed["query"], parsed["request_time_ms"], parsed["vhost"]
    ) == (
        404,
        12,
        "/a",
        "x=1",
        500.0,
        "h",
    )
    assert parsed["requested_at"] == datetime(2026, 11, 24, 13, tzinfo=UTC)
    assert row(req, 2)["requested_at"] == datetime(2026, 11, 24, 13, tzinfo=UTC)
    assert rej["reason"].to_list() == ["no_format_match"]


def test_empty_file_writes_empty_outputs(parse_lines) -> None:
    req, rej, st = parse_lines(b"")
    assert req.height == rej.height == st.lines_read == 0
    assert dict(req.schema) == PARSED_REQUESTS_SCHEMA


def test_undetectable_file_is_refused(parse_lines) -> None:
    import pytest

    from parsers.log_format import LogFormatError

    with pytest.raises(LogFormatError, match="garbage.log"):
        parse_lines(["hello", "world"], name="garbage.log")
