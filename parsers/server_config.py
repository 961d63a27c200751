"""Access-log formats read straight from a server's configuration file, as ngxtop does.

nginx: ``log_format NAME [escape=default|json|none] STRING ...;`` anywhere in the file (usually inside
``http { }``). The strings may be single- or double-quoted or bare, span several lines and are joined
as nginx joins them (no separator). ``#`` starts a comment outside quotes; ``\\"``, ``\\'`` and
``\\\\`` are unescaped inside quotes as nginx's config parser does. nginx predefines ``combined``.
(https://nginx.org/en/docs/http/ngx_http_log_module.html#log_format)

Apache: ``LogFormat "STRING" NICKNAME`` (a LogFormat without a nickname sets the default format, used
by TransferLog). Directive names are case-insensitive; a backslash at the end of a line continues it.
(https://httpd.apache.org/docs/current/mod/mod_log_config.html#logformat)

``include`` directives are not followed: point the setting at the file holding the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from parsers.log_format import NAMED_FORMATS, LogFormat, LogFormatError, compile_format

_NGINX_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}
_APACHE_DIRECTIVE = re.compile(r"^\s*(LogFormat|CustomLog|TransferLog)\s+(.*)$", re.IGNORECASE)
APACHE_DEFAULT = "(default)"  # name of a LogFormat without nickname


@dataclass(frozen=True)
class ServerFormats:
    """The formats one config file defines, by name, and the name its access log uses, if any."""

    server: str  # "nginx" or "apache"
    formats: dict[str, str]
    used: tuple[str, ...] = ()  # format names referenced by access_log / CustomLog, in file order


def _nginx_tokens(text: str) -> list[str]:
    """nginx config tokens: words and quoted strings (unescaped), and ';', '{', '}' as their own tokens."""
    tokens: list[str] = []
    pos, length = 0, len(text)
    while pos < length:
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char == "#":
            end = text.find("\n", pos)
            pos = length if end < 0 else end
        elif char in ";{}":
            tokens.append(char)
            pos += 1
        elif char in "'\"":
            out, pos = [], pos + 1
            while pos < length and text[pos] != char:
                if text[pos] == "\\" and pos + 1 < length:
                    nxt = text[pos + 1]
                    out.append(_NGINX_ESCAPES.get(nxt, "\\" + nxt))
                    pos += 2
                else:
                    out.append(text[pos])
                    pos += 1
            if pos >= length:
                raise LogFormatError(f"unterminated {char} string in the nginx configuration")
            tokens.append("".join(out))
            pos += 1
        else:
            start = pos
            while pos < length and not text[pos].isspace() and text[pos] not in ";{}'\"":
                pos += 1
            tokens.append(text[start:pos])
    return tokens


def nginx_formats(text: str) -> ServerFormats:
    """Every ``log_format`` of an nginx configuration text, and the formats its ``access_log``s use."""
    tokens = _nginx_tokens(text)
    formats: dict[str, str] = {}
    used: list[str] = []
    start = True  # a directive name is the first token after ';', '{' or '}'
    for index, tok in enumerate(tokens):
        if start and tok == "log_format" and index + 1 < len(tokens):
            args = []
            for arg in tokens[index + 1 :]:
                if arg == ";":
                    break
                args.append(arg)
            if len(args) < 2:
                raise LogFormatError(f"log_format {' '.join(args)!r} has no format string")
            name, parts = args[0], [a for a in args[1:] if not a.startswith("escape=")]
            formats[name] = "".join(parts)
        elif start and tok == "access_log" and index + 1 < len(tokens):
            args = [a for a in tokens[index + 1 : index + 4] if a not in ";{}"]
            if len(args) >= 2 and "=" not in args[1]:
                used.append(args[1])
            elif args and args[0] != "off":
                used.append("combined")  # nginx's default format
        start = tok in ";{}"
    return ServerFormats("nginx", formats, tuple(used))


def _apache_lines(text: str) -> list[str]:
    """Logical lines: comments dropped, backslash-newline continuations joined."""
    joined = re.sub(r"\\\r?\n", "", text)  # as ap_cfg_getline: backslash and newline removed
    return [ln for ln in joined.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _apache_args(rest: str) -> list[str]:
    """Arguments as Apache's ap_getword_conf reads them: quoted (with \\" inside) or bare words."""
    args, pos, length = [], 0, len(rest)
    while pos < length:
        if rest[pos].isspace():
            pos += 1
            continue
        if rest[pos] in "'\"":
            quote, out, pos = rest[pos], [], pos + 1
            while pos < length and rest[pos] != quote:
                if rest[pos] == "\\" and pos + 1 < length and rest[pos + 1] == quote:
                    out.append(quote)
                    pos += 2
                else:
                    out.append(rest[pos])
                    pos += 1
            args.append("".join(out))
            pos += 1
        else:
            start = pos
            while pos < length and not rest[pos].isspace():
                pos += 1
            args.append(rest[start:pos])
    return args


def apache_formats(text: str) -> ServerFormats:
    """Every ``LogFormat`` of an Apache configuration text, and the nicknames its ``CustomLog``s use."""
    formats: dict[str, str] = {}
    used: list[str] = []
    for line in _apache_lines(text):
        match = _APACHE_DIRECTIVE.match(line)
        if not match:
            continue
        directive, args = match.group(1).lower(), _apache_args(match.group(2))
        if directive == "logformat" and args:
            formats[args[1] if len(args) > 1 else APACHE_DEFAULT] = args[0]
        elif directive == "customlog" and len(args) >= 2:
            used.append(args[1])
        elif directive == "transferlog":
            used.append(APACHE_DEFAULT)
    return ServerFormats("apache", formats, tuple(used))


def read_server_formats(path: Path) -> ServerFormats:
    """The formats of an nginx or Apache configuration file (told apart by their directives)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LogFormatError(f"{path}: cannot read the server configuration: {exc}") from exc
    if re.search(r"(^|[;{}\s])log_format\s", text):
        return nginx_formats(text)
    if re.search(r"^\s*LogFormat\s", text, re.IGNORECASE | re.MULTILINE):
        return apache_formats(text)
    raise LogFormatError(f"{path}: no nginx log_format and no Apache LogFormat directive in this file")


def format_from_config(path: Path, name: str | None = None) -> LogFormat:
    """The compiled format ``name`` of a server configuration file.

    Without a name: the only format the file defines, else the one its access_log / CustomLog uses
    (when they agree on one). nginx's predefined ``combined`` and Apache's usual nicknames fall back to
    the built-in formats when the file does not define them. Errors name the file and the choices.
    """
    found = read_server_formats(path)
    formats = dict(found.formats)
    if name is None:
        used = [u for u in dict.fromkeys(found.used) if u in formats]
        if len(formats) == 1:
            name = next(iter(formats))
        elif len(used) == 1:
            name = used[0]
        else:
            raise LogFormatError(
                f"{path}: defines {len(formats)} {found.server} log formats ({', '.join(sorted(formats))}); "
                "choose one with WEBTRAIL_PARSER__LOG_FORMAT (or --log-format)"
            )
    if name not in formats:
        if name in NAMED_FORMATS and name != "json":
            return compile_format(name)
        raise LogFormatError(
            f"{path}: no {found.server} log format named {name!r} (defined: {', '.join(sorted(formats)) or 'none'})"
        )
    try:
        return compile_format(formats[name], name=f"{found.server}:{name}")
    except LogFormatError as exc:
        raise LogFormatError(f"{path}: format {name!r}: {exc}") from exc
