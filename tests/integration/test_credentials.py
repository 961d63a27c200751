"""The warehouse password reaches PostgreSQL and nothing else: not Prefect, logs, artifacts or stdout.

The flow run here also takes its events from a paged HTTP API (a server on 127.0.0.1) instead of the
sample's file, so the API path is covered end to end without another Spark run.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import psycopg2
import pytest
from psycopg2 import sql
from pydantic import SecretStr

from config.settings import SAMPLE_DIR, WebtrailSettings
from warehouse.connect import url_with_database

pytestmark = pytest.mark.integration

PASSWORD = f"Pw-{uuid.uuid4().hex[:12]}-x"


@pytest.fixture(scope="module")
def password_url(pg_server: str) -> Iterator[str]:
    """A login role with a password owning its own database, as a URL that carries the password."""
    role, database = "wt_writer", f"wt_cred_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)), (PASSWORD,))
        cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))
    url = url_with_database(pg_server, database).replace(
        "postgresql://postgres:@", f"postgresql://{role}:{quote(PASSWORD)}@"
    ).replace("postgresql://postgres@", f"postgresql://{role}:{quote(PASSWORD)}@")
    assert PASSWORD in url
    yield url
    with admin.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    admin.close()


@pytest.fixture(scope="module")
def events_api() -> Iterator[tuple[str, list[str]]]:
    """Serves the sample's event lines in pages of 400 with a cursor; yields (url, queries seen)."""
    lines = (SAMPLE_DIR / "events.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if _is_json(line)]
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            query = parse_qs(urlsplit(self.path).query)
            seen.append(urlsplit(self.path).query)
            start = int(query.get("cursor", ["0"])[0])
            page = {"events": records[start:start + 400]}
            if start + 400 < len(records):
                page["next_cursor"] = str(start + 400)
            body = json.dumps(page).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/events", seen
    server.shutdown()
    server.server_close()


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_secret_block_supplies_the_url(
    prefect_harness: None, password_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret
    from prefect.logging import disable_run_logger

    from tasks.warehouse import prepare_warehouse

    Secret(value=password_url).save("webtrail-test-db", overwrite=True)
    monkeypatch.delenv("WEBTRAIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("WEBTRAIL_DATABASE_SECRET_BLOCK", "webtrail-test-db")
    with disable_run_logger():
        url = prepare_warehouse.fn(WebtrailSettings(), None)
    assert url.url == password_url
    assert PASSWORD not in repr(url)
    with psycopg2.connect(password_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) > 0 FROM webtrail.schema_migrations")
        assert cur.fetchone()[0]


def test_password_appears_nowhere_after_a_run(
    prefect_harness: None, spark, password_url: str, service_tmp_dir: Path, events_api: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        LogFilter,
        LogFilterFlowRunId,
    )

    from flows.daily import daily

    data_dir = service_tmp_dir / "credentials-run"
    monkeypatch.setenv("WEBTRAIL_DATA_DIR", str(data_dir))
    monkeypatch.delenv("WEBTRAIL_DATABASE_SECRET_BLOCK", raising=False)
    api_url, api_queries = events_api
    state = daily(database_url=SecretStr(password_url), force=True, events=[], events_api=api_url, return_state=True)
    assert state.is_completed(), state.message
    flow_run_id = state.state_details.flow_run_id

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [flow_run_id]}))
    assert logs and artifacts, "the run produced logs and artifacts to inspect"
    stored = {
        "parameters": json.dumps(flow_run.parameters, default=str),
        "logs": "\n".join(log.message for log in logs),
        "artifacts": "\n".join(str(a.data) for a in artifacts),
        "task run names": " ".join(t.name for t in task_runs),
        "stdout": capsys.readouterr().out,
    }
    for place, text in stored.items():
        assert PASSWORD not in text and quote(PASSWORD) not in text, f"password leaked into {place}"
    with psycopg2.connect(password_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM webtrail.sessions")
        assert cur.fetchone()[0] > 0
        cur.execute("SELECT coalesce(string_agg(coalesce(error, ''), ''), '') FROM webtrail.pipeline_runs")
        assert PASSWORD not in cur.fetchone()[0]
        # events came from the API: every valid sample event (the file's duplicate line included) in 3 pages
        ground_truth = json.loads((SAMPLE_DIR / "ground_truth.json").read_text())
        cur.execute("SELECT events_read, events_rejected FROM webtrail.pipeline_runs")
        assert cur.fetchone() == (ground_truth["events"]["lines"] - ground_truth["events"]["malformed"], 0)
        cur.execute("SELECT count(*) FROM webtrail.funnel_daily WHERE visitors > 0")
        assert cur.fetchone()[0] > 0
    assert len(api_queries) == 3
    # the day plus the session overlap (2 h) on both sides
    assert parse_qs(api_queries[0]) == {"start": ["2026-11-23T22:00:00+00:00"], "end": ["2026-11-25T02:00:00+00:00"]}
