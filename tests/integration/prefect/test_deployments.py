"""prefect.yaml and the alerts against a real Prefect server, worker and flow-run subprocesses.

One module-scoped stack: `prefect server start` (own PREFECT_HOME and SQLite database), the work
pool, `prefect --no-prompt deploy --all` from the repository root, `prefect worker start`, and a
webhook receiver on 127.0.0.1. The daily deployment then processes the bundled sample day in the
worker's subprocess (Spark and the embedded PostgreSQL included); the expected values come from
sample_logs/ground_truth.json. Every process the stack starts carries a marker in its environment,
so the teardown can prove that none of them (postgres, Spark's JVM, flow-run subprocesses) is left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from config.settings import SAMPLE_DIR, WebtrailSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
MARKER = "WEBTRAIL_TEST_STACK"
SERVER_START_TIMEOUT = 180
DAILY_RUN_TIMEOUT = 420
SHORT_RUN_TIMEOUT = 180
NOTIFY_TIMEOUT = 60
LOADED_TABLES = (
    "sessions", "user_daily", "page_daily", "funnel_daily", "client_daily", "referrer_daily", "traffic_minute",
    "endpoint_daily", "status_daily", "security_findings", "ip_daily",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """The running server and worker, their environment and log files."""

    root: Path
    api_url: str
    env: dict[str, str]
    data_dir: Path
    marker: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """A long-running `python -m prefect ...` in its own process group, output to <name>.log."""
        with open(self.log(name), "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", *args], cwd=REPO, env=self.env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.processes[name] = proc
        return proc

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """A short command from the repository root; fails the test with its output if it fails."""
        result = subprocess.run(
            list(args), cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        return result


def _stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM the process group, SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def _marked_processes(marker: str) -> list[Any]:
    """Live processes whose environment carries the stack's marker (children inherit it)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARKER) == marker and proc.status() != "zombie":
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _wait_healthy(stack: Stack, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"prefect server exited with {proc.returncode}:\n{stack.tail('server')}")
        try:
            if httpx.get(f"{stack.api_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    pytest.fail(f"prefect server not healthy after {SERVER_START_TIMEOUT}s:\n{stack.tail('server')}")


@pytest.fixture(scope="module")
def stack(service_tmp_dir: Path) -> Iterator[Stack]:
    """A real Prefect server on a free port with its own PREFECT_HOME; torn down without leftovers."""
    from warehouse.embedded import stop_embedded

    root = service_tmp_dir / "prefect-stack"
    (root / "home").mkdir(parents=True)
    data_dir = root / "data"
    data_dir.mkdir()
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WEBTRAIL_"))}
    env.update({
        MARKER: marker,
        "PREFECT_HOME": str(root / "home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "SODA_CORE_TELEMETRY_ENABLED": "false",
        "WEBTRAIL_DATA_DIR": str(data_dir),
        # The sample day lies in the past: a long ban keeps its blocklist entries from having expired.
        "WEBTRAIL_BLOCKLIST__BAN_HOURS": str(24 * 365 * 50),
        "PYTHONUNBUFFERED": "1",
    })
    stack = Stack(root=root, api_url=api_url, env=env, data_dir=data_dir, marker=marker)
    server = stack.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port))
    try:
        _wait_healthy(stack, server)
        yield stack
    finally:
        if "worker" in stack.processes:
            _stop(stack.processes["worker"])
        if (data_dir / "postgres").exists():
            stop_embedded(data_dir / "postgres")
        _stop(server)
        time.sleep(1)
        leaked = _marked_processes(marker)
        for proc in leaked:  # ours (marker), cleaned up so the session goes on, then reported
            proc.kill()
        assert not leaked, f"processes left behind: {[(p.pid, p.info.get('name')) for p in leaked]}"


class _Client:
    """A synchronous Prefect client bound to the stack's API (not to the test session's)."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url

    def __enter__(self) -> Any:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self._settings = temporary_settings(updates={PREFECT_API_URL: self.api_url})
        self._settings.__enter__()
        self._client = get_client(sync_client=True)
        return self._client.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._client.__exit__(*exc)
        self._settings.__exit__(*exc)


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> Stack:
    """The work pool, every deployment of prefect.yaml (deployed from the repository root) and a worker."""
    prefect = [sys.executable, "-m", "prefect"]
    stack.run(*prefect, "work-pool", "create", "webtrail-pool", "--type", "process")
    stack.run(*prefect, "--no-prompt", "deploy", "--all", timeout=300)
    stack.start("worker", "worker", "start", "--pool", "webtrail-pool")
    return stack


def _trigger(stack: Stack, deployment: str, parameters: dict[str, Any] | None = None) -> UUID:
    with _Client(stack.api_url) as client:
        found = client.read_deployment_by_name(deployment)
        return client.create_flow_run_from_deployment(found.id, parameters=parameters or {}).id


def _wait_final(stack: Stack, flow_run_id: UUID, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    with _Client(stack.api_url) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(flow_run_id)
            if run.state is not None and run.state.is_final():
                return run
            worker = stack.processes.get("worker")
            if worker is not None and worker.poll() is not None:
                pytest.fail(f"the worker exited with {worker.returncode}:\n{stack.tail('worker')}")
            time.sleep(2)
    pytest.fail(f"flow run {flow_run_id} not finished after {timeout}s:\n{stack.tail('worker', 80)}")


def _artifacts(stack: Stack, flow_run_id: UUID) -> dict[str, Any]:
    """key -> data of the flow run's artifacts (and of its subflows' when they share the run)."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with _Client(stack.api_url) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a.data for a in found if a.key}


def _table(data: Any) -> list[dict[str, Any]]:
    return json.loads(data) if isinstance(data, str) else data


@pytest.fixture(scope="module")
def ground_truth() -> dict[str, Any]:
    return json.loads((SAMPLE_DIR / "ground_truth.json").read_text())


class _Receiver:
    """A webhook endpoint on 127.0.0.1 that records every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.changed:
                    receiver.bodies.append(json.loads(body or b"{}"))
                    receiver.changed.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/webtrail"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, predicate: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                hits = [b for b in self.bodies if predicate(b)]
                if hits:
                    return hits[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"no matching notification within {timeout}s; received: {self.bodies}")
                self.changed.wait(remaining)


@pytest.fixture(scope="module")
def receiver() -> Iterator[_Receiver]:
    hook = _Receiver()
    hook.thread.start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture(scope="module")
def daily_run(deployed: Stack) -> UUID:
    """The daily deployment triggered with no parameters (the sample day); not waited for here."""
    return _trigger(deployed, "webtrail-daily/daily")


@pytest.fixture(scope="module")
def daily_done(deployed: Stack, daily_run: UUID) -> Any:
    return _wait_final(deployed, daily_run, DAILY_RUN_TIMEOUT)


def test_deploy_all_registers_the_four_deployments(deployed: Stack) -> None:
    with _Client(deployed.api_url) as client:
        daily = client.read_deployment_by_name("webtrail-daily/daily")
        backfill = client.read_deployment_by_name("webtrail-backfill/backfill")
        investigate = client.read_deployment_by_name("webtrail-investigate/investigate")
        blocklist = client.read_deployment_by_name("webtrail-blocklist/blocklist")
    for deployment in (daily, backfill, investigate, blocklist):
        assert deployment.work_pool_name == "webtrail-pool"
        assert "webtrail" in deployment.tags
        # No pull section in prefect.yaml: the checkout it was deployed from is the working directory.
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ]
        assert "warehouse" in deployment.job_variables["env"]["PREFECT_LOGGING_EXTRA_LOGGERS"]
        properties = deployment.parameter_openapi_schema["properties"]
        assert all(p.get("description") for p in properties.values()), "every parameter is documented"
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in daily.schedules] == [("0 3 * * *", "UTC", True)]
    assert backfill.schedules == [] and investigate.schedules == [] and blocklist.schedules == []
    assert {"sql", "day", "days"} <= set(investigate.parameter_openapi_schema["properties"])
    assert backfill.parameter_openapi_schema["required"] == ["start", "end"]
    assert backfill.parameters == {"concurrency": 2}
    assert daily.global_concurrency_limit is not None and daily.global_concurrency_limit.limit == 1


def test_alerts_install_idempotently_and_notify_the_webhook(
    deployed: Stack, receiver: _Receiver, daily_run: UUID
) -> None:
    """Installed twice; then a high finding event, a quality event and a failed webtrail-daily run notify."""
    for _ in range(2):
        deployed.run(sys.executable, "-m", "flows.install_alerts", "--webhook-url", receiver.url)
    names = ("webtrail-security-finding", "webtrail-quality-failed", "webtrail-daily-run-failed",
             "webtrail-blocklist-after-daily")
    with _Client(deployed.api_url) as client:
        for name in names:
            assert len(client.read_automations_by_name(name)) == 1, f"{name} installed more than once"
        blocks = client.read_block_documents_by_type("custom-webhook", include_secrets=False)
    assert [b.name for b in blocks] == ["webtrail-alerts"]
    assert receiver.url not in json.dumps(blocks[0].data, default=str), "the URL is kept as a secret"

    # The events as the pipeline emits them (contract in flows/automations.yaml), then a failing
    # flow named webtrail-daily (the same Prefect event a failed scheduled run produces).
    script = """
from prefect import flow
from prefect.events import emit_event

emit_event(
    event="webtrail.security.finding",
    resource={"prefect.resource.id": "webtrail.ip.198.51.100.250", "prefect.resource.name": "198.51.100.250"},
    payload={"day": "2026-11-24", "category": "sql_injection", "severity": "high", "rule_id": "WT-SEC-004",
             "request_count": 3},
)
emit_event(
    event="webtrail.quality.failed",
    resource={"prefect.resource.id": "webtrail.dataset.requests", "webtrail.check.level": "blocking",
              "webtrail.check.outcome": "FAILED"},
    payload={"day": "2026-11-24", "check": "requests_row_count", "level": "blocking", "outcome": "FAILED",
             "measured": 0, "threshold": "> 0"},
)

@flow(name="webtrail-daily", flow_run_name="simulated-failure")
def daily() -> None:
    raise RuntimeError("simulated failure")

try:
    daily()
except RuntimeError:
    pass
"""
    emitter = deployed.root / "emit_alert_events.py"
    emitter.write_text(script)
    deployed.run(sys.executable, str(emitter))
    finding = receiver.wait_for(lambda b: "198.51.100.250" in b.get("subject", ""), NOTIFY_TIMEOUT)
    assert finding["subject"] == "webtrail: high sql_injection from 198.51.100.250"
    assert "rule WT-SEC-004" in finding["body"] and "requests: 3" in finding["body"]
    quality = receiver.wait_for(lambda b: "requests_row_count" in b.get("subject", ""), NOTIFY_TIMEOUT)
    assert quality["subject"] == "webtrail: quality check requests_row_count FAILED on requests"
    failed = receiver.wait_for(lambda b: "simulated-failure" in b.get("subject", ""), NOTIFY_TIMEOUT)
    assert failed["subject"] == "webtrail: daily run simulated-failure Failed"
    assert "RuntimeError: simulated failure" in failed["body"]


def test_daily_deployment_loads_the_sample_day(
    deployed: Stack, daily_run: UUID, daily_done: Any, ground_truth: dict[str, Any]
) -> None:
    from warehouse.connect import connection
    from warehouse.embedded import database_url

    assert daily_done.state.is_completed(), f"{daily_done.state}\n{deployed.tail('worker', 80)}"
    day = date.fromisoformat(ground_truth["date"])
    url = database_url(WebtrailSettings(data_dir=deployed.data_dir))
    with connection(url) as conn, conn.cursor() as cur:
        for table in LOADED_TABLES:
            cur.execute(f"SELECT count(*) FROM webtrail.{table} WHERE day = %s", (day,))  # noqa: S608
            assert cur.fetchone()[0] > 0, f"webtrail.{table} has no rows for {day}"
        cur.execute("SELECT sum(requests) FROM webtrail.traffic_minute WHERE day = %s", (day,))
        assert cur.fetchone()[0] == ground_truth["parsed_requests"]
        cur.execute("SELECT status, flow_run_id FROM webtrail.pipeline_runs WHERE day = %s", (day,))
        assert cur.fetchall() == [("completed", str(daily_run))], "the audit row names the Prefect flow run"
    assert any(p.name() == "postgres" for p in _marked_processes(deployed.marker)), "the leak check sees postgres"
    artifacts = _artifacts(deployed, daily_run)
    assert {"webtrail-run-summary", "webtrail-daily-report"} <= set(artifacts)
    summary = {row["table"]: row["rows"] for row in _table(artifacts["webtrail-run-summary"])}
    assert summary["webtrail.sessions"] > 0
    assert ground_truth["date"].replace("-", "\\-") in artifacts["webtrail-daily-report"]
    # the day's HTML report: a link artifact to the file, named in the markdown report too
    assert f"reports/{ground_truth['date']}.html" in str(artifacts["webtrail-html-report"])
    assert "HTML report with charts" in artifacts["webtrail-daily-report"]


def test_findings_of_the_daily_run_reach_the_webhook(
    deployed: Stack, receiver: _Receiver, daily_done: Any, ground_truth: dict[str, Any]
) -> None:
    """End to end: the daily run emits webtrail.security.finding events, the automation notifies."""
    from warehouse.connect import connection
    from warehouse.embedded import database_url

    url = database_url(WebtrailSettings(data_dir=deployed.data_dir))
    with connection(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT client_ip FROM webtrail.security_findings"
            " WHERE day = %s AND severity IN ('high', 'critical')",
            (date.fromisoformat(ground_truth["date"]),),
        )
        serious = {row[0] for row in cur.fetchall()}
    assert serious, "the sample day has high-severity findings"
    for ip in sorted(serious):
        receiver.wait_for(lambda b, ip=ip: b.get("subject", "").endswith(f" from {ip}"), NOTIFY_TIMEOUT)


@pytest.fixture(scope="module")
def follow_up_runs(deployed: Stack, daily_done: Any, ground_truth: dict[str, Any]) -> dict[str, UUID]:
    """An investigation and a backfill of the loaded day, started together once the day is loaded."""
    attacker = next(a for a in ground_truth["attackers"] if a["scenario"] == "path_scan")
    day = ground_truth["date"]
    return {
        "investigate": _trigger(deployed, "webtrail-investigate/investigate", {"ip": attacker["ip"]}),
        "investigate_sql": _trigger(deployed, "webtrail-investigate/investigate", {
            "sql": "SELECT status, count(*) AS n FROM requests GROUP BY status ORDER BY status", "day": day}),
        "backfill": _trigger(deployed, "webtrail-backfill/backfill", {"start": day, "end": day}),
    }


def test_investigate_deployment_publishes_escaped_report_and_requests(
    deployed: Stack, follow_up_runs: dict[str, UUID], ground_truth: dict[str, Any]
) -> None:
    attacker = next(a for a in ground_truth["attackers"] if a["scenario"] == "path_scan")
    run = _wait_final(deployed, follow_up_runs["investigate"], SHORT_RUN_TIMEOUT)
    assert run.state.is_completed(), f"{run.state}\n{deployed.tail('worker', 80)}"
    assert run.name == f"investigate-ip-{attacker['ip']}"
    artifacts = _artifacts(deployed, follow_up_runs["investigate"])
    report = artifacts["webtrail-investigation"]
    escaped_ip = attacker["ip"].replace(".", "\\.")
    assert f"# Investigation: ip {escaped_ip}" in report
    assert f"Matching requests: **{attacker['requests']}**" in report
    for category in attacker["categories"]:
        assert category.replace("_", "\\_") in report
    requests = _table(artifacts["webtrail-investigation-requests"])
    assert len(requests) == min(attacker["requests"], 200)
    assert {r["client_ip"] for r in requests} == {attacker["ip"]}


def test_investigate_deployment_runs_sql(
    deployed: Stack, follow_up_runs: dict[str, UUID], ground_truth: dict[str, Any]
) -> None:
    run = _wait_final(deployed, follow_up_runs["investigate_sql"], SHORT_RUN_TIMEOUT)
    assert run.state.is_completed(), f"{run.state}\n{deployed.tail('worker', 80)}"
    assert run.name == "investigate-sql"
    artifacts = _artifacts(deployed, follow_up_runs["investigate_sql"])
    rows = _table(artifacts["webtrail-investigation-requests"])
    assert {str(r["status"]): r["n"] for r in rows} == ground_truth["status_counts"]
    report = artifacts["webtrail-investigation"]
    assert report.startswith("# SQL investigation") and f"Rows: **{len(rows)}**" in report


def test_backfill_deployment_skips_the_loaded_day(
    deployed: Stack, follow_up_runs: dict[str, UUID], ground_truth: dict[str, Any]
) -> None:
    from warehouse.connect import connection
    from warehouse.embedded import database_url

    run = _wait_final(deployed, follow_up_runs["backfill"], SHORT_RUN_TIMEOUT)
    assert run.state.is_completed(), f"{run.state}\n{deployed.tail('worker', 80)}"
    rows = _table(_artifacts(deployed, follow_up_runs["backfill"])["webtrail-backfill"])
    assert rows == [{"day": ground_truth["date"], "outcome": "skipped (already loaded)"}]
    url = database_url(WebtrailSettings(data_dir=deployed.data_dir))
    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM webtrail.pipeline_runs")
        assert cur.fetchone()[0] == 1, "a skipped day starts no daily run"


def test_investigation_by_user_and_by_path(deployed: Stack, daily_done: Any, ground_truth: dict[str, Any]) -> None:
    """The same query functions in-process, on the warehouse and Parquet the deployment run wrote."""
    from datetime import UTC, datetime, timedelta

    from report.investigate import InvestigationQuery, investigate
    from warehouse.connect import connection
    from warehouse.embedded import database_url

    start = datetime.fromisoformat(ground_truth["date"]).replace(tzinfo=UTC)
    end = start + timedelta(days=1)
    heavy = ground_truth["benign"]["heavy_users"][0]
    url = database_url(WebtrailSettings(data_dir=deployed.data_dir))
    scanner = next(a for a in ground_truth["attackers"] if a["scenario"] == "path_scan")
    with connection(url) as conn:
        by_user = investigate(conn, deployed.data_dir, InvestigationQuery(start, end, user_id=heavy["user_id"]))
        by_path = investigate(conn, deployed.data_dir, InvestigationQuery(start, end, path_pattern="*.php"))
    assert heavy["ip"] in by_user.ips
    assert {r["client_ip"]: r["requests"] for r in by_user.requests_by_ip}[heavy["ip"]] == heavy["requests"]
    assert by_user.sessions and all(s["user_id"] == heavy["user_id"] or s["client_ip"] in by_user.ips
                                    for s in by_user.sessions)
    assert by_user.findings == [], "a benign heavy user has no findings"
    assert scanner["ip"] in by_path.ips
    assert all(r["path"].endswith(".php") for r in by_path.requests)
    assert {f["client_ip"] for f in by_path.findings} <= set(by_path.ips)


def test_the_daily_run_is_followed_by_a_blocklist_nginx_accepts(
    deployed: Stack, daily_done: Any, ground_truth: dict[str, Any], tmp_path: Path
) -> None:
    """The webtrail-blocklist-after-daily automation runs the blocklist deployment after the daily run."""
    import ipaddress
    import shutil

    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    from warehouse.connect import connection
    from warehouse.embedded import database_url

    assert daily_done.state.is_completed()
    deadline = time.monotonic() + SHORT_RUN_TIMEOUT
    runs: list[Any] = []
    with _Client(deployed.api_url) as client:
        while time.monotonic() < deadline:
            by_name = DeploymentFilter(name=DeploymentFilterName(any_=["blocklist"]))
            runs = client.read_flow_runs(deployment_filter=by_name)
            if runs and runs[0].state is not None and runs[0].state.is_final():
                break
            time.sleep(2)
    assert runs, f"no blocklist run after the daily run:\n{deployed.tail('worker', 60)}"
    assert runs[0].state.is_completed(), f"{runs[0].state}\n{deployed.tail('worker', 80)}"
    include = deployed.data_dir / "reports" / "blocklist-nginx.conf"
    denied = re.findall(r"^deny (\S+);", include.read_text(), re.M)
    url = database_url(WebtrailSettings(data_dir=deployed.data_dir))
    with connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT DISTINCT client_ip FROM webtrail.security_findings WHERE day = %s"
                    " AND severity IN ('high', 'critical')", (date.fromisoformat(ground_truth["date"]),))
        serious = sorted(row[0] for row in cur.fetchall())
    crawlers = set(ground_truth.get("crawler_ips") or [])
    per_net: dict[str, list[str]] = {}
    for ip in serious:
        if ip not in crawlers:
            per_net.setdefault(str(ipaddress.ip_network(f"{ip}/24", strict=False)), []).append(ip)
    expected = sorted((net if len(ips) >= 3 else ip for net, ips in per_net.items() for ip in ips),
                      key=lambda v: ipaddress.ip_network(v).network_address)
    assert denied == list(dict.fromkeys(expected)) and denied, include.read_text()
    if shutil.which("nginx"):
        conf = tmp_path / "nginx.conf"
        server = f"server {{ listen 127.0.0.1:18082; include {include}; }}"
        conf.write_text(f"pid {tmp_path}/n.pid; events {{}} http {{ {server} }}")
        check = subprocess.run(["nginx", "-t", "-c", str(conf), "-e", str(tmp_path / "e.log")],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    assert not list(include.parent.glob(".*.tmp")), "no temporary file is left behind"
