"""connect(): retries with backoff; errors and logs never contain the password."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from psycopg2 import sql

from warehouse.connect import WarehouseConnectionError, connect

pytestmark = pytest.mark.integration

PASSWORD = "Corr3ct-H0rse-Battery"
WRONG = "Wr0ng-S3cret-p@ss:word%"


@pytest.fixture()
def password_role(pg_server: str) -> Iterator[str]:
    """A role that must authenticate with a password (pg_hba line added for it only)."""
    role = f"wt_pw_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)), (PASSWORD,))
        cur.execute("SHOW hba_file")
        hba = Path(cur.fetchone()[0])
        original = hba.read_text()
        hba.write_text(f"local all {role} scram-sha-256\n" + original)
        cur.execute("SELECT pg_reload_conf()")
    try:
        yield role
    finally:
        hba.write_text(original)
        with admin.cursor() as cur:
            cur.execute("SELECT pg_reload_conf()")
            cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        admin.close()


def _url(pg_server: str, role: str, password: str) -> str:
    from urllib.parse import quote

    parts = urlsplit(pg_server)
    return f"postgresql://{role}:{quote(password, safe='')}@/postgres?{parts.query}"


def test_right_password_connects(pg_server: str, password_role: str) -> None:
    conn = connect(_url(pg_server, password_role, PASSWORD))
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        assert cur.fetchone() == (password_role,)
    conn.close()


def test_wrong_password_error_has_no_password(
    pg_server: str, password_role: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = _url(pg_server, password_role, WRONG)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(WarehouseConnectionError) as info:
        connect(url, attempts=3, base_delay=0.01)
    message = str(info.value)
    assert "password authentication failed" in message
    assert "after 1 attempt" in message  # an authentication error is not retried
    rendered = "".join(traceback.format_exception(info.value)) + repr(info.value) + caplog.text
    for secret in (WRONG, "Wr0ng-S3cret", "p%40ss%3Aword%25"):
        assert secret not in rendered
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreachable_server_is_retried_with_backoff(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    url = f"postgresql://someone:{WRONG.replace('%', '%25').replace('@', '%40')}@/db?host={tmp_path}/nowhere"
    caplog.set_level(logging.WARNING, logger="warehouse.connect")
    with pytest.raises(WarehouseConnectionError, match="after 3 attempt") as info:
        connect(url, attempts=3, base_delay=0.01, max_delay=0.02)
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert "someone:***@" in str(info.value)
    assert "Wr0ng" not in caplog.text + str(info.value)


def test_sessions_are_utc_whatever_the_database_time_zone(empty_db_url: str) -> None:
    """The report keys minutes by the text of minute_at: a server on another zone must not shift them."""
    setup = psycopg2.connect(empty_db_url)
    setup.autocommit = True
    name = setup.info.dbname
    with setup.cursor() as cur:
        cur.execute(sql.SQL("ALTER DATABASE {} SET timezone TO 'Asia/Tokyo'").format(sql.Identifier(name)))
    setup.close()
    plain = psycopg2.connect(empty_db_url)
    with plain.cursor() as cur:
        cur.execute("SHOW TimeZone")
        assert cur.fetchone()[0] == "Asia/Tokyo"  # the setting took: the check below can fail
    plain.close()
    conn = connect(empty_db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT TIMESTAMPTZ '2026-11-24 23:30:00+00'")
            assert cur.fetchone()[0].isoformat() == "2026-11-24T23:30:00+00:00"
    finally:
        conn.close()
