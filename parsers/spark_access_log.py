"""PySpark access-log parser: the same compiled regexes and rules as the polars parser.

For inputs larger than one machine. It mirrors parsers/access_convert.py expression for expression
(the parity test in tests/unit/parsers keeps them in step) with two documented gaps: a truncated
.gz makes the Spark job fail (Hadoop's codec raises) instead of yielding a ``truncated_file`` line,
and month names are matched case-sensitively by Spark's datetime parser ("Nov", not "NOV").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from parsers.access_convert import HTTP_VERSION_RE, JUNK_RE, REQUEST_LINE_RE, STATUS_MAX, STATUS_MIN
from parsers.log_format import JSON_KEYS, LogFormat, compile_format
from parsers.schema import REJECTED_SCHEMA, REQUESTS_SCHEMA, spark_type

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
            F.col("value").alias("raw"),
            F.lit(str(p)).alias("source_file"),
            F.col("_metadata.file_block_start").alias("_block"),
        )
        for p in paths
    ]
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other)
    mid = F.monotonically_increasing_id()
    df = df.withColumn("_mid", mid).withColumns(
        {"_pid": F.shiftright("_mid", 33), "_row": F.col("_mid").bitwiseAND(F.lit((1 << 33) - 1))}
    )
    splits = (
        df.groupBy("source_file", "_block", "_pid")
        .agg(F.min("_row").alias("first"), F.count(F.lit(1)).alias("n"))
        .collect()
    )
    bases, seen = [], dict[str, int]()
    for s in sorted(splits, key=lambda r: (r["source_file"], r["_block"])):
        before = seen.get(s["source_file"], 0)
        bases.append((s["source_file"], s["_block"], s["_pid"], before + 1 - s["first"]))
        seen[s["source_file"]] = before + s["n"]
    base = spark.createDataFrame(bases, "source_file string, _block long, _pid long, _base long")
    return (
        df.join(F.broadcast(base), ["source_file", "_block", "_pid"])
        .withColumn("line_number", F.col("_base") + F.col("_row"))
        .drop("_block", "_pid", "_mid", "_row", "_base")
    )


def _dash_null(c: Column) -> Column:
    return F.when(c == "-", F.lit(None)).otherwise(c)


def _field(cols: dict[str, Column], name: str) -> Column:
    return cols.get(name, F.lit(None).cast("string"))


def _fields(line: Column, formats: Sequence[LogFormat]) -> tuple[Column, dict[str, Column]]:
    """(index of the first matching format or null, field name -> value of that format)."""
    matched = [_json_match(line) if f.is_json else line.rlike(f.regex) for f in formats]
    which = F.coalesce(*[F.when(m, F.lit(i)) for i, m in enumerate(matched)], F.lit(None).cast("int"))
    cols: dict[str, list[Column]] = {}
    for i, fmt in enumerate(formats):
        if fmt.is_json:
            values = {n: _json_field(line, n) for n in JSON_KEYS}
        else:
            values = {n: F.regexp_extract(line, fmt.regex, g + 1) for g, n in enumerate(fmt.group_names)}
        for name, value in values.items():
            if not name.startswith("_"):
                cols.setdefault(name, []).append(F.when(which == i, value))
    return which, {n: F.coalesce(*v) for n, v in cols.items()}


def _json_field(line: Column, name: str) -> Column:
    return F.coalesce(*[F.get_json_object(line, f"$['{k}']") for k in JSON_KEYS[name]])


def _json_match(line: Column) -> Column:
    status = _json_field(line, "status")
    has_request = _json_field(line, "request").isNotNull() | _json_field(line, "method").isNotNull()
    return (
        line.startswith("{")
        & _json_field(line, "client").isNotNull()
        & F.coalesce(status.rlike(r"\A[0-9]{3}\z"), F.lit(False))
        & has_request
    )


def _timestamp(cols: dict[str, Column]) -> Column:
    parts = []
    if "time_clf" in cols:
        parts.append(F.try_to_timestamp(cols["time_clf"], F.lit(CLF_TIME)))
    if "time_iso" in cols:
        parts.append(F.try_to_timestamp(F.regexp_replace(cols["time_iso"], r"Z\z", "+00:00"), F.lit(ISO_TIME)))
    if "time_epoch" in cols:
        us = F.round(cols["time_epoch"].try_cast("double") * 1e6).cast("long")
        parts.append(F.timestamp_micros(us))
    return F.coalesce(*parts) if parts else F.lit(None).cast("timestamp")


def _request(cols: dict[str, Column]) -> Column:
    request = cols.get("request")
    if not {"method", "uri", "path"} & set(cols):
        return request if request is not None else F.lit(None).cast("string")
    target = (
        cols["uri"]
        if "uri" in cols
        else F.concat_ws("", _field(cols, "path"), F.concat(F.lit("?"), _field(cols, "query")))
    )
    rebuilt = F.concat_ws(" ", _field(cols, "method"), target, _field(cols, "protocol"))
    return rebuilt if request is None else F.coalesce(request, rebuilt)


def _request_time_ms(cols: dict[str, Column]) -> Column:
    def num(name: str) -> Column:
        return _field(cols, name).try_cast("double")

    return F.coalesce(num("request_time_ms"), num("request_time_s") * 1000.0, num("request_time_us") / 1000.0)


def classify_lines(
    spark: SparkSession,
    paths: Sequence[Path | str],
    log_format: str | LogFormat | Sequence[LogFormat],
    trust_x_forwarded_for: bool = False,
    max_line_bytes: int = 65_536,
) -> DataFrame:
    """Every line with its REQUESTS_SCHEMA columns plus ``reason`` (null when parsed) and ``line``."""
    formats = _formats(log_format)
    df = _read_lines(spark, paths)
    raw = F.col("raw")
    # byte length and UTF-8 validity come from the raw bytes Spark keeps in the string value
    df = df.withColumns(
        {
            "byte_len": F.octet_length(raw) - F.when(raw.endswith(F.lit("\r")), 1).otherwise(0),
            "has_invalid_utf8": ~F.is_valid_utf8(raw),
            "line": F.regexp_replace(F.make_valid_utf8(raw), "\r\\z", ""),
        }
    )
    line = F.col("line")
    pre = (
        F.when(F.col("byte_len") > max_line_bytes, F.lit("line_too_long"))
        .when(line.rlike(JUNK_RE), F.lit("binary_junk"))
        .when(line.rlike(r"\A[ \t]*\z"), F.lit("empty_line"))
    )
    which, cols = _fields(line, formats)
    df = df.withColumns({"pre_reason": pre, "fmt": which})
    client = _dash_null(_field(cols, "client"))
    if trust_x_forwarded_for and "xff" in cols:
        first = F.trim(F.split(_dash_null(cols["xff"]), ",").getItem(0))
        client = F.coalesce(F.when(first != "", first), client)
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
    req = F.col("request")
    # regexp_extract gives "" for a group that did not take part; those groups are never empty
    method = F.nullif(F.regexp_extract(req, REQUEST_LINE_RE, 1), F.lit(""))
    target = F.nullif(F.regexp_extract(req, REQUEST_LINE_RE, 2), F.lit(""))
    protocol = F.nullif(F.regexp_extract(req, REQUEST_LINE_RE, 3), F.lit(""))
    kind = (
        F.when(req.isNull() | req.isin("", "-"), F.lit("empty"))
        .when(method.isNull() | target.isNull(), F.lit("malformed"))
        .when(protocol.isNotNull() & ~protocol.rlike(HTTP_VERSION_RE), F.lit("non_http"))
        .otherwise(F.lit("http"))
    )
    df = df.withColumn("request_kind", kind)
    parsed = F.col("request_kind").isin("http", "non_http")
    target = F.when(parsed, target)
    df = df.withColumns(
        {
            "method": F.when(parsed, method),
            "path": F.split(target, r"\?", 2).getItem(0),
            "query": F.when(target.contains("?"), F.split(target, r"\?", 2).getItem(1)),
            "protocol": F.when(parsed, protocol),
        }
    )
    status = F.col("status")
    reason = (
        F.when(F.col("pre_reason").isNotNull(), F.col("pre_reason"))
        .when(F.col("fmt").isNull(), F.lit("no_format_match"))
        .when(F.col("requested_at").isNull(), F.lit("bad_timestamp"))
        .when(F.col("client_ip").isNull() | (F.col("client_ip") == ""), F.lit("missing_client"))
        .when(status.isNull() | ~status.between(STATUS_MIN, STATUS_MAX), F.lit("bad_status"))
    )
    return df.withColumn("reason", reason)


def parse_access_log_spark(
    spark: SparkSession,
    paths: Sequence[Path | str],
    log_format: str | LogFormat | Sequence[LogFormat],
    trust_x_forwarded_for: bool = False,
    max_line_bytes: int = 65_536,
) -> DataFrame:
    """Parsed requests with exactly the REQUESTS_SCHEMA columns (Spark types); formats are tried
    in order like the polars parser's fallbacks."""
    df = classify_lines(spark, paths, log_format, trust_x_forwarded_for, max_line_bytes)
    return df.filter(F.col("reason").isNull()).select(
        *[F.col(n).cast(spark_type(t)).alias(n) for n, t in REQUESTS_SCHEMA.items()]
    )


def rejected_lines_spark(classified: DataFrame, raw_chars: int = 2_000) -> DataFrame:
    """REJECTED_SCHEMA rows from ``classify_lines`` output (NUL bytes removed, text truncated)."""
    raw_text = F.substring(F.regexp_replace(F.col("line"), "\u0000", ""), 1, raw_chars)
    cols = {
        "source_file": F.col("source_file"),
        "line_number": F.col("line_number"),
        "reason": F.col("reason"),
        "raw_text": raw_text,
    }
    return classified.filter(F.col("reason").isNotNull()).select(
        *[cols[n].cast(spark_type(t)).alias(n) for n, t in REJECTED_SCHEMA.items()]
    )
