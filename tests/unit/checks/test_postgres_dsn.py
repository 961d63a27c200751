"""A libpq URL or key=value string becomes soda-postgres connection properties, as libpq reads it."""

from __future__ import annotations

import pytest

from checks.engines import verify_postgres
from checks.postgres_dsn import InvalidDatabaseUrl, postgres_connection

LIBPQ_ENVIRONMENT = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")

# Every character that needs care somewhere: URL delimiters (@ : / ? # %), a space, both quotes, a
# backslash, an equals sign and a non-ASCII letter.
HARD_PASSWORD = "p@ss:w/rd?#% 'q\"\\=é"


@pytest.fixture(autouse=True)
def no_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LIBPQ_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def test_the_embedded_socket_url_becomes_a_socket_host() -> None:
    url = "postgresql://postgres@/webtrail?host=%2Fvar%2Flib%2Fweb%20trail%2Fdata&port=5433"
    assert postgres_connection(url) == {
        "host": "/var/lib/web trail/data", "port": 5433, "database": "webtrail", "user": "postgres",
        "password": "", "connect_timeout": "30",
    }


def test_a_url_with_every_part() -> None:
    url = "postgres://etl:secret@db.example:6432/dw?sslmode=require&connect_timeout=5&application_name=wt"
    assert postgres_connection(url) == {
        "host": "db.example", "port": 6432, "database": "dw", "user": "etl", "password": "secret",
        "connect_timeout": "5", "sslmode": "require", "application_name": "wt",
    }


def test_key_value_strings_and_extra_parameters_pass_through() -> None:
    connection = postgres_connection("host=db.example port=6432 dbname=dw user=etl sslmode=require options='-c x=1'")
    assert connection == {
        "host": "db.example", "port": 6432, "database": "dw", "user": "etl", "password": "",
        "connect_timeout": "30", "sslmode": "require", "options": "-c x=1",
    }


def test_a_password_with_special_characters_in_a_url_is_percent_decoded() -> None:
    # HARD_PASSWORD percent-encoded by hand (RFC 3986 userinfo: everything but unreserved characters).
    url = "postgresql://etl:p%40ss%3Aw%2Frd%3F%23%25%20%27q%22%5C%3D%C3%A9@db.example/dw"
    assert postgres_connection(url)["password"] == HARD_PASSWORD


def test_a_password_with_special_characters_in_a_key_value_string_is_unquoted() -> None:
    # libpq key=value: a single-quoted value, with \' and \\ escaped.
    dsn = "host=db.example dbname=dw user=etl password='p@ss:w/rd?#% \\'q\"\\\\=é'"
    assert postgres_connection(dsn)["password"] == HARD_PASSWORD


def test_both_forms_of_the_same_server_give_the_same_properties() -> None:
    url = "postgresql://etl:pw@db.example:6432/dw?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem"
    dsn = "host=db.example port=6432 dbname=dw user=etl password=pw sslmode=verify-full sslrootcert=/etc/ca.pem"
    assert postgres_connection(url) == postgres_connection(dsn)


def test_what_the_url_leaves_out_comes_from_the_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGUSER", "alice")
    monkeypatch.setenv("PGPASSWORD", "from-env")
    monkeypatch.setenv("PGHOST", "pg.internal")
    connection = postgres_connection("postgresql:///?connect_timeout=5")
    assert (
        connection["host"], connection["user"], connection["password"], connection["database"],
        connection["connect_timeout"],
    ) == ("pg.internal", "alice", "from-env", "alice", "5")


@pytest.mark.parametrize(
    ("database_url", "reason"),
    [
        ("host=db.example password=hunter2 dbname", 'missing "=" after "dbname" in connection info string'),
        ("host=db.example password='hunter2", "unterminated quoted string in connection info string"),
        ("mysql://etl:hunter2@db.example/dw", 'missing "=" after "…" in connection info string'),
        ("postgresql://etl:hun ter2@db.example/dw", 'unexpected spaces found in "…"'),
        ("hots=db.example password=hunter2", 'invalid connection option "…"'),
    ],
)
def test_a_malformed_url_says_what_is_wrong_and_never_shows_the_password(database_url: str, reason: str) -> None:
    with pytest.raises(InvalidDatabaseUrl) as raised:
        postgres_connection(database_url)
    message = str(raised.value)
    assert message.startswith("the database URL is not a libpq URL or key=value string: ")
    assert reason in message
    assert "hunter2" not in message and "hun ter2" not in message and "etl" not in message


def test_a_port_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(InvalidDatabaseUrl, match="port is not a number"):
        postgres_connection("postgresql://etl:hunter2@db.example:fivefour/dw")


def test_verify_postgres_reports_a_malformed_url_as_a_run_error_without_the_url() -> None:
    report = verify_postgres("sessions", "host=db.example password=hunter2 dbname", {"DAY": "2026-11-24"})
    assert report.results == [] and not report.has_blocking_failure and report.infrastructure_error
    assert report.infrastructure_error == (
        "invalid PostgreSQL configuration: the database URL is not a libpq URL or key=value string: "
        'missing "=" after "dbname" in connection info string'
    )
