"""The bundled sample day parses to the generator's ground truth."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from config.settings import ParserSettings
from parsers.access_log import parse_access_logs
from parsers.events import parse_events
from parsers.users import read_users

SAMPLE = Path(__file__).resolve().parents[3] / "sample_logs"
pytestmark = pytest.mark.skipif(not (SAMPLE / "ground_truth.json").exists(), reason="sample day not generated")


def test_sample_day_matches_ground_truth(tmp_path: Path) -> None:
    truth = json.loads((SAMPLE / "ground_truth.json").read_text())
    day = date.fromisoformat(truth["date"])
    [st] = parse_access_logs(
        [SAMPLE / "access.log"], day, tmp_path / "r.parquet", tmp_path / "j.parquet", ParserSettings()
    )
    assert st.format_name == "combined_timed"
    assert (st.lines_read, st.lines_parsed, st.lines_rejected) == (
        truth["lines"],
        truth["parsed_requests"],
        truth["rejected_lines"],
    )
    req = pl.read_parquet(tmp_path / "r.parquet")
    assert dict(req["status"].cast(pl.String).value_counts().iter_rows()) == truth["status_counts"]
    assert req["bytes"].sum() == truth["total_bytes"]

    ev = parse_events([SAMPLE / "events.jsonl"], day, tmp_path / "e.parquet", tmp_path / "er.parquet")
    expected = truth["events"]
    assert ev.files[0].lines_read == expected["lines"] and ev.files[0].lines_rejected == expected["malformed"]
    assert (ev.duplicates_dropped, ev.rows_written) == (expected["duplicates"], expected["valid_unique"])
    rej = pl.read_parquet(tmp_path / "er.parquet")
    assert rej["line_number"].to_list() == [expected["malformed_line_number"]]
    events = pl.read_parquet(tmp_path / "e.parquet")
    assert dict(events["event_type"].value_counts().iter_rows()) == expected["by_type"]

    assert read_users(str(SAMPLE / "users.db"), tmp_path / "u.parquet") == truth["users"]
