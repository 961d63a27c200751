"""Builders of tiny staging DataFrames for the analytics tests (explicit Spark schemas)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from analytics import contracts

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
HUMAN_UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def at(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


@dataclass
class Frames:
    """Row builders; `requests(rows)` etc. turn lists of dicts into typed DataFrames."""

    spark: SparkSession
    T0 = T0
    HUMAN_UA = HUMAN_UA
    BOT_UA = BOT_UA

    @staticmethod
    def at(seconds: float, base: datetime = T0) -> datetime:
        return at(seconds, base)

    def _df(self, rows: list[dict[str, Any]], schema: Any, defaults: dict[str, Any]) -> DataFrame:
        names = schema.fieldNames()
        data = [tuple({**defaults, **r}.get(n) for n in names) for r in rows]
        return self.spark.createDataFrame(data, schema)

    def requests(self, rows: list[dict[str, Any]]) -> DataFrame:
        filled = []
        for index, row in enumerate(rows):
            path, query, method = row.get("path", "/"), row.get("query"), row.get("method", "GET")
            target = path + (f"?{query}" if query is not None else "")
            filled.append({"line_number": index + 1, "request": f"{method} {target} HTTP/1.1", **row})
        defaults = {
            "source_file": "access.log",
            "method": "GET",
            "path": "/",
            "protocol": "HTTP/1.1",
            "status": 200,
            "bytes": 100,
            "user_agent": HUMAN_UA,
            "has_invalid_utf8": False,
            "vhost": None,
        }
        return self._df(filled, contracts.REQUESTS, defaults)

    def events(self, rows: list[dict[str, Any]]) -> DataFrame:
        filled = [{"event_id": f"e{i}", "line_number": i + 1, **r} for i, r in enumerate(rows)]
        return self._df(filled, contracts.EVENTS, {"source_file": "events.jsonl", "user_agent": HUMAN_UA})

    def users(self, rows: list[dict[str, Any]]) -> DataFrame:
        return self._df(rows, contracts.USERS, {"status": "active", "is_admin": False})

    def user_agents(self, rows: list[dict[str, Any]]) -> DataFrame:
        return self._df(rows, contracts.USER_AGENTS, {})


@pytest.fixture(scope="session")
def frames(spark: SparkSession) -> Frames:
    return Frames(spark)
