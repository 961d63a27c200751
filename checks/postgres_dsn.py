"""A libpq connection string (URL or key=value) as the ``connection:`` properties soda-postgres takes.

Parsing is psycopg's (``psycopg.conninfo.conninfo_to_dict``, libpq's own rules): it reads both
``postgresql://`` URLs (percent-decoded) and ``key=value`` strings (quoted values, ``\\'`` escapes),
which SQLAlchemy's URL does not. What is left here is the mapping to Soda's field names and libpq's
defaults for what the string leaves out.
"""

from __future__ import annotations

import re
from typing import Any

# psycopg quotes parts of the string in its parse errors. A libpq keyword or a single punctuation
# mark ("=") is shown; any other fragment may be a password and is hidden.
_QUOTED = re.compile(r'"([^"]*)"')
_PUNCTUATION = re.compile(r"[^\w\s]")


class InvalidDatabaseUrl(ValueError):
    """The database URL is not a libpq URL or key=value string; the message never holds its text."""


def postgres_connection(database_url: str) -> dict[str, Any]:
    """soda-postgres ``connection:`` properties for a libpq URL or key=value string, as libpq reads it.

    Percent-encoded query parameters are decoded, so a unix-socket directory in ``host`` (the embedded
    server's ``postgresql://postgres@/webtrail?host=%2F...&port=5432``) reaches psycopg as a path.
    Parameters the URL leaves out take libpq's defaults (PGHOST, PGPORT, PGUSER, PGPASSWORD,
    PGDATABASE, the OS user), so Soda connects where the loader's psycopg2 does; an empty host means
    libpq's default socket. Every other libpq parameter (sslrootcert, options, ...) is passed through.
    Raises InvalidDatabaseUrl, whose message says what is wrong without repeating the URL.
    """
    from psycopg import Error as PsycopgError
    from psycopg import pq
    from psycopg.conninfo import conninfo_to_dict

    keywords = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
    try:
        parsed = conninfo_to_dict(database_url)
    except PsycopgError as exc:
        raise InvalidDatabaseUrl(
            f"the database URL is not a libpq URL or key=value string: {_safe_reason(str(exc), keywords)}"
        ) from None
    params = {key: str(value) for key, value in parsed.items() if value is not None}
    defaults = {
        option.keyword.decode(): option.val.decode()
        for option in pq.Conninfo.get_defaults()
        if option.val is not None and option.keyword.decode() in ("host", "port", "user", "password", "dbname")
    }
    params = {**defaults, **params}
    user = params.pop("user", "") or "postgres"
    port = params.pop("port", "5432") or "5432"
    if not port.isdigit():
        raise InvalidDatabaseUrl("the database URL's port is not a number")
    connection: dict[str, Any] = {
        "host": params.pop("host", ""),
        "port": int(port),
        "database": params.pop("dbname", "") or user,
        "user": user,
        "password": params.pop("password", ""),  # empty: libpq then reads ~/.pgpass
        "connect_timeout": params.pop("connect_timeout", "30"),
    }
    connection.update(params)
    return connection


def _safe_reason(message: str, keywords: set[str]) -> str:
    """psycopg's parse error with every quoted fragment that is not a libpq keyword hidden."""

    def hide(match: re.Match[str]) -> str:
        fragment = match[1]
        return match[0] if fragment in keywords or _PUNCTUATION.fullmatch(fragment) else '"…"'

    return _QUOTED.sub(hide, message.strip()).splitlines()[0]
