"""Helpers for the parser tests: write lines to a file and parse them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from config.catalog.value_keys import KEY_COLUMNS
from config.settings import ParserSettings
from parsers.access_log import FileParseStats, parse_access_logs
from tests.unit.parsers.keyed import check_value_keys

DAY = date(2026, 11, 24)
ParseFn = Callable[..., tuple[pl.DataFrame, pl.DataFrame, FileParseStats]]


@pytest.fixture
def parse_lines(tmp_path: Path) -> ParseFn:
    """parse_lines(lines or bytes, **settings) -> (requests, rejected, stats) for one file.

    The value keys are checked against their dictionaries (tests/unit/parsers/keyed.py) and left out
    of the requests returned: they depend on which thread keyed which value first."""
    counter = iter(range(1_000))

    def run(
        content: list[str] | bytes, name: str = "access.log", overlap: timedelta = timedelta(0), **settings: object
    ) -> tuple[pl.DataFrame, pl.DataFrame, FileParseStats]:
        run_number = next(counter)
        path = tmp_path / f"in{run_number}" / name
        path.parent.mkdir()
        data = content if isinstance(content, bytes) else ("\n".join(content) + "\n").encode()
        path.write_bytes(data)
        out_dir = tmp_path / f"out{run_number}"
        req, rej = out_dir / "requests.parquet", out_dir / "rejected.parquet"
        [stats] = parse_access_logs([path], DAY, req, rej, ParserSettings(**settings), overlap)
        requests = pl.read_parquet(req)
        check_value_keys(requests, out_dir)
        return requests.drop(KEY_COLUMNS), pl.read_parquet(rej), stats

    return run
