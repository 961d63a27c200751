"""User snapshot from SQLite (file and URL) and CSV; clear errors for missing table / column."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from parsers.schema import USERS_SCHEMA
from parsers.users import UserSourceError, read_users


def make_db(path: Path, drop: str | None = None) -> None:
    cols = [
        "user_id INTEGER",
        "email TEXT",
        "created_at TEXT",
        "country TEXT",
        "plan TEXT",
        "is_admin INTEGER",
        "status TEXT",
        "extra TEXT",
    ]
    cols = [c for c in cols if not (drop and c.startswith(drop + " "))]
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE users ({', '.join(cols)})")
    names = [c.split()[0] for c in cols]
    values = {
        "user_id": [1, 2],
        "email": ["a@x.io", "b@x.io"],
        "created_at": ["2026-01-02 03:04:05", "2026-01-02T05:04:05+02:00"],
        "country": ["DE", None],
        "plan": ["pro", "free"],
        "is_admin": [1, 0],
        "status": ["active", "banned"],
        "extra": ["", ""],
    }
    rows = list(zip(*(values[n] for n in names), strict=True))
    marks = ", ".join("?" * len(names))  # placeholders only: values are bound parameters
    con.executemany(f"INSERT INTO users VALUES ({marks})", rows)  # noqa: S608
    con.commit()
    con.close()


def check(out: Path) -> None:
    df = pl.read_parquet(out)
    assert dict(df.schema) == USERS_SCHEMA
    assert df["user_id"].to_list() == ["1", "2"]
    assert df["created_at"].to_list() == [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)] * 2
    assert df["is_admin"].to_list() == [True, False]
    assert df["country"].to_list() == ["DE", None]


def test_sqlite_file_and_url(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    make_db(db)
    assert read_users(str(db), tmp_path / "a.parquet") == 2
    check(tmp_path / "a.parquet")
    assert read_users(f"sqlite:///{db}", tmp_path / "b.parquet") == 2
    check(tmp_path / "b.parquet")


def test_csv(tmp_path: Path) -> None:
    csv = tmp_path / "users.csv"
    csv.write_text(
        "user_id,email,created_at,country,plan,is_admin,status\n"
        "1,a@x.io,2026-01-02T03:04:05Z,DE,pro,true,active\n"
        "2,b@x.io,2026-01-02 03:04:05,,free,false,banned\n"
    )
    assert read_users(str(csv), tmp_path / "u.parquet") == 2
    check(tmp_path / "u.parquet")


def test_missing_column_and_table(tmp_path: Path) -> None:
    db = tmp_path / "users.db"
    make_db(db, drop="plan")
    with pytest.raises(UserSourceError, match="missing column.*plan"):
        read_users(str(db), tmp_path / "u.parquet")
    with pytest.raises(UserSourceError, match="'accounts' not found"):
        read_users(str(db), tmp_path / "u.parquet", table="accounts")
    csv = tmp_path / "u.csv"
    csv.write_text("user_id,email\n1,a\n")
    with pytest.raises(UserSourceError, match="created_at"):
        read_users(str(csv), tmp_path / "u.parquet")
    assert not (tmp_path / "u.parquet").exists()


def test_password_not_in_errors(tmp_path: Path) -> None:
    with pytest.raises(UserSourceError) as err:
        read_users("postgresql://bob:s3cret@127.0.0.1:1/db", tmp_path / "u.parquet")
    assert "s3cret" not in str(err.value)
