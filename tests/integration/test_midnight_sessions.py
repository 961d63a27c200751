"""Two consecutive daily runs over one log that crosses two midnights: every session once, and whole.

The daily flow runs for D and then D+1 (real Prefect, Spark and embedded PostgreSQL) on a log from
22:00 of D-1 to 03:00 of D+1. Expected sessions were counted by hand with the rule of
analytics/sessions.py (gap 30 min, overlap 120 min); the blocking cross-table contract recomputes
them in SQL during each run, so both implementations agree with these numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from config.settings import WebtrailSettings

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 20, tzinfo=UTC)
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


def every(ip: str, start: datetime, end: datetime, minutes: int) -> list[tuple[str, datetime]]:
    out, moment = [], start
    while moment <= end:
        out.append((ip, moment))
        moment += timedelta(minutes=minutes)
    return out


HITS = sorted(
    [
        # evening visitor: 23:50 of DAY, 00:10 and 00:35 of DAY+1
        *every("10.0.0.1", DAY + timedelta(hours=23, minutes=50), DAY + timedelta(days=1, minutes=10), 20),
        ("10.0.0.1", DAY + timedelta(days=1, minutes=35)),
        # pinger 23:00 of DAY to 02:40 of DAY+1, every 20 min: cut at 02:00 of DAY+1
        *every("10.0.0.2", DAY + timedelta(hours=23), DAY + timedelta(days=1, hours=2, minutes=40), 20),
        # a visit begun at 00:30 of DAY+1
        *every("10.0.0.3", DAY + timedelta(days=1, minutes=30), DAY + timedelta(days=1, hours=3, minutes=10), 20),
        # every 30 min from 22:00 of DAY-1 to 03:00 of DAY+1: cut at 02:00 of DAY and of DAY+1
        *every("10.0.0.4", DAY - timedelta(hours=2), DAY + timedelta(days=1, hours=3), 30),
    ],
    key=lambda hit: hit[1],
)
EXPECTED = {  # (day, client_ip, started_at, requests)
    (DAY.date(), "10.0.0.1", DAY + timedelta(hours=23, minutes=50), 3),
    (DAY.date(), "10.0.0.2", DAY + timedelta(hours=23), 9),
    (DAY.date(), "10.0.0.4", DAY + timedelta(hours=2), 48),
    (DAY.date() + timedelta(days=1), "10.0.0.2", DAY + timedelta(days=1, hours=2), 3),
    (DAY.date() + timedelta(days=1), "10.0.0.3", DAY + timedelta(days=1, minutes=30), 9),
    (DAY.date() + timedelta(days=1), "10.0.0.4", DAY + timedelta(days=1, hours=2), 3),
}
SESSION_OF_D_MINUS_1 = 8  # 10.0.0.4 from 22:00 to 01:30: neither run's


def log_line(ip: str, moment: datetime) -> str:
    stamp = moment.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{stamp}] "GET /p HTTP/1.1" 200 512 "-" "{UA}"'


@pytest.fixture(scope="module")
def two_days(service_tmp_dir: Path, prefect_harness: None, spark) -> Iterator[Path]:
    """Run the daily flow for DAY and DAY+1 on the log; yields the data directory."""
    from flows.daily import daily
    from warehouse.embedded import stop_embedded

    data_dir = service_tmp_dir / "midnight-data"
    data_dir.mkdir()
    log = service_tmp_dir / "midnight-access.log"
    log.write_text("".join(log_line(ip, t) + "\n" for ip, t in HITS))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WEBTRAIL_DATA_DIR", str(data_dir))
        mp.delenv("WEBTRAIL_DATABASE_URL", raising=False)
        for day in (DAY.date(), DAY.date() + timedelta(days=1)):
            daily(day=day, access_log=[str(log)])
        yield data_dir
    stop_embedded(data_dir / "postgres")


def _rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    from warehouse.connect import connect
    from warehouse.embedded import database_url

    with connect(database_url(WebtrailSettings(data_dir=data_dir))) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_each_session_once_and_whole(two_days: Path) -> None:
    rows = _rows(two_days, "SELECT day, client_ip, started_at, requests, session_id FROM webtrail.sessions")
    assert {(day, ip, started.astimezone(UTC), n) for day, ip, started, n, _ in rows} == EXPECTED
    assert len({sid for *_, sid in rows}) == len(rows) == len(EXPECTED)
    assert sum(n for _, _, _, n, _ in rows) + SESSION_OF_D_MINUS_1 == len(HITS)


def test_day_tables_count_the_day_and_page_views_follow_the_sessions(two_days: Path) -> None:
    traffic = dict(_rows(two_days, "SELECT day, sum(requests) FROM webtrail.traffic_minute GROUP BY day"))
    in_day = {d: sum(1 for _, t in HITS if t.date() == d) for d in (DAY.date(), DAY.date() + timedelta(days=1))}
    assert traffic == in_day
    views = dict(_rows(two_days, "SELECT day, sum(views) FROM webtrail.page_daily GROUP BY day"))
    assert views == {DAY.date(): 3 + 9 + 48, DAY.date() + timedelta(days=1): 3 + 9 + 3}
