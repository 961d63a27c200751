"""The backfill flow on a real (temporary) Prefect API, with the daily flow replaced by a fast stand-in.

The real daily flow is exercised end to end by test_deployments.py; here only the backfill's own
behaviour is under test: bounded concurrency, skipping loaded days, force, and failure reporting.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from typing import Any

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

pytestmark = pytest.mark.integration

START = date(2026, 11, 20)
END = date(2026, 11, 25)


class DailyStandIn:
    """Records which days ran and how many ran at the same time."""

    def __init__(self, seconds: float = 0.2, failing: set[date] | None = None, rendezvous: int = 1) -> None:
        self.seconds, self.failing, self.rendezvous = seconds, failing or set(), rendezvous
        self.lock = threading.Lock()
        self.active = self.peak = 0
        self.days: list[date] = []
        self.forced: list[bool] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import flows.backfill

        @flow(name="webtrail-daily-stand-in")
        # params: a stand-in with the real daily flow's parameters
        def daily(day: date, access_log: Any = None, events: Any = None, users_db: Any = None,
                  database_url: Any = None, force: bool = False, events_api: Any = None) -> dict[str, str]:
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
                self.days.append(day)
                self.forced.append(force)
            try:
                # Wait (bounded) until `rendezvous` days run at once: subflow start-up time varies a lot
                # on a busy machine, so a plain sleep would not reliably overlap.
                deadline = time.monotonic() + 60
                while self.peak < self.rendezvous and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(self.seconds)
                if day in self.failing:
                    raise RuntimeError(f"simulated failure on {day}")
                return {"day": day.isoformat(), "status": "completed"}
            finally:
                with self.lock:
                    self.active -= 1

        monkeypatch.setattr(flows.backfill, "daily", daily)


def _loaded(monkeypatch: pytest.MonkeyPatch, days: list[date] | None) -> None:
    """Replace the warehouse look-up: `days` are loaded; None means it must not be called."""
    import flows.backfill

    @task(cache_policy=NO_CACHE)
    def loaded_days(settings: Any, override: Any, requested: list[date]) -> list[date]:
        if days is None:
            raise AssertionError("loaded_days must not be queried with force=True")
        return [d for d in requested if d in days]

    monkeypatch.setattr(flows.backfill, "loaded_days", loaded_days)


def test_runs_missing_days_two_at_a_time(prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.backfill import backfill

    stand_in = DailyStandIn(rendezvous=2)
    stand_in.install(monkeypatch)
    loaded = [date(2026, 11, 21), date(2026, 11, 24)]
    _loaded(monkeypatch, loaded)
    outcome = backfill(start=START, end=END, concurrency=2)
    assert sorted(stand_in.days) == [d for d in (START + timedelta(days=i) for i in range(6)) if d not in loaded]
    assert stand_in.peak == 2
    assert stand_in.forced == [False] * 4
    assert outcome == {
        "2026-11-20": "completed", "2026-11-21": "skipped (already loaded)", "2026-11-22": "completed",
        "2026-11-23": "completed", "2026-11-24": "skipped (already loaded)", "2026-11-25": "completed",
    }


def test_force_reruns_every_day_one_at_a_time(prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.backfill import backfill

    stand_in = DailyStandIn()
    stand_in.install(monkeypatch)
    _loaded(monkeypatch, None)
    outcome = backfill(start=START, end=START + timedelta(days=2), concurrency=1, force=True)
    assert stand_in.peak == 1 and stand_in.forced == [True] * 3
    assert set(outcome.values()) == {"completed"}


def test_a_failed_day_fails_the_backfill_after_the_others_ran(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.backfill import backfill

    stand_in = DailyStandIn(failing={date(2026, 11, 21)})
    stand_in.install(monkeypatch)
    _loaded(monkeypatch, [])
    with pytest.raises(RuntimeError, match=r"1 of 3 day\(s\) failed: 2026-11-21"):
        backfill(start=START, end=START + timedelta(days=2), concurrency=2)
    assert len(stand_in.days) == 3


def test_rejects_bad_ranges_and_concurrency(prefect_harness: None) -> None:
    from flows.backfill import backfill, days_between

    assert days_between(START, START) == [START]
    with pytest.raises(ValueError, match="before start"):
        days_between(END, START)
    with pytest.raises(ValueError, match="at most"):
        days_between(START, START + timedelta(days=400))
    with pytest.raises(ValueError, match="concurrency"):
        backfill(start=START, end=END, concurrency=0)
