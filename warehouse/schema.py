"""The PostgreSQL schema every webtrail table lives in (the migrations create it under this name)."""

from __future__ import annotations

SCHEMA = "webtrail"
