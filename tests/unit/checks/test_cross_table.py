"""contracts/cross_table.yml on tiny Parquet files (DuckDB): output totals against the staged requests,
user references against the users snapshot, and the session rule on a staging with overlap."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from checks.runner import CROSS_TABLE_SOURCES, verify_cross_table
from parsers.schema import REQUESTS_SCHEMA, USERS_SCHEMA

DAY = "2026-11-24"
MIDNIGHT = datetime(2026, 11, 24, tzinfo=UTC)
VARIABLES = {"DAY": DAY, "SESSION_GAP_MINUTES": "30", "SESSION_CARRY_OVER_MINUTES": "120"}

# (client_ip, user_agent, minutes from midnight, bytes): staging with a 2-hour overlap on both sides.
#   A: 23:50 (day before), 00:10, 00:20  -> one session begun the day before; its 2 day requests are not counted
#   B: 22:00 (day before), 00:45         -> the gap > 30 min starts a session on the day: 1 request
#   C: 10:00, 10:05 | 12:00               -> two sessions: 2 + 1 requests
#   D: 11:00 (no user agent), 11:10 ('')  -> one device, one session: 2 requests
#   E: 23:40, then 00:10, 00:40, 01:10 of the next day (gaps of exactly 30 min) -> one session of the
#      day, whole: 4 requests, 1 of them on the day
STAGED = [
    ("10.0.0.1", "ua-a", -10, 100), ("10.0.0.1", "ua-a", 10, 100), ("10.0.0.1", "ua-a", 20, 100),
    ("10.0.0.2", "ua-b", -120, 50), ("10.0.0.2", "ua-b", 45, 50),
    ("10.0.0.3", "ua-c", 600, 10), ("10.0.0.3", "ua-c", 605, 10), ("10.0.0.3", "ua-c", 720, 10),
    ("10.0.0.4", None, 660, 1), ("10.0.0.4", "", 670, 1),
    ("10.0.0.5", "ua-e", 1420, 7), ("10.0.0.5", "ua-e", 1450, 7), ("10.0.0.5", "ua-e", 1480, 7),
    ("10.0.0.5", "ua-e", 1510, 7),
]
DAY_REQUESTS = 9  # staged requests on the day
DAY_BYTES = 2 * 100 + 50 + 3 * 10 + 2 * 1 + 7
SESSIONS = [  # the sessions that start on the day (what analytics/sessions.py gives)
    {"session_id": "b", "user_id": None, "is_bot": True, "requests": 1},
    {"session_id": "c1", "user_id": "u1", "is_bot": False, "requests": 2},
    {"session_id": "c2", "user_id": "u1", "is_bot": False, "requests": 1},
    {"session_id": "d", "user_id": "u2", "is_bot": False, "requests": 2},
    {"session_id": "e", "user_id": None, "is_bot": True, "requests": 4},
]


def staged_requests() -> pl.DataFrame:
    rows = [
        {"source_file": "access.log", "line_number": n, "client_ip": ip, "user_agent": ua, "bytes": size,
         "requested_at": MIDNIGHT + timedelta(minutes=m), "method": "GET", "path": "/", "status": 200,
         "request_kind": "http"}
        for n, (ip, ua, m, size) in enumerate(STAGED, start=1)
    ]
    return pl.DataFrame([{name: row.get(name) for name in REQUESTS_SCHEMA} for row in rows], schema=REQUESTS_SCHEMA)


def users(*ids: str) -> pl.DataFrame:
    return pl.DataFrame([{"user_id": i, "status": "active"} for i in ids], schema=USERS_SCHEMA)


def consistent_outputs() -> dict[str, pl.DataFrame]:
    return {
        "sessions": pl.DataFrame(SESSIONS),
        "user_daily": pl.DataFrame([{"user_id": "u1", "requests": 3}, {"user_id": "u2", "requests": 2}]),
        "traffic_minute": pl.DataFrame({"requests": [5, 4]}),
        "status_daily": pl.DataFrame({"status": [200], "requests": [DAY_REQUESTS], "bytes": [DAY_BYTES]}),
        "endpoint_daily": pl.DataFrame({"path_template": ["/"], "hits": [DAY_REQUESTS]}),
        "ip_daily": pl.DataFrame({"requests": [2, 1, 3, 2, 1]}),
    }


def run(tmp_path: Path, frames: dict[str, pl.DataFrame], variables: dict[str, str] | None = None) -> dict[str, Any]:
    """Write the frames as Parquet, run the contract; {check: (outcome, measured)} or the run error."""
    paths = {}
    for name, frame in frames.items():
        paths[name] = tmp_path / f"{name}.parquet"
        frame.write_parquet(paths[name])
    report = verify_cross_table(paths, VARIABLES if variables is None else variables)
    assert report.infrastructure_error is None, report.infrastructure_error
    return {r.check_name: (r.outcome, r.measured_value) for r in report.results}


def inputs(**overrides: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {"requests": staged_requests(), "users": users("u1", "u2"), **consistent_outputs(), **overrides}


def problems(results: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in results.items() if value[0] != "PASSED"}


def test_consistent_tables_pass_every_check(tmp_path: Path) -> None:
    results = run(tmp_path, inputs())
    assert problems(results) == {}
    assert len(results) == 10


def test_junk_request_lines_count_in_the_totals_but_make_no_session(tmp_path: Path) -> None:
    """Two empty requests ('-' 400) of device C at 10:02 and 10:50: without them as requests of a
    session, C keeps its two sessions (10:00-10:05, 12:00); they are in every total and under (empty)."""
    junk = pl.DataFrame(
        [{"source_file": "access.log", "line_number": 100 + i, "client_ip": "10.0.0.3", "user_agent": "ua-c",
          "bytes": 0, "requested_at": MIDNIGHT + timedelta(minutes=m), "status": 400, "request": "-",
          "request_kind": "empty"} for i, m in enumerate((602, 650))],
        schema=REQUESTS_SCHEMA,
    )
    request_count = DAY_REQUESTS + 2
    outputs = inputs(
        requests=pl.concat([staged_requests(), junk]),
        traffic_minute=pl.DataFrame({"requests": [5, 6]}),
        status_daily=pl.DataFrame({"status": [200, 400], "requests": [DAY_REQUESTS, 2], "bytes": [DAY_BYTES, 0]}),
        endpoint_daily=pl.DataFrame({"path_template": ["/", "(empty)"], "hits": [DAY_REQUESTS, 2]}),
        ip_daily=pl.DataFrame({"requests": [2, 1, 5, 2, 1]}),
    )
    assert problems(run(tmp_path, outputs)) == {}
    assert sum(outputs["ip_daily"]["requests"]) == request_count
    # counted as a plain endpoint instead: the junk-template check measures the difference
    wrong = pl.DataFrame({"path_template": ["/"], "hits": [request_count]})
    assert problems(run(tmp_path, {**outputs, "endpoint_daily": wrong})) == {
        "endpoint_daily_junk_templates_match_staged": ("FAILED", -2)
    }


def test_a_lost_minute_trips_the_traffic_total_with_the_difference(tmp_path: Path) -> None:
    results = run(tmp_path, inputs(traffic_minute=pl.DataFrame({"requests": [5]})))
    assert problems(results) == {"traffic_minute_requests_match_staged": ("FAILED", -4)}


def test_status_endpoint_and_ip_totals(tmp_path: Path) -> None:
    results = run(
        tmp_path,
        inputs(
            status_daily=pl.DataFrame({"status": [200], "requests": [DAY_REQUESTS + 1], "bytes": [DAY_BYTES - 2]}),
            endpoint_daily=pl.DataFrame({"path_template": ["/"], "hits": [DAY_REQUESTS - 1]}),
            ip_daily=pl.DataFrame({"requests": [2, 1, 3, 2, 1, 4]}),
        ),
    )
    assert problems(results) == {
        "status_daily_requests_match_staged": ("FAILED", 1),
        "status_daily_bytes_match_staged": ("FAILED", -2),
        "endpoint_daily_hits_match_staged": ("FAILED", -1),
        "ip_daily_requests_match_staged": ("FAILED", 4),
    }


def test_sessions_must_hold_every_request_of_the_sessions_begun_on_the_day(tmp_path: Path) -> None:
    missing_bot_session = pl.DataFrame([s for s in SESSIONS if s["session_id"] != "b"])
    results = run(tmp_path, inputs(sessions=missing_bot_session))
    assert problems(results) == {"sessions_requests_match_staged": ("FAILED", -1)}


def test_split_at_midnight_cuts_both_sessions_crossing_it(tmp_path: Path) -> None:
    results = run(tmp_path, inputs(), {**VARIABLES, "SESSION_CARRY_OVER_MINUTES": "0"})
    # A's 00:10 and 00:20 become a session of the day (+2); E ends at midnight with 1 request (-3)
    assert problems(results) == {"sessions_requests_match_staged": ("FAILED", 10 - 9)}


def test_a_session_is_cut_where_it_passes_the_carry_over(tmp_path: Path) -> None:
    results = run(tmp_path, inputs(), {**VARIABLES, "SESSION_CARRY_OVER_MINUTES": "60"})
    assert problems(results) == {"sessions_requests_match_staged": ("FAILED", 1)}  # E's 01:10 opens a session


def test_a_wider_gap_joins_b_to_its_evening_session(tmp_path: Path) -> None:
    results = run(tmp_path, inputs(), {**VARIABLES, "SESSION_GAP_MINUTES": "180"})
    assert problems(results) == {"sessions_requests_match_staged": ("FAILED", 1)}  # B's request is carried in


def test_user_daily_must_match_the_human_sessions_of_known_users(tmp_path: Path) -> None:
    user_daily = pl.DataFrame([{"user_id": "u1", "requests": 3}])
    results = run(tmp_path, inputs(user_daily=user_daily))
    assert problems(results) == {"user_daily_requests_match_sessions": ("FAILED", -2)}


def test_unknown_users_only_warn(tmp_path: Path) -> None:
    results = run(tmp_path, inputs(users=users("u1")))
    assert problems(results) == {
        "sessions_user_id_in_users": ("WARN", 1),
        "user_daily_user_id_in_users": ("WARN", 1),
    }


def test_without_a_users_snapshot_references_are_not_measured(tmp_path: Path) -> None:
    assert problems(run(tmp_path, inputs(users=users()))) == {}


def test_every_source_is_required(tmp_path: Path) -> None:
    paths = {name: tmp_path / f"{name}.parquet" for name in CROSS_TABLE_SOURCES if name != "ip_daily"}
    report = verify_cross_table(paths, VARIABLES)
    assert report.infrastructure_error == "missing input: no Parquet path for ip_daily"


@pytest.mark.parametrize("missing", ["DAY", "SESSION_GAP_MINUTES"])
def test_every_variable_is_required(tmp_path: Path, missing: str) -> None:
    paths = {}
    for name, frame in inputs().items():
        paths[name] = tmp_path / f"{name}.parquet"
        frame.write_parquet(paths[name])
    report = verify_cross_table(paths, {k: v for k, v in VARIABLES.items() if k != missing})
    assert report.infrastructure_error and missing in report.infrastructure_error
    assert not report.has_blocking_failure


def day_session_requests(rows: list[tuple[str, str | None, datetime]], gap_minutes: int, carry_minutes: int) -> int:
    """The session rule of analytics/sessions.py, request by request: the requests of the sessions begun on DAY."""
    gap, carry, day = gap_minutes * 60_000_000, carry_minutes * 60_000_000, 86_400_000_000
    day_start = int(MIDNIGHT.timestamp()) * 1_000_000
    devices: dict[tuple[str, str], list[int]] = {}
    for ip, agent, at in rows:
        devices.setdefault((ip, agent or ""), []).append(int(at.timestamp()) * 1_000_000)
    counted = 0
    for times in devices.values():
        sessions: list[list[int]] = []  # [first request, requests]
        previous = island_start = part = None
        for at in sorted(times):
            gap_start = previous is None or at - previous > gap
            island_start = at if gap_start else island_start
            at_part = max(0, (at - carry - (island_start - island_start % day)) // day)
            if gap_start or at_part != part:
                sessions.append([at, 0])
            sessions[-1][1] += 1
            previous, part = at, at_part
        counted += sum(requests for first, requests in sessions if day_start <= first < day_start + day)
    return counted


@pytest.mark.parametrize(("seed", "gap_minutes", "carry_minutes"),
                         [(1, 30, 120), (2, 30, 0), (3, 30, 60), (4, 180, 120), (5, 5, 120), (6, 30, 1500)])
def test_the_session_recount_agrees_with_the_rule_request_by_request(
    tmp_path: Path, seed: int, gap_minutes: int, carry_minutes: int
) -> None:
    """Random days (the day and 2 h on both sides, whole minutes so that requests tie, a device's user
    agent missing or empty alike) against the rule applied one request after the other."""
    generator = random.Random(seed)
    rows = [(f"10.0.0.{generator.randint(1, 6)}", generator.choice(["ua-a", "ua-b", None, ""]),
             MIDNIGHT + timedelta(minutes=generator.randint(-120, 1440 + 120))) for _ in range(400)]
    requests = pl.DataFrame(
        [{name: row.get(name) for name in REQUESTS_SCHEMA}
         for row in ({"source_file": "access.log", "line_number": number, "client_ip": ip, "user_agent": agent,
                      "requested_at": at, "method": "GET", "path": "/", "status": 200, "bytes": 1,
                      "request_kind": "http"} for number, (ip, agent, at) in enumerate(rows, start=1))],
        schema=REQUESTS_SCHEMA,
    )
    variables = {**VARIABLES, "SESSION_GAP_MINUTES": str(gap_minutes), "SESSION_CARRY_OVER_MINUTES": str(carry_minutes)}
    no_sessions = pl.DataFrame({"session_id": ["none"], "user_id": [None], "is_bot": [True], "requests": [0]})
    results = run(tmp_path, inputs(requests=requests, sessions=no_sessions), variables)
    expected = day_session_requests(rows, gap_minutes, carry_minutes)
    assert expected > 0
    assert results["sessions_requests_match_staged"][1] == -expected
