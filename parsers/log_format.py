"""Access-log formats: every format compiles to one regex shared by the polars and the Spark parser.

A format is a sequence of literals and fields. Named formats are written as Apache ``LogFormat`` or
nginx ``log_format`` strings and go through the same compiler as user-supplied strings, so there is
one definition per format. The regex uses only syntax that Rust (polars) and Java (Spark) read the
same way: positional groups (names live in ``LogFormat.fields``), ``\\A``/``\\z`` anchors, ASCII
classes such as ``[0-9]`` instead of ``\\d`` (Rust's ``\\d``/``\\s`` are Unicode-aware, Java's are
not) and ``[^\\n]`` instead of ``.`` (Java's dot also stops at ``\\r``, U+0085, U+2028, U+2029).

Quoted fields may hold spaces and escaped quotes (Apache writes ``\\"``, nginx ``\\x22``). An
unquoted field of a custom format that is none of the known ones (``$request_body``, a cookie
header) may hold spaces when a literal with a character of its own follows it (`` "``, ``]``) or it
ends the line: the rest of the line decides where it ends. parsers/server_config.py reads formats
from nginx and Apache configuration files.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

log = logging.getLogger(__name__)

# Canonical field names the converters understand; any other name is captured and ignored.
KNOWN_FIELDS = (
    "client",
    "ident",
    "remote_user",
    "time_clf",
    "time_iso",
    "time_epoch",
    "request",
    "method",
    "uri",
    "path",
    "query",
    "protocol",
    "status",
    "bytes",
    "referer",
    "user_agent",
    "request_time_s",
    "request_time_ms",
    "request_time_us",
    "vhost",
    "port",
    "xff",
    "upstream_response_time",
)
TIME_FIELDS = ("time_clf", "time_iso", "time_epoch")

_TOKEN = r"[^ \t]+"
# Apache escapes '"' as \" (nginx writes \x22). Written as Friedl's unrolled loop: 40% faster in
# Rust than (?:[^"\\]|\\.)* and free of catastrophic backtracking in Java.
_QUOTED = r'[^"\\]*(?:\\[^\n][^"\\]*)*'
_NUMBER = r"[0-9]+(?:\.[0-9]+)?|-"
_BARE: dict[str, str] = {
    "time_clf": r"[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}",
    "time_epoch": r"[0-9]+(?:\.[0-9]+)?",
    "status": r"[0-9]{3}",
    "bytes": r"[0-9]+|-",
    "port": r"[0-9]+|-",
    "request_time_s": _NUMBER,
    "request_time_ms": _NUMBER,
    "request_time_us": _NUMBER,
    "upstream_response_time": r"-|[0-9.]+(?:(?:, | : )(?:[0-9.]+|-))*",
    "xff": r"-|[^ \t,]+(?:, ?[^ \t,]+)*",
}
_META = set("\\.^$|?*+()[]{}")

# Apache LogFormat directives -> field (https://httpd.apache.org/docs/current/mod/mod_log_config.html)
_APACHE: dict[str, str] = {
    "h": "client",
    "a": "client",
    "l": "ident",
    "u": "remote_user",
    "t": "time_clf",
    "r": "request",
    "s": "status",
    "b": "bytes",
    "B": "bytes",
    "O": "bytes",
    "D": "request_time_us",
    "T": "request_time_s",
    "v": "vhost",
    "V": "vhost",
    "p": "port",
    "m": "method",
    "U": "path",
    "q": "query",
    "H": "protocol",
}
_APACHE_HEADERS = {"referer": "referer", "user-agent": "user_agent", "x-forwarded-for": "xff"}
_APACHE_RE = re.compile(r"%(?:!?[0-9]{3}(?:,[0-9]{3})*)?[<>]?(?:\{([^}]*)\})?([a-zA-Z%])")
# nginx variables -> field (https://nginx.org/en/docs/http/ngx_http_log_module.html)
_NGINX: dict[str, str] = {
    "remote_addr": "client",
    "realip_remote_addr": "client",
    "remote_user": "remote_user",
    "time_local": "time_clf",
    "time_iso8601": "time_iso",
    "msec": "time_epoch",
    "request": "request",
    "status": "status",
    "body_bytes_sent": "bytes",
    "bytes_sent": "bytes",
    "http_referer": "referer",
    "http_user_agent": "user_agent",
    "request_time": "request_time_s",
    "host": "vhost",
    "server_name": "vhost",
    "http_host": "vhost",
    "http_x_forwarded_for": "xff",
    "request_method": "method",
    "request_uri": "uri",
    "uri": "path",
    "args": "query",
    "query_string": "query",
    "server_protocol": "protocol",
    "server_port": "port",
    "upstream_response_time": "upstream_response_time",
}
_NGINX_RE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")

# Keys looked up (first present wins) for each field in JSON-per-line access logs.
JSON_KEYS: dict[str, tuple[str, ...]] = {
    "client": ("remote_addr", "client_ip", "ip", "remote_ip", "clientip"),
    "remote_user": ("remote_user", "user"),
    "time_clf": ("time_local",),
    "time_iso": ("time_iso8601", "timestamp", "time", "@timestamp", "ts"),
    "request": ("request",),
    "method": ("request_method", "method"),
    "uri": ("request_uri", "uri", "url"),
    "protocol": ("server_protocol", "protocol"),
    "status": ("status", "status_code"),
    "bytes": ("body_bytes_sent", "bytes_sent", "bytes", "size"),
    "referer": ("http_referer", "referer", "referrer"),
    "user_agent": ("http_user_agent", "user_agent", "agent"),
    "request_time_s": ("request_time",),
    "request_time_ms": ("duration_ms", "request_time_ms"),
    "vhost": ("host", "server_name", "vhost"),
    "xff": ("http_x_forwarded_for", "x_forwarded_for"),
}

_NGINX_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
# The formats real servers run by default or by their documented example, detected without any
# setting. Order breaks detection ties between formats with as many fields: a combined line ending in
# one number is read as $request_time (combined_timed) rather than $upstream_response_time.
NAMED_FORMATS: dict[str, str] = {
    "common": '%h %l %u %t "%r" %>s %b',  # Apache common (CLF)
    "combined": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',  # Apache and nginx combined
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',  # Debian's Apache
    "main": _NGINX_COMBINED + ' "$http_x_forwarded_for"',  # nginx's documented example format
    "combined_timed": _NGINX_COMBINED + " $request_time",
    "combined_upstream": _NGINX_COMBINED + " $upstream_response_time",
    "combined_timed_upstream": _NGINX_COMBINED + " $request_time $upstream_response_time",
    "json": "json",
}
ALIASES = {
    "nginx_timed": "combined_timed", "clf": "common", "ncsa": "common", "jsonl": "json", "nginx_main": "main",
    "combined_time_upstream": "combined_timed_upstream",
}
# An unquoted field that may hold spaces ($request_body, a cookie header, ...) when the literal after it
# has a character of its own, so the rest of the line decides where the field ends.
_SPACED = r"[^\n]*?"
_SPACED_LAST = r"[^\n]*"


class LogFormatError(ValueError):
    """A format string that cannot be compiled, or input that no known format fits."""


@dataclass(frozen=True)
class LogFormat:
    """A compiled format: ``regex`` has one positional group per entry of ``fields``."""

    name: str
    source: str
    fields: tuple[str, ...]
    regex: str
    is_json: bool = False

    @property
    def tokens(self) -> list[tuple[str, str]]:
        """The ('lit', text) and ('field', name) tokens the regex was compiled from."""
        return [] if self.is_json else _tokens(self.source)

    @property
    def group_names(self) -> list[str]:
        """Unique column names for the groups: repeated or unknown fields get a ``_<n>`` name."""
        seen: set[str] = set()
        names = []
        for index, name in enumerate(self.fields):
            names.append(name if name in KNOWN_FIELDS and name not in seen else f"_{index}")
            seen.add(name)
        return names


def _escape(literal: str) -> str:
    return "".join("\\" + c if c in _META else c for c in literal)


def _tokens(spec: str) -> list[tuple[str, str]]:
    """Split a format string into ('lit', text) and ('field', name) tokens."""
    if _NGINX_RE.search(spec):
        pattern, lookup = _NGINX_RE, lambda m: _NGINX.get(m.group(1) or m.group(2), m.group(1) or m.group(2))
    elif _APACHE_RE.search(spec):
        spec = spec.replace('\\"', '"').replace("\\t", "\t")
        pattern, lookup = _APACHE_RE, _apache_field
    else:
        raise LogFormatError(f"not a named format, nginx log_format or Apache LogFormat: {spec!r}")
    out: list[tuple[str, str]] = []
    pos = 0
    for match in pattern.finditer(spec):
        if match.start() > pos:
            out.append(("lit", spec[pos : match.start()]))
        field = lookup(match)
        if field == "%":
            out.append(("lit", "%"))
        elif field == "time_clf" and pattern is _APACHE_RE:
            out += [("lit", "["), ("field", field), ("lit", "]")]  # Apache %t writes the brackets
        else:
            out.append(("field", field))
        pos = match.end()
    if pos < len(spec):
        out.append(("lit", spec[pos:]))
    return out


def _apache_field(match: re.Match[str]) -> str:
    arg, code = match.group(1), match.group(2)
    if code == "%":
        return "%"
    if code == "i" and arg is not None:
        return _APACHE_HEADERS.get(arg.lower(), f"header_{arg.lower()}")
    if code == "T" and arg in ("ms", "us", "s"):
        return {"ms": "request_time_ms", "us": "request_time_us", "s": "request_time_s"}[arg]
    if code == "t" and arg:
        return "time_custom"  # strftime-style %{...}t: captured, not interpreted
    return _APACHE.get(code, f"apache_{code}")


def field_delimiter(toks: Sequence[tuple[str, str]], index: int) -> tuple[str, str]:
    """How the field ``toks[index]`` ends: (kind, regex fragment), kind one of 'quoted', 'bracketed',
    'bare' (a fixed pattern), 'token' (no space or tab) or 'spaced'. The regex and the compiled fast
    path (parsers/fast_path.py) both read this, so they delimit every field alike."""
    value = toks[index][1]
    before = toks[index - 1][1] if index > 0 and toks[index - 1][0] == "lit" else ""
    after = toks[index + 1][1] if index + 1 < len(toks) and toks[index + 1][0] == "lit" else ""
    if before.endswith('"') and after.startswith('"'):
        return "quoted", _QUOTED  # any quoted field may hold spaces
    if before.endswith("[") and after.startswith("]"):
        return "bracketed", r"[^\]]+"  # bracketed time: lenient here so a bad value is 'bad_timestamp'
    if value in _BARE:
        return "bare", _BARE[value]
    if value in KNOWN_FIELDS:
        return "token", _TOKEN
    if index + 1 == len(toks):
        return "spaced", _SPACED_LAST  # the last field of the line ends with it
    if after.strip(" \t"):
        return "spaced", _SPACED
    return "token", _TOKEN


def compile_format(spec: str, name: str = "custom") -> LogFormat:
    """Compile a named format, an nginx ``log_format`` or an Apache ``LogFormat`` string."""
    key = ALIASES.get(spec.strip(), spec.strip())
    if key in NAMED_FORMATS:
        name, spec = key, NAMED_FORMATS[key]
        if key == "json":
            return LogFormat(name="json", source="json", fields=tuple(JSON_KEYS), regex="", is_json=True)
    toks = _tokens(spec)
    parts: list[str] = []
    fields: list[str] = []
    for index, (kind, value) in enumerate(toks):
        if kind == "lit":
            parts.append(_escape(value))
            continue
        frag = field_delimiter(toks, index)[1]
        parts.append(f"({frag})")
        fields.append(value)
    if not any(f in fields for f in TIME_FIELDS):
        raise LogFormatError(f"format has no time field ($time_local, %t, ...): {spec!r}")
    if "request" not in fields and not {"method", "uri", "path"} & set(fields):
        raise LogFormatError(f"format has no request field ($request, %r, ...): {spec!r}")
    return LogFormat(name=name, source=spec, fields=tuple(fields), regex=r"\A" + "".join(parts) + r"\z")


def named_formats() -> list[LogFormat]:
    """All named formats, most specific (most fields) first: detection ties go to the richer one."""
    formats = [compile_format(n) for n in NAMED_FORMATS]
    return sorted(formats, key=lambda f: (f.is_json, -len(f.fields)))


def _count_json(lines: Sequence[str]) -> int:
    count = 0
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(obj, dict)
            and any(k in obj for k in JSON_KEYS["client"])
            and any(k in obj for k in JSON_KEYS["status"])
        ):
            count += 1
    return count


def count_matches(fmt: LogFormat, lines: Sequence[str]) -> int:
    """How many lines the format parses (the polars regex engine, as the parser uses it)."""
    if fmt.is_json:
        return _count_json(lines)
    return int(pl.Series(lines, dtype=pl.String).str.contains(fmt.regex).sum())


def detect_format(sample_lines: Sequence[str], source: str = "<sample>") -> LogFormat:
    """The named format that parses the most sample lines; raises naming ``source`` when none fits."""
    lines = [line.rstrip("\r\n") for line in sample_lines if line.strip()]
    if not lines:
        raise LogFormatError(f"{source}: no non-empty lines to detect the log format from")
    scores = [(count_matches(f, lines), f) for f in named_formats()]
    best_count, best = max(scores, key=lambda s: s[0])  # max keeps the first (most specific) on ties
    if best_count == 0:
        tried = ", ".join(NAMED_FORMATS)
        raise LogFormatError(
            f"{source}: no known log format matches any of {len(lines)} sample lines (tried {tried}); "
            f"set parser.log_format to an nginx log_format or Apache LogFormat string"
        )
    log.info("%s: detected log format %s (%d/%d sample lines)", source, best.name, best_count, len(lines))
    return best


def resolve_format(setting: str | None, sample_lines: Sequence[str], source: str) -> LogFormat:
    """The configured format, or the detected one when the setting is empty."""
    if setting:
        return compile_format(setting)
    return detect_format(sample_lines, source)
