"""Format compilation (nginx, Apache, named) and detection."""

from __future__ import annotations

import re

import pytest

from parsers.log_format import LogFormatError, compile_format, detect_format, named_formats

TIMED = (
    '203.0.113.9 - - [24/Nov/2026:13:55:36 +0000] "GET /product/123?ref=home HTTP/1.1" 200 5123 '
    '"https://www.google.com/" "Mozilla/5.0 (X11)" 0.042'
)
COMBINED = '203.0.113.9 - - [24/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"'
COMMON = '203.0.113.9 - frank [24/Nov/2026:13:55:36 +0000] "GET / HTTP/1.0" 200 -'
VHOST = 'shop.example.com:443 203.0.113.9 - - [24/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "x"'
JSON = '{"remote_addr":"1.2.3.4","time_iso8601":"2026-11-24T13:55:36+00:00","request":"GET / HTTP/1.1","status":200}'


def test_nginx_string_fields() -> None:
    fmt = compile_format(
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" $request_time $upstream_response_time'
    )
    assert fmt.fields == (
        "client",
        "remote_user",
        "time_clf",
        "request",
        "status",
        "bytes",
        "referer",
        "user_agent",
        "request_time_s",
        "upstream_response_time",
    )
    match = re.match(fmt.regex.replace(r"\A", "^").replace(r"\z", "$"), TIMED + " 0.040, 0.002")
    assert match and match.group(9) == "0.042" and match.group(10) == "0.040, 0.002"


def test_apache_string_fields() -> None:
    fmt = compile_format(
        r"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D %v %T "
        r"\"%{X-Forwarded-For}i\""
    )
    assert fmt.fields == (
        "client",
        "ident",
        "remote_user",
        "time_clf",
        "request",
        "status",
        "bytes",
        "referer",
        "user_agent",
        "request_time_us",
        "vhost",
        "request_time_s",
        "xff",
    )


def test_named_formats_share_the_compiler() -> None:
    assert (
        compile_format("combined").fields
        == compile_format('%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"').fields
    )
    assert compile_format("nginx_timed").name == "combined_timed"


def test_regex_uses_only_portable_syntax() -> None:
    for fmt in named_formats():
        assert "(?P<" not in fmt.regex and r"\d" not in fmt.regex and r"\s" not in fmt.regex


@pytest.mark.parametrize(
    ("line", "name"),
    [
        (TIMED, "combined_timed"),
        (COMBINED, "combined"),
        (COMMON, "common"),
        (VHOST, "vhost_combined"),
        (JSON, "json"),
    ],
)
def test_detect(line: str, name: str) -> None:
    assert detect_format([line, line]).name == name


def test_detect_majority_wins() -> None:
    assert detect_format([TIMED, TIMED, COMBINED]).name == "combined_timed"


def test_detect_refuses_naming_the_file() -> None:
    with pytest.raises(LogFormatError, match="weird.log"):
        detect_format(["hello world", "not a log"], source="weird.log")


def test_bad_format_strings() -> None:
    with pytest.raises(LogFormatError, match="no time field"):
        compile_format('$remote_addr "$request" $status')
    with pytest.raises(LogFormatError):
        compile_format("plain text")
