"""flows.early_warehouse: the embedded PostgreSQL started on a thread is the one the run then uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import WebtrailSettings
from flows.early_warehouse import start_embedded_early

pytestmark = pytest.mark.integration


def test_no_early_start_when_a_database_is_configured(tmp_path: Path) -> None:
    settings = WebtrailSettings(data_dir=tmp_path)
    assert start_embedded_early(settings, "postgresql://someone@db.internal/webtrail") is None
    assert start_embedded_early(settings.model_copy(update={"database_secret_block": "webtrail-db"}), None) is None
    assert not (tmp_path / "postgres").exists()


def test_the_early_server_is_reused_by_the_warehouse(service_tmp_dir: Path) -> None:
    from warehouse.embedded import _postmaster_pid, stop_embedded
    from warehouse.gateway import Warehouse

    settings = WebtrailSettings(data_dir=service_tmp_dir / "early-warehouse")
    thread = start_embedded_early(settings, None)
    assert thread is not None
    thread.join(timeout=300)
    pgdata = settings.postgres_dir.resolve() / "data"
    started_pid = _postmaster_pid(pgdata)
    try:
        assert started_pid is not None
        warehouse = Warehouse.resolve(settings)  # what prepare-warehouse does
        assert _postmaster_pid(pgdata) == started_pid  # the same server, not a second start
        with warehouse.connection() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        stop_embedded(settings.postgres_dir)
