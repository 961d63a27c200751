"""User database snapshot -> staging Parquet (USERS_SCHEMA).

The source is a SQLAlchemy URL (postgresql://, sqlite:///, mysql://, ...), a SQLite file path
(*.db, *.sqlite, *.sqlite3) or a CSV file. Rows are read in chunks (a users table can be large).
Errors name the table or column but never the password of the URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from parsers.parquet_sink import ParquetSink
from parsers.schema import USERS_SCHEMA, UTC_TS

CHUNK_ROWS = 100_000
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_TRUE = ["1", "t", "true", "y", "yes"]


class UserSourceError(ValueError):
    """The user source, table or a required column is missing."""


def _safe(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def _typed(df: pl.DataFrame) -> pl.DataFrame:
    """Raw columns (any type) -> USERS_SCHEMA types; naive timestamps are taken as UTC."""
    created = df["created_at"]
    if created.dtype == pl.String:
        created = _parse_times(created)
    elif isinstance(created.dtype, pl.Datetime) and created.dtype.time_zone is None:
        created = created.dt.replace_time_zone("UTC")
    is_admin = df["is_admin"]
    if is_admin.dtype != pl.Boolean:
        is_admin = is_admin.cast(pl.String).str.to_lowercase().str.strip_chars().is_in(_TRUE)
    return df.with_columns(
        created.cast(UTC_TS).alias("created_at"),
        is_admin.alias("is_admin"),
        *[pl.col(c).cast(pl.String) for c, t in USERS_SCHEMA.items() if t == pl.String()],
    )


def _parse_times(text: pl.Series) -> pl.Series:
    """ISO-like text with or without offset (naive = UTC), 'T' or space separated, or a date."""
    text = text.str.strip_chars().str.replace(r"Z\z", "+00:00").str.replace(r"\A(\S+) ", "${1}T")
    aware = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us")
    naive = [text.str.to_datetime(f, strict=False, time_unit="us") for f in ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d")]
    naive_utc = pl.select(pl.coalesce(naive)).to_series().dt.replace_time_zone("UTC")
    return pl.select(pl.coalesce(aware, naive_utc)).to_series().alias(text.name)


def _check_columns(columns: list[str], where: str) -> None:
    missing = [c for c in USERS_SCHEMA if c not in columns]
    if missing:
        raise UserSourceError(f"{where}: missing column(s) {', '.join(missing)} (need {', '.join(USERS_SCHEMA)})")


def _sql_chunks(url: str, table: str) -> Iterator[pl.DataFrame]:
    engine = sa.create_engine(url)
    schema, _, name = table.rpartition(".")
    try:
        with engine.connect() as conn:
            try:
                tbl = sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema or None)
            except sa.exc.NoSuchTableError:
                raise UserSourceError(f"{_safe(url)}: table {table!r} not found") from None
            _check_columns([c.name for c in tbl.columns], f"{_safe(url)} table {table!r}")
            query = sa.select(*(tbl.c[c] for c in USERS_SCHEMA))
            result = conn.execution_options(stream_results=True).execute(query)
            while rows := result.fetchmany(CHUNK_ROWS):
                yield _frame(rows)
    except sa.exc.OperationalError as exc:
        raise UserSourceError(f"{_safe(url)}: cannot read users: {exc.orig}") from None
    finally:
        engine.dispose()


def _frame(rows: list[Any]) -> pl.DataFrame:
    data = {c: [r[i] for r in rows] for i, c in enumerate(USERS_SCHEMA)}
    # values arrive as Python objects of whatever type the database has: let polars infer per column
    return pl.DataFrame({c: pl.Series(c, v, strict=False) for c, v in data.items()})


def _csv_chunks(path: Path) -> Iterator[pl.DataFrame]:
    header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    _check_columns(header, str(path))
    lf = pl.scan_csv(path, infer_schema=False).select(list(USERS_SCHEMA))
    yield from lf.collect_batches(chunk_size=CHUNK_ROWS)


def _source_url(source: str) -> str | None:
    if "://" in source:
        return source
    if source.lower().endswith(SQLITE_SUFFIXES):
        if not Path(source).is_file():
            raise UserSourceError(f"{source}: SQLite file not found")
        return f"sqlite:///{Path(source).resolve()}"
    return None


def read_users(source: str, out: Path, table: str = "users") -> int:
    """Snapshot the users table (or CSV) into ``out``; returns the number of users written."""
    url = _source_url(str(source))
    if url is None:
        path = Path(source)
        if not path.is_file():
            raise UserSourceError(f"{source}: user source not found (expect a SQLAlchemy URL, SQLite file or CSV)")
        chunks = _csv_chunks(path)
    else:
        chunks = _sql_chunks(url, table)
    with ParquetSink(Path(out), USERS_SCHEMA) as sink:
        for chunk in chunks:
            sink.write(_typed(chunk))
    return sink.rows
