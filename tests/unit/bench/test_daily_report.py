"""bench/daily_report.py: the fixed cost, the linearity check and the section format, on hand-made runs."""

from __future__ import annotations

from typing import Any

from bench.daily_report import BEGIN, END, after_fixed_seconds, fixed_seconds, linearity, render_section


def _run(wall: float, imports: float, main_total: float, waited_api: float, to_running: float,
         waited_jvm: float) -> dict[str, Any]:
    # params: one hand-made run's figures
    return {"wall": wall, "peak_rss": 3 * 2**30, "rss_at_peak": {"jvm": 2 * 2**30, "python_flow": 2**30},
            "rss_peak_each": {"jvm": 2 * 2**30, "python_flow": 2**30},
            "timings": {"python_imports": imports, "prefect_api_start": to_running, "main_total": main_total,
                        "prefect_api": {"early_start": True, "start_seconds": 6.0, "main_waited_seconds": waited_api},
                        "stages": {"analytics": main_total / 2}, "flow_body_outside_stages": 1.0,
                        "contracts": {"output_checks": {"sessions": 1.25, "cross_table": 2.5, "ip_daily": 0.5}},
                        "spark": {"jobs": 40, "stages": 90, "stages_run": 60, "start_seconds": 9.0,
                                  "analytics_waited_seconds": waited_jvm}}}


def _entry(label: str, lines: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    walls = sorted(run["wall"] for run in runs)
    summary = {"wall": {"median": walls[len(walls) // 2], "min": walls[0], "max": walls[-1]},
               "peak_rss": {"median": 3 * 2**30, "min": 3 * 2**30, "max": 3 * 2**30},
               "timings": runs[0]["timings"], "runs": runs}
    return {"lines": lines, "label": label, "repeat": len(runs), "measured": "2026-12-02 05:00 UTC",
            "load_average": [1.0, 1.0, 1.0], "database": "embedded PostgreSQL", "note": "",
            "command": f"python bench/bench_daily.py --lines {lines}", "webtrail": {"webtrail": summary}}


def test_the_fixed_cost_is_imports_api_wait_jvm_wait_and_exit() -> None:
    # exit = 30 - 2 - 26 = 2; fixed = 2 (imports) + 1 (to Running) + 2 (exit) + 3 (API wait) + 0.5 (JVM wait)
    entry = _entry("1m", 1_000_000, [_run(30.0, 2.0, 26.0, 3.0, 1.0, 0.5)])
    summary = entry["webtrail"]["webtrail"]
    assert fixed_seconds(summary) == 8.5
    assert after_fixed_seconds(summary) == 21.5


def test_linearity_uses_the_medians_of_wall_minus_fixed() -> None:
    small = _entry("1m", 1_000_000, [_run(wall, 2.0, wall - 4.0, 3.0, 1.0, 0.0) for wall in (28.0, 30.0, 40.0)])
    # fixed of each: 2 + 1 + 2 (exit) + 3 = 8; after fixed: 20, 22, 32 -> median 22
    large = _entry("10m", 10_000_000, [_run(wall, 2.0, wall - 4.0, 3.0, 1.0, 0.0) for wall in (238.0, 250.0)])
    # after fixed: 230, 242 -> median 236; 236 / 22 = 10.727...
    text = linearity({"1m": small, "10m": large})
    assert text is not None
    assert "236.0 s" in text and "22.0 s" in text and "10.73x" in text and "does NOT hold" in text
    assert linearity({"1m": small}) is None


def test_the_section_has_the_stage_count_and_the_memory_breakdown() -> None:
    recorded = {"1m": _entry("1m", 1_000_000, [_run(30.0, 2.0, 26.0, 3.0, 1.0, 0.5)])}
    section = render_section(recorded)
    assert section.startswith(BEGIN) and section.endswith(END)
    overview = next(line for line in section.splitlines() if line.startswith("| 1m (webtrail) | 1,000,000"))
    assert "| 40 | 90 (60) |" in overview
    assert "| 2048 MiB / 2048 MiB |" in section  # the JVM at the peak / its own peak
    assert "Linearity" not in section  # no 10M entry yet
    assert "- 1m: output_checks: cross_table 2.5 s, sessions 1.2 s, ip_daily 0.5 s" in section
