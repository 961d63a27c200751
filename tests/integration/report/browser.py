"""Real headless Chromium (Debian `chromium` + `chromium-driver`) driven by selenium, for the report tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER_CANDIDATES = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1000",
)

# Runs before any script of the page: records dialogs instead of opening them, and what a hostile
# payload would set if it ever ran.
TRAPS = """
window.__webtrailDialogs = [];
['alert', 'confirm', 'prompt', 'print'].forEach(function (name) {
  window[name] = function (message) { window.__webtrailDialogs.push(name + ':' + message); };
});
"""


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) paths when both are installed."""
    browser = next((p for p in CHROMIUM_CANDIDATES if Path(p).exists()), shutil.which("chromium"))
    driver = next((p for p in DRIVER_CANDIDATES if Path(p).exists()), shutil.which("chromedriver"))
    return (browser, driver) if browser and driver else None


@contextmanager
def chromium() -> Iterator[Any]:
    """A selenium Chrome driver on the system Chromium with a fresh profile; quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    assert found is not None, "chromium and chromedriver must be installed"
    browser, driver_path = found
    profile = tempfile.mkdtemp(prefix="webtrail-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TRAPS})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    """Browser console entries at SEVERE level (errors, CSP violations, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def open_alert_text(driver: Any) -> str | None:
    """The text of a JavaScript dialog that is open, else None."""
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert.text
    except NoAlertPresentException:
        return None


CHART_MARKS_JS = """
return Array.from(document.querySelectorAll('div.chart')).map(function (el) {
  var svg = el.querySelector('svg');
  var marks = svg ? svg.querySelectorAll('path, rect, circle, polyline, polygon').length : 0;
  var box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  return {id: el.id, drawn: el.getAttribute('data-drawn') === 'true', marks: marks,
          width: box.width, height: box.height};
});
"""
