"""`python -m flows.daily` as a user runs it: real subprocesses, real Prefect, Spark and PostgreSQL.

Exit codes: 0 loaded, 3 blocked by a quality gate, 1 other errors, 2 usage. Outputs: the summary table on
stdout (piped: no progress, no colour codes), --json, --quiet, and live progress in a terminal (pty).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from config.settings import SAMPLE_DIR
from tests.integration.report.runs import (
    BLOCKED_DAY,
    HOSTILE_DAY,
    REPO,
    RUN_TIMEOUT,
    SAMPLE_DAY,
    CliRun,
    blocked_log,
    run_cli,
)

pytestmark = pytest.mark.integration
GROUND_TRUTH = json.loads((SAMPLE_DIR / "ground_truth.json").read_text())


def test_usage_errors_exit_2(report_env: dict[str, str]) -> None:
    for args in (["--date", "yesterday"], ["--quiet", "--json"], ["--no-such-flag"]):
        run = run_cli(args, report_env)
        assert run.returncode == 2, (args, run.stderr)
        assert "usage: python -m flows.daily" in run.stderr
        assert "Traceback" not in run.stderr


def test_an_invalid_setting_exits_1_with_the_setting_named(report_env: dict[str, str]) -> None:
    run = run_cli(["--json"], {**report_env, "WEBTRAIL_SESSIONS__OVERLAP_MINUTES": "5"})
    assert run.returncode == 1
    assert "WEBTRAIL_SESSIONS__OVERLAP_MINUTES" in run.stderr and "Traceback" not in run.stderr
    assert json.loads(run.stdout)["status"] == "error"


def test_a_missing_access_log_exits_1_with_a_clear_message(report_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "access.log"
    run = run_cli(["--quiet", "--date", BLOCKED_DAY.isoformat(), "--access-log", str(missing)], report_env)
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.stdout == ""
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: FileNotFoundError: no access log matches"), last
    assert str(missing) in last and "Full log:" in last


def test_the_summary_table_goes_to_stdout(hostile_run: CliRun) -> None:
    assert hostile_run.returncode == 0, hostile_run.stderr[-3000:]
    out = hostile_run.stdout
    assert f"webtrail daily run for {HOSTILE_DAY.isoformat()}: completed" in out
    assert "access-log lines read" in out and "rows in webtrail.traffic_minute" in out
    assert "\x1b[" not in out, "no colour codes or cursor movement when stdout is piped"
    assert "HTML report:" in out


def test_json_summary_is_machine_readable(sample_run: CliRun, report_data_dir: Path) -> None:
    assert sample_run.returncode == 0, sample_run.stderr[-3000:]
    summary = sample_run.json()  # stdout holds the JSON document and nothing else
    assert summary["status"] == "completed" and summary["day"] == SAMPLE_DAY.isoformat()
    assert (summary["lines_read"], summary["lines_parsed"], summary["lines_rejected"]) == (
        GROUND_TRUTH["lines"], GROUND_TRUTH["parsed_requests"], GROUND_TRUTH["rejected_lines"]
    )
    assert summary["human_sessions"] == GROUND_TRUTH["human_sessions"]
    assert Path(summary["html_report"]) == report_data_dir.resolve() / "reports" / f"{SAMPLE_DAY}.html"
    assert Path(summary["html_report"]).stat().st_size > 100_000
    timings = summary["timings"]  # where the run's time went (report/timings.py; bench/bench_daily.py reads it)
    assert set(timings["stages"]) == {"parse", "input_checks", "analytics", "output_checks", "load", "loaded_checks",
                                      "report"}
    assert timings["spark"]["early_start"] is True and timings["spark"]["jobs"] > 0
    assert timings["prefect_api_start"] > 0 and timings["spark"]["start_seconds"] > 0
    # no API configured: the server flows.early_api launched before the imports is the one the flow ran on
    assert timings["prefect_api"]["early_start"] is True and timings["prefect_api"]["start_seconds"] > 0
    assert timings["spark"]["stages"] >= timings["spark"]["jobs"] and timings["spark"]["memory_mib"]["heap_max"] > 0
    assert set(timings["contracts"]) == {"input_checks", "output_checks", "loaded_checks"}
    assert timings["rss_mib_after_stage"]["analytics"]["jvm"] > 0


def test_an_already_loaded_day_exits_0_and_says_so(sample_run: CliRun, report_env: dict[str, str]) -> None:
    run = run_cli([], report_env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == f"{SAMPLE_DAY}: already loaded from the same inputs (use --force to reload)."


def _run_in_pty(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stdout on a pseudo-terminal (progress on) and stderr piped; returns (code, screen, stderr)."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.daily", *args], cwd=REPO, env={**env, "COLUMNS": "140", "TERM": "xterm"},
        stdout=secondary, stderr=subprocess.PIPE, text=False,
    )
    os.close(secondary)
    screen = bytearray()
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    os.close(primary)
    return process.returncode, screen.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")


def test_a_blocked_day_exits_3_with_one_line_per_failed_check_and_progress_in_a_terminal(
    hostile_run: CliRun, report_env: dict[str, str], tmp_path: Path
) -> None:
    log = blocked_log(tmp_path / "blocked-access.log")
    code, screen, stderr = _run_in_pty(["--date", BLOCKED_DAY.isoformat(), "--access-log", str(log)], report_env)
    assert code == 3, stderr[-3000:]
    # progress: the file with its exact counts, and the stages
    assert "blocked-access.log" in screen and "110 lines: 100 parsed, 10 rejected" in screen
    assert "parse inputs" in screen and "input contracts (Soda)" in screen
    lines = stderr.strip().splitlines()
    assert lines[0] == f"{BLOCKED_DAY} was not loaded: a blocking data-quality check failed:", stderr
    assert lines[1].startswith("  parse_stats.parse_quality: measured 0.0909"), lines[1]
    assert lines[1].endswith("expected <= 0.01")
    assert lines[2].startswith(f"Read more: python -m warehouse.show quality_results --day {BLOCKED_DAY}")
    assert "webtrail-quality-inputs" in lines[2] and "Full log: " in lines[2]
    assert len(lines) == 3 and "Traceback" not in stderr
    log_file = Path(lines[2].split("Full log: ", 1)[1].strip())
    assert "parse_quality" in log_file.read_text(errors="replace")


def _inlined_data(html: str) -> dict:
    start = html.index('<script type="application/json" id="webtrail-data">') + len(
        '<script type="application/json" id="webtrail-data">'
    )
    return json.loads(html[start:html.index("</script>", start)])


def test_report_html_rebuilds_a_loaded_day_from_the_warehouse(
    sample_run: CliRun, report_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "rebuilt.html"
    rebuilt = subprocess.run(
        [sys.executable, "-m", "report.html", "--day", SAMPLE_DAY.isoformat(), "--out", str(out)],
        cwd=REPO, env=report_env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith(f"wrote {out}")
    original = Path(sample_run.json()["html_report"]).read_text(encoding="utf-8")
    assert _inlined_data(out.read_text(encoding="utf-8")) == _inlined_data(original)

    missing = subprocess.run(
        [sys.executable, "-m", "report.html", "--day", "2020-01-01"],
        cwd=REPO, env=report_env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"error: the warehouse has no loaded run for 2020-01-01. Loaded days: {HOSTILE_DAY}, {SAMPLE_DAY}"
    )
    usage = subprocess.run([sys.executable, "-m", "report.html", "--day", "24/11/2026"], cwd=REPO, env=report_env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert usage.returncode == 2 and "usage: python -m report.html" in usage.stderr
