"""Versioned plain-SQL migrations: ``warehouse/migrations/NNN_name.sql`` applied in order, once each.

Each file runs in its own transaction together with its row in ``webtrail.schema_migrations``; a
session advisory lock serializes concurrent migrators; an applied file whose content changed is an
error (write a new migration instead of editing a shipped one).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2.extensions

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Fixed key of the session advisory lock taken while migrating ("webtrail" + "migrate").
MIGRATION_LOCK_KEY = 0x77656274_6D696772
_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS webtrail;
CREATE TABLE IF NOT EXISTS webtrail.schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


class MigrationError(RuntimeError):
    """A migration file is malformed, was changed after being applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str  # sha256 of the file bytes

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of ``directory`` in version order (duplicate versions are an error)."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name {path.name!r} is not NNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"two migrations with version {version}: {found[version].path.name}, {path.name}"
            )
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        found[version] = Migration(version, match.group(2), path, checksum)
    return [found[v] for v in sorted(found)]


def applied(conn: psycopg2.extensions.connection) -> dict[int, tuple[str, str]]:
    """Applied versions -> (name, checksum); empty when the table does not exist yet."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('webtrail.schema_migrations') IS NOT NULL")
        row = cur.fetchone()
        if not (row and row[0]):
            conn.rollback()
            return {}
        cur.execute("SELECT version, name, checksum FROM webtrail.schema_migrations")
        result = {int(v): (n, c) for v, n, c in cur.fetchall()}
    conn.rollback()
    return result


def migrate(conn: psycopg2.extensions.connection, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply the pending migrations in order; returns the versions applied now (empty: no-op)."""
    migrations = discover(directory)
    if conn.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
        raise MigrationError("migrate() needs a connection without an open transaction")
    previous_autocommit = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.autocommit = False
            with conn, conn.cursor() as cur:
                cur.execute(_BOOTSTRAP)
            return _apply_pending(conn, migrations)
        finally:
            conn.rollback()
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    finally:
        conn.autocommit = previous_autocommit


def _apply_pending(conn: psycopg2.extensions.connection, migrations: list[Migration]) -> list[int]:
    done = applied(conn)
    known = {m.version for m in migrations}
    for version in sorted(set(done) - known):
        log.warning("database has migration %d (%s) that this code does not know", version, done[version][0])
    newly: list[int] = []
    for migration in migrations:
        if migration.version in done:
            name, checksum = done[migration.version]
            if checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.path.name} was changed after it was applied "
                    f"(applied checksum {checksum[:12]}, file now {migration.checksum[:12]}); "
                    "restore the file and add a new migration for the change"
                )
            continue
        log.info("applying migration %s", migration.path.name)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(migration.sql)
                cur.execute(
                    "INSERT INTO webtrail.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
        except psycopg2.Error as exc:
            raise MigrationError(f"migration {migration.path.name} failed: {exc}".strip()) from exc
        newly.append(migration.version)
    return newly
