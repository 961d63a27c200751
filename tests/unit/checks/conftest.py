"""Tiny, clean staging frames (the parsers' schemas) for the contract tests; each test corrupts a copy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from parsers.schema import EVENTS_SCHEMA, REQUESTS_SCHEMA, USERS_SCHEMA

DAY = "2026-11-24"
WINDOW = {"WINDOW_START": f"{DAY}T00:00:00+00:00", "WINDOW_END": "2026-11-25T00:00:00+00:00"}
MOMENT = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def request_rows() -> list[dict[str, Any]]:
    clients = ["203.0.113.7", "2001:db8::1", "::ffff:198.51.100.2", "crawler-1.example.com", "10.0.0.1"]
    return [
        {
            "source_file": "access.log",
            "line_number": i + 1,
            "client_ip": ip,
            "remote_user": None,
            "requested_at": MOMENT,
            "method": method,
            "path": "/products/42",
            "query": "a=1" if i == 0 else None,
            "protocol": "HTTP/1.1",
            "request": f"{method} /products/42 HTTP/1.1",
            "request_kind": "http",
            "status": status,
            "bytes": 512 * i,
            "referer": None,
            "user_agent": "Mozilla/5.0",
            "request_time_ms": 0.0 if i == 0 else 12.5,
            "vhost": None,
            "has_invalid_utf8": False,
        }
        for i, (ip, method, status) in enumerate(
            zip(clients, ["GET", "POST", "HEAD", "GET", "OPTIONS"], [200, 302, 404, 500, 100], strict=True)
        )
    ]


def event_rows() -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"e{i}",
            "occurred_at": MOMENT,
            "event_type": event_type,
            "user_id": "u1" if i else None,
            "anonymous_id": "anon-1",
            "client_ip": "203.0.113.7",
            "user_agent": "Mozilla/5.0",
            "path": "/login",
            "properties": "{}",
            "source_file": "events.jsonl",
            "line_number": i + 1,
        }
        for i, event_type in enumerate(["page_view", "login_failure", "login_success", "purchase"])
    ]


def user_rows() -> list[dict[str, Any]]:
    return [
        {
            "user_id": f"u{i}",
            "email": f"u{i}@example.com",
            "created_at": MOMENT,
            "country": "NL",
            "plan": plan,
            "is_admin": i == 0,
            "status": "active",
        }
        for i, plan in enumerate(["free", "pro", None])
    ]


SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "requests": REQUESTS_SCHEMA,
    "events": EVENTS_SCHEMA,
    "users": USERS_SCHEMA,
}
ROWS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "requests": request_rows,
    "events": event_rows,
    "users": user_rows,
}


@pytest.fixture
def write_parquet(tmp_path: Path) -> Callable[..., Path]:
    """write_parquet(dataset, rows=None, schema=None) -> path of a Parquet file with the staging schema."""

    def write(dataset: str, rows: list[dict[str, Any]] | None = None, schema: Any = None) -> Path:
        frame = pl.DataFrame(
            ROWS[dataset]() if rows is None else rows,
            schema=SCHEMAS[dataset] if schema is None else schema,
            orient="row",
        )
        path = tmp_path / f"{dataset}.parquet"
        frame.write_parquet(path)
        return path

    return write


@pytest.fixture
def make_rows() -> Callable[[str], list[dict[str, Any]]]:
    """make_rows(dataset) -> fresh clean rows, to corrupt in a test."""
    return lambda dataset: ROWS[dataset]()


@pytest.fixture
def window() -> dict[str, str]:
    """Variables of the input contracts for the test day."""
    return dict(WINDOW)
