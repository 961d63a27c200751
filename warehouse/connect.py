"""Open psycopg2 connections with retries; URLs and errors never carry the password."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions

log = logging.getLogger(__name__)

# Errors that no amount of waiting fixes: fail at once instead of retrying.
_PERMANENT = (
    "password authentication failed",
    "authentication failed",
    "does not exist",
    "no password supplied",
    "invalid dsn",
    "invalid uri",
    "invalid connection option",
    "pg_hba.conf",
)
_DSN_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(postgres(?:ql)?(?:\+\w+)?://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)


class WarehouseConnectionError(RuntimeError):
    """The database could not be reached; the message names the redacted URL only."""


def _password_of(url: str) -> str | None:
    if "://" in url:
        parts = urlsplit(url)
        query_pw = dict(parse_qsl(parts.query)).get("password")
        return unquote(parts.password) if parts.password else query_pw
    match = _DSN_PASSWORD.search(url)
    return match.group(2).strip("'") if match else None


def redact(url: str) -> str:
    """The URL (or key=value DSN) with any password replaced by ``***``."""
    if "://" not in url:
        return _DSN_PASSWORD.sub(r"\1***", url)
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostinfo}"
    query = parts.query
    if query:
        pairs = [(k, "***" if k == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="/*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, url: str | None = None) -> str:
    """Remove the password of ``url`` and any URL / DSN password from free text (errors, logs)."""
    password = _password_of(url) if url else None
    if password:
        text = text.replace(password, "***")
        for form in {quote(password, safe=""), urlsplit(url or "").password or ""} - {"", password}:
            text = text.replace(form, "***")
    text = _URL_USERINFO.sub(r"\1***\3", text)
    return _DSN_PASSWORD.sub(r"\1***", text)


def url_with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database (URL form only)."""
    parts = urlsplit(url)
    return urlunsplit(
        (parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, parts.fragment)
    )


def _is_permanent(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _PERMANENT)


def connect(
    url: str,
    *,
    attempts: int = 5,
    base_delay: float = 0.25,
    max_delay: float = 8.0,
    connect_timeout: int = 10,
    application_name: str = "webtrail",
) -> psycopg2.extensions.connection:
    """A new psycopg2 connection (autocommit off), retried with exponential backoff.

    Transient failures (server starting, refused, timeouts) are retried ``attempts`` times with delays
    ``base_delay * 2**n`` capped at ``max_delay``; authentication and "does not exist" errors fail at
    once. The raised :class:`WarehouseConnectionError` and the log lines contain no password.
    """
    last_error = "unknown error"
    attempts = max(1, attempts)
    attempt = 0
    for attempt in range(1, attempts + 1):
        try:
            # UTC sessions: timestamptz values come back in UTC whatever the server's TimeZone, as every
            # day and minute of webtrail is a UTC one.
            return psycopg2.connect(url, connect_timeout=connect_timeout, application_name=application_name,
                                    options="-c TimeZone=UTC")
        except psycopg2.Error as exc:  # OperationalError, ProgrammingError (bad DSN), ...
            last_error = scrub(str(exc).strip(), url)
        if _is_permanent(last_error) or attempt == attempts:
            break
        delay = min(max_delay, base_delay * 2 ** (attempt - 1))
        log.warning(
            "connecting to %s failed (attempt %d/%d): %s; retrying in %.2fs",
            redact(url),
            attempt,
            attempts,
            last_error,
            delay,
        )
        time.sleep(delay)
    # `from None`: the original exception is not chained, so no traceback can leak the DSN.
    raise WarehouseConnectionError(
        f"cannot connect to PostgreSQL at {redact(url)} after {attempt} attempt(s): {last_error}"
    ) from None


@contextlib.contextmanager
def connection(url: str) -> Iterator[psycopg2.extensions.connection]:
    """`connect(url)` that is closed on exit (psycopg2's own `with conn` only ends the transaction)."""
    conn = connect(url)
    try:
        yield conn
    finally:
        conn.close()
