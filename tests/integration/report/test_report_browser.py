"""The daily runs' HTML reports opened from disk in real headless Chromium (Debian chromium + chromedriver).

Asserts: no console errors (a CSP violation or a script error is one), every chart drew SVG marks, the
key numbers on the page equal the warehouse (and the sample's ground truth), the tables sort, the
minute chart zooms, and on the hostile day every payload shows as text while no script runs and no
dialog opens. Screenshots are saved under test-artifacts/ (WEBTRAIL_TEST_ARTIFACTS overrides it).
Skips only when Chromium is not installed (.ci/run installs it), and says so.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from config.settings import SAMPLE_DIR
from tests.integration.report.browser import CHART_MARKS_JS, chromium, console_errors, find_chromium, open_alert_text
from tests.integration.report.runs import (
    ATTRIBUTE_PATH,
    HOSTILE_DAY,
    JAVASCRIPT_PATH,
    REPO,
    SAMPLE_DAY,
    SCRIPT_PATH,
    CliRun,
    warehouse_connection,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        find_chromium() is None,
        reason="Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does it): "
        "the report's browser test cannot run",
    ),
]
GROUND_TRUTH = json.loads((SAMPLE_DIR / "ground_truth.json").read_text())
ARTIFACTS = Path(os.environ.get("WEBTRAIL_TEST_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as driver:
        yield driver


def _open(driver: Any, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if driver.execute_script("return document.readyState") == "complete" and driver.execute_script(
            "return !!window.webtrailCharts"
        ):
            return
        time.sleep(0.2)
    raise AssertionError(f"the report {path} did not finish drawing: {console_errors(driver)}")


def _values(driver: Any) -> dict[str, str]:
    return driver.execute_script(
        "var o = {}; document.querySelectorAll('[data-value]').forEach(function (e) {"
        " if (e.id) { o[e.id] = e.getAttribute('data-value'); } }); return o;"
    )


def _scalar(conn: Any, sql: str, day: date) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql, (day,))
        return cur.fetchone()[0]


def _screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


@pytest.fixture(scope="module")
def sample_report(sample_run: CliRun, browser: Any) -> dict[str, Any]:
    assert sample_run.returncode == 0, sample_run.stderr[-3000:]
    path = Path(sample_run.json()["html_report"])
    _open(browser, path)
    shot = _screenshot(browser, f"report-{SAMPLE_DAY}.png")
    return {"path": path, "errors": console_errors(browser), "charts": browser.execute_script(CHART_MARKS_JS),
            "values": _values(browser), "screenshot": shot}


def test_the_sample_report_opens_without_console_errors(sample_report: dict[str, Any]) -> None:
    assert sample_report["errors"] == []
    assert sample_report["screenshot"].stat().st_size > 10_000


def test_every_chart_of_the_sample_day_drew_its_marks(sample_report: dict[str, Any], browser: Any) -> None:
    charts = {c["id"]: c for c in sample_report["charts"]}
    expected = {
        "chart-traffic", "chart-status", "chart-endpoints", "chart-durations", "chart-pages", "chart-funnel",
        "chart-referrers", "chart-clients-browser", "chart-clients-os", "chart-clients-device",
        "chart-clients-bot", "chart-findings", "chart-ips", "chart-stages", "chart-trend",
    }
    assert set(charts) == expected
    for chart in charts.values():
        assert chart["drawn"] and chart["width"] > 100 and chart["height"] > 100, chart
        assert chart["marks"] >= 5, chart
    assert browser.find_elements("css selector", "p.empty[id$='-empty']") == []  # no panel without data


def test_key_numbers_on_the_page_equal_the_warehouse(sample_report: dict[str, Any], report_data_dir: Path) -> None:
    values = sample_report["values"]
    day = SAMPLE_DAY
    conn = warehouse_connection(report_data_dir)
    try:
        expected = {
            "kpi-requests": _scalar(conn, "SELECT sum(requests) FROM webtrail.traffic_minute WHERE day = %s", day),
            "kpi-bytes": _scalar(conn, "SELECT sum(bytes) FROM webtrail.status_daily WHERE day = %s", day),
            "kpi-4xx": _scalar(conn, "SELECT sum(requests) FROM webtrail.status_daily WHERE day = %s "
                                     "AND status BETWEEN 400 AND 499", day),
            "kpi-5xx": _scalar(conn, "SELECT sum(requests) FROM webtrail.status_daily WHERE day = %s "
                                     "AND status >= 500", day),
            "kpi-human-sessions": _scalar(conn, "SELECT count(*) FROM webtrail.sessions WHERE day = %s "
                                                "AND NOT is_bot", day),
            "kpi-bot-sessions": _scalar(conn, "SELECT count(*) FROM webtrail.sessions WHERE day = %s AND is_bot", day),
            "kpi-findings": _scalar(conn, "SELECT count(*) FROM webtrail.security_findings WHERE day = %s", day),
            "findings-high": _scalar(conn, "SELECT count(*) FROM webtrail.security_findings WHERE day = %s "
                                           "AND severity = 'high'", day),
            "fact-lines-read": _scalar(conn, "SELECT lines_read FROM webtrail.pipeline_runs r JOIN webtrail.day_loads "
                                             "l USING (run_id) WHERE l.day = %s", day),
        }
        status_rows = {}
        with conn.cursor() as cur:
            cur.execute("SELECT status, requests FROM webtrail.status_daily WHERE day = %s", (day,))
            status_rows = {str(s): str(n) for s, n in cur.fetchall()}
    finally:
        conn.close()
    assert {k: values[k] for k in expected} == {k: str(v) for k, v in expected.items()}
    # and the warehouse holds the sample's ground truth, so the page does too
    assert values["kpi-requests"] == str(GROUND_TRUTH["parsed_requests"])
    assert values["kpi-bytes"] == str(GROUND_TRUTH["total_bytes"])
    assert values["kpi-human-sessions"] == str(GROUND_TRUTH["human_sessions"])
    assert values["fact-lines-read"] == str(GROUND_TRUTH["lines"])
    assert values["fact-lines-rejected"] == str(GROUND_TRUTH["rejected_lines"])
    assert status_rows == {k: str(v) for k, v in GROUND_TRUTH["status_counts"].items()}


def test_status_table_shows_the_warehouse_rows(sample_report: dict[str, Any], browser: Any) -> None:
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('#table-status tbody tr')).map(function (r) {"
        " return [r.cells[0].getAttribute('data-sort'), r.cells[1].getAttribute('data-sort')]; });"
    )
    assert {s: n for s, n in cells} == {k: str(v) for k, v in GROUND_TRUTH["status_counts"].items()}


def test_tables_sort_when_a_header_is_clicked(sample_report: dict[str, Any], browser: Any) -> None:
    header = browser.find_element("css selector", "#table-endpoints thead th:nth-child(3)")  # hits
    column = "return Array.from(document.querySelectorAll('#table-endpoints tbody tr')).map(" \
             "function (r) { return parseFloat(r.cells[2].getAttribute('data-sort')); });"
    header.click()
    ascending = browser.execute_script(column)
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert browser.execute_script(column) == sorted(ascending, reverse=True)


def test_the_minute_chart_zooms_and_shows_values_on_hover(sample_report: dict[str, Any], browser: Any) -> None:
    zoom = browser.execute_script(
        "var c = window.webtrailCharts['chart-traffic'];"
        "c.dispatchAction({type: 'dataZoom', start: 40, end: 50});"
        "var z = c.getOption().dataZoom[0]; return [z.start, z.end];"
    )
    assert zoom == [40, 50]
    browser.execute_script(
        # minute 650 (10:50) lies inside the zoomed window of 40-50 % of the day's 1440 minutes
        "window.webtrailCharts['chart-traffic'].dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 650});"
    )
    tip = None
    deadline = time.monotonic() + 10
    while tip is None and time.monotonic() < deadline:  # the tooltip is drawn on the next frame
        time.sleep(0.2)
        tip = browser.execute_script(
            "var t = Array.from(document.querySelectorAll('#chart-traffic div')).filter(function (d) {"
            " return d.style.position === 'absolute' && d.textContent.indexOf('requests:') >= 0; })[0];"
            " return t ? t.textContent : null;"
        )
    assert tip is not None and tip.startswith("10:50") and "requests:" in tip and "p95 latency (ms):" in tip


@pytest.fixture(scope="module")
def hostile_report(hostile_run: CliRun, sample_run: CliRun, browser: Any, report_data_dir: Path) -> dict[str, Any]:
    assert hostile_run.returncode == 0, hostile_run.stderr[-3000:]
    path = report_data_dir.resolve() / "reports" / f"{HOSTILE_DAY}.html"
    _open(browser, path)
    details = browser.find_elements("css selector", "#table-findings details")
    for element in details:  # open every evidence list: its rows render too
        browser.execute_script("arguments[0].open = true;", element)
    _screenshot(browser, f"report-{HOSTILE_DAY}-hostile.png")
    return {
        "errors": console_errors(browser),
        "alert": open_alert_text(browser),
        "dialogs": browser.execute_script("return window.__webtrailDialogs"),
        "text": browser.execute_script("return document.body.innerText"),
        "images": browser.execute_script("return document.images.length"),
        "links": browser.execute_script(
            "return Array.from(document.links).map(function (a) { return a.getAttribute('href'); })"
        ),
        "charts": browser.execute_script(CHART_MARKS_JS),
        "evidence": browser.execute_script(
            "return Array.from(document.querySelectorAll('.evidence-request')).map(function (e) {"
            " return e.textContent; })"
        ),
    }


def test_hostile_content_runs_no_script_and_opens_no_dialog(hostile_report: dict[str, Any]) -> None:
    assert hostile_report["alert"] is None
    assert hostile_report["dialogs"] == []
    assert hostile_report["errors"] == []  # an injected inline script would also be a CSP violation
    assert hostile_report["images"] == 0  # no <img> from the data became an element
    assert all(href.startswith("#") for href in hostile_report["links"]), hostile_report["links"]


def test_hostile_paths_and_agents_show_as_text(hostile_report: dict[str, Any]) -> None:
    text = hostile_report["text"]
    assert SCRIPT_PATH in text
    assert "<img/src=x/onerror=alert('xss-attr')>" in text
    assert JAVASCRIPT_PATH in text
    evidence = "\n".join(hostile_report["evidence"])
    assert SCRIPT_PATH in evidence, "the XSS finding's evidence requests are shown verbatim"
    assert ATTRIBUTE_PATH.replace("\\x22", '"') in text or ATTRIBUTE_PATH in text


def test_hostile_day_charts_drew(hostile_report: dict[str, Any]) -> None:
    drawn = {c["id"]: c["marks"] for c in hostile_report["charts"]}
    assert {"chart-traffic", "chart-endpoints", "chart-findings"} <= set(drawn)
    assert all(marks >= 3 for marks in drawn.values()), drawn
