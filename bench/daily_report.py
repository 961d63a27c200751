"""BENCHMARKS.md's end-to-end section, rendered from bench/results/daily.json (bench/bench_daily.py)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench_daily:begin (written by bench/bench_daily.py --write-benchmarks) -->"
END = "<!-- bench_daily:end -->"
STAGES = ("parse", "input_checks", "analytics", "output_checks", "load", "loaded_checks", "report")
ORDER = {"sample": 0}
LINEARITY_BOUND = 10.5


def _seconds(spread: dict[str, float]) -> str:
    return f"{spread['median']:.1f} s ({spread['min']:.1f}-{spread['max']:.1f})"


def _memory(spread: dict[str, float]) -> str:
    mib = spread["median"] / 2**20
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def _num(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"


def _run_exit(run: dict[str, Any]) -> float | None:
    """Wall time after the flow returned: the summary print, Prefect's and the JVM's shutdown."""
    timings = run["timings"]
    if timings.get("python_imports") is None or timings.get("main_total") is None:
        return None
    return run["wall"] - timings["python_imports"] - timings["main_total"]


def _run_fixed(run: dict[str, Any]) -> float | None:
    """A run's fixed cost on its critical path, whatever the size of the day: Python start and imports,
    the wait for Prefect's API (main() waiting for the early server, then the flow call until Running),
    the analytics stage's wait for the JVM, and the exit."""
    timings = run["timings"]
    parts = [timings.get("python_imports"), timings.get("prefect_api_start"), _run_exit(run)]
    if None in parts:
        return None
    waited = (timings.get("prefect_api") or {}).get("main_waited_seconds") or 0.0
    return sum(parts) + waited + ((timings.get("spark") or {}).get("analytics_waited_seconds") or 0.0)


def _median_of_runs(summary: dict[str, Any], measure: Any) -> float | None:
    values = [measure(run) for run in summary.get("runs", [])]
    return statistics.median(values) if values and None not in values else None


def _exit_seconds(summary: dict[str, Any]) -> float | None:
    return _median_of_runs(summary, _run_exit)


def fixed_seconds(summary: dict[str, Any]) -> float | None:
    """The median over the runs of their fixed cost (_run_fixed)."""
    return _median_of_runs(summary, _run_fixed)


def after_fixed_seconds(summary: dict[str, Any]) -> float | None:
    """The median over the runs of their wall time minus their fixed cost."""
    return _median_of_runs(summary, lambda run: None if _run_fixed(run) is None else run["wall"] - _run_fixed(run))


def _overview(entries: list[dict[str, Any]]) -> list[str]:
    rows = ["| day | lines | GoAccess 1.7 | webtrail (median of runs, min-max) | webtrail / GoAccess (median of "
            "pairs) | webtrail peak RSS, all processes | GoAccess peak RSS | Spark jobs | Spark stages (run) | runs "
            "| measured |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for entry in entries:
        for name, summary in entry["webtrail"].items():
            goaccess = entry.get("goaccess")
            ratio = entry.get("ratio_to_goaccess") if name == "webtrail" else None
            spark = summary["timings"].get("spark", {})
            jobs, stages = spark.get("jobs"), spark.get("stages")
            stages_text = f"{stages:.0f} ({spark.get('stages_run', 0):.0f})" if stages is not None else "-"
            ratio_text = f"{ratio['median']:.1f}x" if ratio else "-"
            rows.append(
                f"| {entry['label']} ({name}) | {entry['lines']:,} | {_seconds(goaccess['wall']) if goaccess else '-'} "
                f"| {_seconds(summary['wall'])} | {ratio_text} "
                f"| {_memory(summary['peak_rss'])} | {_memory(goaccess['peak_rss']) if goaccess else '-'} "
                f"| {f'{jobs:.0f}' if jobs is not None else '-'} | {stages_text} | {entry['repeat']} "
                f"| {entry['measured']} |"
            )
    return rows


def _parts(entries: list[dict[str, Any]]) -> list[str]:
    head = ("| day | Python start + imports | Prefect API start (launched before the imports) | main() waited for "
            "the API | flow call to Running | JVM start (in the background) | analytics waited for the JVM | "
            + " | ".join(STAGES) + " | rest of the flow | exit | fixed cost |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for entry in entries:
        for name, summary in entry["webtrail"].items():
            timings = summary["timings"]
            spark, api = timings.get("spark", {}), timings.get("prefect_api", {})
            stages = timings.get("stages", {})
            cells = [timings.get("python_imports"), api.get("start_seconds"), api.get("main_waited_seconds"),
                     timings.get("prefect_api_start"), spark.get("start_seconds"),
                     spark.get("analytics_waited_seconds"), *(stages.get(stage) for stage in STAGES),
                     timings.get("flow_body_outside_stages"), _exit_seconds(summary), fixed_seconds(summary)]
            rows.append(f"| {entry['label']} ({name}) | " + " | ".join(_num(cell) for cell in cells) + " |")
    return rows


def _memory_parts(entries: list[dict[str, Any]]) -> list[str]:
    """Peak RSS per kind of process (median over the runs), and what each held when the sum peaked."""
    roles = ("python_flow", "jvm", "prefect_api", "postgresql", "other")
    head = "| day | " + " | ".join(f"{role}: at the peak / own peak" for role in roles) + " |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for entry in entries:
        for name, summary in entry["webtrail"].items():
            runs = [run for run in summary["runs"] if "rss_at_peak" in run]
            if not runs:
                continue
            cells = []
            for role in roles:
                at_peak = statistics.median(run["rss_at_peak"].get(role, 0) for run in runs)
                own = statistics.median(run["rss_peak_each"].get(role, 0) for run in runs)
                cells.append(f"{_mib(at_peak)} / {_mib(own)}")
            rows.append(f"| {entry['label']} ({name}) | " + " | ".join(cells) + " |")
    return rows if len(rows) > 2 else []


def _slowest_contracts(entries: list[dict[str, Any]], count: int = 4) -> list[str]:
    """Per day, the check stages' slowest Soda contracts (median seconds, from `timings.contracts`)."""
    lines = []
    for entry in entries:
        contracts = entry["webtrail"].get("webtrail", {}).get("timings", {}).get("contracts") or {}
        parts = []
        for stage, seconds in contracts.items():
            slowest = sorted(seconds.items(), key=lambda item: -item[1])[:count]
            if slowest:
                parts.append(f"{stage}: " + ", ".join(f"{name} {value:.1f} s" for name, value in slowest))
        if parts:
            lines.append(f"- {entry['label']}: " + "; ".join(parts))
    return lines


def _mib(value: float) -> str:
    return f"{value / 2**20:.0f} MiB"


def linearity(recorded: dict[str, dict[str, Any]]) -> str | None:
    """The issue's check: the 10M run's time after fixed costs is at most 10.5x the 1M run's."""
    small, large = recorded.get("1m"), recorded.get("10m")
    if not small or not large:
        return None
    small_run, large_run = small["webtrail"]["webtrail"], large["webtrail"]["webtrail"]
    small_rest, large_rest = after_fixed_seconds(small_run), after_fixed_seconds(large_run)
    small_fixed, large_fixed = fixed_seconds(small_run), fixed_seconds(large_run)
    if small_rest is None or large_rest is None or small_fixed is None or large_fixed is None:
        return None
    ratio = large_rest / small_rest
    verdict = "holds" if ratio <= LINEARITY_BOUND else "does NOT hold"
    return (f"Linearity (the issue's bound: at most {LINEARITY_BOUND}x): after the fixed costs, the 10M day took "
            f"{large_rest:.1f} s (fixed cost {large_fixed:.1f} s) and the 1M day {small_rest:.1f} s (fixed cost "
            f"{small_fixed:.1f} s), medians over the runs of wall minus fixed: {ratio:.2f}x, the bound "
            f"{verdict}.")


def render_section(recorded: dict[str, dict[str, Any]]) -> str:
    entries = sorted(recorded.values(), key=lambda entry: (ORDER.get(entry["label"], 1), entry["lines"]))
    lines = [
        BEGIN,
        "## End to end: `python -m flows.daily` against GoAccess (`bench/bench_daily.py`)",
        "```",
        *(entry["command"] for entry in entries),
        "```",
        "Each repeat runs GoAccess (`/usr/bin/goaccess`, its full analysis of the same file into a JSON report, "
        "checked to have read every line) and then webtrail (`python -m flows.daily --json`: every stage, into "
        "PostgreSQL, in a fresh process and data directory). The generated days are the combined log with "
        "request times of `sample_logs.generate` (seed 7) with their events and users. Peak RSS is summed over "
        "every process of the run (Python, the JVM, Prefect's ephemeral API, the embedded PostgreSQL and its "
        "backends), sampled every 0.2 s. Times are wall seconds: median (min-max).",
        "",
        *_overview(entries),
        "",
        "Where the time goes (medians, seconds; from the run's `--json` `timings`). The JVM starts in a background "
        "thread when `python -m flows.daily` starts, so its start overlaps Prefect's API start and the parsers; "
        "the analytics stage only waits for what is left of it. Prefect's API server is launched on the first line "
        "of `python -m flows.daily` (flows/early_api.py): `main() waited for the API` is what was left of its start "
        "after the imports, `flow call to Running` Prefect's own flow-run set-up (the whole API start in runs "
        "without the early launch).",
        "",
        *_parts(entries),
        "",
        "The fixed cost is what a run pays whatever the size of its day, on its critical path: Python start and "
        "imports, the wait for Prefect's API, the analytics stage's wait for the JVM, and the exit.",
        "",
    ]
    memory = _memory_parts(entries)
    if memory:
        lines += ["Peak RSS by process (median of the runs): what each kind of process held when the sum peaked, "
                  "and its own peak.", "", *memory, ""]
    slowest = _slowest_contracts(entries)
    if slowest:
        lines += ["The slowest Soda contracts of each check stage (medians):", "", *slowest, ""]
    check = linearity(recorded)
    if check:
        lines += [check, ""]
    for entry in entries:
        load = ", ".join(f"{value:.1f}" for value in entry["load_average"])
        note = f"- {entry['label']}: {entry['database']}; load average at the end {load}. {entry['note']}"
        lines.append(note.rstrip())
    lines.append(END)
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the text between the markers (or append the section when they are not there yet)."""
    text = path.read_text()
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
