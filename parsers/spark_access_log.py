"""PySpark access-log parser: the same compiled regexes and rules as the polars parser.

For inputs larger than one machine. It mirrors parsers/access_convert.py expression for expression
(the parity test in tests/unit/parsers keeps them in step) with two documented gaps: a truncated
.gz makes the Spark job fail (Hadoop's codec raises) instead of yielding a ``truncated_file`` line,
and month names are matched case-sensitively by Spark's datetime parser ("Nov", not "NOV").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, functions

from parsers.access_convert import HTTP_VERSION_RE, JUNK_RE, REQUEST_LINE_RE, STATUS_MAX, STATUS_MIN
from parsers.log_format import JSON_KEYS, LogFormat, compile_format
from parsers.schema import PARSED_REQUESTS_SCHEMA, REJECTED_SCHEMA, spark_type

CLF_TIME = "dd/MMM/yyyy:HH:mm:ss Z"
ISO_TIME = "yyyy-MM-dd'T'HH:mm:ss[.SSSSSSSSS]XXX"


def _formats(log_format: str | LogFormat | Sequence[LogFormat]) -> list[LogFormat]:
    if isinstance(log_format, str):
        return [compile_format(log_format)]
    if isinstance(log_format, LogFormat):
        return [log_format]
    return list(log_format)


def _read_lines(spark: SparkSession, paths: Sequence[Path | str]) -> DataFrame:
    """Raw lines of all files with 1-based line numbers per file.

    zipWithIndex would round-trip every line through Python (losing the raw bytes) and follows
    partition order, which Spark packs by split size, not by file offset. Instead each row gets its
    split's byte offset (``_metadata.file_block_start``) and its index inside the partition
    (``monotonically_increasing_id``: partition id in the upper 31 bits, row in the lower 33); one
    small aggregation gives each split's first line number.
    """
    if not paths:
        raise ValueError("parse_access_log_spark needs at least one input file")
    frames = [
        # lineSep "\n" only: Spark's default also splits on a lone "\r", which polars does not
        spark.read.option("lineSep", "\n")
        .text(str(p))
        .select(
            functions.col("value").alias("raw"),
            functions.lit(str(p)).alias("source_file"),
            functions.col("_metadata.file_block_start").alias("_block"),
        )
        for p in paths
    ]
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other)
    mid = functions.monotonically_increasing_id()
    df = df.withColumn("_mid", mid).withColumns(
        {
            "_pid": functions.shiftright("_mid", 33),
            "_row": functions.col("_mid").bitwiseAND(functions.lit((1 << 33) - 1)),
        }
    )
    splits = (
        df.groupBy("source_file", "_block", "_pid")
        .agg(functions.min("_row").alias("first"), functions.count(functions.lit(1)).alias("n"))
        .collect()
    )
    bases, seen = [], dict[str, int]()
    for split in sorted(splits, key=lambda r: (r["source_file"], r["_block"])):
        before = seen.get(split["source_file"], 0)
        bases.append((split["source_file"], split["_block"], split["_pid"], before + 1 - split["first"]))
        seen[split["source_file"]] = before + split["n"]
    base = spark.createDataFrame(bases, "source_file string, _block long, _pid long, _base long")
    return (
        df.join(functions.broadcast(base), ["source_file", "_block", "_pid"])
        .withColumn("line_number", functions.col("_base") + functions.col("_row"))
        .drop("_block", "_pid", "_mid", "_row", "_base")
    )


def _dash_null(column: Column) -> Column:
    return functions.when(column == "-", functions.lit(None)).otherwise(column)


def _field(cols: dict[str, Column], name: str) -> Column:
    return cols.get(name, functions.lit(None).cast("string"))


def _fields(line: Column, formats: Sequence[LogFormat]) -> tuple[Column, dict[str, Column]]:
    """(index of the first matching format or null, field name -> value of that format)."""
    matched = [_json_match(line) if f.is_json else line.rlike(f.regex) for f in formats]
    which = functions.coalesce(
        *[functions.when(m, functions.lit(i)) for i, m in enumerate(matched)], functions.lit(None).cast("int")
    )
    cols: dict[str, list[Column]] = {}
    for index, fmt in enumerate(formats):
        if fmt.is_json:
            values = {n: _json_field(line, n) for n in JSON_KEYS}
        else:
            values = {n: functions.regexp_extract(line, fmt.regex, g + 1) for g, n in enumerate(fmt.group_names)}
        for name, value in values.items():
            if not name.startswith("_"):
                cols.setdefault(name, []).append(functions.when(which == index, value))
    return which, {n: functions.coalesce(*v) for n, v in cols.items()}


def _json_field(line: Column, name: str) -> Column:
    return functions.coalesce(*[functions.get_json_object(line, f"$['{k}']") for k in JSON_KEYS[name]])


def _json_match(line: Column) -> Column:
    status = _json_field(line, "status")
    has_request = _json_field(line, "request").isNotNull() | _json_field(line, "method").isNotNull()
    return (
        line.startswith("{")
        & _json_field(line, "client").isNotNull()
        & functions.coalesce(status.rlike(r"\A[0-9]{3}\z"), functions.lit(False))
        & has_request
    )


def _timestamp(cols: dict[str, Column]) -> Column:
    parts = []
    if "time_clf" in cols:
        parts.append(functions.try_to_timestamp(cols["time_clf"], functions.lit(CLF_TIME)))
    if "time_iso" in cols:
        parts.append(
            functions.try_to_timestamp(
                functions.regexp_replace(cols["time_iso"], r"Z\z", "+00:00"), functions.lit(ISO_TIME)
            )
        )
    if "time_epoch" in cols:
        us = functions.round(cols["time_epoch"].try_cast("double") * 1e6).cast("long")
        parts.append(functions.timestamp_micros(us))
    return functions.coalesce(*parts) if parts else functions.lit(None).cast("timestamp")


def _request(cols: dict[str, Column]) -> Column:
    request = cols.get("request")
    if not {"method", "uri", "path"} & set(cols):
        return request if request is not None else functions.lit(None).cast("string")
    target = (
        cols["uri"]
        if "uri" in cols
        else functions.concat_ws("", _field(cols, "path"), functions.concat(functions.lit("?"), _field(cols, "query")))
    )
    rebuilt = functions.concat_ws(" ", _field(cols, "method"), target, _field(cols, "protocol"))
    return rebuilt if request is None else functions.coalesce(request, rebuilt)


def _request_time_ms(cols: dict[str, Column]) -> Column:
    def num(name: str) -> Column:
        return _field(cols, name).try_cast("double")

    return functions.coalesce(num("request_time_ms"), num("request_time_s") * 1000.0, num("request_time_us") / 1000.0)


def classify_lines(
    spark: SparkSession,
    paths: Sequence[Path | str],
    log_format: str | LogFormat | Sequence[LogFormat],
    trust_x_forwarded_for: bool = False,
    max_line_bytes: int = 65_536,
) -> DataFrame:
    """Every line with its PARSED_REQUESTS_SCHEMA columns plus ``reason`` (null when parsed) and ``line``."""
    formats = _formats(log_format)
    df = _read_lines(spark, paths)
    raw = functions.col("raw")
    # byte length and UTF-8 validity come from the raw bytes Spark keeps in the string value
    df = df.withColumns(
        {
            "byte_len": functions.octet_length(raw) - functions.when(raw.endswith(functions.lit("\r")), 1).otherwise(0),
            "has_invalid_utf8": ~functions.is_valid_utf8(raw),
            "line": functions.regexp_replace(functions.make_valid_utf8(raw), "\r\\z", ""),
        }
    )
    line = functions.col("line")
    pre = (
        functions.when(functions.col("byte_len") > max_line_bytes, functions.lit("line_too_long"))
        .when(line.rlike(JUNK_RE), functions.lit("binary_junk"))
        .when(line.rlike(r"\A[ \t]*\z"), functions.lit("empty_line"))
    )
    which, cols = _fields(line, formats)
    df = df.withColumns({"pre_reason": pre, "fmt": which})
    client = _dash_null(_field(cols, "client"))
    if trust_x_forwarded_for and "xff" in cols:
        first = functions.trim(functions.split(_dash_null(cols["xff"]), ",").getItem(0))
        client = functions.coalesce(functions.when(first != "", first), client)
    df = df.withColumns(
        {
            "requested_at": _timestamp(cols),
            "request": _request(cols),
            "client_ip": client,
            "remote_user": _dash_null(_field(cols, "remote_user")),
            "status": _field(cols, "status").try_cast("int"),
            "bytes": _dash_null(_field(cols, "bytes")).try_cast("long"),
            "referer": _dash_null(_field(cols, "referer")),
            "user_agent": _dash_null(_field(cols, "user_agent")),
            "request_time_ms": _request_time_ms(cols),
            "vhost": _dash_null(_field(cols, "vhost")),
        }
    )
    req = functions.col("request")
    # regexp_extract gives "" for a group that did not take part; those groups are never empty
    method = functions.nullif(functions.regexp_extract(req, REQUEST_LINE_RE, 1), functions.lit(""))
    target = functions.nullif(functions.regexp_extract(req, REQUEST_LINE_RE, 2), functions.lit(""))
    protocol = functions.nullif(functions.regexp_extract(req, REQUEST_LINE_RE, 3), functions.lit(""))
    kind = (
        functions.when(req.isNull() | req.isin("", "-"), functions.lit("empty"))
        .when(method.isNull() | target.isNull(), functions.lit("malformed"))
        .when(protocol.isNotNull() & ~protocol.rlike(HTTP_VERSION_RE), functions.lit("non_http"))
        .otherwise(functions.lit("http"))
    )
    df = df.withColumn("request_kind", kind)
    parsed = functions.col("request_kind").isin("http", "non_http")
    target = functions.when(parsed, target)
    df = df.withColumns(
        {
            "method": functions.when(parsed, method),
            "path": functions.split(target, r"\?", 2).getItem(0),
            "query": functions.when(target.contains("?"), functions.split(target, r"\?", 2).getItem(1)),
            "protocol": functions.when(parsed, protocol),
        }
    )
    status = functions.col("status")
    reason = (
        functions.when(functions.col("pre_reason").isNotNull(), functions.col("pre_reason"))
        .when(functions.col("fmt").isNull(), functions.lit("no_format_match"))
        .when(functions.col("requested_at").isNull(), functions.lit("bad_timestamp"))
        .when(functions.col("client_ip").isNull() | (functions.col("client_ip") == ""), functions.lit("missing_client"))
        .when(status.isNull() | ~status.between(STATUS_MIN, STATUS_MAX), functions.lit("bad_status"))
    )
    return df.withColumn("reason", reason)


def parse_access_log_spark(
    spark: SparkSession,
    paths: Sequence[Path | str],
    log_format: str | LogFormat | Sequence[LogFormat],
    trust_x_forwarded_for: bool = False,
    max_line_bytes: int = 65_536,
) -> DataFrame:
    """Parsed requests with exactly the PARSED_REQUESTS_SCHEMA columns (Spark types; the value keys are
    the polars parser's alone); formats are tried in order like the polars parser's fallbacks."""
    df = classify_lines(spark, paths, log_format, trust_x_forwarded_for, max_line_bytes)
    return df.filter(functions.col("reason").isNull()).select(
        *[functions.col(n).cast(spark_type(t)).alias(n) for n, t in PARSED_REQUESTS_SCHEMA.items()]
    )


def rejected_lines_spark(classified: DataFrame, raw_chars: int = 2_000) -> DataFrame:
    """REJECTED_SCHEMA rows from ``classify_lines`` output (NUL bytes removed, text truncated)."""
    raw_text = functions.substring(functions.regexp_replace(functions.col("line"), "\u0000", ""), 1, raw_chars)
    cols = {
        "source_file": functions.col("source_file"),
        "line_number": functions.col("line_number"),
        "reason": functions.col("reason"),
        "raw_text": raw_text,
    }
    return classified.filter(functions.col("reason").isNotNull()).select(
        *[cols[n].cast(spark_type(t)).alias(n) for n, t in REJECTED_SCHEMA.items()]
    )
