"""User-agent classification and the once-per-distinct-string enrichment."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from parsers.schema import USER_AGENTS_SCHEMA
from parsers.user_agents import classify_user_agent, enrich_user_agents, load_patterns

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)


def test_browser_desktop_mobile() -> None:
    classified = classify_user_agent(CHROME)
    assert set(classified) == set(USER_AGENTS_SCHEMA)
    assert (
        classified["browser_family"],
        classified["os_family"],
        classified["os_version"],
        classified["device_type"],
        classified["is_bot"],
    ) == (
        "Chrome",
        "Windows",
        "10",
        "desktop",
        False,
    )
    assert classify_user_agent(IPHONE)["device_type"] == "mobile"


@pytest.mark.parametrize(
    "ua",
    [
        "curl/8.4.0",
        "Wget/1.21",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "sqlmap/1.7.2#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.5.0)",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine)",
        "masscan/1.3",
        "Mozilla/5.0 zgrab/0.x",
        "Hydra",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    ],
)
def test_automation_is_bot(ua: str) -> None:
    classified = classify_user_agent(ua)
    assert classified["is_bot"] and classified["device_type"] == "bot"


def test_patterns_file_is_clean() -> None:
    import re

    pats = load_patterns()
    assert len(pats) > 20 and all(re.compile(p) for p in pats)


def test_enrich_distinct_over_sources(tmp_path: Path) -> None:
    requests_path, events_path = tmp_path / "req.parquet", tmp_path / "ev.parquet"
    pl.DataFrame({"user_agent": [CHROME, CHROME, None, "curl/8"], "x": [1, 2, 3, 4]}).write_parquet(requests_path)
    pl.DataFrame({"user_agent": [IPHONE, "curl/8"]}).write_parquet(events_path)
    out = tmp_path / "ua.parquet"
    assert enrich_user_agents([requests_path, events_path], out) == 3
    df = pl.read_parquet(out)
    assert dict(df.schema) == USER_AGENTS_SCHEMA
    assert df.sort("user_agent")["device_type"].to_list() == ["desktop", "mobile", "bot"]
