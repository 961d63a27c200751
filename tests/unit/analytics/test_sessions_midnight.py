"""Sessions across midnight: the carry-over cut (analytics/sessions.py), counted by hand.

Day D = 2026-05-01; gap 30 min, overlap (carry-over) 120 min: a run of requests begun on one day is
cut where it passes 02:00 of each later day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import functions

from config.settings import SessionSettings
from tests.analytics_day import analysis

DAY = datetime(2026, 5, 1, tzinfo=UTC)


def every(ip: str, start: datetime, end: datetime, minutes: int) -> list[dict[str, Any]]:
    """Requests of one device from start to end (both included) every `minutes`."""
    out, moment = [], start
    while moment <= end:
        out.append({"client_ip": ip, "requested_at": moment, "path": "/p"})
        moment += timedelta(minutes=minutes)
    return out


ROWS = [
    # evening visitor: 23:50, then 00:10 and 00:35 of DAY+1 -> one session of DAY, 3 requests
    *every("10.0.0.1", DAY + timedelta(hours=23, minutes=50), DAY + timedelta(days=1, minutes=10), 20),
    {"client_ip": "10.0.0.1", "requested_at": DAY + timedelta(days=1, minutes=35), "path": "/p"},
    # pinger from 23:00 every 20 min to 02:40 of DAY+1: cut at DAY+1 02:00 -> 9 requests | 3 requests
    *every("10.0.0.2", DAY + timedelta(hours=23), DAY + timedelta(days=1, hours=2, minutes=40), 20),
    # begins at 00:30 of DAY+1: its first day is DAY+1, so 02:00 of DAY+1 does not cut it -> 9 requests
    *every("10.0.0.3", DAY + timedelta(days=1, minutes=30), DAY + timedelta(days=1, hours=3, minutes=10), 20),
    # every 30 min (= the gap: same session) from 22:00 of DAY-1 to 03:00 of DAY+1: cut at 02:00 of DAY and
    # of DAY+1 -> 8 | 48 | 3 requests
    *every("10.0.0.4", DAY - timedelta(hours=2), DAY + timedelta(days=1, hours=3), 30),
]


def sessions_of(frames: Any, settings: SessionSettings) -> list[tuple[str, datetime, int]]:
    """(ip, started_at, requests) of each run of requests the islands make (any day)."""
    day = analysis(frames.requests(ROWS), day=DAY.date(), sessions=settings)
    per_session = day.frame.groupBy("client_key", "seq").agg(
        functions.timestamp_micros(functions.min("t")).alias("started_at"),
        functions.count(functions.lit(1)).alias("n"),
    )
    rows = per_session.join(day.facts.clients.withColumnRenamed("key", "client_key"), "client_key").collect()
    return sorted((r.client_ip, r.started_at.astimezone(UTC), r.n) for r in rows)


@pytest.mark.parametrize("overlap", [120, 121])  # 121: the cut moves with the setting, by one minute
def test_runs_of_requests_are_cut_at_the_carry_over(frames: Any, overlap: int) -> None:
    got = sessions_of(frames, SessionSettings(overlap_minutes=overlap))
    cut = DAY + timedelta(days=1, hours=2)  # pinger's 02:00 opens a session with overlap 120 ...
    pinger = [(cut, 3)] if overlap == 120 else [(cut + timedelta(minutes=20), 2)]  # ... 02:20 with 121
    assert got == sorted([
        ("10.0.0.1", DAY + timedelta(hours=23, minutes=50), 3),
        ("10.0.0.2", DAY + timedelta(hours=23), 9 if overlap == 120 else 10),
        *[("10.0.0.2", t, n) for t, n in pinger],
        ("10.0.0.3", DAY + timedelta(days=1, minutes=30), 9),
        ("10.0.0.4", DAY - timedelta(hours=2), 8 if overlap == 120 else 9),
        ("10.0.0.4", DAY + timedelta(hours=2) + (timedelta(0) if overlap == 120 else timedelta(minutes=30)),
         48),
        ("10.0.0.4", DAY + timedelta(days=1, hours=2) + (timedelta(0) if overlap == 120 else timedelta(minutes=30)),
         3 if overlap == 120 else 2),
    ])


def test_split_at_midnight_is_a_carry_over_of_zero(frames: Any) -> None:
    got = sessions_of(frames, SessionSettings(split_at_midnight=True, overlap_minutes=0))
    assert got == sorted([
        ("10.0.0.1", DAY + timedelta(hours=23, minutes=50), 1),
        ("10.0.0.1", DAY + timedelta(days=1, minutes=10), 2),
        ("10.0.0.2", DAY + timedelta(hours=23), 3),
        ("10.0.0.2", DAY + timedelta(days=1), 9),
        ("10.0.0.3", DAY + timedelta(days=1, minutes=30), 9),
        ("10.0.0.4", DAY - timedelta(hours=2), 4),
        ("10.0.0.4", DAY, 48),
        ("10.0.0.4", DAY + timedelta(days=1), 7),
    ])


def test_the_overlap_must_cover_the_gap() -> None:
    with pytest.raises(ValueError, match=r"WEBTRAIL_SESSIONS__OVERLAP_MINUTES \(20\) must be at least"):
        SessionSettings(gap_minutes=30, overlap_minutes=20)
    assert SessionSettings(gap_minutes=30, overlap_minutes=0, split_at_midnight=True).carry_over == timedelta(0)
