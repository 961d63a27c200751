"""endpoint_daily folds rare 404s into {unmatched-404}; indexed text keys are bounded in characters and bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession, functions

from analytics import contracts, performance
from analytics.hosts import normalize_host
from analytics.paths import path_template
from tests.analytics_day import analysis

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)


def req(path: str, status: int, method: str = "GET", ms: float = 10.0) -> dict[str, Any]:
    return {"client_ip": "1.1.1.1", "requested_at": T0 + timedelta(seconds=1), "path": path, "status": status,
            "method": method, "request_time_ms": ms}


def test_rare_404s_fold_per_method(frames: Any) -> None:
    rows = (
        [req(f"/probe-{i}", 404) for i in range(3)]  # three scanner probes, one hit each
        + [req("/wp-login.php", 404, "POST")]  # another method: its own folded row
        + [req("/broken-link", 404) for _ in range(5)]  # a broken link seen 5 times: kept
        + [req("/rare", 200, ms=1.0), req("/rare", 404, ms=3.0)]  # 2 hits: the 404 folds, the 200 stays
        + [req(f"/product/{i}", 404 if i == 0 else 200) for i in range(6)]  # a busy template keeps its 404
    )
    day = analysis(frames.requests(rows))
    got = {(r.method, r.path_template): (r.hits, r.p50_ms) for r in day.tables()["endpoint_daily"].collect()}
    assert got == {
        ("GET", "{unmatched-404}"): (4, 10.0),  # /probe-0..2 and the 404 of /rare: p50 of 10, 10, 10, 3
        ("POST", "{unmatched-404}"): (1, 10.0),
        ("GET", "/broken-link"): (5, 10.0),
        ("GET", "/rare"): (1, 1.0),
        ("GET", "/product/{id}"): (6, 10.0),
    }
    unfolded = performance.endpoint_daily(day.per_line, rare_404_hits=0)
    assert unfolded.count() == 7 and unfolded.agg(functions.sum("hits")).first()[0] == len(rows)


def test_keys_are_bounded(spark: SparkSession) -> None:
    long_path = "/a" * 3000
    wide_path = "/" + "\u20ac" * 1500  # 3 bytes per character: 1024 characters would be 3072 bytes
    df = spark.createDataFrame(
        [(long_path, "x" * 500, "www." + "h" * 400 + ".example:8080"), (wide_path, "u1", "Shop.Example.")],
        "path string, user_id string, host string",
    )
    out = df.select(
        path_template("path").alias("t"),
        contracts.bounded_text(functions.col("user_id"), contracts.MAX_USER_ID_CHARS).alias("u"),
        normalize_host(functions.col("host")).alias("h"),
    ).collect()
    assert out[0].t == long_path[: contracts.MAX_PATH_TEMPLATE_CHARS]
    assert len(out[0].u) == contracts.MAX_USER_ID_CHARS and len(out[0].h) == contracts.MAX_HOST_CHARS
    assert len(out[1].t.encode()) <= contracts.MAX_KEY_BYTES and out[1].t == wide_path[: contracts.MAX_KEY_BYTES // 4]
    assert (out[1].u, out[1].h) == ("u1", "shop.example")
