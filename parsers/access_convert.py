"""polars side of access-log parsing: raw lines -> PARSED_REQUESTS_SCHEMA rows or reject reasons.

The Spark parser (parsers/spark_access_log.py) mirrors these rules with the same regexes; the parity
test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from parsers.log_format import JSON_KEYS, LogFormat
from parsers.schema import PARSED_REQUESTS_SCHEMA, REJECTED_SCHEMA, UTC_TS

# C0 controls except TAB, and DEL: web servers escape these, so raw ones mean a corrupt line.
JUNK_RE = r"[\x00-\x08\x0B-\x1F\x7F]"
# METHOD SP target [SP protocol]; method is an RFC 9110 token, so TLS or binary probes that
# nginx logs as '\x16\x03...' keep their raw request but no method/path.
REQUEST_LINE_RE = r"\A([A-Za-z0-9_!#$%'*+.^`|~-]+)(?: +([^ ]+(?: +[^ ]+)*?))?(?: +([A-Za-z]+/[0-9.]+))? *\z"
# The common case, METHOD SP target SP HTTP-version: a request_kind 'http' line by itself
REQUEST_LINE_STRICT_RE = r"\A([A-Za-z0-9_!#$%'*+.^`|~-]+) ([^ ]+) (HTTP/[0-9](?:\.[0-9])?)\z"
# RFC 9112 HTTP-version ("HTTP/" DIGIT "." DIGIT; servers also log HTTP/2 and HTTP/3). The name is
# case-sensitive: 'http/1.1' is not HTTP.
HTTP_VERSION_RE = r"\AHTTP/[0-9](?:\.[0-9])?\z"
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"
ISO_TIME = "%Y-%m-%dT%H:%M:%S%.f%:z"

# Order matters: the first matching reason is reported. A line is rejected only when it cannot give a
# client, a timestamp and a status (README, "What a request is"); a junk request line is data.
PRE_REASONS = ("line_too_long", "binary_junk", "empty_line")
POST_REASONS = ("bad_timestamp", "missing_client", "bad_status")
STATUS_MIN, STATUS_MAX = 100, 599


def _field(fields: Sequence[str], name: str) -> pl.Expr:
    return pl.col(name) if name in fields else pl.lit(None, pl.String)


def _dash_null(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr == "-").then(None).otherwise(expr)


def pre_reason(max_line_bytes: int, junk: pl.Expr | None = None) -> pl.Expr:
    """Reject reason decided before matching (needs columns ``line`` and ``byte_len``).

    ``junk`` marks the lines holding control bytes (JUNK_RE); by default every line is searched.
    The parser passes the few lines its reader flagged instead (junk_lines)."""
    line = pl.col("line")
    return (
        pl.when(pl.col("byte_len") > max_line_bytes)
        .then(pl.lit("line_too_long"))
        .when(line.str.contains(JUNK_RE) if junk is None else junk)
        .then(pl.lit("binary_junk"))
        .when(line.str.contains(r"\A[ \t]*\z"))
        .then(pl.lit("empty_line"))
        .otherwise(None)
    )


def junk_lines(df: pl.DataFrame, candidates: Sequence[int]) -> pl.Expr:
    """Which lines of ``df`` hold control bytes, searching only the ``candidates`` line numbers (the
    reader flags every line with such a byte, so the other lines need no search)."""
    if not candidates:
        return pl.lit(False)
    flagged = df.filter(pl.col("line_number").is_in(candidates) & pl.col("line").str.contains(JUNK_RE))
    return pl.col("line_number").is_in(flagged["line_number"].implode())


def extract_fields(df: pl.DataFrame, fmt: LogFormat) -> pl.DataFrame:
    """Add one String column per format field and a boolean ``matched``."""
    if fmt.is_json:
        return _extract_json(df)
    names = fmt.group_names
    groups = pl.col("line").str.extract_groups(fmt.regex)
    out = df.with_columns(groups.alias("_g")).with_columns(
        pl.col("_g").struct.field(str(i + 1)).alias(n) for i, n in enumerate(names)
    )
    # every group takes part in a match, so the first group is null exactly when nothing matched
    return out.with_columns(matched=pl.col(names[0]).is_not_null()).drop("_g")


def _extract_json(df: pl.DataFrame) -> pl.DataFrame:
    line = pl.col("line")
    cols = [
        pl.coalesce([line.str.json_path_match(f"$['{k}']") for k in keys]).alias(name)
        for name, keys in JSON_KEYS.items()
    ]
    out = df.with_columns(cols)
    matched = (
        line.str.starts_with("{")
        & pl.col("client").is_not_null()
        & pl.col("status").str.contains(r"\A[0-9]{3}\z").fill_null(False)
        & (pl.col("request").is_not_null() | pl.col("method").is_not_null())
    )
    return out.with_columns(matched=matched)


def _timestamp(fields: Sequence[str]) -> pl.Expr:
    parts = []
    if "time_clf" in fields:
        parts.append(pl.col("time_clf").str.to_datetime(CLF_TIME, strict=False, time_unit="us"))
    if "time_iso" in fields:
        iso = pl.col("time_iso").str.replace(r"Z\z", "+00:00")
        parts.append(iso.str.to_datetime(ISO_TIME, strict=False, time_unit="us"))
    if "time_epoch" in fields:
        us = (pl.col("time_epoch").cast(pl.Float64, strict=False) * 1e6).round().cast(pl.Int64)
        parts.append(pl.from_epoch(us, time_unit="us").dt.replace_time_zone("UTC"))
    return pl.coalesce([p.cast(UTC_TS) for p in parts]) if parts else pl.lit(None, UTC_TS)


def _request_line(fields: Sequence[str]) -> pl.Expr:
    """The raw request line; formats that log method / uri / protocol separately get it rebuilt
    (JSON logs may have either, so both are combined)."""
    request = pl.col("request") if "request" in fields else None
    if not {"method", "uri", "path"} & set(fields):
        return request if request is not None else pl.lit(None, pl.String)
    target = (
        _field(fields, "uri")
        if "uri" in fields
        else pl.concat_str([_field(fields, "path"), pl.lit("?") + _field(fields, "query")], ignore_nulls=True)
    )
    rebuilt = pl.concat_str(
        [_field(fields, "method"), target, _field(fields, "protocol")], separator=" ", ignore_nulls=True
    )
    return rebuilt if request is None else pl.coalesce(request, rebuilt)


def _request_time_ms(fields: Sequence[str]) -> pl.Expr:
    def num(name: str) -> pl.Expr:
        return _field(fields, name).cast(pl.Float64, strict=False)

    return pl.coalesce([num("request_time_ms"), num("request_time_s") * 1000.0, num("request_time_us") / 1000.0])


def _split_request_lines(df: pl.DataFrame) -> pl.DataFrame:
    """Add ``_method``, ``_target``, ``_protocol`` from ``request``, and ``request_kind``.

    The strict METHOD SP target SP HTTP-version form covers nearly every line, is 3x cheaper than
    the general regex and is always kind 'http'; the general regex and the kind rules then run only
    on the rest, whose values are put back in place (no re-sort of the frame). Both regexes give
    the same groups on strict lines. A malformed or empty line keeps its raw request only: its
    groups are not a method and a target, so its three parts are null.
    """
    strict = df.get_column("request").str.extract_groups(REQUEST_LINE_STRICT_RE)
    parts = [strict.struct.field(str(i)) for i in (1, 2, 3)]
    kind = pl.repeat("http", df.height, dtype=pl.String, eager=True)
    rest = parts[0].is_null().arg_true()
    if rest.len():
        groups = pl.col("_r")
        general = (
            df.get_column("request")
            .gather(rest)
            .to_frame()
            .with_columns(pl.col("request").str.extract_groups(REQUEST_LINE_RE).alias("_r"))
            .with_columns(
                request_kind(pl.col("request"), *[groups.struct.field(str(i)) for i in (1, 2, 3)]).alias("kind")
            )
        )
        keep = pl.col("kind").is_in(["http", "non_http"])
        general = general.select(
            [pl.when(keep).then(groups.struct.field(str(i))).alias(str(i)) for i in (1, 2, 3)] + [pl.col("kind")]
        )
        parts = [part.scatter(rest, general.get_column(str(i))) for part, i in zip(parts, (1, 2, 3), strict=True)]
        kind = kind.scatter(rest, general.get_column("kind"))
    names = ("_method", "_target", "_protocol")
    return df.with_columns([p.alias(n) for p, n in zip(parts, names, strict=True)] + [kind.alias("request_kind")])


def request_kind(request: pl.Expr, method: pl.Expr, target: pl.Expr, protocol: pl.Expr) -> pl.Expr:
    """The REQUEST_KINDS value of a split request line (parsers/schema.py)."""
    return (
        pl.when(request.is_null() | request.is_in(["", "-"]))
        .then(pl.lit("empty"))
        .when(method.is_null() | target.is_null())
        .then(pl.lit("malformed"))
        .when(protocol.is_not_null() & ~protocol.str.contains(HTTP_VERSION_RE))
        .then(pl.lit("non_http"))
        .otherwise(pl.lit("http"))
    )


def to_requests(df: pl.DataFrame, fields: Sequence[str], trust_xff: bool) -> pl.DataFrame:
    """Typed request columns, ``request_kind`` and ``reason`` (bad_timestamp / missing_client /
    bad_status, or null for a request)."""
    request = _request_line(fields)
    client = _dash_null(_field(fields, "client"))
    if trust_xff and "xff" in fields:
        first = _dash_null(pl.col("xff")).str.split(",").list.first().str.strip_chars()
        client = pl.coalesce([pl.when(first != "").then(first), client])
    df = df.with_columns(
        _timestamp(fields).alias("requested_at"),
        request.alias("request"),
        client.alias("client_ip"),
    )
    df = _split_request_lines(df)
    target = pl.col("_target")
    has_query = target.str.contains("?", literal=True)
    status = _field(fields, "status").cast(pl.Int32, strict=False)
    df = df.with_columns(
        method=pl.col("_method"),
        path=target.str.split_exact("?", 1).struct.field("field_0"),
        query=pl.when(has_query).then(target.str.splitn("?", 2).struct.field("field_1")),
        protocol=pl.col("_protocol"),
        remote_user=_dash_null(_field(fields, "remote_user")),
        status=status,
        bytes=_dash_null(_field(fields, "bytes")).cast(pl.Int64, strict=False),
        referer=_dash_null(_field(fields, "referer")),
        user_agent=_dash_null(_field(fields, "user_agent")),
        request_time_ms=_request_time_ms(fields),
        vhost=_dash_null(_field(fields, "vhost")),
        reason=pl.when(pl.col("requested_at").is_null())
        .then(pl.lit("bad_timestamp"))
        .when(pl.col("client_ip").is_null() | (pl.col("client_ip") == ""))
        .then(pl.lit("missing_client"))
        .when(status.is_null() | ~status.is_between(STATUS_MIN, STATUS_MAX))
        .then(pl.lit("bad_status"))
        .otherwise(None),
    )
    return df


def select_requests(df: pl.DataFrame) -> pl.DataFrame:
    """Exactly the PARSED_REQUESTS_SCHEMA columns, in order and typed."""
    return df.select(pl.col(n).cast(t) for n, t in PARSED_REQUESTS_SCHEMA.items())


def select_rejected(df: pl.DataFrame, raw_chars: int) -> pl.DataFrame:
    """REJECTED_SCHEMA rows: raw text without NUL bytes (Postgres text cannot hold them), truncated."""
    raw = pl.col("line").str.replace_all("\x00", "", literal=True).str.slice(0, raw_chars)
    return df.select(pl.col("source_file"), pl.col("line_number"), pl.col("reason"), raw.alias("raw_text")).select(
        pl.col(n).cast(t) for n, t in REJECTED_SCHEMA.items()
    )
