"""Migrations: from empty, re-applied (no-op), changed file, concurrent runs, the reader role."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from warehouse.connect import connect, url_with_database
from warehouse.migrate import MIGRATIONS_DIR, MigrationError, applied, discover, migrate

pytestmark = pytest.mark.integration


def _tables(conn: psycopg2.extensions.connection) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'webtrail'")
        names = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return names


def test_from_empty_then_reapply_is_noop(empty_db_url: str) -> None:
    conn = connect(empty_db_url)
    versions = [m.version for m in discover()]
    assert migrate(conn) == versions
    assert {"sessions", "security_findings", "pipeline_runs", "schema_migrations", "day_loads"} <= _tables(
        conn
    )
    recorded = applied(conn)
    assert sorted(recorded) == versions
    assert migrate(conn) == []  # second run: nothing to do
    assert applied(conn) == recorded
    conn.close()


def test_concurrent_migrators_serialize(pg_server: str) -> None:
    # A fresh database so both threads really race on the first application.
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    name = "wt_migrate_race"
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_with_database(pg_server, name)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            conn = connect(url)
            results.append(migrate(conn))
            conn.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()
    assert not errors
    assert sorted(len(r) for r in results) == [0, 0, len(discover())]


def test_changed_applied_file_fails_clearly(empty_db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    conn = connect(empty_db_url)
    migrate(conn, directory)  # same files as the other test: no-op or apply
    edited = directory / "002_reader_role.sql"
    edited.write_text(edited.read_text() + "\n-- edited after shipping\n")
    with pytest.raises(MigrationError, match=r"002_reader_role\.sql was changed after it was applied"):
        migrate(conn, directory)
    conn.close()


def test_failing_migration_is_rolled_back(empty_db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    (directory / "900_broken.sql").write_text(
        "CREATE TABLE webtrail.half_done (x int);\nSELECT no_such_fn();\n"
    )
    conn = connect(empty_db_url)
    with pytest.raises(MigrationError, match="900_broken.sql failed"):
        migrate(conn, directory)
    assert "half_done" not in _tables(conn)
    assert 900 not in applied(conn)
    conn.close()


def test_reader_role_can_select_but_not_write(empty_db_url: str) -> None:
    conn = connect(empty_db_url)
    migrate(conn)
    with conn.cursor() as cur:
        cur.execute("SET ROLE webtrail_reader")
        cur.execute("SELECT count(*) FROM webtrail.sessions")
        assert cur.fetchone() == (0,)
        cur.execute("SELECT count(*) FROM webtrail.day_loads")  # created after the default privileges
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO webtrail.status_daily VALUES ('2024-01-01', 200, 1, 1)")
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute("SET ROLE webtrail_reader")
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM webtrail.pipeline_runs")
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'webtrail_reader'")
        assert cur.fetchone() == (False,)
    conn.close()
