"""Funnel steps in order, exact latency percentiles (numpy 'linear' worked by hand), status tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics import behavior
from tests.analytics_day import analysis

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
STEPS = ["page_view:/product/", "add_to_cart", "checkout", "purchase"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(
    seconds: float, event_type: str, user: str | None, anon: str | None = None, path: str | None = None
) -> dict[str, Any]:
    return {"occurred_at": at(seconds), "event_type": event_type, "user_id": user, "anonymous_id": anon, "path": path}


def test_funnel(frames: Any) -> None:
    events = [
        ev(1, "page_view", "u1", path="/product/1"),
        ev(2, "add_to_cart", "u1"),
        ev(3, "checkout", "u1"),
        ev(4, "purchase", "u1"),
        # cart before the product view: only step 1
        ev(1, "add_to_cart", None, "a2"),
        ev(2, "page_view", None, "a2", "/product/2"),
        # skips checkout: steps 1-2
        ev(1, "page_view", None, "a3", "/home"),
        ev(2, "page_view", None, "a3", "/product/3"),
        ev(3, "add_to_cart", None, "a3"),
        ev(4, "purchase", None, "a3"),
        # same timestamp counts in order; the user id wins over the anonymous id
        ev(5, "page_view", "u4", "a4", "/product/4"),
        ev(5, "add_to_cart", "u4", "a4"),
        ev(6, "purchase", None, "a5"),
    ]
    got = [tuple(r) for r in behavior.funnel_daily(frames.events(events), STEPS).orderBy("step_number").collect()]
    assert got == [
        (1, "page_view:/product/", 4, None, 1.0),
        (2, "add_to_cart", 3, 0.75, 0.75),
        (3, "checkout", 1, pytest.approx(1 / 3), 0.25),
        (4, "purchase", 1, 1.0, 0.25),
    ]
    assert behavior.funnel_daily(frames.events([]), STEPS).count() == 0


def test_performance_tables(frames: Any) -> None:
    rows = [
        {
            "client_ip": "1.1.1.1",
            "requested_at": at(i),
            "path": f"/product/{i + 1}",
            "status": st,
            "request_time_ms": ms,
        }
        for i, (st, ms) in enumerate([(200, 10.0), (200, 20.0), (404, 30.0), (500, 40.0), (301, 100.0), (200, None)])
    ] + [
        {
            "client_ip": "2.2.2.2",
            "requested_at": at(70),
            "method": "POST",
            "path": "/api/cart",
            "status": 503,
            "request_time_ms": None,
        },
        {"client_ip": "2.2.2.2", "requested_at": at(10), "path": "/"},
    ]
    tables = analysis(frames.requests(rows)).tables()
    # numpy.percentile([10, 20, 30, 40, 100], [50, 95, 99]) == [30, 88, 97.6] (rank 0.95 * 4 = 3.8 -> 40 + 0.8 * 60)
    minutes = {r.minute_at.astimezone(UTC): r for r in tables["traffic_minute"].collect()}
    m0, m1 = minutes[at(0)], minutes[at(60)]
    assert (m0.requests, m0.bytes, m0.status_2xx, m0.status_3xx, m0.status_4xx, m0.status_5xx) == (7, 700, 4, 1, 1, 1)
    assert (m0.p50_ms, m0.p95_ms, m0.p99_ms, m0.unique_clients) == (30.0, pytest.approx(88.0), pytest.approx(97.6), 2)
    assert (m1.requests, m1.p50_ms, m1.p99_ms, m1.unique_clients) == (1, None, None, 1)
    ends = {(r.method, r.path_template): r for r in tables["endpoint_daily"].collect()}
    product = ends[("GET", "/product/{id}")]
    assert (product.hits, product.errors, product.error_rate, product.max_ms, product.bytes) == (
        6,
        1,
        pytest.approx(1 / 6),
        100.0,
        600,
    )
    assert (product.p50_ms, product.p95_ms, product.p99_ms) == (30.0, pytest.approx(88.0), pytest.approx(97.6))
    cart = ends[("POST", "/api/cart")]
    assert (cart.hits, cart.errors, cart.error_rate, cart.p50_ms, cart.max_ms) == (1, 1, 1.0, None, None)
    statuses = {r.status: (r.requests, r.bytes) for r in tables["status_daily"].collect()}
    assert statuses == {200: (4, 400), 301: (1, 100), 404: (1, 100), 500: (1, 100), 503: (1, 100)}
