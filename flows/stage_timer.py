"""Wall-clock seconds per stage of the daily flow (pipeline_runs.stage_timings) and its progress artifact."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from prefect.artifacts import update_progress_artifact

from report.progress import observer
from report.timings import rss_by_role

# Share of the run done when each stage ends, for the progress artifact.
STAGE_PROGRESS = {
    "parse": 20.0, "input_checks": 30.0, "analytics": 75.0, "output_checks": 85.0, "load": 95.0,
    "loaded_checks": 100.0,
}


class StageTimer:
    """Wall-clock seconds per stage (pipeline_runs.stage_timings) and the run's progress artifact."""

    def __init__(self, progress_id: UUID | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.contracts: dict[str, dict[str, float]] = {}  # stage -> contract -> seconds
        self.rss_mib: dict[str, dict[str, int]] = {}  # stage -> process role -> RSS at the stage's end
        self.progress_id = progress_id

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        observer().stage_started(name)
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)
            self.rss_mib[name] = rss_by_role()
        # reached only when the stage succeeded
        observer().stage_finished(name, self.seconds[name])
        if self.progress_id is not None:
            update_progress_artifact(self.progress_id, STAGE_PROGRESS.get(name, 0.0), description=f"{name} done")
