"""The context of one daily run, handed to every task in place of loose arguments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from config.layout import DayLayout
from config.settings import WebtrailSettings
from warehouse.gateway import Warehouse


@dataclass(frozen=True)
class DayRun:
    """One run of one day: where its files are, its id in ``pipeline_runs``, the settings it runs
    with, the warehouse it loads into, and the checksums of its inputs (the ingest manifest)."""

    layout: DayLayout
    run_id: UUID
    settings: WebtrailSettings
    warehouse: Warehouse
    fingerprints: frozenset[str] = frozenset()

    @property
    def day(self) -> date:
        return self.layout.day


@dataclass(frozen=True)
class RunTotals:
    """What the run has counted so far: the per-file input rows, the users read, rows per table."""

    inputs: Sequence[Mapping[str, Any]] = ()
    users_read: int | None = None
    table_rows: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, for its ``pipeline_runs`` row."""

    status: str
    totals: RunTotals
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
