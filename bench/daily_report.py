"""BENCHMARKS.md's end-to-end section, rendered from bench/results/daily.json (bench/bench_daily.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BEGIN = "<!-- bench_daily:begin (written by bench/bench_daily.py --write-benchmarks) -->"
END = "<!-- bench_daily:end -->"
STAGES = ("parse", "input_checks", "analytics", "output_checks", "load", "loaded_checks", "report")
ORDER = {"sample": 0}


def _seconds(spread: dict[str, float]) -> str:
    return f"{spread['median']:.1f} s ({spread['min']:.1f}-{spread['max']:.1f})"


def _memory(spread: dict[str, float]) -> str:
    mib = spread["median"] / 2**20
    return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def _num(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else "-"


def _exit_seconds(summary: dict[str, Any]) -> float | None:
    """Wall time after the flow returned: the summary print, Prefect's and the JVM's shutdown."""
    timings = summary["timings"]
    if timings.get("python_imports") is None or timings.get("main_total") is None:
        return None
    return summary["wall"]["median"] - timings["python_imports"] - timings["main_total"]


def _overview(entries: list[dict[str, Any]]) -> list[str]:
    rows = ["| day | lines | GoAccess 1.7 | webtrail (median of runs, min-max) | webtrail / GoAccess (median of "
            "pairs) | webtrail peak RSS, all processes | GoAccess peak RSS | Spark jobs | runs | measured |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for entry in entries:
        for name, summary in entry["webtrail"].items():
            goaccess = entry.get("goaccess")
            ratio = entry.get("ratio_to_goaccess") if name == "webtrail" else None
            jobs = summary["timings"].get("spark", {}).get("jobs")
            ratio_text = f"{ratio['median']:.1f}x" if ratio else "-"
            rows.append(
                f"| {entry['label']} ({name}) | {entry['lines']:,} | {_seconds(goaccess['wall']) if goaccess else '-'} "
                f"| {_seconds(summary['wall'])} | {ratio_text} "
                f"| {_memory(summary['peak_rss'])} | {_memory(goaccess['peak_rss']) if goaccess else '-'} "
                f"| {jobs if jobs is not None else '-'} | {entry['repeat']} | {entry['measured']} |"
            )
    return rows


def _parts(entries: list[dict[str, Any]]) -> list[str]:
    head = ("| day | Python start + imports | Prefect API start | JVM start (in the background) | analytics "
            "waited for the JVM | " + " | ".join(STAGES) + " | rest of the flow | exit |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for entry in entries:
        for name, summary in entry["webtrail"].items():
            timings = summary["timings"]
            spark = timings.get("spark", {})
            stages = timings.get("stages", {})
            cells = [timings.get("python_imports"), timings.get("prefect_api_start"), spark.get("start_seconds"),
                     spark.get("analytics_waited_seconds"), *(stages.get(stage) for stage in STAGES),
                     timings.get("flow_body_outside_stages"), _exit_seconds(summary)]
            rows.append(f"| {entry['label']} ({name}) | " + " | ".join(_num(cell) for cell in cells) + " |")
    return rows


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
        "the analytics stage only waits for what is left of it.",
        "",
        *_parts(entries),
        "",
    ]
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
