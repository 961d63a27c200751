"""Real `python -m flows.daily` runs in subprocesses, shared by the CLI and the browser tests (see runs.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.report.runs import HOSTILE_DAY, REPO, CliRun, hostile_log, run_cli


@pytest.fixture(scope="session")
def report_env(service_tmp_dir: Path) -> Iterator[dict[str, str]]:
    """Environment of the CLI runs: a fresh data directory, no configured database or inputs."""
    from warehouse.embedded import stop_embedded

    data_dir = service_tmp_dir / "report-data"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEBTRAIL_") and k != "PREFECT_API_URL"}
    env.update({"WEBTRAIL_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO)})
    yield env
    stop_embedded(data_dir / "postgres")


@pytest.fixture(scope="session")
def report_data_dir(report_env: dict[str, str]) -> Path:
    return Path(report_env["WEBTRAIL_DATA_DIR"])


@pytest.fixture(scope="session")
def hostile_run(report_env: dict[str, str], service_tmp_dir: Path) -> CliRun:
    """Run 1: the hostile day, plain output (piped: the summary table on stdout, no progress)."""
    inputs = service_tmp_dir / "report-inputs"
    inputs.mkdir(exist_ok=True)
    log = hostile_log(inputs / "hostile-access.log")
    return run_cli(["--date", HOSTILE_DAY.isoformat(), "--access-log", str(log)], report_env)


@pytest.fixture(scope="session")
def sample_run(hostile_run: CliRun, report_env: dict[str, str]) -> CliRun:
    """Run 2: the bundled sample day with --json."""
    return run_cli(["--json"], report_env)
