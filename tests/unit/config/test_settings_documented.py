"""The README's configuration table lists every setting, and env vars really override them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from config.settings import WebtrailSettings

README = Path(__file__).resolve().parents[3] / "README.md"


def _env_names(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _env_names(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [name for name in _env_names(WebtrailSettings, "WEBTRAIL_") if f"`{name}`" not in text]
    assert not missing, f"settings missing from README's configuration table: {missing}"


def test_environment_overrides_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBTRAIL_SECURITY__FLOOD_REQUESTS_PER_MINUTE", "500")
    monkeypatch.setenv("WEBTRAIL_SESSIONS__GAP_MINUTES", "45")
    monkeypatch.setenv("WEBTRAIL_SECURITY__PROBING__CAPACITY", "20")
    monkeypatch.setenv("WEBTRAIL_ACCESS_LOGS", '["/var/log/a.log", "/var/log/b.log*"]')
    settings = WebtrailSettings()
    assert settings.security.flood_requests_per_minute == 500
    assert settings.sessions.gap_minutes == 45
    assert settings.access_logs == ["/var/log/a.log", "/var/log/b.log*"]
    assert settings.security.login_bf.maxretry == 5
    assert (settings.security.probing.capacity, settings.security.probing.leak_seconds) == (20, 10)
