"""With only a Prefect Secret block configured (as the README recommends for deployments), every
entry point reads the database the block names: the investigate command, the backfill's skip check,
`warehouse.show`, the blocklist and the notebook client. Before the gateway, only the daily flow
honoured the block and these silently read a fresh embedded database instead.

The block is a real `Secret` saved on a temporary Prefect API; the database it names is a second
database on the session's PostgreSQL holding one loaded day and one finding.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extras import Json

from warehouse.connect import connect, redact, url_with_database
from warehouse.migrate import migrate

pytestmark = pytest.mark.integration

DAY = date(2026, 10, 14)
IP = "198.51.100.77"
BLOCK = "webtrail-secret-block-test"


@pytest.fixture(scope="module")
def configured_url(pg_server: str) -> Iterator[str]:
    """A second, migrated database holding DAY from a completed run and one finding of IP."""
    name = f"wt_secret_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_with_database(pg_server, name)
    conn = connect(url)
    migrate(conn)
    run_id = str(uuid.uuid4())
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO webtrail.pipeline_runs (run_id, day, status, started_at, finished_at) "
            "VALUES (%s, %s, 'completed', now(), now())",
            (run_id, DAY),
        )
        cur.execute(
            "INSERT INTO webtrail.day_loads (day, run_id, input_sha256, tables) VALUES (%s, %s, %s, %s)",
            (DAY, run_id, ["sha"], ["security_findings"]),
        )
        cur.execute(
            "INSERT INTO webtrail.security_findings (day, client_ip, category, rule_id, severity, first_seen_at,"
            " last_seen_at, request_count, distinct_paths, evidence)"
            " VALUES (%s, %s, 'scanner', 'scanner-ua', 'high', %s, %s, 12, 9, %s)",
            (DAY, IP, f"{DAY}T10:00:00+00:00", f"{DAY}T10:05:00+00:00", Json({"user_agent": "sqlmap"})),
        )
    conn.close()
    yield url
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


@pytest.fixture()
def only_secret_block(
    prefect_harness: None, configured_url: str, service_tmp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """No URL anywhere, only WEBTRAIL_DATABASE_SECRET_BLOCK; an empty data dir of its own (where the
    embedded server would start if an entry point ignored the block)."""
    from prefect.blocks.system import Secret

    Secret(value=configured_url).save(BLOCK, overwrite=True)
    data_dir = service_tmp_dir / f"secret-block-data-{uuid.uuid4().hex[:6]}"
    data_dir.mkdir()
    monkeypatch.delenv("WEBTRAIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("WEBTRAIL_DATABASE_SECRET_BLOCK", BLOCK)
    monkeypatch.setenv("WEBTRAIL_DATA_DIR", str(data_dir))
    return configured_url


def test_warehouse_show_reads_the_configured_database(
    only_secret_block: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from warehouse.show import main

    assert main(["--url"]) == 0
    assert capsys.readouterr().out.strip() == redact(only_secret_block)
    assert main(["day_loads"]) == 0
    shown = capsys.readouterr().out
    assert DAY.isoformat() in shown and "(1 rows)" in shown


def test_investigate_reads_the_configured_database(
    only_secret_block: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.investigate import run_direct

    assert run_direct(["--ip", IP, "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    # No window given: the newest loaded day of the configured database, and its finding.
    assert summary["start"].startswith(DAY.isoformat())
    assert summary["findings"] == 1


def test_the_backfill_skips_the_days_the_configured_database_holds(
    only_secret_block: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow

    import flows.backfill

    ran: list[date] = []

    @flow(name="webtrail-daily-stand-in")
    # params: a stand-in with the real daily flow's parameters
    def daily(day: date, access_log: Any = None, events: Any = None, users_db: Any = None,
              database_url: Any = None, force: bool = False, events_api: Any = None) -> dict[str, str]:
        ran.append(day)
        return {"day": day.isoformat(), "status": "completed"}

    monkeypatch.setattr(flows.backfill, "daily", daily)
    outcome = flows.backfill.backfill(start=DAY, end=date(2026, 10, 15), concurrency=1)
    assert outcome == {"2026-10-14": "skipped (already loaded)", "2026-10-15": "completed"}
    assert ran == [date(2026, 10, 15)]


def test_blocklist_and_client_read_the_configured_database(
    only_secret_block: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import webtrail
    from flows.blocklist import run_direct

    assert run_direct(["--format", "json", "--out", "-"]) == 0
    assert IP in capsys.readouterr().out
    with webtrail.connect() as client:
        assert client.database_url() == only_secret_block
