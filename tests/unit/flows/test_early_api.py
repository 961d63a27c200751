"""flows.early_api decides without Prefect whether Prefect would start an ephemeral API itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows import early_api


def _environ(home: Path, **extra: str) -> dict[str, str]:
    return {"PREFECT_HOME": str(home), **extra}


def test_no_profile_and_no_settings_file_means_ephemeral(tmp_path: Path) -> None:
    assert early_api._configured_elsewhere(_environ(tmp_path / "home"), tmp_path) is False


def test_the_active_profile_with_an_api_url_is_respected(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "remote"\n[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
        '[profiles.remote]\nPREFECT_API_URL = "http://prefect.internal:4200/api"\n'
    )
    assert early_api._configured_elsewhere(_environ(home), tmp_path) is True
    # PREFECT_PROFILE picks another profile, which has no URL
    assert early_api._configured_elsewhere(_environ(home, PREFECT_PROFILE="ephemeral"), tmp_path) is False


@pytest.mark.parametrize(
    ("name", "text"),
    [(".env", "PREFECT_API_URL=http://127.0.0.1:4200/api\n"), ("prefect.toml", '[api]\nurl = "http://x/api"\n'),
     ("pyproject.toml", '[tool.prefect.api]\nurl = "http://x/api"\n')],
)
def test_a_settings_file_in_the_working_directory_is_respected(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert early_api._configured_elsewhere(_environ(tmp_path / "home"), tmp_path) is True


def test_an_unreadable_profiles_file_leaves_the_decision_to_prefect(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "profiles.toml").write_text("this is [not toml")
    assert early_api._configured_elsewhere(_environ(home), tmp_path) is True


def test_no_early_start_when_an_api_url_or_the_opt_out_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert early_api.start_api_early() is None
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setenv("WEBTRAIL_EARLY_API", "false")
    assert early_api.start_api_early() is None


def test_flow_runs_on_the_early_server_send_no_heartbeats() -> None:
    """The early server stops with the process: heartbeats would only cost the join of their thread."""
    from prefect.settings import get_current_settings

    default = get_current_settings().flows.heartbeat_frequency
    assert default is not None  # Prefect's default: a heartbeat thread per flow run
    server = subprocess.Popen([sys.executable, "-c", "pass"])  # stands for the server process
    server.wait()
    early = early_api.EarlyApi(server, 8000, Path(sys.prefix))
    with early_api.flow_settings(early):
        assert get_current_settings().flows.heartbeat_frequency is None
    with early_api.flow_settings(None):  # Prefect's own server or a configured API: unchanged
        assert get_current_settings().flows.heartbeat_frequency == default
    assert get_current_settings().flows.heartbeat_frequency == default
