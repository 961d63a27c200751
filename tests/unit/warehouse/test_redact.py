"""Passwords never survive redact() / scrub()."""

from __future__ import annotations

import pytest

from warehouse.connect import redact, scrub, url_with_database


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        (
            "postgresql://u@h/db?password=pw&sslmode=disable",
            "postgresql://u@h/db?password=***&sslmode=disable",
        ),
        ("postgresql://postgres@/db?host=/tmp/x", "postgresql://postgres@/db?host=/tmp/x"),
        ("host=h user=u password='p w' dbname=d", "host=h user=u password=*** dbname=d"),
    ],
)
def test_redact(url: str, expected: str) -> None:
    assert redact(url) == expected


def test_scrub_removes_password_and_any_url_credentials() -> None:
    text = 'FATAL: "p@ss:w" rejected; see postgres://other:xyz@h/db and password=abc'
    out = scrub(text, "postgresql://u:p%40ss%3Aw@h/db")
    assert "p@ss:w" not in out and "xyz" not in out and "abc" not in out


def test_url_with_database_keeps_socket_query() -> None:
    url = "postgresql://postgres:@/postgres?host=/tmp/pg"
    assert url_with_database(url, "wt_1") == "postgresql://postgres:@/wt_1?host=/tmp/pg"
