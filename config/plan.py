"""Deciding what one daily run processes: the day and its input locations."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from config.settings import SAMPLE_DIR, WebtrailSettings


@dataclass(frozen=True)
class RunPlan:
    """The resolved inputs of one daily run."""

    day: date
    access_logs: list[str]
    events: list[str] = field(default_factory=list)
    users_db: str | None = None
    events_api: str | None = None
    from_sample: bool = False


def sample_manifest(sample_dir: Path = SAMPLE_DIR) -> dict[str, str]:
    """The bundled sample day's manifest (written by `python -m sample_logs.generate`)."""
    path = sample_dir / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: regenerate the sample with "
            "`python -m sample_logs.generate --lines 6000 --date 2026-11-24 --out sample_logs`"
        )
    return json.loads(path.read_text())


def resolve_plan(
    settings: WebtrailSettings,
    day: date | None = None,
    access_logs: list[str] | None = None,
    events: list[str] | None = None,
    users_db: str | None = None,
    events_api: str | None = None,
) -> RunPlan:
    """Flow parameters win over settings; with no access logs anywhere, use the bundled sample day.

    Without a day, the sample's own day is used for the sample and yesterday (UTC) otherwise,
    which is what a nightly schedule wants.
    """
    logs = list(access_logs or settings.access_logs)
    if not logs:
        manifest = sample_manifest()
        return RunPlan(
            day=day or date.fromisoformat(manifest["date"]),
            access_logs=[str(SAMPLE_DIR / manifest["access_log"])],
            events=list(events) if events is not None else [str(SAMPLE_DIR / manifest["events"])],
            users_db=users_db or str(SAMPLE_DIR / manifest["users_db"]),
            events_api=events_api,
            from_sample=True,
        )
    return RunPlan(
        day=day or (datetime.now(UTC).date() - timedelta(days=1)),
        access_logs=logs,
        events=list(events if events is not None else settings.events),
        users_db=users_db or settings.users_db,
        events_api=events_api or settings.events_api_url,
    )
