"""What a daily run is doing, for the terminal: a no-op observer by default, a rich live display when
`python -m flows.daily` runs in a terminal.

The flow calls the observer at stage boundaries (`flows/daily.py`); what happens inside a stage is
watched from a background thread without touching the stage's code: the byte offset of each input
file (Linux `/proc/self/fdinfo`), Spark's status tracker and the `_SUCCESS` marker of each table
Spark has written, and the per-table log records of the loader.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

STAGE_LABELS = {
    "parse": "parse inputs", "input_checks": "input contracts (Soda)", "analytics": "analytics (Spark)",
    "output_checks": "output contracts (Soda)", "load": "load (PostgreSQL)", "loaded_checks": "loaded-table contracts",
    "report": "HTML report",
}
POLL_SECONDS = 0.5
LOADER_LOGGER = "warehouse.loader"


class RunObserver:
    """Stage boundaries of one run; remembers the running stage (for error messages). Displays nothing."""

    def __init__(self) -> None:
        self.current_stage: str | None = None
        self.finished: dict[str, float] = {}

    def __enter__(self) -> RunObserver:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def stage_started(self, name: str) -> None:
        self.current_stage = name

    def stage_finished(self, name: str, seconds: float) -> None:
        self.finished[name] = seconds

    def inputs(self, files: Sequence[Path]) -> None:
        """The input files the parse stage will read."""

    def files_parsed(self, rows: Sequence[dict[str, Any]]) -> None:
        """Exact per-file counts once parsing is done (report.summary.input_rows)."""

    def analytics_started(self, output_dir: Path, tables: Sequence[str]) -> None:
        """Spark will write `tables` under `output_dir`."""

    def tables_loaded(self, rows: dict[str, int]) -> None:
        """Rows written per table by the load."""


_ACTIVE: list[RunObserver] = [RunObserver()]


def observer() -> RunObserver:
    """The observer of the run in this process (a silent one unless the CLI installed another)."""
    return _ACTIVE[-1]


@contextmanager
def observing(run_observer: RunObserver) -> Iterator[RunObserver]:
    _ACTIVE.append(run_observer)
    try:
        yield run_observer
    finally:
        _ACTIVE.remove(run_observer)


def open_file_offsets(paths: Sequence[Path]) -> dict[Path, int]:
    """Byte offset of each of `paths` this process has open now (Linux /proc; empty elsewhere)."""
    wanted = {str(p.resolve()): p for p in paths}
    offsets: dict[Path, int] = {}
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return offsets
    for fd in descriptors:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target not in wanted:
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                pos = next((int(line.split()[1]) for line in info if line.startswith("pos:")), 0)
        except (OSError, ValueError, StopIteration):
            continue
        offsets[wanted[target]] = max(offsets.get(wanted[target], 0), pos)
    return offsets


def spark_activity() -> str:
    """Running Spark jobs and the tasks of their active stages, e.g. 'jobs 12 done, 2 running; tasks 5/8'."""
    try:
        from pyspark import SparkContext

        context = SparkContext._active_spark_context
        if context is None:
            return "starting Spark"
        tracker = context.statusTracker()
        running = tracker.getActiveJobsIds()
        done = sum(
            1 for job in tracker.getJobIdsForGroup(None)
            if (info := tracker.getJobInfo(job)) is not None and info.status == "SUCCEEDED"
        )
        total = finished = 0
        for stage in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage)
            if info is not None:
                total += info.numTasks
                finished += info.numCompletedTasks
        tasks = f"; tasks {finished}/{total}" if total else ""
        return f"Spark jobs {done} done, {len(running)} running{tasks}"
    except Exception:  # noqa: BLE001 - the display must never break the run
        return ""


class _LoaderRecords(logging.Handler):
    """Catches `loaded N rows into webtrail.T` records of warehouse.loader (args: rows, schema, table, day)."""

    def __init__(self, display: TerminalProgress) -> None:
        super().__init__(logging.INFO)
        self.display = display

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) >= 3 and isinstance(args[0], int) and isinstance(args[2], str):
            self.display.table_loaded(args[2], args[0])


class TerminalProgress(RunObserver):
    """A rich live display: stages, bytes read per input file, Spark's tables, rows loaded per table."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.progress = Progress(
            TextColumn("{task.description:<26}", markup=False), BarColumn(bar_width=16), TaskProgressColumn(),
            TimeElapsedColumn(), TextColumn("{task.fields[detail]}", markup=False), console=console,
            redirect_stderr=False, redirect_stdout=False,
        )
        self.stages: dict[str, TaskID] = {}
        self.files: dict[Path, TaskID] = {}
        self.tables: dict[str, TaskID] = {}
        self.output_dir: Path | None = None
        self.output_tables: list[str] = []
        self.analytics_since = 0.0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._poll, name="webtrail-progress", daemon=True)
        self.loader_handler = _LoaderRecords(self)

    # -- lifecycle
    def __enter__(self) -> TerminalProgress:
        self.progress.start()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.progress.stop()

    # -- stage boundaries (called by the flow)
    def stage_started(self, name: str) -> None:
        super().stage_started(name)
        self._stage_row(name)
        if name == "load":
            loader = logging.getLogger(LOADER_LOGGER)
            self._loader_level = loader.level
            loader.setLevel(logging.INFO)
            loader.addHandler(self.loader_handler)

    def stage_finished(self, name: str, seconds: float) -> None:
        super().stage_finished(name, seconds)
        if name == "load":
            loader = logging.getLogger(LOADER_LOGGER)
            loader.removeHandler(self.loader_handler)
            loader.setLevel(getattr(self, "_loader_level", logging.NOTSET))
        with self.lock:
            if name in self.stages:
                self.progress.update(self.stages[name], total=1, completed=1, detail=f"done in {seconds:.1f} s")
            if name == "analytics" and "__spark__" in self.tables:
                written = len(self._written_tables())
                self.progress.update(self.tables["__spark__"], completed=written, detail=f"{written} tables")

    def _stage_row(self, name: str) -> TaskID:
        with self.lock:
            if name not in self.stages:
                self.stages[name] = self.progress.add_task(STAGE_LABELS.get(name, name), total=None, detail="")
            return self.stages[name]

    def inputs(self, files: Sequence[Path]) -> None:
        self._stage_row("parse")
        with self.lock:
            for path in files:
                size = path.stat().st_size if path.exists() else 0
                self.files[path] = self.progress.add_task(f"  {_short(path)}", total=size or None, detail="")

    def files_parsed(self, rows: Sequence[dict[str, Any]]) -> None:
        by_path = {str(row["path"]): row for row in rows}
        with self.lock:
            for path, task in self.files.items():
                row = by_path.get(str(path))
                if row is None:
                    continue
                size = int(row.get("size_bytes") or 0)
                self.progress.update(
                    task, total=size or 1, completed=size or 1,
                    detail=f"{int(row['lines_read']):,} lines: {int(row['lines_parsed']):,} parsed, "
                    f"{int(row['lines_rejected']):,} rejected; {_bytes(size)}",
                )

    def analytics_started(self, output_dir: Path, tables: Sequence[str]) -> None:
        self.output_dir, self.output_tables, self.analytics_since = output_dir, list(tables), time.time()
        self._stage_row("analytics")
        with self.lock:
            self.tables["__spark__"] = self.progress.add_task("  tables written by Spark", total=len(tables),
                                                              detail="")

    def table_loaded(self, table: str, rows: int) -> None:
        self._stage_row("load")
        with self.lock:
            self.tables[table] = self.progress.add_task(f"  webtrail.{table}", total=1, completed=1,
                                                        detail=f"{rows:,} rows")

    def tables_loaded(self, rows: dict[str, int]) -> None:
        for table, count in rows.items():
            if table not in self.tables:
                self.table_loaded(table, count)

    # -- background polling
    def _poll(self) -> None:
        while not self.stop.wait(POLL_SECONDS):
            stage = self.current_stage
            if stage == "parse" and stage not in self.finished:
                for path, offset in open_file_offsets(list(self.files)).items():
                    with self.lock:
                        self.progress.update(self.files[path], completed=offset, detail=f"{_bytes(offset)} read")
            elif stage == "analytics" and stage not in self.finished and "__spark__" in self.tables:
                written = self._written_tables()
                with self.lock:
                    self.progress.update(
                        self.tables["__spark__"], completed=len(written),
                        detail=(f"{len(written)}/{len(self.output_tables)}; " + spark_activity()).strip("; "),
                    )

    def _written_tables(self) -> list[str]:
        if self.output_dir is None:
            return []
        done = []
        for table in self.output_tables:
            marker = self.output_dir / table / "_SUCCESS"
            try:
                if marker.stat().st_mtime >= self.analytics_since - 1:
                    done.append(table)
            except OSError:
                continue
        return done


def _short(path: Path, limit: int = 30) -> str:
    text = "".join(ch if ch.isprintable() else "?" for ch in path.name)
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{count} B"
