"""Shared fixtures: one SparkSession and one embedded PostgreSQL per pytest session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="webtrail-prefect-home-")


@pytest.fixture(scope="session")
def spark():
    """One local Spark for the whole test session (start-up costs 10-15 s)."""
    from analytics.spark import build_spark_session
    from config.settings import SparkSettings

    # 3g, not the production 2g: this one driver hosts every test module's days in turn, each with its
    # kept lookups and frames (analytics/day.py) until the module ends
    session = build_spark_session(
        SparkSettings(master="local[2]", driver_memory="3g", shuffle_partitions=2), app_name="webtrail-tests"
    )
    yield session
    session.stop()


@pytest.fixture(scope="module", autouse=True)
def _free_spark_blocks_after_each_module() -> Iterator[None]:
    """Drop what a test module left cached or checkpointed in the shared Spark (when one runs).

    Tests collect tables without `DayTables.release()`; their local checkpoints would otherwise
    fill the one test driver's memory module after module. Autouse, so torn down after the
    module's own fixtures.
    """
    yield
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None:
        return
    for rdd in list(context._jsc.getPersistentRDDs().values()):
        rdd.unpersist(False)


@pytest.fixture(scope="session")
def service_tmp_dir() -> Iterator[Path]:
    """A temporary directory that PostgreSQL can use when the tests run as root.

    As root, pgserver runs postgres as an unprivileged system user, which cannot enter pytest's
    private (0700) temporary directories; this one is world-traversable and removed afterwards.
    """
    import shutil

    path = Path(tempfile.mkdtemp(prefix="webtrail-tests-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(service_tmp_dir: Path) -> Iterator[str]:
    """A real embedded PostgreSQL 16 (pgserver) for the session; yields its URL."""
    import pgserver

    data_dir = service_tmp_dir / "pgdata"
    data_dir.mkdir()
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API (own database) for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """monkeypatch for module-scoped fixtures."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp
