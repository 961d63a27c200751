"""Sessionization (gaps, ties, users, bots, midnight) and the session-based behavior tables."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pyspark.sql import functions

from analytics import behavior
from analytics.day import DayAnalysis
from analytics.sessions import SESSION_KEY, flag_bots
from config.settings import SessionSettings
from tests.analytics_day import analysis

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
HUMAN = "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
OTHER = "OtherUA/1.0"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def req(ip: str, seconds: float, path: str, line: int, ua: str = HUMAN, referer: str | None = None) -> dict[str, Any]:
    return {
        "client_ip": ip,
        "requested_at": at(seconds),
        "path": path,
        "line_number": line,
        "user_agent": ua,
        "referer": referer,
    }


REQUESTS = [
    # A: gap of exactly 30 min stays, 30 min + 1 s starts a new (single-hit) session
    req("1.1.1.1", 0, "/product/1", 1, referer="https://www.Google.com/search?q=x"),
    req("1.1.1.1", 1, "/static/app.css", 2, referer="https://shop.example/product/1"),
    req("1.1.1.1", 1800, "/product/2", 3, referer="https://shop.example/product/1"),
    req("1.1.1.1", 3601, "/about", 4),
    # same IP, other user agent: another device
    req("1.1.1.1", 60, "/f", 5, ua=OTHER),
    # B: identical timestamps ordered by line; a login in the middle attributes the whole session
    req("2.2.2.2", 100, "/b", 11),
    req("2.2.2.2", 100, "/a", 10),
    req("2.2.2.2", 200, "/c", 12),
    # C: bot by user agent; D: bot by automated IP
    req("3.3.3.3", 10, "/bot", 20, ua=BOT),
    req("4.4.4.4", 10, "/d", 21),
    # E: crosses midnight (23:50 -> 00:10 of the next day): its session belongs to this day, whole
    req("5.5.5.5", 49800, "/e1", 30),
    req("5.5.5.5", 51000, "/e2", 31),
]
EVENTS = [
    {"client_ip": "2.2.2.2", "occurred_at": at(150), "event_type": "login_success", "user_id": "u1"},
    {"client_ip": "2.2.2.2", "occurred_at": at(160), "event_type": "purchase", "user_id": "u1"},
    {"client_ip": "2.2.2.2", "occurred_at": at(500), "event_type": "login_success", "user_id": "u2"},
]
UAS = [
    {"user_agent": HUMAN, "browser_family": "Firefox", "os_family": "Linux", "device_type": "desktop", "is_bot": False},
    {"user_agent": BOT, "browser_family": "Googlebot", "os_family": "Other", "device_type": "bot", "is_bot": True},
]


def device(ip: str, ua: str) -> str:
    return hashlib.sha256(f"{ip}\x1f{ua}".encode()).hexdigest()


def _sessionized(inputs: tuple[Any, ...], settings: SessionSettings) -> tuple[DayAnalysis, Any]:
    """(the day's analysis, its sessions with 4.4.4.4 as the automated IP) of 2026-05-01."""
    requests, user_agents, events, users, automated_ips = inputs
    day = analysis(requests, events, None, users=users, user_agents=user_agents, day=T0.date(), sessions=settings,
                   site_hosts=["shop.example"])
    automated = automated_ips.join(day.facts.clients.withColumnRenamed("key", "client_key"), "client_ip")
    return day, flag_bots(day.unflagged_sessions, automated)


@pytest.fixture(scope="module")
def sessionized(frames: Any, spark: Any):
    inputs = (
        frames.requests(REQUESTS),
        frames.user_agents(UAS),
        frames.events(EVENTS),
        frames.users([{"user_id": "u1", "plan": "pro", "country": "DE"}]),
        spark.createDataFrame([("4.4.4.4",)], "client_ip string"),
    )
    off_day, off_sessions = _sessionized(inputs, SessionSettings())
    _, on_sessions = _sessionized(inputs, SessionSettings(split_at_midnight=True))
    sessions = off_sessions.cache()
    return (
        off_day,
        sessions,
        {(r.client_ip, r.user_agent, r.started_at.astimezone(UTC)): r for r in sessions.collect()},
        on_sessions,
    )


def test_sessions(sessionized) -> None:
    _, _, session_by_key, _ = sessionized
    assert len(session_by_key) == 7
    a1, a2 = session_by_key[("1.1.1.1", HUMAN, at(0))], session_by_key[("1.1.1.1", HUMAN, at(3601))]
    assert (a1.requests, a1.page_views, a1.duration_ms, a1.is_bounce, a1.ended_at.astimezone(UTC)) == (
        3,
        2,
        1_800_000,
        False,
        at(1800),
    )
    assert (a1.entry_path, a1.exit_path, a1.referrer_domain, a1.bytes) == (
        "/product/{id}",
        "/product/{id}",
        "google.com",
        300,
    )
    assert (a2.requests, a2.duration_ms, a2.is_bounce, a2.referrer_domain) == (1, 0, True, None)
    vk = device("1.1.1.1", HUMAN)
    assert a1.visitor_key == vk and a1.user_id is None and not a1.is_bot and a1.browser_family == "Firefox"
    assert a1.session_id == hashlib.sha256(f"{vk}\x1f2026-05-01T10:00:00.000000Z\x1f{vk}".encode()).hexdigest()[:32]
    signed_in = session_by_key[("2.2.2.2", HUMAN, at(100))]
    assert (
        signed_in.requests, signed_in.entry_path, signed_in.exit_path, signed_in.user_id, signed_in.visitor_key
    ) == (3, "/a", "/c", "u1", "u1")
    assert (signed_in.user_plan, signed_in.user_country) == ("pro", "DE")
    assert session_by_key[("3.3.3.3", BOT, at(10))].is_bot and session_by_key[("4.4.4.4", HUMAN, at(10))].is_bot
    unknown_browser = session_by_key[("1.1.1.1", OTHER, at(60))]
    assert (unknown_browser.browser_family, unknown_browser.is_bot, unknown_browser.visitor_key) == (
        None,
        False,
        device("1.1.1.1", OTHER),
    )
    assert session_by_key[("5.5.5.5", HUMAN, at(49800))].requests == 2


def test_request_assignment_and_midnight_split(sessionized) -> None:
    day, sessions, _, on = sessionized
    assigned = day.frame.where(functions.col("seq").isNotNull()).groupBy(*SESSION_KEY).count()
    per_session = assigned.join(sessions.select(*SESSION_KEY, "requests"), list(SESSION_KEY))
    assert per_session.count() == 7
    assert per_session.where(functions.col("count") != functions.col("requests")).count() == 0
    # split at midnight: the 23:50 request is a session of this day, the 00:10 one starts the next day's
    split = [(r.client_ip, r.requests) for r in on.where(functions.col("client_ip") == "5.5.5.5").collect()]
    assert split == [("5.5.5.5", 1)]


def test_page_daily(sessionized) -> None:
    day, sessions, _, _ = sessionized
    page_views = day.frame.where(functions.col("page_view"))
    got = {
        r.path_template: tuple(r)[1:]
        for r in behavior.page_daily(page_views, sessions, day.lookups.templates())
        .select(
            "path_template",
            "views",
            "unique_visitors",
            "entries",
            "exits",
            "bounces",
            "bounce_rate",
            "avg_time_on_page_ms",
        )
        .collect()
    }
    assert got == {
        "/product/{id}": (2, 1, 1, 1, 0, 0.0, 1_800_000.0),
        "/about": (1, 1, 1, 1, 1, 1.0, None),
        "/a": (1, 1, 1, 0, 0, 0.0, 0.0),
        "/b": (1, 1, 0, 0, 0, None, 100_000.0),
        "/c": (1, 1, 0, 1, 0, None, None),
        "/e1": (1, 1, 1, 0, 0, 0.0, 1_200_000.0),
        "/e2": (1, 1, 0, 1, 0, None, None),
        "/f": (1, 1, 1, 1, 1, 1.0, None),
    }


def test_user_client_referrer_daily(sessionized, frames: Any) -> None:
    _, sessions, _, _ = sessionized
    users = behavior.user_daily(sessions, frames.events(EVENTS)).collect()
    assert [(u.user_id, u.sessions, u.page_views, u.requests, u.events, u.purchases) for u in users] == [
        ("u1", 1, 3, 3, 2, 1)
    ]
    clients = {tuple(r)[:4]: tuple(r)[4:] for r in behavior.client_daily(sessions).collect()}
    assert clients == {
        ("Firefox", "Linux", "desktop", False): (9, 4, 3),
        ("Firefox", "Linux", "desktop", True): (1, 1, 1),
        ("Googlebot", "Other", "bot", True): (1, 1, 1),
        ("Other", "Other", "other", False): (1, 1, 1),
    }
    refs = {r.referrer_domain: (r.sessions, r.visitors) for r in behavior.referrer_daily(sessions).collect()}
    assert refs == {"google.com": (1, 1), "(direct)": (4, 4)}
