"""The compiled path first over every line of a batch (parsers/fast_path.first_pass, parse_batch).

It takes only lines no check would reject; empty, malformed, junk, over-long and truncated lines
and lines with invalid UTF-8 are left to the checks and the regex path, which must give exactly the
rows and rejects the regex path alone gives.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from config.settings import ParserSettings
from parsers import fast_path
from parsers.access_log import parse_batch
from parsers.line_reader import LineBatch
from parsers.log_format import compile_format

COMBINED = compile_format("combined")
GOOD = '203.0.113.7 - - [24/Nov/2026:10:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "UA"'  # 77 bytes


def test_first_pass_takes_good_lines_and_leaves_the_rest() -> None:
    lines = pl.Series("line", [GOOD, "", GOOD, "garbage", GOOD, GOOD, GOOD + "x" * 30], dtype=pl.String)
    program = fast_path.program_for(COMBINED)
    # numbered 10-16: 12 and 15 are good lines declined (say, control bytes, invalid UTF-8); 11 is
    # empty, 13 malformed, 16 over 100 bytes (107); 10 and 14 are taken
    result = fast_path.first_pass(lines, 10, "a.log", program, [12, 15], max_bytes=100)
    assert result is not None
    assert result.requests["line_number"].to_list() == [10, 14]
    assert result.requests["source_file"].to_list() == ["a.log", "a.log"]
    assert result.requests["has_invalid_utf8"].to_list() == [False, False]
    assert result.requests["requested_at"].to_list() == [datetime(2026, 11, 24, 10, tzinfo=UTC)] * 2
    assert result.requests["bytes"].to_list() == [5, 5] and result.requests["path"].to_list() == ["/a", "/a"]
    assert result.rest_line_numbers.to_list() == [11, 12, 13, 15, 16]
    assert result.rest_lines.to_list() == ["", GOOD, "garbage", GOOD, GOOD + "x" * 30]


def test_max_bytes_declines_exactly_the_longer_lines() -> None:
    program = fast_path.program_for(COMBINED)
    lines = pl.Series("line", [GOOD], dtype=pl.String)
    assert fast_path.first_pass(lines, 1, "a", program, [], max_bytes=77).requests.height == 1
    assert fast_path.first_pass(lines, 1, "a", program, [], max_bytes=76).requests.height == 0


def parsed_both_ways(batch: LineBatch, monkeypatch: pytest.MonkeyPatch, **options: object):
    settings = ParserSettings(**options)
    fast = parse_batch(batch, "access.log", [COMBINED], settings)
    with monkeypatch.context() as patch:
        patch.setattr(fast_path, "_fastsplit", None)
        regex = parse_batch(batch, "access.log", [COMBINED], settings)
    assert fast[0].to_dicts() == regex[0].to_dicts()
    assert fast[1].to_dicts() == regex[1].to_dicts()
    return fast


def test_checks_still_decide_the_lines_they_reject(monkeypatch: pytest.MonkeyPatch) -> None:
    junk = GOOD.replace('"UA"', '"U\x00A"')  # parses, but a NUL makes it binary junk
    invalid = GOOD.replace('"UA"', '"U\ufffdA"')  # decoded with replacement: a request, flagged
    lines = [GOOD, "", " \t", junk, GOOD + " " * 40, "not a log line", invalid, GOOD]
    batch = LineBatch(
        first_line_number=1,
        lines=pl.Series("line", lines, dtype=pl.String),
        invalid_utf8={7: 78},  # raw: one invalid byte where the replacement character's 3 are
        truncated_line=8,
        control_lines=[4],
    )
    requests, rejected = parsed_both_ways(batch, monkeypatch, max_line_bytes=100)
    assert requests["line_number"].to_list() == [1, 7]
    assert requests["has_invalid_utf8"].to_list() == [False, True]
    assert dict(zip(rejected["line_number"], rejected["reason"], strict=True)) == {
        2: "empty_line",
        3: "empty_line",
        4: "binary_junk",
        5: "line_too_long",  # 117 bytes
        6: "no_format_match",
        8: "truncated_file",
    }


def test_a_batch_the_first_pass_takes_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = LineBatch(5, pl.Series("line", [GOOD, GOOD], dtype=pl.String))
    requests, rejected = parsed_both_ways(batch, monkeypatch)
    assert requests["line_number"].to_list() == [5, 6] and rejected.height == 0
