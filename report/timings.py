"""Where a `python -m flows.daily` run spends its time, fixed costs included (the `timings` of `--json`).

The stages are the flow's own (pipeline_runs.stage_timings, plus the HTML report); around them this adds
what no stage shows: Python start-up and imports, Prefect's ephemeral API start (from the flow call to
the flow entering Running; when flows.early_api launched the server before the imports, `prefect_api`
says when it was ready and how long main() still waited for it), the rest of the flow body (warehouse
start, input discovery, artifacts), the JVM start, which runs in the background
(analytics.spark.SparkStarter) and overlaps the rest, and the Spark job and stage counts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol


class _Starter(Protocol):
    started_at: float | None
    ready_at: float | None
    waited_seconds: float


class _EarlyApi(Protocol):
    launched_at: float
    ready_at: float | None


def _process_started() -> float | None:
    """This process's start as a time.time() value (psutil), or None when it cannot be read."""
    try:
        import psutil

        return float(psutil.Process().create_time())
    except Exception:  # noqa: BLE001 - a timing must never fail the run
        return None


class RunTimeline:
    """Marks taken by `flows.daily.main` around the flow (perf_counter values)."""

    def __init__(self) -> None:
        self.main_started = time.perf_counter()
        self.imports_seconds: float | None = None
        process_started = _process_started()
        if process_started is not None:
            self.imports_seconds = max(0.0, time.time() - process_started)
        self.api_wait_started: float | None = None
        self.early_api: _EarlyApi | None = None  # flows.early_api.EarlyApi, when Prefect adopted it
        self.flow_called: float | None = None
        self.flow_running: float | None = None
        self.flow_returned: float | None = None

    def api_waiting(self) -> None:
        """main() starts waiting for the early API server (flows.early_api.adopt)."""
        self.api_wait_started = time.perf_counter()

    def calling_flow(self) -> None:
        self.flow_called = time.perf_counter()

    def on_running(self, *_hook_args: object) -> None:
        """Prefect on_running state hook (flow, flow_run, state): the flow body is about to start."""
        self.flow_running = time.perf_counter()

    def flow_done(self) -> None:
        self.flow_returned = time.perf_counter()

    def to_dict(
        self, stage_seconds: Mapping[str, float], starter: _Starter | None, counts: Mapping[str, int] | None
    ) -> dict[str, Any]:
        """Seconds per part of the run, rounded to milliseconds; parts that were not measured are None."""

        def span(start: float | None, end: float | None) -> float | None:
            return round(end - start, 3) if start is not None and end is not None else None

        flow_body = span(self.flow_running, self.flow_returned)
        in_stages = sum(stage_seconds.values())
        spark: dict[str, Any] = {"early_start": starter is not None, "jobs": None, "stages": None, **(counts or {})}
        if starter is not None:
            spark.update({
                "start_seconds": span(starter.started_at, starter.ready_at),
                "ready_after_main_seconds": span(self.main_started, starter.ready_at),
                "analytics_waited_seconds": round(starter.waited_seconds, 3),
            })
        api: dict[str, Any] = {"early_start": self.early_api is not None}
        if self.early_api is not None:
            # launched before the imports: its start counts from the process start, not from main()
            api.update({
                "start_seconds": span(self.early_api.launched_at, self.early_api.ready_at),
                "ready_after_main_seconds": span(self.main_started, self.early_api.ready_at),
                "main_waited_seconds": span(self.api_wait_started, self.flow_called),
            })
        return {
            "python_imports": round(self.imports_seconds, 3) if self.imports_seconds is not None else None,
            "prefect_api_start": span(self.flow_called, self.flow_running),
            "prefect_api": api,
            "flow_body": flow_body,
            "stages": {name: round(seconds, 3) for name, seconds in stage_seconds.items()},
            "flow_body_outside_stages": round(flow_body - in_stages, 3) if flow_body is not None else None,
            "main_total": span(self.main_started, self.flow_returned),
            "spark": spark,
        }


def spark_counts() -> dict[str, int] | None:
    """Spark jobs and stages run so far by this process's SparkContext (None when none is running).

    `stages` counts the distinct stages of those jobs; `stages_run` those that ran tasks (the rest
    were skipped: their shuffle output was already there).
    """
    try:
        from pyspark import SparkContext

        context = SparkContext._active_spark_context
        if context is None:
            return None
        tracker = context.statusTracker()
        job_ids = tracker.getJobIdsForGroup(None)
        stage_ids: set[int] = set()
        for job_id in job_ids:
            job = tracker.getJobInfo(job_id)
            if job is not None:
                stage_ids.update(job.stageIds)
        ran = 0
        for stage_id in stage_ids:
            stage = tracker.getStageInfo(stage_id)
            ran += bool(stage is not None and stage.numCompletedTasks > 0)
        return {"jobs": len(job_ids), "stages": len(stage_ids), "stages_run": ran}
    except Exception:  # noqa: BLE001 - a count for the run's timings must never fail the run
        return None


def process_role(cmdline: list[str]) -> str:
    """Which part of a run a process is, from its command line (for the memory breakdowns)."""
    text = " ".join(cmdline)
    if "java" in (cmdline[0] if cmdline else "") or "org.apache.spark" in text:
        return "jvm"
    if "prefect.server.api.server:create_app" in text:
        return "prefect_api"
    if "flows.daily" in text:  # before postgres: its --database-url may name it
        return "python_flow"
    if "postgres" in text:
        return "postgresql"
    return "other"


def rss_by_role() -> dict[str, int]:
    """RSS in MiB of this process and of its children (the JVM, Prefect's API server), by role."""
    try:
        import psutil

        me = psutil.Process()
        roles = {"python_flow": me.memory_info().rss}
        for child in me.children(recursive=True):
            try:
                role = process_role(child.cmdline())
                roles[role] = roles.get(role, 0) + child.memory_info().rss
            except psutil.Error:
                continue
        return {role: rss // 2**20 for role, rss in roles.items()}
    except Exception:  # noqa: BLE001 - a measurement must never fail the run
        return {}


def jvm_memory() -> dict[str, int] | None:
    """The driver JVM's memory in MiB: the heap's limit, committed size and peak use (the sum of its
    pools' peaks, an upper bound), non-heap use (metaspace, code cache) and NIO direct buffers."""
    try:
        from pyspark import SparkContext

        context = SparkContext._active_spark_context
        if context is None or context._jvm is None:
            return None
        jvm = context._jvm
        management = jvm.java.lang.management.ManagementFactory
        mib = 2**20
        heap_peak = sum(pool.getPeakUsage().getUsed() for pool in management.getMemoryPoolMXBeans()
                        if str(pool.getType().name()) == "HEAP")
        buffers = management.getPlatformMXBeans(jvm.java.lang.Class.forName("java.lang.management.BufferPoolMXBean"))
        direct = sum(pool.getMemoryUsed() for pool in buffers if str(pool.getName()) == "direct")
        runtime = jvm.java.lang.Runtime.getRuntime()
        return {"heap_max": runtime.maxMemory() // mib, "heap_committed": runtime.totalMemory() // mib,
                "heap_peak_used": heap_peak // mib,
                "non_heap_used": management.getMemoryMXBean().getNonHeapMemoryUsage().getUsed() // mib,
                "direct_buffers": direct // mib}
    except Exception:  # noqa: BLE001 - a measurement must never fail the run
        return None
