"""SQL investigations, the notebook API and the blocklist command on real PostgreSQL + staged Parquet.

A hand-made day: staged requests (with the session overlap rows a neighbouring day also holds) and
warehouse rows inserted with bound parameters. Expected values are counted by hand from those rows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from psycopg2.extras import Json

from config.layout import DayLayout
from parsers.schema import REJECTED_SCHEMA, REQUESTS_SCHEMA
from warehouse.connect import connect

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DAY = date(2026, 11, 24)
BEFORE = date(2026, 11, 23)
SCANNER, SHOPPER, CRAWLER = "203.0.113.45", "198.51.100.7", "66.249.66.1"
FLOOD = ("198.51.100.20", "198.51.100.21", "198.51.100.22")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _ts(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _request(ts: datetime, ip: str, path: str, status: int = 200, agent: str = "Mozilla/5.0") -> dict:
    return {
        "source_file": "access.log", "line_number": 1, "client_ip": ip, "remote_user": None, "requested_at": ts,
        "method": "GET", "path": path, "query": None, "protocol": "HTTP/1.1", "request": f"GET {path} HTTP/1.1",
        "status": status, "bytes": 512, "referer": None, "user_agent": agent, "request_time_ms": 3.0,
        "vhost": None, "has_invalid_utf8": False,
    }


def _stage(data_dir: Path, day: date, rows: list[dict]) -> None:
    layout = DayLayout(data_dir, day)
    layout.staging.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=REQUESTS_SCHEMA).write_parquet(layout.requests)
    pl.DataFrame([{"source_file": "access.log", "line_number": 9, "reason": "no_format_match", "raw_text": "\x16\x03"}],
                 schema=REJECTED_SCHEMA).write_parquet(layout.rejected)


FINDING_SQL = """
INSERT INTO webtrail.security_findings (day, client_ip, category, rule_id, severity, first_seen_at, last_seen_at,
    request_count, distinct_paths, user_ids, score, evidence)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


@pytest.fixture(scope="module")
def loaded(db_url: str, service_tmp_dir: Path) -> dict[str, Any]:
    data_dir = service_tmp_dir / "investigate-sql"
    overlap = [_request(_ts(BEFORE, 23, 30), SHOPPER, "/late"), _request(_ts(DAY, 0, 30), SHOPPER, "/early")]
    _stage(data_dir, BEFORE, [_request(_ts(BEFORE, 12), "192.0.2.9", "/"), *overlap])
    probes = ["/.env", "/.git/config", "/wp-login.php"]
    scan = [_request(_ts(DAY, 10, n), SCANNER, p, 404) for n, p in enumerate(probes)]
    _stage(data_dir, DAY, [
        *overlap, *scan, _request(_ts(DAY, 9), SHOPPER, "/product/1"),
        _request(_ts(DAY, 11), CRAWLER, "/admin", 404, GOOGLEBOT),
        *[_request(_ts(DAY, 12), ip, "/") for ip in FLOOD],
    ])
    conn = connect(db_url)
    with conn, conn.cursor() as cur:
        evidence = Json({"samples": [{"request": "GET /.env HTTP/1.1"}]})
        rows = [
            (SCANNER, "sensitive_file", "WT-SEC-002", "critical", 3, ["u1"]),
            (SCANNER, "path_scan", "WT-SEC-001", "high", 3, []),
            (SHOPPER, "anomaly", "WT-SEC-015", "low", 2, []),
            (CRAWLER, "path_scan", "WT-SEC-001", "high", 1, []),
            ("10.9.8.7", "flood", "WT-SEC-010", "high", 400, []),
            *[(ip, "flood", "WT-SEC-010", "high", 400, []) for ip in FLOOD],
        ]
        for ip, category, rule, severity, count, users in rows:
            cur.execute(FINDING_SQL, (DAY, ip, category, rule, severity, _ts(DAY, 10), _ts(DAY, 10, 2), count, count,
                                      users, 1.5, evidence))
        cur.execute(FINDING_SQL, (BEFORE, SCANNER, "xss", "WT-SEC-005", "high", _ts(BEFORE, 8), _ts(BEFORE, 8), 1, 1,
                                  [], None, evidence))
        cur.execute(
            "INSERT INTO webtrail.sessions (day, session_id, visitor_key, user_id, client_ip, user_agent, started_at,"
            " ended_at, duration_ms, page_views, requests, bytes, entry_path, exit_path, is_bounce, is_bot)"
            " VALUES (%s, 's1', 'u1', 'u1', %s, 'Mozilla/5.0', %s, %s, 300000, 2, 2, 1024, '/', '/product/1',"
            " false, false)",
            (DAY, SHOPPER, _ts(DAY, 9), _ts(DAY, 9, 5)),
        )
        cur.execute(
            "INSERT INTO webtrail.ip_daily VALUES (%s, %s, 3, 1536, 3, 0, 3, 1, %s, %s, true)",
            (DAY, SCANNER, _ts(DAY, 10), _ts(DAY, 10, 2)),
        )
        cur.execute("INSERT INTO webtrail.day_loads (day, input_sha256, tables) VALUES (%s, '{}', '{}')", (DAY,))
    conn.close()
    env = {**os.environ, "WEBTRAIL_DATA_DIR": str(data_dir), "WEBTRAIL_DATABASE_URL": db_url,
           "WEBTRAIL_BLOCKLIST__BAN_HOURS": str(24 * 365 * 100), "COLUMNS": "250"}
    return {"data_dir": data_dir, "url": db_url, "env": env}


def _cli(loaded: dict[str, Any], module: str, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=loaded["env"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == code, f"{module} {args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_sql_joins_staged_requests_with_warehouse_findings(loaded: dict[str, Any]) -> None:
    query = ("SELECT f.category, f.user_ids, count(*) AS requests FROM findings f JOIN requests r"
             " ON r.client_ip = f.client_ip WHERE f.client_ip = '203.0.113.45' GROUP BY ALL ORDER BY 1")
    out = json.loads(_cli(loaded, "flows.investigate", "--sql", query, "--format", "json").stdout)
    assert out == [{"category": "path_scan", "user_ids": [], "requests": 3},
                   {"category": "sensitive_file", "user_ids": ["u1"], "requests": 3}]


def test_sql_window_counts_overlap_rows_once_and_explain_names_the_partitions(loaded: dict[str, Any]) -> None:
    query = "SELECT day, count(*) AS n FROM requests GROUP BY day ORDER BY day"
    done = _cli(loaded, "flows.investigate", "--sql", query, "--days", "3", "--format", "csv", "--explain")
    assert done.stdout.splitlines() == ["day,n", "2026-11-23,2", "2026-11-24,9"]
    assert "2026-11-22" in done.stderr and "missing" in done.stderr
    assert re.search(r"2026-11-24\s*│\s*read\s*│\s*10\b", done.stderr), done.stderr


def test_sql_refuses_writes_with_exit_code_2(loaded: dict[str, Any]) -> None:
    done = _cli(loaded, "flows.investigate", "--sql", "DROP TABLE requests", code=2)
    assert "read-only" in done.stderr and "DROP" in done.stderr


def test_the_direct_command_line_does_not_import_prefect(loaded: dict[str, Any]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "flows.investigate", "--sql", "SELECT count(*) FROM requests"],
        cwd=REPO, env=loaded["env"], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported = {ln.split("|")[-1].strip() for ln in done.stderr.splitlines() if ln.startswith("import time:")}
    assert "duckdb" in imported and not {m for m in imported if m.split(".")[0] in ("prefect", "pyspark")}


def test_ip_investigation_prints_findings_sessions_statuses_and_requests(loaded: dict[str, Any]) -> None:
    out = json.loads(_cli(loaded, "flows.investigate", "--ip", SHOPPER, "--format", "json").stdout)
    assert out["summary"]["requests"] == 2  # 00:30 and 09:00 of the day; the 23:30 overlap row is the day before
    assert [r["path"] for r in out["matching_requests"]] == ["/early", "/product/1"]
    assert out["requests_per_status"] == [{"status": 200, "requests": 2}]
    assert [(f["category"], f["severity"]) for f in out["findings"]] == [("anomaly", "low")]
    assert [s["user_id"] for s in out["sessions"]] == ["u1"]
    table = _cli(loaded, "flows.investigate", "--ip", SCANNER).stdout
    for title in ("Findings", "Requests per status", "Sessions", "Matching requests", "/.git/config"):
        assert title in table


def _readme_notebook_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### In a notebook"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_notebook_example_runs(loaded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBTRAIL_DATA_DIR", str(loaded["data_dir"]))
    monkeypatch.setenv("WEBTRAIL_DATABASE_URL", loaded["url"])
    namespace: dict[str, Any] = {}
    exec(compile(_readme_notebook_example(), "README.md", "exec"), namespace)  # noqa: S102 - our own README
    hits, serious, by_status = namespace["hits"], namespace["serious"], namespace["by_status"]
    assert list(hits["path"]) == ["/.env", "/.git/config", "/wp-login.php"]
    assert str(hits["requested_at"].dt.tz) == "UTC"
    assert set(serious["client_ip"]) == {SCANNER, CRAWLER, "10.9.8.7", *FLOOD}
    assert dict(zip(by_status["status"], by_status["n"], strict=True)) == {200: 5, 404: 4}
    sessions = namespace["wt"].sessions(ip=SHOPPER)
    assert list(sessions["session_id"]) == ["s1"]
    namespace["wt"].close()


def test_blocklist_command_writes_an_nginx_include_nginx_accepts(loaded: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "deny.conf"
    _cli(loaded, "flows.blocklist", "--day", DAY.isoformat(), "--min-severity", "high", "--format", "nginx",
         "--out", str(out))
    denied = re.findall(r"^deny (\S+);", out.read_text(), re.M)
    # The crawler (Googlebot) and the private 10.9.8.7 are kept off; the three flood IPs form a /24.
    assert denied == ["198.51.100.0/24", SCANNER]
    if shutil.which("nginx"):
        conf = tmp_path / "nginx.conf"
        server = f"server {{ listen 127.0.0.1:18081; include {out}; }}"
        conf.write_text(f"pid {tmp_path}/n.pid; events {{}} http {{ {server} }}")
        check = subprocess.run(["nginx", "-t", "-c", str(conf), "-e", str(tmp_path / "e.log")], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stderr
    done = _cli(loaded, "flows.blocklist", "--day", DAY.isoformat(), "--days", "2")
    reports = loaded["data_dir"] / "reports"
    assert (reports / "blocklist-nginx.conf").exists() and (reports / "blocklist.nft").exists()
    payload = json.loads((reports / "blocklist.json").read_text())
    assert payload["days"] == ["2026-11-23", "2026-11-24"]
    scanner = next(e for e in payload["entries"] if e["value"] == SCANNER)
    assert scanner["categories"] == ["path_scan", "sensitive_file", "xss"]
    assert payload["skipped"] == {"allowlist": ["10.9.8.7"], "declared crawler": [CRAWLER]}
    assert "2 entries" in done.stdout
