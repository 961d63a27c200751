"""JSON events: validation reasons, renames, UTC, duplicates, day window."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from parsers.events import parse_events
from parsers.schema import EVENTS_SCHEMA, REJECTED_SCHEMA

DAY = date(2026, 11, 24)


def ev(**kw: object) -> str:
    base = {
        "event_id": "e1",
        "ts": "2026-11-24T10:00:00Z",
        "type": "page_view",
        "user_id": "u1",
        "anonymous_id": "a1",
        "ip": "1.2.3.4",
        "user_agent": "ua",
        "path": "/p",
        "properties": {"k": 1},
    }
    base.update(kw)
    return json.dumps({k: v for k, v in base.items() if v is not ...})


def run(tmp_path: Path, files: dict[str, str | bytes], overlap: timedelta = timedelta(0)):
    paths = []
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths.append(path)
    out, rej = tmp_path / "o" / "events.parquet", tmp_path / "o" / "rej.parquet"
    res = parse_events(paths, DAY, out, rej, overlap=overlap)
    return pl.read_parquet(out), pl.read_parquet(rej), res


def test_valid_event_renamed_and_utc(tmp_path: Path) -> None:
    df, rej, res = run(tmp_path, {"e.jsonl": ev(ts="2026-11-24T12:00:00.5+02:00") + "\n"})
    assert dict(df.schema) == EVENTS_SCHEMA and dict(rej.schema) == REJECTED_SCHEMA
    row = df.to_dicts()[0]
    assert row["occurred_at"] == datetime(2026, 11, 24, 10, 0, 0, 500_000, tzinfo=UTC)
    assert (row["event_type"], row["client_ip"], row["properties"]) == ("page_view", "1.2.3.4", '{"k":1}')
    assert (row["source_file"], row["line_number"]) == (str(tmp_path / "e.jsonl"), 1)
    assert res.files[0].lines_read == 1 == res.rows_written


def test_invalid_records_quarantined(tmp_path: Path) -> None:
    lines = [
        ev(),  # 1 ok
        "{not json",  # 2 invalid_json
        ev(event_id=...),  # 3 missing_field:event_id
        ev(ts="yesterday"),  # 4 bad_timestamp
        ev(ts="2026-11-24T10:00:00"),  # 5 bad_timestamp (naive)
        ev(type="teleport"),  # 6 unknown_event_type
        "[1, 2]",  # 7 not_an_object
        "",  # 8 empty_line
        ev(properties="x"),  # 9 invalid_field:properties
        ev(type=None),  # 10 missing_field:type
        ev(event_id=7, user_id=42),  # 11 ok: numeric ids become text
    ]
    df, rej, res = run(tmp_path, {"e.jsonl": "\n".join(lines) + "\n"})
    assert dict(zip(rej["line_number"], rej["reason"], strict=True)) == {
        2: "invalid_json",
        3: "missing_field:event_id",
        4: "bad_timestamp",
        5: "bad_timestamp",
        6: "unknown_event_type",
        7: "not_an_object",
        8: "empty_line",
        9: "invalid_field:properties",
        10: "missing_field:type",
    }
    assert df["event_id"].to_list() == ["e1", "7"] and df["user_id"].to_list() == ["u1", "42"]
    st = res.files[0]
    assert st.lines_read == 11 == st.lines_parsed + st.lines_rejected


def test_duplicates_dropped_across_files_first_wins(tmp_path: Path) -> None:
    plain_file = "\n".join([ev(event_id="e1", path="/first"), ev(event_id="e2"), ev(event_id="e1", path="/dup")])
    gzipped_file = gzip.compress((ev(event_id="e2", path="/dup") + "\n" + ev(event_id="e3")).encode())
    df, _, res = run(tmp_path, {"a.jsonl": plain_file, "b.jsonl.gz": gzipped_file})
    assert df["event_id"].to_list() == ["e1", "e2", "e3"]
    assert df["path"].to_list() == ["/first", "/p", "/p"]
    assert res.duplicates_dropped == 2 and res.rows_written == 3


def test_window(tmp_path: Path) -> None:
    lines = [
        ev(event_id="a", ts="2026-11-23T23:30:00Z"),
        ev(event_id="b"),
        ev(event_id="c", ts="2026-11-25T00:00:00Z"),
    ]
    df, _, res = run(tmp_path, {"e.jsonl": "\n".join(lines)})
    assert df["event_id"].to_list() == ["b"] and res.files[0].lines_outside_day == 2
    df, _, _ = run(tmp_path, {"e.jsonl": "\n".join(lines)}, overlap=timedelta(minutes=30))
    assert df["event_id"].to_list() == ["a", "b", "c"]  # [23rd 23:30, 25th 00:30)


def test_no_files_still_writes_outputs(tmp_path: Path) -> None:
    df, rej, res = run(tmp_path, {})
    assert df.height == rej.height == res.rows_written == 0
    assert dict(df.schema) == EVENTS_SCHEMA
