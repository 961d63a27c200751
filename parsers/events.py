"""Application JSON-lines events -> staging Parquet (EVENTS_SCHEMA), invalid records quarantined.

Validation is per record in Python (hostile input: any key may hold any JSON type); typing,
windowing and de-duplication are done in polars. Duplicate event ids keep their first occurrence
(file order, then line order) and are counted.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from config.settings import ParserSettings
from parsers.access_log import FileParseStats, day_window
from parsers.line_reader import LineReader
from parsers.parquet_sink import ParquetSink
from parsers.schema import EVENT_TYPES, EVENTS_SCHEMA, REJECTED_SCHEMA

REQUIRED = ("event_id", "ts", "type")
OPTIONAL_TEXT = ("user_id", "anonymous_id", "ip", "user_agent", "path")
_TYPES = frozenset(EVENT_TYPES)
# input key -> EVENTS_SCHEMA column
RENAMES = {"ts": "occurred_at", "type": "event_type", "ip": "client_ip"}


@dataclass
class EventsParseResult:
    files: list[FileParseStats] = field(default_factory=list)
    duplicates_dropped: int = 0
    rows_written: int = 0


class Invalid(Exception):
    """A record that fails validation; the message is the reject reason."""


def _text(obj: dict[str, Any], key: str, ids: bool = False) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if ids and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # numeric ids from some SDKs: kept as their decimal text
    raise Invalid(f"invalid_field:{key}")


def validate(line: str) -> dict[str, Any]:
    """One JSON line -> a row with EVENTS_SCHEMA keys (without source columns); raises Invalid."""
    if not line.strip():
        raise Invalid("empty_line")
    try:
        obj = json.loads(line)
    except ValueError:
        raise Invalid("invalid_json") from None
    if not isinstance(obj, dict):
        raise Invalid("not_an_object")
    for key in REQUIRED:
        if obj.get(key) in (None, ""):
            raise Invalid(f"missing_field:{key}")
    row = {"event_id": _text(obj, "event_id", ids=True), "type": _text(obj, "type")}
    row["user_id"] = _text(obj, "user_id", ids=True)
    for key in OPTIONAL_TEXT[1:]:
        row[key] = _text(obj, key)
    props = obj.get("properties")
    if props is not None and not isinstance(props, dict):
        raise Invalid("invalid_field:properties")
    if row["type"] not in _TYPES:
        raise Invalid("unknown_event_type")
    ts = obj["ts"]
    try:
        when = datetime.fromisoformat(ts) if isinstance(ts, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:  # a naive time is ambiguous: refuse rather than guess
        raise Invalid("bad_timestamp")
    row["ts"] = when.astimezone(UTC)
    row["properties"] = None if props is None else json.dumps(props, ensure_ascii=False, separators=(",", ":"))
    return {RENAMES.get(k, k): v for k, v in row.items()}


def _parse_file(
    path: Path,
    settings: ParserSettings,
    window: tuple[datetime, datetime],
    events: ParquetSink,
    rejected: ParquetSink,
) -> FileParseStats:
    reader = LineReader(path, settings.batch_lines, settings.max_line_bytes)
    stats = FileParseStats(path=str(path), size_bytes=reader.size_bytes, sha256="", format_name="jsonl")
    reasons: Counter[str] = Counter()
    cols = [c for c in EVENTS_SCHEMA if c not in ("source_file", "line_number")]
    for batch in reader:
        rows: list[dict[str, Any]] = []
        bad: list[tuple[int, str, str]] = []
        for offset, line in enumerate(batch.lines.to_list()):
            line_number, line = batch.first_line_number + offset, line.rstrip("\r")
            try:
                if batch.truncated_line == line_number:
                    raise Invalid("truncated_file")
                if len(line.encode()) > settings.max_line_bytes:
                    raise Invalid("line_too_long")
                rows.append({**validate(line), "line_number": line_number})
            except Invalid as exc:
                bad.append((line_number, str(exc), line.replace("\x00", "")[: settings.rejected_raw_chars]))
        schema = {**{c: EVENTS_SCHEMA[c] for c in cols}, "line_number": pl.Int64()}
        df = pl.DataFrame(rows, schema=schema).with_columns(source_file=pl.lit(str(path)))
        in_day = df.filter(pl.col("occurred_at").is_between(*window, closed="left"))
        events.write(in_day)
        rejected.write(pl.DataFrame([(str(path), n, r, t) for n, r, t in bad], schema=REJECTED_SCHEMA, orient="row"))
        reasons.update(r for _, r, _ in bad)
        stats.lines_read += len(batch.lines)
        stats.lines_parsed += df.height
        stats.lines_rejected += len(bad)
        stats.lines_outside_day += df.height - in_day.height
    stats.rejected_by_reason = dict(sorted(reasons.items()))
    stats.sha256, stats.truncated = reader.sha256, reader.truncated
    return stats


def parse_events(
    paths: Sequence[Path],
    day: date,
    events_out: Path,
    rejected_out: Path,
    overlap: timedelta = timedelta(0),
    settings: ParserSettings | None = None,
) -> EventsParseResult:
    """Parse JSON-lines event files (plain, .gz, .bz2) into ``events_out`` / ``rejected_out``."""
    settings = settings or ParserSettings()
    window = day_window(day, overlap)
    result = EventsParseResult()
    staged = Path(events_out).with_name(Path(events_out).name + ".undeduped")
    with (
        ParquetSink(staged, EVENTS_SCHEMA) as ev_sink,
        ParquetSink(rejected_out, REJECTED_SCHEMA) as rej_sink,
    ):
        for path in paths:
            result.files.append(_parse_file(Path(path), settings, window, ev_sink, rej_sink))
    try:
        # the first occurrence wins; polars keeps only the key hash table in memory
        deduped = pl.scan_parquet(staged).unique(subset=["event_id"], keep="first", maintain_order=True)
        tmp = Path(events_out).with_name(Path(events_out).name + ".tmp")
        deduped.sink_parquet(tmp, compression="zstd")
        os.replace(tmp, events_out)
    finally:
        staged.unlink(missing_ok=True)
    result.rows_written = pl.scan_parquet(events_out).select(pl.len()).collect().item()
    result.duplicates_dropped = ev_sink.rows - result.rows_written
    return result
