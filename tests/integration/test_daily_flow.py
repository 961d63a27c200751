"""The daily flow on sample_logs/ against real Prefect, real Spark and the real embedded PostgreSQL.

Expected values come from the generator's ground truth (sample_logs/ground_truth.json), never from
the pipeline itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from config.settings import SAMPLE_DIR, WebtrailSettings

pytestmark = pytest.mark.integration

DAILY_TABLES = (
    "sessions", "user_daily", "page_daily", "funnel_daily", "client_daily", "referrer_daily",
    "traffic_minute", "endpoint_daily", "status_daily", "security_findings", "ip_daily", "rejected_lines",
)


@pytest.fixture(scope="module")
def ground_truth() -> dict[str, Any]:
    return json.loads((SAMPLE_DIR / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def data_dir(service_tmp_dir: Path, prefect_harness: None, spark) -> Iterator[Path]:
    """A fresh data directory; the flow starts its own embedded PostgreSQL under it."""
    from warehouse.embedded import stop_embedded

    path = service_tmp_dir / "webtrail-data"
    path.mkdir()
    yield path
    stop_embedded(path / "postgres")


@pytest.fixture(scope="module")
def first_run(data_dir: Path, monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    from flows.daily import daily

    monkeypatch_module.setenv("WEBTRAIL_DATA_DIR", str(data_dir))
    monkeypatch_module.delenv("WEBTRAIL_DATABASE_URL", raising=False)
    return daily()


def _conn(data_dir: Path):
    from warehouse.connect import connect
    from warehouse.embedded import database_url

    return connect(database_url(WebtrailSettings(data_dir=data_dir)))


def _scalar(conn, sql: str, *params: object) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def _snapshot(conn, day: date) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every daily table for the day."""
    out = {}
    for table in DAILY_TABLES:
        out[table] = (
            _scalar(conn, f"SELECT count(*) FROM webtrail.{table} WHERE day = %s", day),  # noqa: S608
            _scalar(
                conn,
                f"SELECT coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') "  # noqa: S608
                f"FROM webtrail.{table} t WHERE day = %s",
                day,
            ),
        )
    return out


def test_counts_match_ground_truth(first_run: dict[str, Any], data_dir: Path, ground_truth: dict) -> None:
    day = date.fromisoformat(ground_truth["date"])
    assert first_run["day"] == ground_truth["date"]
    assert first_run["lines_read"] == ground_truth["lines"]
    assert first_run["lines_rejected"] == ground_truth["rejected_lines"]
    assert first_run["lines_parsed"] == ground_truth["parsed_requests"]
    with _conn(data_dir) as conn:
        run = conn.cursor()
        run.execute(
            "SELECT status, lines_read, lines_parsed, lines_rejected FROM webtrail.pipeline_runs WHERE day = %s",
            (day,),
        )
        assert run.fetchall() == [
            ("completed", ground_truth["lines"], ground_truth["parsed_requests"], ground_truth["rejected_lines"])
        ]
        assert _scalar(conn, "SELECT sum(requests) FROM webtrail.traffic_minute WHERE day = %s", day) == (
            ground_truth["parsed_requests"]
        )
        assert _scalar(conn, "SELECT sum(bytes) FROM webtrail.status_daily WHERE day = %s", day) == (
            ground_truth["total_bytes"]
        )
        run.execute("SELECT status, requests FROM webtrail.status_daily WHERE day = %s", (day,))
        assert {str(s): n for s, n in run.fetchall()} == ground_truth["status_counts"]
        run.execute(
            "SELECT source_file LIKE '%%.jsonl', count(*) FROM webtrail.rejected_lines WHERE day = %s GROUP BY 1",
            (day,),
        )
        expected = {False: ground_truth["rejected_lines"], True: ground_truth["events"]["malformed"]}
        assert dict(run.fetchall()) == expected


def test_sessions_match_ground_truth(first_run: dict[str, Any], data_dir: Path, ground_truth: dict) -> None:
    day = date.fromisoformat(ground_truth["date"])
    assert first_run["human_sessions"] == ground_truth["human_sessions"]
    with _conn(data_dir) as conn:
        assert _scalar(
            conn, "SELECT count(*) FROM webtrail.sessions WHERE day = %s AND NOT is_bot", day
        ) == ground_truth["human_sessions"]
        human_requests = _scalar(
            conn, "SELECT sum(requests) FROM webtrail.sessions WHERE day = %s AND NOT is_bot", day
        )
        assert human_requests == ground_truth["human_requests"]


def test_every_attacker_found_with_its_category(
    first_run: dict[str, Any], data_dir: Path, ground_truth: dict
) -> None:
    day = date.fromisoformat(ground_truth["date"])
    with _conn(data_dir) as conn, conn.cursor() as cur:
        cur.execute("SELECT client_ip, category FROM webtrail.security_findings WHERE day = %s", (day,))
        found: dict[str, set[str]] = {}
        for ip, category in cur.fetchall():
            found.setdefault(ip, set()).add(category)
        cur.execute("SELECT count(*) FROM webtrail.security_findings WHERE evidence = '[]'::jsonb")
        assert cur.fetchone()[0] == 0, "every finding carries evidence"
    for attacker in ground_truth["attackers"]:
        missing = set(attacker["categories"]) - found.get(attacker["ip"], set())
        assert not missing, f"{attacker['ip']}: categories {missing} not found (found {found.get(attacker['ip'])})"
    attacker_ips = {a["ip"] for a in ground_truth["attackers"]}
    assert set(found) <= attacker_ips, f"findings on benign IPs: {set(found) - attacker_ips}"


def test_rerun_is_skipped_and_forced_rerun_changes_nothing(
    first_run: dict[str, Any], data_dir: Path, ground_truth: dict
) -> None:
    from flows.daily import daily

    day = date.fromisoformat(ground_truth["date"])
    with _conn(data_dir) as conn:
        before = _snapshot(conn, day)
    empty = [table for table, (rows, _) in before.items() if rows == 0]
    assert not empty, f"tables without rows for the sample day: {empty}"
    assert daily()["status"] == "skipped"
    forced = daily(force=True)
    assert forced["status"] == "completed"
    with _conn(data_dir) as conn:
        assert _snapshot(conn, day) == before
        assert _scalar(conn, "SELECT count(*) FROM webtrail.pipeline_runs WHERE day = %s", day) == 2


def test_the_html_report_is_written_and_published_as_artifacts(first_run: dict[str, Any], data_dir: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    report = Path(first_run["html_report"])
    assert report == data_dir.resolve() / "reports" / f"{first_run['day']}.html"
    assert report.stat().st_size > 100_000
    with get_client(sync_client=True) as client:
        keys = ArtifactFilterKey(any_=["webtrail-html-report", "webtrail-daily-report"])
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=keys))
    latest = {}
    for artifact in sorted(found, key=lambda a: a.created):
        latest[artifact.key] = artifact
    # Prefect stores a link artifact as the markdown link [text](url)
    link = str(latest["webtrail-html-report"].data)
    assert link == f"[webtrail report {first_run['day']} ({report.name})]({report.as_uri()})"
    assert "HTML report with charts" in str(latest["webtrail-daily-report"].data)
