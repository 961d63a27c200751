"""Pure parts of the investigation: windows, globs, the Parquet scan and the escaped rendering."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from config.layout import DayLayout
from parsers.schema import PARSED_REQUESTS_SCHEMA, REQUESTS_SCHEMA
from report.investigate import (
    InvestigationQuery,
    InvestigationResult,
    glob_to_like,
    glob_to_regex,
    resolve_window,
    scan_requests,
    summarize_requests,
)
from report.investigate_render import investigation_markdown, request_table

DAY = date(2026, 11, 24)
START = datetime(2026, 11, 24, tzinfo=UTC)


def _request(ts: datetime, ip: str, path: str, status: int = 200, user_agent: str = "curl/8") -> dict:
    return {
        "source_file": "access.log", "line_number": 1, "client_ip": ip, "remote_user": None, "requested_at": ts,
        "method": "GET", "path": path, "query": None, "protocol": "HTTP/1.1", "request": f"GET {path} HTTP/1.1",
        "status": status, "bytes": 10, "referer": None, "user_agent": user_agent, "request_time_ms": 1.0,
        "vhost": None, "has_invalid_utf8": False,
    }


def _stage(data_dir: Path, day: date, rows: list[dict], keyed: bool = True) -> None:
    """One staged day; ``keyed`` False writes requests as staged before the value keys."""
    path = DayLayout(data_dir, day).requests
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=REQUESTS_SCHEMA if keyed else PARSED_REQUESTS_SCHEMA).write_parquet(path)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/wp-admin*", "/wp-admin/setup.php", True),
        ("/wp-admin*", "/blog/wp-admin", False),
        ("*.env", "/.env", True),
        ("*.env", "/xenv", False),
        ("/a.b", "/axb", False),
        ("/user/?", "/user/7", True),
        ("/user/?", "/user/17", False),
        ("/x(1)[2]+", "/x(1)[2]+", True),
    ],
)
def test_glob_to_regex_matches_the_whole_path_literally(pattern: str, path: str, matches: bool) -> None:
    assert bool(re.search(glob_to_regex(pattern), path)) is matches


def test_glob_to_like_escapes_like_wildcards() -> None:
    assert glob_to_like("/a_b%c*?") == "/a\\_b\\%c%_"


def test_resolve_window() -> None:
    assert resolve_window(None, None, DAY) == (START, START + timedelta(days=1))
    six = datetime(2026, 11, 24, 6, tzinfo=UTC)
    assert resolve_window(six.replace(tzinfo=None), None, None) == (six, six + timedelta(days=1))  # naive = UTC
    assert resolve_window(None, START, None) == (START - timedelta(days=1), START)
    with pytest.raises(ValueError, match="no day has been loaded"):
        resolve_window(None, None, None)


def test_query_validation_and_days() -> None:
    query = InvestigationQuery(start=START, end=START + timedelta(days=2), ip="192.0.2.1")
    assert query.days == [DAY, DAY + timedelta(days=1)]  # the end is excluded
    with pytest.raises(ValueError, match="at least one"):
        InvestigationQuery(start=START, end=START + timedelta(hours=1))
    with pytest.raises(ValueError, match="after start"):
        InvestigationQuery(start=START, end=START, ip="192.0.2.1")
    with pytest.raises(ValueError, match="limited"):
        InvestigationQuery(start=START, end=START + timedelta(days=40), ip="192.0.2.1")


def test_scan_counts_overlap_lines_once_and_filters(tmp_path: Path) -> None:
    late = START - timedelta(minutes=5)  # a previous-day line, also staged with DAY (the session overlap)
    early = START + timedelta(days=1, minutes=5)  # a next-day line staged with DAY; its own day is not staged
    # the previous day was staged before the value keys: a window over both days reads alike
    _stage(tmp_path, DAY - timedelta(days=1), [_request(late, "192.0.2.1", "/login")], keyed=False)
    _stage(tmp_path, DAY, [
        _request(late, "192.0.2.1", "/login"),
        _request(early, "192.0.2.1", "/late-night"),
        _request(START + timedelta(hours=1), "192.0.2.1", "/wp-admin/x.php", 404),
        _request(START + timedelta(hours=2), "192.0.2.2", "/wp-admin/", 404),
        _request(START + timedelta(hours=3), "192.0.2.1", "/home"),
    ])
    query = InvestigationQuery(start=START - timedelta(hours=1), end=START + timedelta(days=1, hours=1), ip="x")
    lazy, scanned, missing = scan_requests(tmp_path, query, ["192.0.2.1"])
    assert scanned == [DAY - timedelta(days=1), DAY] and missing == [DAY + timedelta(days=1)]
    stats = summarize_requests(lazy, limit=2)
    assert stats["count"] == 3  # the overlap copies are counted with their own day only
    assert [r["path"] for r in stats["requests"]] == ["/login", "/wp-admin/x.php"]

    by_path = InvestigationQuery(start=START, end=START + timedelta(days=1), path_pattern="/wp-admin*")
    lazy, _, _ = scan_requests(tmp_path, by_path, None)
    stats = summarize_requests(lazy, limit=10)
    assert stats["count"] == 2
    assert [r["client_ip"] for r in stats["by_ip"]] == ["192.0.2.1", "192.0.2.2"]


def test_scan_without_staged_days(tmp_path: Path) -> None:
    query = InvestigationQuery(start=START, end=START + timedelta(hours=1), ip="192.0.2.1")
    lazy, scanned, missing = scan_requests(tmp_path, query, None)
    assert lazy is None and scanned == [] and missing == [DAY]


def test_markdown_and_table_neutralise_hostile_log_content() -> None:
    hostile_path = "/x|y<script>alert(1)</script>[a](javascript:alert(2))\n# heading"
    query = InvestigationQuery(start=START, end=START + timedelta(days=1), path_pattern="/x*")
    request = _request(START, "192.0.2.9", hostile_path, user_agent="**bold** `code` \x1b[31m" + "A" * 500)
    result = InvestigationResult(
        query=query, ips=["192.0.2.9"], days_scanned=[DAY], days_missing=[], request_count=1,
        requests=[{k: request[k] for k in ("requested_at", "client_ip", "method", "path", "status", "user_agent")}],
        findings=[{
            "day": DAY, "client_ip": "192.0.2.9", "severity": "high", "category": "xss", "rule_id": "R",
            "request_count": 1, "first_seen_at": START, "last_seen_at": START, "user_ids": ["u|1"],
            "evidence": {"samples": [{"request": "GET /<img src=x onerror=alert(3)> HTTP/1.1"}]},
        }],
    )
    markdown = investigation_markdown(result)
    assert "<script>" not in markdown and "<img" not in markdown
    assert "](javascript:" not in markdown
    assert "\n# heading" not in markdown
    blocks: list[list[str]] = [[]]
    for line in markdown.splitlines():
        if line.startswith("|"):
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    for block in filter(None, blocks):  # every row of a table has as many cell separators as its header
        assert len({len(re.findall(r"(?<!\\)\|", row)) for row in block}) == 1, block
    table = request_table(result)
    assert all("\n" not in str(v) and "\x1b" not in str(v) for v in table[0].values())
    assert len(table[0]["user_agent"]) <= 300
