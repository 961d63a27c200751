"""A hand-written corpus of the lines real servers write, one per class, each with its expected row or
reject reason.

Written from the nginx log module and core docs (combined, the `main` example, `$request_time`,
`$upstream_response_time` with its ", " / " : " separators, `\\x22` escapes, `"-" 400 0` for a
connection closed before a request line), Apache's mod_log_config (common, combined, vhost_combined,
`\\"` escapes, `"-" 408 -`, `HostnameLookups On`) and RFC 9110/9112 (method = token, HTTP-version is
case-sensitive, CONNECT's authority-form, the HTTP/2 preface `PRI * HTTP/2.0`). Not generated: the
project's generator is tested against these rules, not the other way round.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

TIMESTAMP = "[24/Nov/2026:13:55:36 +0000]"
AT = datetime(2026, 11, 24, 13, 55, 36, tzinfo=UTC)
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
TLS = r"\x16\x03\x01\x00\xF4\x01\x00\x00\xF0\x03\x03\xB5\x9A\x0F"

# (class, the lines of one file, expected format name, expected columns of the first line)
CASES: list[tuple[str, list[str], str, dict[str, Any]]] = [
    ("nginx combined", [f'198.51.100.7 - - {TIMESTAMP} "GET /wp-login.php HTTP/1.1" 200 4521 "-" "{UA}"'],
     "combined", {"client_ip": "198.51.100.7", "method": "GET", "path": "/wp-login.php", "protocol": "HTTP/1.1",
                  "status": 200, "bytes": 4521, "request_kind": "http", "request_time_ms": None}),
    ("nginx main (combined + X-Forwarded-For)",
     [f'10.0.0.12 - alice {TIMESTAMP} "POST /api/orders?x=1 HTTP/2.0" 201 88 "https://shop.example/cart" "{UA}" '
      '"203.0.113.50, 10.0.0.1"'],
     "main", {"client_ip": "10.0.0.12", "remote_user": "alice", "method": "POST", "path": "/api/orders",
              "query": "x=1", "status": 201, "request_kind": "http"}),
    ("combined + $request_time",
     [f'198.51.100.7 - - {TIMESTAMP} "GET / HTTP/1.1" 200 612 "-" "curl/8.5.0" 0.004'],
     "combined_timed", {"request_time_ms": 4.0, "request_kind": "http"}),
    ("combined + $upstream_response_time (two upstreams tried)",
     [f'198.51.100.7 - - {TIMESTAMP} "GET /a HTTP/1.1" 502 157 "-" "curl/8.5.0" 0.500, 0.012'],
     "combined_upstream", {"status": 502, "request_time_ms": None, "path": "/a"}),
    ("combined + $request_time $upstream_response_time (no upstream: '-')",
     [f'198.51.100.7 - - {TIMESTAMP} "GET /static/a.css HTTP/1.1" 304 0 "-" "curl/8.5.0" 0.000 -'],
     "combined_timed_upstream", {"status": 304, "bytes": 0, "request_time_ms": 0.0}),
    ("Apache common, hostname client (HostnameLookups On), CRLF",
     [f'crawl-66-249-66-1.googlebot.com - - {TIMESTAMP} "GET /robots.txt HTTP/1.0" 200 68\r'],
     "common", {"client_ip": "crawl-66-249-66-1.googlebot.com", "path": "/robots.txt", "bytes": 68,
                "user_agent": None}),
    ("Apache combined, \\\" escapes in the user agent",
     [f'192.0.2.33 - - {TIMESTAMP} "GET /search?q=%22x%22 HTTP/1.1" 200 9 "-" "Mozilla/5.0 \\"quoted\\" agent"'],
     "combined", {"user_agent": 'Mozilla/5.0 \\"quoted\\" agent', "query": "q=%22x%22"}),
    ("nginx combined, \\x22 escapes",
     [f'192.0.2.33 - - {TIMESTAMP} "GET /x HTTP/1.1" 200 9 "-" "sqlmap \\x22payload\\x22"'],
     "combined", {"user_agent": "sqlmap \\x22payload\\x22"}),
    ("Apache vhost_combined (%v:%p, %O)",
     [f'shop.example.com:443 2001:db8::7 - - {TIMESTAMP} "GET /cart HTTP/1.1" 200 1536 "-" "{UA}"'],
     "vhost_combined", {"vhost": "shop.example.com", "client_ip": "2001:db8::7", "bytes": 1536}),
    ("IPv6 client, IPv4-mapped",
     [f'::ffff:198.51.100.7 - - {TIMESTAMP} "HEAD / HTTP/1.1" 200 0 "-" "{UA}"'],
     "combined", {"client_ip": "::ffff:198.51.100.7", "method": "HEAD"}),
    ("nginx: connection closed before a request line",
     [f'198.51.100.9 - - {TIMESTAMP} "-" 400 0 "-" "-"'],
     "combined", {"request_kind": "empty", "request": "-", "method": None, "path": None, "protocol": None,
                  "status": 400, "bytes": 0, "user_agent": None}),
    ("Apache: request timeout before a request line",
     [f'198.51.100.9 - - {TIMESTAMP} "-" 408 -'],
     "common", {"request_kind": "empty", "status": 408, "bytes": None}),
    ("empty request line (\"\")",
     [f'198.51.100.9 - - {TIMESTAMP} "" 400 0 "-" "-"'],
     "combined", {"request_kind": "empty", "request": "", "method": None}),
    ("TLS ClientHello on the plain-HTTP port, escaped by nginx",
     [f'45.148.10.1 - - {TIMESTAMP} "{TLS}" 400 157 "-" "-"'],
     "combined", {"request_kind": "malformed", "request": TLS, "method": None, "path": None, "query": None,
                  "protocol": None, "status": 400, "bytes": 157}),
    ("HELP probe (a bare word, no target)",
     [f'45.148.10.1 - - {TIMESTAMP} "HELP" 400 157 "-" "-"'],
     "combined", {"request_kind": "malformed", "request": "HELP", "method": None, "path": None}),
    ("HTTP/2 connection preface sent to an HTTP/1.1 server",
     [f'45.148.10.1 - - {TIMESTAMP} "PRI * HTTP/2.0" 400 157 "-" "-"'],
     "combined", {"request_kind": "http", "method": "PRI", "path": "*", "protocol": "HTTP/2.0"}),
    ("CONNECT (authority-form target): an open-proxy probe",
     [f'45.148.10.1 - - {TIMESTAMP} "CONNECT www.example.com:443 HTTP/1.1" 400 157 "-" "-"'],
     "combined", {"request_kind": "http", "method": "CONNECT", "path": "www.example.com:443"}),
    ("SSTP_DUPLEX_POST (Microsoft SSTP VPN probe)",
     [f'45.148.10.1 - - {TIMESTAMP} "SSTP_DUPLEX_POST /sra_{{BA195980-CD49-458b-9E23-C84EE0ADCD75}}/ HTTP/1.1" 405 157 '
      '"-" "-"'],
     "combined", {"request_kind": "http", "method": "SSTP_DUPLEX_POST",
                  "path": "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"}),
    ("WebDAV PROPFIND: a method outside RFC 9110 is data",
     [f'192.0.2.10 - - {TIMESTAMP} "PROPFIND /remote.php/dav HTTP/1.1" 207 1024 "-" "Microsoft-WebDAV-MiniRedir/10.0"'],
     "combined", {"request_kind": "http", "method": "PROPFIND", "status": 207}),
    ("request line without a version (HTTP/0.9 form)",
     [f'45.148.10.1 - - {TIMESTAMP} "GET /" 400 157 "-" "-"'],
     "combined", {"request_kind": "http", "method": "GET", "path": "/", "protocol": None}),
    ("a protocol that is not HTTP",
     [f'45.148.10.1 - - {TIMESTAMP} "OPTIONS rtsp://192.0.2.1:554/ RTSP/1.0" 400 157 "-" "-"'],
     "combined", {"request_kind": "non_http", "method": "OPTIONS", "protocol": "RTSP/1.0"}),
    ("HTTP-version in lower case (the name is case-sensitive)",
     [f'45.148.10.1 - - {TIMESTAMP} "GET / http/1.1" 400 157 "-" "-"'],
     "combined", {"request_kind": "non_http", "protocol": "http/1.1"}),
    ("nginx 499: the client closed the connection while waiting",
     [f'198.51.100.7 - - {TIMESTAMP} "GET /slow HTTP/1.1" 499 0 "-" "{UA}"'],
     "combined", {"status": 499, "request_kind": "http"}),
]


@pytest.mark.parametrize(("lines", "format_name", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_real_server_line_is_a_request(parse_lines, lines: list[str], format_name: str,
                                             expected: dict[str, Any]) -> None:
    req, rej, st = parse_lines(lines)
    assert rej.height == 0, rej.to_dicts()
    assert st.format_name == format_name
    [row] = req.to_dicts()
    assert row["requested_at"] == AT
    assert {k: row[k] for k in expected} == expected


# (class, line, reject reason): the only lines that are rejected lack a client, a timestamp or a status
REJECTS: list[tuple[str, str, str]] = [
    ("no client", f'- - - {TIMESTAMP} "GET / HTTP/1.1" 200 5 "-" "x"', "missing_client"),
    ("impossible date", '198.51.100.7 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"',
     "bad_timestamp"),
    ("status outside 100-599", f'198.51.100.7 - - {TIMESTAMP} "GET / HTTP/1.1" 999 5 "-" "x"', "bad_status"),
    ("cut mid-field (writer crashed)", f'198.51.100.7 - - {TIMESTAMP} "GET /product/1?ref=', "no_format_match"),
    ("unescaped quote inside the request", f'198.51.100.7 - - {TIMESTAMP} "GET /"x" HTTP/1.1" 200 5 "-" "x"',
     "no_format_match"),
    ("raw (unescaped) control bytes", f'198.51.100.7 - - {TIMESTAMP} "GET / HTTP/1.1" 200 5 "-" "x\x07"',
     "binary_junk"),
]


@pytest.mark.parametrize(("line", "reason"), [r[1:] for r in REJECTS], ids=[r[0] for r in REJECTS])
def test_only_lines_without_client_time_or_status_are_rejected(parse_lines, line: str, reason: str) -> None:
    good = f'198.51.100.7 - - {TIMESTAMP} "GET / HTTP/1.1" 200 5 "-" "x"'
    req, rej, st = parse_lines([good, line])
    assert req["line_number"].to_list() == [1]
    assert rej.select("line_number", "reason").rows() == [(2, reason)]
    assert st.rejected_by_reason == {reason: 1}


def test_unquoted_field_with_spaces_when_the_rest_decides(parse_lines) -> None:
    """$request_body is unquoted and may hold spaces; the quoted user agent after it ends it."""
    fmt = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $request_body '
           '"$http_user_agent"')
    lines = [
        f'198.51.100.7 - - {TIMESTAMP} "POST /upload HTTP/1.1" 200 12 --boundary Content-Disposition: form-data; '
        f'name="file" "{UA}"',
        f'198.51.100.7 - - {TIMESTAMP} "GET / HTTP/1.1" 200 12 - "curl/8"',
    ]
    req, rej, _ = parse_lines(lines, log_format=fmt)
    assert rej.height == 0
    assert req["user_agent"].to_list() == [UA, "curl/8"]
    assert req["bytes"].to_list() == [12, 12]


def test_one_file_mixing_every_class_loads_whole(parse_lines) -> None:
    """A day of a combined log with all the classes above in one file: every line is a request."""
    combined = [lines[0].rstrip("\r") for _, lines, name, _ in CASES if name == "combined"]
    req, rej, st = parse_lines(combined * 3)
    assert rej.height == 0 and st.lines_parsed == 3 * len(combined)
    kinds = dict(req["request_kind"].value_counts().iter_rows())
    assert kinds == {"http": 3 * 10, "empty": 3 * 2, "malformed": 3 * 2, "non_http": 3 * 2}
