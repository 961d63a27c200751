"""Embedded PostgreSQL: configured URL wins; started once, reused across processes, stale pid healed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg2
import pytest
from pydantic import SecretStr

from config.settings import WebtrailSettings
from warehouse.embedded import database_url, redact, stop_embedded

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebtrailSettings]:
    # A short path: the socket lives in PGDATA when the path fits the unix-socket length limit.
    data_dir = tmp_path_factory.mktemp("wt")
    settings = WebtrailSettings(data_dir=data_dir, database_url=None)
    yield settings
    stop_embedded(settings.postgres_dir)


def _pid(settings: WebtrailSettings) -> int:
    return int((settings.postgres_dir / "data" / "postmaster.pid").read_text().splitlines()[0])


def test_configured_url_is_returned_as_is(tmp_path: Path) -> None:
    url = "postgresql://app:s3cr3t@db.example:5432/webtrail"
    settings = WebtrailSettings(data_dir=tmp_path, database_url=SecretStr(url))
    assert database_url(settings) == url
    assert redact(url) == "postgresql://app:***@db.example:5432/webtrail"
    assert not settings.postgres_dir.exists()


def test_started_then_reused_by_another_process(settings: WebtrailSettings) -> None:
    url = database_url(settings)
    assert "/webtrail?" in url
    with psycopg2.connect(url) as c2, c2.cursor() as cur:
        cur.execute("SELECT current_database()")
        assert cur.fetchone() == ("webtrail",)
    with psycopg.connect(url) as c3:  # psycopg 3 (soda-postgres) accepts the same URL
        assert c3.execute("SELECT 1").fetchone() == (1,)
    pid = _pid(settings)
    code = (
        "from config.settings import WebtrailSettings; from warehouse.embedded import database_url; "
        f"print(database_url(WebtrailSettings(data_dir={str(settings.data_dir)!r})))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == url
    assert _pid(settings) == pid  # same server, not a restart
    assert database_url(settings) == url


def test_killed_server_is_restarted(settings: WebtrailSettings) -> None:
    database_url(settings)
    old = _pid(settings)
    os.kill(old, signal.SIGKILL)
    time.sleep(0.1)
    url = database_url(settings)
    psycopg2.connect(url).close()
    assert _pid(settings) != old


def test_stale_pid_of_a_foreign_live_process(settings: WebtrailSettings) -> None:
    stop_embedded(settings.postgres_dir)
    pidfile = settings.postgres_dir / "data" / "postmaster.pid"
    data = settings.postgres_dir / "data"
    # The pid of a live, unrelated process (this test) as a killed server's pid file may show after reuse.
    pidfile.write_text(f"{os.getpid()}\n{data}\n1700000000\n5432\n{data}\n\n  0 0\nready\n")
    url = database_url(settings)
    psycopg2.connect(url).close()
    assert _pid(settings) != os.getpid()

