"""Spark's behavior and performance tables against an independent polars count (oracle.py): sessions,
page_daily, user_daily, client_daily, referrer_daily, funnel_daily, traffic_minute, endpoint_daily and
status_daily.

A generated day of ORACLE_LINES access-log lines (with events and users) is staged with the parsers
exactly as the daily flow does, analysed with analytics.pipeline, and recomputed with polars. Counts,
sums and timestamps must be equal; averages and percentiles (both sides: linear interpolation) agree
within a relative 1e-9.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from config.layout import DayLayout
from config.settings import ParserSettings, WebtrailSettings
from tests.integration.analytics import oracle

pytestmark = pytest.mark.integration

ORACLE_LINES = 20_000
ROOT = Path(__file__).resolve().parents[3]
REL = 1e-9


@dataclass(frozen=True)
class Run:
    """The staged day (oracle input), the Spark outputs, and the sessionized oracle frames."""

    day: oracle.Day
    spark: dict[str, pl.DataFrame]
    requests: pl.DataFrame
    sessions: pl.DataFrame
    automated_ips: set[str]
    funnel_steps: list[str]


def stage(src: Path, layout: DayLayout) -> None:
    """Parse the generated files into the day's staging Parquet, as tasks/ingest.py does."""
    from parsers.access_log import parse_access_logs
    from parsers.events import parse_events
    from parsers.user_agents import enrich_user_agents
    from parsers.users import read_users

    layout.staging.mkdir(parents=True)
    parse_access_logs([src / "access.log"], layout.day, layout.requests, layout.rejected, ParserSettings())
    parse_events([src / "events.jsonl"], layout.day, layout.events, layout.events_rejected)
    read_users(str(src / "users.db"), layout.users)
    enrich_user_agents([layout.requests, layout.events], layout.user_agents)


@pytest.fixture(scope="module")
def run(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Run:
    from analytics.pipeline import build_tables, write_tables

    src, data = tmp_path_factory.mktemp("generated"), tmp_path_factory.mktemp("data")
    cmd = [sys.executable, "-m", "sample_logs.generate", "--lines", str(ORACLE_LINES), "--date", "2026-11-24",
           "--out", str(src)]
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    layout = DayLayout(data, date.fromisoformat(json.loads((src / "manifest.json").read_text())["date"]))
    stage(src, layout)
    settings = WebtrailSettings(data_dir=data)
    paths = write_tables(build_tables(spark, layout, settings), layout)
    outputs = {name: pl.read_parquet(path / "*.parquet") for name, path in paths.items()}
    findings = outputs["security_findings"].filter(pl.col("category").is_in(settings.security.bot_categories))
    day = oracle.Day.read(layout.staging, layout.day)
    automated = set(findings["client_ip"])
    requests, sessions = oracle.sessionized(day, automated)
    return Run(day, outputs, requests, sessions, automated, list(settings.funnel_steps))


def assert_same(actual: pl.DataFrame, expected: pl.DataFrame, keys: Sequence[str]) -> None:
    """Same key sets; every other column of `expected` equal (floats within REL) in `actual`."""
    keys = list(keys)
    values = [c for c in expected.columns if c not in keys]
    assert actual.height == expected.height
    joined = expected.join(actual.select(keys + values), on=keys, how="full", suffix="_spark", nulls_equal=True)
    assert joined.height == expected.height, "key sets differ"
    for col in values:
        want, got = pl.col(col), pl.col(f"{col}_spark")
        if expected.schema[col].is_float():
            close = (want - got).abs() <= REL * pl.max_horizontal(want.abs(), got.abs())
            ok = (want.is_null() & got.is_null()) | close.fill_null(False)
        elif expected.schema[col].is_integer() or expected.schema[col] == pl.Boolean:
            ok = want.cast(pl.Int64).eq_missing(got.cast(pl.Int64))
        else:
            ok = want.eq_missing(got)
        bad = joined.filter(~ok)
        assert bad.is_empty(), f"{col}: {bad.height} rows differ, e.g.\n{bad.select(keys + [col, f'{col}_spark'])}"


def test_sessions(run: Run) -> None:
    spark = run.spark["sessions"].with_columns(pl.col("user_agent").fill_null("").alias("ua"))
    expected = run.sessions.select(
        "client_ip", "ua", "started_at", "ended_at", "requests", "page_views", "bytes", "entry_path", "exit_path",
        "user_id", "is_bot", "referrer_domain", "browser_family", "os_family", "device_type",
    )
    assert expected.height > 500
    assert_same(spark, expected, ["client_ip", "ua", "started_at"])


def test_traffic_minute(run: Run) -> None:
    assert_same(run.spark["traffic_minute"], oracle.traffic_minute(run.day), ["minute_at"])


def test_endpoint_daily(run: Run) -> None:
    expected = oracle.endpoint_daily(run.day)
    assert expected.filter(pl.col("path_template") == oracle.UNMATCHED_404).height >= 1
    assert_same(run.spark["endpoint_daily"], expected, ["method", "path_template"])


def test_status_daily(run: Run) -> None:
    assert_same(run.spark["status_daily"], oracle.status_daily(run.day), ["status"])


def test_page_daily(run: Run) -> None:
    assert_same(run.spark["page_daily"], oracle.page_daily(run.requests, run.sessions), ["path_template"])


def test_user_daily(run: Run) -> None:
    expected = oracle.user_daily(run.day, run.sessions)
    assert expected.height > 50
    assert_same(run.spark["user_daily"], expected, ["user_id"])


def test_client_daily(run: Run) -> None:
    expected = oracle.client_daily(run.sessions)
    assert expected["is_bot"].any() and not expected["is_bot"].all()
    assert_same(run.spark["client_daily"], expected, ["browser_family", "os_family", "device_type", "is_bot"])


def test_referrer_daily(run: Run) -> None:
    expected = oracle.referrer_daily(run.sessions)
    assert expected.height > 2 and oracle.DIRECT in set(expected["referrer_domain"])
    assert_same(run.spark["referrer_daily"], expected, ["referrer_domain"])


def test_funnel_daily(run: Run) -> None:
    expected = oracle.funnel_daily(run.day, run.automated_ips, run.funnel_steps)
    visitors = expected["visitors"].to_list()
    assert len(visitors) == 4 and visitors[-1] > 0 and visitors == sorted(visitors, reverse=True)
    assert_same(run.spark["funnel_daily"], expected, ["step_number"])
