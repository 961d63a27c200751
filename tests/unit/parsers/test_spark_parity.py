"""The Spark parser and the polars parser agree row for row on the same (awkward) input.

The polars parser also writes the value keys (parsers/value_keys.py), which the Spark parser does
without: the rows are compared on every other column, and the keys are checked against their
dictionaries (tests/unit/parsers/keyed.py)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from pyspark.sql import functions

from config.settings import ParserSettings
from parsers.access_log import formats_for, parse_access_logs
from parsers.schema import PARSED_REQUESTS_SCHEMA, REJECTED_SCHEMA
from parsers.spark_access_log import classify_lines, parse_access_log_spark, rejected_lines_spark, spark_type
from tests.unit.parsers.keyed import check_value_keys

pytestmark = pytest.mark.integration

TS = "[24/Nov/2026:13:55:36 +0000]"
TAIL = '"https://ref.example/" "Mozilla/5.0 (X11)" 0.042'
LINES: list[bytes] = [
    f'203.0.113.9 - - {TS} "GET /p/1?ref=home HTTP/1.1" 200 5123 {TAIL}'.encode(),
    f'2001:db8::1 - bob [24/Nov/2026:15:55:36 +0200] "POST /login HTTP/2.0" 302 - {TAIL}'.encode(),
    f'crawler.example.net - - {TS} "GET /a b c HTTP/1.0" 404 0 "-" "-" -'.encode(),
    f'1.2.3.4 - - {TS} "GET /? HTTP/1.1" 200 1 "-" "Mozilla \\"quoted\\" agent" 1.5'.encode(),
    f'1.2.3.4 - - {TS} "\\x16\\x03\\x01\\x00" 400 157 "-" "-" 0.001'.encode(),
    f'1.2.3.4 - - {TS} "GET / HTTP/1.1" 200 1 "-" "M\u00f6zilla \u2713\u00a0x" 0.2'.encode(),
    f'1.2.3.4 - - {TS} "GET / HTTP/1.1" 200 1 "-" "combined only"'.encode(),
    f'1.2.3.4 - frank {TS} "GET /common HTTP/1.0" 304 -'.encode(),
    f'1.2.3.4 - - [31/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 {TAIL}'.encode(),
    f'1.2.3.4 - - {TS} "" 400 0 "-" "-" 0.000'.encode(),
    b"not a log line at all",
    b"",
    b"   ",
    f'1.2.3.4 - - {TS} "GET / HTTP/1.1" 200 1 "-" "nul\x00byte" 0.1'.encode(),
    f'1.2.3.4 - - {TS} "GET / HTTP/1.1" 200 1 "-" "ctl\x01" 0.1'.encode(),
    f'1.2.3.4 - - {TS} "GET /{"x" * 400} HTTP/1.1" 200 1 {TAIL}'.encode(),
    f'1.2.3.4 - - {TS} "GET /bad-'.encode() + b"\xff" + f' HTTP/1.1" 200 1 {TAIL}'.encode(),
    f'1.2.3.4 - - {TS} "GET /crlf HTTP/1.1" 200 1 {TAIL}\r'.encode(),
    f'1.2.3.4 - - {TS} "-" 400 0 "-" "-" 0.000'.encode(),
    f'1.2.3.4 - - {TS} "HELP" 400 0 "-" "-" 0.000'.encode(),
    f'1.2.3.4 - - {TS} "PRI * HTTP/2.0" 400 0 "-" "-" 0.000'.encode(),
    f'1.2.3.4 - - {TS} "GET / RTSP/1.0" 400 0 "-" "-" 0.000'.encode(),
    f'- - - {TS} "GET / HTTP/1.1" 200 1 {TAIL}'.encode(),
    f'1.2.3.4 - - {TS} "GET / HTTP/1.1" 000 1 {TAIL}'.encode(),
]


def test_spark_matches_polars(spark, tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    settings = ParserSettings(max_line_bytes=300)
    req_out, rej_out = tmp_path / "r.parquet", tmp_path / "j.parquet"
    [stats] = parse_access_logs([path], date(2026, 11, 24), req_out, rej_out, settings, overlap=timedelta(hours=48))
    formats = formats_for(path, settings)

    sdf = parse_access_log_spark(spark, [path], formats, max_line_bytes=300)
    assert [(f.name, f.dataType) for f in sdf.schema.fields] == [
        (n, spark_type(t)) for n, t in PARSED_REQUESTS_SCHEMA.items()
    ]
    spark_rows = sdf.withColumn("requested_at", functions.unix_micros("requested_at")).orderBy("line_number").collect()
    got = [r.asDict() for r in spark_rows]
    staged = pl.read_parquet(req_out)
    check_value_keys(staged, tmp_path)
    expected = (
        staged.select(*PARSED_REQUESTS_SCHEMA).with_columns(pl.col("requested_at").dt.epoch("us"))
        .sort("line_number").to_dicts()
    )
    assert len(expected) == stats.lines_parsed == 15
    assert {r["request_kind"] for r in expected} == {"http", "empty", "malformed", "non_http"}
    assert got == expected

    classified = classify_lines(spark, [path], formats, max_line_bytes=300)
    rej = rejected_lines_spark(classified).orderBy("line_number")
    assert [f.name for f in rej.schema.fields] == list(REJECTED_SCHEMA)
    spark_rej = [tuple(r) for r in rej.select("line_number", "reason", "raw_text").collect()]
    polars_rej = pl.read_parquet(rej_out).sort("line_number").select("line_number", "reason", "raw_text").rows()
    assert spark_rej == polars_rej


def test_line_numbers_across_splits_and_files(spark, tmp_path: Path) -> None:
    line = '10.0.0.{} - - [24/Nov/2026:13:55:36 +0000] "GET /n/{} HTTP/1.1" 200 1 "-" "ua{}" 0.001'
    plain_log, gzipped_log = tmp_path / "a.log", tmp_path / "b.log.gz"
    plain_log.write_text("".join(line.format(i % 250, i, "x" * (i % 97)) + "\n" for i in range(1, 30_001)))
    import gzip

    gzipped_log.write_bytes(gzip.compress("".join(line.format(1, i, "") + "\n" for i in range(1, 101)).encode()))
    old = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(256 << 10))  # ~10 splits for a.log
    try:
        df = parse_access_log_spark(spark, [plain_log, gzipped_log], "combined_timed")
        rows = df.select("source_file", "line_number", "path").collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", old)
    assert len(rows) == 30_100
    assert all(r["path"] == f"/n/{r['line_number']}" for r in rows)
    assert {r["source_file"] for r in rows} == {str(plain_log), str(gzipped_log)}


@pytest.mark.parametrize(
    ("fmt", "lines"),
    [
        (
            "json",
            [
                b'{"remote_addr":"1.2.3.4","time_iso8601":"2026-11-24T15:00:00+02:00","request":"GET /a?x=1 '
                b'HTTP/1.1","status":404,"body_bytes_sent":"12","http_user_agent":"ua","request_time":0.5}',
                b'{"remote_addr":"1.2.3.4","@timestamp":"2026-11-24T13:00:00.250Z","method":"POST",'
                b'"uri":"/login","status":"401","host":"h"}',
                b'{"remote_addr":"1.2.3.4","status":200}',
                b'{"broken": ',
            ],
        ),
        (
            r"%v %h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D \"%{X-Forwarded-For}i\"",
            [
                b'shop 10.0.0.5 - - [24/Nov/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 10 "-" "ua" 1500 '
                b'"198.51.100.7, 10.0.0.1"',
                b'shop 10.0.0.5 - - [24/Nov/2026:13:55:36 -0130] "GET / HTTP/1.1" 200 - "-" "ua" 250 "-"',
            ],
        ),
    ],
)
def test_spark_matches_polars_json_and_apache(spark, tmp_path: Path, fmt: str, lines: list[bytes]) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    settings = ParserSettings(log_format=fmt, trust_x_forwarded_for=True)
    req_out, rej_out = tmp_path / "r.parquet", tmp_path / "j.parquet"
    parse_access_logs([path], date(2026, 11, 24), req_out, rej_out, settings, overlap=timedelta(hours=48))
    sdf = parse_access_log_spark(spark, [path], fmt, trust_x_forwarded_for=True)
    got = [
        r.asDict()
        for r in sdf.withColumn("requested_at", functions.unix_micros("requested_at")).orderBy("line_number").collect()
    ]
    staged = pl.read_parquet(req_out)
    check_value_keys(staged, tmp_path)
    expected = staged.select(*PARSED_REQUESTS_SCHEMA).with_columns(pl.col("requested_at").dt.epoch("us"))
    expected = expected.sort("line_number")
    assert expected.height >= 2
    assert got == expected.to_dicts()
    classified = classify_lines(spark, [path], fmt, trust_x_forwarded_for=True)
    spark_rej = [tuple(r) for r in rejected_lines_spark(classified).select("line_number", "reason").collect()]
    assert sorted(spark_rej) == pl.read_parquet(rej_out).select("line_number", "reason").sort("line_number").rows()
