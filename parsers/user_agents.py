"""User-agent classification: ua-parser (via ``user_agents``) plus the project's automation patterns.

Parsing a user agent costs ~0.1-1 ms, so each distinct string is classified once per run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl
from user_agents import parse as parse_ua

from parsers.parquet_sink import ParquetSink
from parsers.schema import USER_AGENTS_SCHEMA

PATTERNS_FILE = Path(__file__).parent / "patterns" / "automation_user_agents.txt"


def load_patterns(path: Path = PATTERNS_FILE) -> list[str]:
    """Regexes of a pattern file: one per line, blank lines and ``#`` comments ignored."""
    lines = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


@lru_cache(maxsize=4)
def automation_regex(path: Path = PATTERNS_FILE) -> re.Pattern[str]:
    """All automation patterns as one case-insensitive alternation."""
    return re.compile("|".join(f"(?:{p})" for p in load_patterns(path)), re.IGNORECASE)


def _version(version: str) -> str | None:
    return version or None


def classify_user_agent(ua: str | None) -> dict[str, Any]:
    """USER_AGENTS_SCHEMA fields for one user-agent string."""
    text = ua or ""
    parsed = parse_ua(text)
    automated = bool(automation_regex().search(text))
    is_bot = parsed.is_bot or automated
    if is_bot:
        device = "bot"
    elif parsed.is_tablet:
        device = "tablet"
    elif parsed.is_mobile:
        device = "mobile"
    elif parsed.is_pc:
        device = "desktop"
    else:
        device = "other"
    return {
        "user_agent": ua,
        "browser_family": parsed.browser.family,
        "browser_version": _version(parsed.browser.version_string),
        "os_family": parsed.os.family,
        "os_version": _version(parsed.os.version_string),
        "device_type": device,
        "is_bot": is_bot,
    }


def distinct_user_agents(sources: Sequence[Path]) -> list[str]:
    """Distinct non-null ``user_agent`` values over Parquet files, sorted (stable output)."""
    frames = [pl.scan_parquet(p).select("user_agent") for p in sources]
    if not frames:
        return []
    lf = pl.concat(frames).drop_nulls().unique().sort("user_agent")
    return lf.collect()["user_agent"].to_list()


def enrich_user_agents(sources: Sequence[Path], out: Path) -> int:
    """Classify every distinct user agent of the given Parquet files once; returns the count."""
    agents = distinct_user_agents(sources)
    with ParquetSink(Path(out), USER_AGENTS_SCHEMA) as sink:
        for start in range(0, len(agents), 10_000):
            rows = [classify_user_agent(ua) for ua in agents[start : start + 10_000]]
            sink.write(pl.DataFrame(rows, schema=USER_AGENTS_SCHEMA))
    return len(agents)
