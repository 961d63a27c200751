"""Helpers of the report tests: hand-written days and `python -m flows.daily` in a subprocess.

One data directory (its own embedded PostgreSQL) holds, in this order:
1. a hand-written hostile day (the day before the sample), whose paths, user agents and referers carry
   `<script>`, an attribute breakout with an event handler and `javascript:` URLs;
2. the bundled sample day, so its report has a two-day trend.
A third day is written to fail the reject-ratio gate (exit code 3).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from config.settings import SAMPLE_DIR

REPO = Path(__file__).resolve().parents[3]
RUN_TIMEOUT = 900
SAMPLE_DAY = date.fromisoformat(json.loads((SAMPLE_DIR / "ground_truth.json").read_text())["date"])
HOSTILE_DAY = SAMPLE_DAY - timedelta(days=1)
BLOCKED_DAY = SAMPLE_DAY - timedelta(days=2)

# What a payload would do if it ever ran: call a dialog (trapped by the browser test) or set a flag.
SCRIPT_PATH = "/<script>alert('xss-path')</script>"
ATTRIBUTE_PATH = "/x\\x22><img/src=x/onerror=alert('xss-attr')>"  # nginx writes `"` as \x22
JAVASCRIPT_PATH = "/go/javascript:alert('xss-js')"
HOSTILE_AGENT = "<script>alert('xss-ua')</script> Mozilla/5.0"
HOSTILE_REFERER = "javascript:alert('xss-ref')//https://evil.example/"


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


# params: the fields of one combined log line
def _line(ip: str, at: datetime, path: str, status: int = 200, agent: str = "Mozilla/5.0 (X11; Linux x86_64) "
          "Firefox/138.0", referer: str = "-", method: str = "GET") -> str:
    stamp = at.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} 512 "{referer}" "{agent}" 0.042\n'


def benign_lines(day: date, count: int) -> list[str]:
    """Ordinary page views of a small shop spread over the day, from 20 visitors."""
    start = datetime(day.year, day.month, day.day, 8, 0, 0)
    pages = ["/", "/category/books", "/product/17", "/product/23", "/cart", "/about"]
    return [
        _line(f"198.51.100.{i % 20 + 1}", start + timedelta(seconds=97 * i), pages[i % len(pages)])
        for i in range(count)
    ]


def hostile_log(path: Path) -> Path:
    """A day of plain traffic plus requests whose every attacker-controlled field is a script payload."""
    at = datetime(HOSTILE_DAY.year, HOSTILE_DAY.month, HOSTILE_DAY.day, 12, 0, 0)
    lines = benign_lines(HOSTILE_DAY, 300)
    for attack_number, hostile in enumerate([SCRIPT_PATH, ATTRIBUTE_PATH, JAVASCRIPT_PATH] * 3):
        lines.append(_line("203.0.113.66", at + timedelta(seconds=5 * attack_number), hostile, 404, HOSTILE_AGENT,
                           HOSTILE_REFERER))
        lines.append(_line("203.0.113.67", at + timedelta(seconds=5 * attack_number + 1), hostile, 200, HOSTILE_AGENT,
                           HOSTILE_REFERER))
    path.write_text("".join(sorted(lines, key=lambda line: line.split("[", 1)[1])), encoding="utf-8")
    return path


def blocked_log(path: Path) -> Path:
    """100 good lines and 10 that are not access-log entries: a 9% reject ratio (the gate allows 1%)."""
    garbage = [f"this is not an access-log line {i} %%%\n" for i in range(10)]
    path.write_text("".join(benign_lines(BLOCKED_DAY, 100) + garbage), encoding="utf-8")
    return path


def run_cli(args: list[str], env: dict[str, str], stdout: Any = None) -> CliRun:
    """`python -m flows.daily ARGS` from the checkout, as a user would run it (output piped)."""
    completed = subprocess.run(
        [sys.executable, "-m", "flows.daily", *args], cwd=REPO, env=env, text=True,
        stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, check=False,
    )
    return CliRun(completed.returncode, completed.stdout or "", completed.stderr)


def warehouse_connection(data_dir: Path):
    from config.settings import WebtrailSettings
    from warehouse.connect import connect
    from warehouse.embedded import database_url

    return connect(database_url(WebtrailSettings(data_dir=data_dir)))
