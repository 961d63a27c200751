"""The parser's shortcuts give exactly the rows of its plain path.

The parser takes shortcuts for speed: the reader flags the lines holding control bytes and only
those get the junk regex; request lines of the strict ``METHOD SP target SP HTTP/x`` form skip the
general regex; batches are read, parsed and written on overlapping threads. Each is checked here
against the plain computation on the hand-written corpora (tests/unit/parsers/test_real_server_lines.py,
from the nginx and Apache docs and RFC 9110/9112; test_hostile_corpus.py), the generated sample day
(sample_logs/access.log: crawlers, attackers, empty and TLS requests, odd methods) and random lines.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.access_convert import (
    REQUEST_LINE_RE,
    _split_request_lines,
    junk_lines,
    pre_reason,
    request_kind,
)
from parsers.line_reader import LineReader
from tests.unit.parsers.test_hostile_corpus import corpus
from tests.unit.parsers.test_real_server_lines import CASES

SAMPLE = Path(__file__).resolve().parents[3] / "sample_logs" / "access.log"
STAMP = "[24/Nov/2026:13:55:36 +0000]"


def _corpus_lines() -> list[str]:
    lines = [line for _, case_lines, _, _ in CASES for line in case_lines]
    return lines + SAMPLE.read_text(encoding="utf-8", errors="replace").splitlines()


def _plain_request_split(requests: list[str | None]) -> pl.DataFrame:
    """The general regex on every request line, no strict shortcut: the reference."""
    df = pl.DataFrame({"request": requests}, schema={"request": pl.String})
    groups = pl.col("request").str.extract_groups(REQUEST_LINE_RE)
    df = df.with_columns(groups.alias("_r"))
    parts = [pl.col("_r").struct.field(str(i)) for i in (1, 2, 3)]
    df = df.with_columns(request_kind(pl.col("request"), *parts).alias("request_kind"))
    keep = pl.col("request_kind").is_in(["http", "non_http"])
    names = ("_method", "_target", "_protocol")
    return df.select(
        pl.col("request"),
        *[pl.when(keep).then(p).alias(n) for p, n in zip(parts, names, strict=True)],
        pl.col("request_kind"),
    )


def _shortcut_request_split(requests: list[str | None]) -> pl.DataFrame:
    df = pl.DataFrame({"request": requests}, schema={"request": pl.String})
    return _split_request_lines(df).select("request", "_method", "_target", "_protocol", "request_kind")


def _requests_of(lines: list[str]) -> list[str | None]:
    frame = pl.DataFrame({"line": lines}, schema={"line": pl.String})
    quoted = pl.col("line").str.extract(r'"((?:[^"\\]|\\.)*)"', 1)
    return frame.select(quoted).to_series().to_list()


def test_request_split_equals_the_general_regex_on_the_corpora() -> None:
    requests = _requests_of(_corpus_lines())
    requests += ["", "-", None, "PRI * HTTP/2.0", "GET /x http/1.1", "CONNECT a:443 HTTP/1.1", "GET",
                 "GET  /a  HTTP/1.1", "\\x16\\x03\\x01", "GET /a HTTP/1.1 extra", "get /lower HTTP/1.0",
                 "GET /a RTSP/1.0", "HELP"]
    shortcut, plain = _shortcut_request_split(requests), _plain_request_split(requests)
    assert shortcut.equals(plain)
    # the corpus holds both kinds of line, so both branches ran
    kinds = set(shortcut["request_kind"].to_list())
    assert {"http", "malformed", "empty", "non_http"} <= kinds


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.text(alphabet=" GETPOST/?=&.HTP120\\x\"-*:a", max_size=30)), min_size=1))
def test_request_split_equals_the_general_regex_on_random_lines(requests: list[str | None]) -> None:
    assert _shortcut_request_split(requests).equals(_plain_request_split(requests))


def _reasons(path: Path, batch_lines: int) -> tuple[list[str | None], list[str | None]]:
    """Per line: the pre-match reason with the reader's flagged lines, and with every line searched."""
    flagged, searched = [], []
    for batch in LineReader(path, batch_lines, 65_536):
        first = batch.first_line_number
        df = pl.DataFrame({"line": batch.lines}).with_columns(
            pl.col("line").str.strip_suffix("\r"),
            pl.int_range(first, first + batch.lines.len(), dtype=pl.Int64).alias("line_number"),
        )
        df = df.with_columns(pl.col("line").str.len_bytes().cast(pl.Int64).alias("byte_len"))
        flagged += df.select(pre_reason(65_536, junk_lines(df, batch.control_lines))).to_series().to_list()
        searched += df.select(pre_reason(65_536)).to_series().to_list()
    return flagged, searched


def test_flagged_control_lines_give_the_same_rejects_as_searching_every_line(tmp_path: Path) -> None:
    data, expected, _ = corpus()
    path = tmp_path / "hostile.log"
    path.write_bytes(data + b"tail\r")  # a CR ending a final partial line is not junk
    for batch_lines in (1, 5, 100_000):
        flagged, searched = _reasons(path, batch_lines)
        assert flagged == searched
        assert flagged.count("binary_junk") == expected["binary_junk"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=30))
def test_flagged_control_lines_on_random_bytes(tmp_path: Path, chunks: list[bytes]) -> None:
    path = tmp_path / "random.log"
    path.write_bytes(b"\n".join(chunks))
    flagged, searched = _reasons(path, 4)
    assert flagged == searched


def _parse(parse_lines, content: list[str] | bytes, **options: object) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    req, rej, stats = parse_lines(content, **options)
    counts = {k: v for k, v in vars(stats).items() if k != "path"}
    return req.drop("source_file"), rej.drop("source_file"), counts


def test_overlapped_small_batches_equal_one_sequential_batch_on_the_sample_day(parse_lines) -> None:
    data = SAMPLE.read_bytes()
    plain = _parse(parse_lines, data, batch_lines=1_000_000, parse_threads=1)
    for batch_lines, threads in [(997, 2), (64, 3), (5_000, 2)]:
        fast = _parse(parse_lines, data, batch_lines=batch_lines, parse_threads=threads)
        assert fast[0].equals(plain[0]) and fast[1].equals(plain[1])
        assert fast[2] == plain[2]
    assert plain[2]["lines_parsed"] > 5_000 and plain[2]["lines_rejected"] >= 0


def test_overlapped_small_batches_equal_one_sequential_batch_on_the_corpora(parse_lines) -> None:
    data, _, _ = corpus()
    real = "\n".join(line for _, lines, name, _ in CASES if name == "combined" for line in lines).encode()
    for content in (data, real + b"\n" + data):
        plain = _parse(parse_lines, content, batch_lines=1_000_000, parse_threads=1)
        fast = _parse(parse_lines, content, batch_lines=3, parse_threads=2)
        assert fast[0].equals(plain[0]) and fast[1].equals(plain[1])
        assert fast[2] == plain[2]


_FIELD = st.text(alphabet='ab -"\\[]/\t:0129', max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_FIELD, _FIELD, _FIELD, st.sampled_from(["200", "404", "2000", "-", "x"])), min_size=1,
                max_size=25))
def test_overlapped_parse_equals_sequential_on_random_lines(parse_lines, rows) -> None:
    lines = [f'198.51.100.{n % 9} - {user or "-"} {STAMP} "{req}" {status} 5 "{ref}" "-"'
             for n, (user, req, ref, status) in enumerate(rows)]
    plain = _parse(parse_lines, lines, log_format="combined", batch_lines=1_000, parse_threads=1)
    fast = _parse(parse_lines, lines, log_format="combined", batch_lines=2, parse_threads=2)
    assert fast[0].equals(plain[0]) and fast[1].equals(plain[1])
    assert fast[2] == plain[2]
