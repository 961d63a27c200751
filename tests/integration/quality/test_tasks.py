"""The quality tasks against real Prefect and a real embedded PostgreSQL reached through the URL form
warehouse.embedded writes (unix socket, percent-encoded `host` query parameter): the post-load check
`check_loaded`, and the retry policy (run errors retried, failed checks final)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg2
import pytest
from prefect import flow
from psycopg2 import sql

from checks.runner import ContractReport, ContractRunError, QualityGateError
from config import catalog
from config.catalog import ColumnType
from config.layout import OUTPUT_TABLES, DayLayout
from config.settings import WebtrailSettings
from warehouse.gateway import Warehouse
from warehouse.run_context import DayRun

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 24)
MOMENT = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
OVERRIDES: dict[str, Any] = {  # values inside the contracts' valid sets; the rest follows the column type
    "severity": "high", "category": "path_scan", "device_type": "desktop", "status": 404, "error_rate": 0.0,
    "errors": 0, "status_3xx": 0, "status_4xx": 0, "status_5xx": 0, "bounce_rate": 0.5,
    "conversion_from_previous": 0.5, "conversion_from_start": 0.5, "evidence": '{"paths": ["/.env"]}',
}
BY_TYPE: dict[ColumnType, Any] = {
    ColumnType.DATE: DAY, ColumnType.TEXT: "x", ColumnType.TEXT_LIST: ["u1"], ColumnType.JSON: "{}",
    ColumnType.INT32: 1, ColumnType.INT64: 1, ColumnType.FLOAT64: 1.0, ColumnType.BOOLEAN: False,
    ColumnType.TIMESTAMP: MOMENT,
}


def good_row(table: str) -> dict[str, Any]:
    """One row of `table` that satisfies its contract (types from the dataset catalog)."""
    return {c.name: OVERRIDES.get(c.name, BY_TYPE[c.type]) for c in catalog.dataset(table).columns}


@pytest.fixture(scope="module")
def warehouse_url(service_tmp_dir: Path, prefect_harness: None) -> Iterator[str]:
    """The embedded server's own URL (embedded_url), migrated, one good row per output table for DAY."""
    from warehouse.connect import connection
    from warehouse.embedded import embedded_url, stop_embedded
    from warehouse.migrate import migrate

    postgres_dir = service_tmp_dir / "quality-tasks" / "postgres"
    url = embedded_url(postgres_dir)
    with connection(url) as conn:
        migrate(conn)
        with conn.cursor() as cur:
            for table in OUTPUT_TABLES:
                row = good_row(table)
                cur.execute(
                    sql.SQL("INSERT INTO webtrail.{} ({}) VALUES ({})").format(
                        sql.Identifier(table),
                        sql.SQL(", ").join(map(sql.Identifier, row)),
                        sql.SQL(", ").join(sql.Placeholder() * len(row)),
                    ),
                    list(row.values()),
                )
        conn.commit()
    yield url
    stop_embedded(postgres_dir)


def quality_rows(url: str, run_id: UUID) -> dict[tuple[str, str], str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT dataset, check_name, outcome FROM webtrail.quality_results WHERE run_id = %s", (str(run_id),)
        )
        rows = {(dataset, check): outcome for dataset, check, outcome in cur.fetchall()}
    conn.close()
    return rows


@flow(name="test-check-loaded")
def loaded_gate(url: str, run_id: UUID, data_dir: str) -> list[ContractReport]:
    from tasks.quality import check_loaded

    return check_loaded(_run(url, run_id, data_dir))


@flow(name="test-check-inputs-retries")
def input_gate(url: str, data_dir: str, run_id: UUID) -> None:
    from tasks.quality import check_inputs

    gate = check_inputs.with_options(retry_delay_seconds=0)
    gate(_run(url, run_id, data_dir), [])


def _run(url: str, run_id: UUID, data_dir: str) -> DayRun:
    return DayRun(DayLayout(Path(data_dir), DAY), run_id, WebtrailSettings(), Warehouse(url))


def test_the_url_is_the_embedded_socket_form(warehouse_url: str) -> None:
    assert re.fullmatch(r"postgresql://postgres@/webtrail\?host=%2F[^&/]+&port=\d+", warehouse_url), warehouse_url


def test_loaded_tables_pass_and_are_stored_apart_from_the_parquet_results(
    warehouse_url: str, tmp_path: Path
) -> None:
    run_id = uuid4()
    reports = loaded_gate(warehouse_url, run_id, str(tmp_path))
    assert [r.dataset for r in reports] == [f"webtrail.{t}" for t in OUTPUT_TABLES]
    assert all(r.infrastructure_error is None for r in reports), [r.infrastructure_error for r in reports]
    assert {(r.dataset, c.check_name) for r in reports for c in r.results if c.outcome != "PASSED"} == set()
    stored = quality_rows(warehouse_url, run_id)
    assert {dataset for dataset, _ in stored} == {f"webtrail.{t}" for t in OUTPUT_TABLES}
    assert stored[("webtrail.sessions", "sessions_row_count")] == "PASSED"


def test_a_failure_after_the_load_fails_the_task_but_keeps_the_rows(warehouse_url: str, tmp_path: Path) -> None:
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("UPDATE webtrail.status_daily SET requests = 0 WHERE day = %s", (DAY,))
    conn.close()
    run_id = uuid4()
    with pytest.raises(QualityGateError) as raised:
        loaded_gate(warehouse_url, run_id, str(tmp_path))
    assert "webtrail.status_daily.requests_positive: measured 1, expected = 0" in str(raised.value)
    assert quality_rows(warehouse_url, run_id)[("webtrail.status_daily", "requests_positive")] == "FAILED"
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM webtrail.status_daily WHERE day = %s", (DAY,))
        assert cur.fetchone() == (1,)  # nothing is undone
    conn.close()


@pytest.fixture
def gate_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the attempts of a quality task (each attempt ends in raise_on_blocking)."""
    import tasks.quality

    calls: list[int] = []
    real: Callable[..., None] = tasks.quality.raise_on_blocking

    def counting(reports: Any) -> None:
        calls.append(1)
        real(reports)

    monkeypatch.setattr(tasks.quality, "raise_on_blocking", counting)
    return calls


def test_a_contract_that_could_not_run_is_retried(warehouse_url: str, tmp_path: Path, gate_calls: list[int]) -> None:
    run_id = uuid4()
    with pytest.raises(ContractRunError, match="missing input"):
        input_gate(warehouse_url, str(tmp_path), run_id)  # no staging files at all
    assert len(gate_calls) == 3  # first attempt + retries=2
    stored = quality_rows(warehouse_url, run_id)
    assert {key: outcome for key, outcome in stored.items() if outcome != "PASSED"} == {
        (dataset, "contract_run"): "ERROR" for dataset in ("requests", "events", "users")
    }


def test_a_failed_blocking_check_is_not_retried(warehouse_url: str, tmp_path: Path, gate_calls: list[int]) -> None:
    from parsers.schema import EVENTS_SCHEMA, REQUESTS_SCHEMA, USERS_SCHEMA, empty_frame

    layout = DayLayout(tmp_path, DAY)
    layout.staging.mkdir(parents=True)
    for path, schema in ((layout.requests, REQUESTS_SCHEMA), (layout.events, EVENTS_SCHEMA),
                         (layout.users, USERS_SCHEMA)):
        empty_frame(schema).write_parquet(path)
    with pytest.raises(QualityGateError, match="requests.requests_row_count: measured 0"):
        input_gate(warehouse_url, str(tmp_path), uuid4())
    assert len(gate_calls) == 1
