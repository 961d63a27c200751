"""Warehouse fixtures: a fresh migrated database per test module on the session's embedded server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql

from warehouse.connect import connect, url_with_database
from warehouse.migrate import migrate

REPO_ROOT = Path(__file__).resolve().parents[3]


def _admin(pg_server: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(pg_server)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def empty_db_url(pg_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database for this test module (dropped afterwards)."""
    name = f"wt_{request.module.__name__.rsplit('.', 1)[-1][:30]}_{uuid.uuid4().hex[:8]}".lower()
    admin = _admin(pg_server)
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_with_database(pg_server, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture(scope="module")
def db_url(empty_db_url: str) -> str:
    """The module's database with every migration applied."""
    conn = connect(empty_db_url)
    try:
        migrate(conn)
    finally:
        conn.close()
    return empty_db_url


@pytest.fixture()
def conn(db_url: str) -> Iterator[psycopg2.extensions.connection]:
    connection = connect(db_url)
    yield connection
    connection.close()
