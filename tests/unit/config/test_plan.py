"""Which day and inputs a run processes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from config.plan import resolve_plan, sample_manifest
from config.settings import SAMPLE_DIR, WebtrailSettings


def test_no_inputs_means_the_sample_day() -> None:
    plan = resolve_plan(WebtrailSettings())
    manifest = sample_manifest()
    assert plan.from_sample
    assert plan.day == date.fromisoformat(manifest["date"])
    assert plan.access_logs == [str(SAMPLE_DIR / manifest["access_log"])]
    assert plan.events == [str(SAMPLE_DIR / manifest["events"])]
    assert plan.users_db == str(SAMPLE_DIR / manifest["users_db"])


def test_explicit_empty_events_on_the_sample_means_no_events() -> None:
    assert resolve_plan(WebtrailSettings(), events=[]).events == []


def test_configured_inputs_default_to_yesterday_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBTRAIL_ACCESS_LOGS", '["/logs/access.log*"]')
    monkeypatch.setenv("WEBTRAIL_USERS_DB", "sqlite:///users.db")
    plan = resolve_plan(WebtrailSettings())
    assert not plan.from_sample
    assert plan.day == datetime.now(UTC).date() - timedelta(days=1)
    assert (plan.access_logs, plan.events, plan.users_db) == (["/logs/access.log*"], [], "sqlite:///users.db")


def test_parameters_win_over_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBTRAIL_ACCESS_LOGS", '["/logs/a.log"]')
    plan = resolve_plan(WebtrailSettings(), day=date(2026, 1, 2), access_logs=["/other/b.log"], events=["e.jsonl"])
    assert (plan.day, plan.access_logs, plan.events) == (date(2026, 1, 2), ["/other/b.log"], ["e.jsonl"])


def test_missing_sample_manifest_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="manifest.json.*sample_logs.generate"):
        sample_manifest(tmp_path)
