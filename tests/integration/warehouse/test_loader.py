"""COPY loader: hostile content round trip, idempotency, validation, Spark part directories, rejects."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse.loader import LoadError, Quarantine, replace_day
from warehouse.query import count_rows, table_checksum

pytestmark = pytest.mark.integration

DAY = date(2024, 3, 10)
T0 = datetime(2024, 3, 10, 8, 30, 15, 123456, tzinfo=UTC)

HOSTILE = [
    "",
    "tab\there",
    'double "quotes" and ""pairs""',
    "single 'quote'",
    "back\\slash \\N \\\\ \\t",
    "\\.",
    "line1\n\\.\nline3",
    "crlf\r\nend\r",
    'comma, separated, "quoted"',
    "NULL",
    '{curly,"array"}',
    "unicode ✓ 日本語 🚀 zero\u200bwidth é",
    "'; DROP TABLE webtrail.sessions; --",
    "x" * 1_000_000,
]


def session_rows(day: date = DAY, value_count: int | None = None, tag: str = "") -> pa.Table:
    values = HOSTILE if value_count is None else [f"v{i}{tag}" for i in range(value_count)]
    count = len(values)
    return pa.table(
        {
            "day": pa.array([day] * count, pa.date32()),
            "session_id": [f"s{i:05d}" for i in range(count)],
            "visitor_key": values,
            # user_id is btree-indexed: PostgreSQL caps index entries at ~2.7 kB, so no 1 MB value there.
            "user_id": [None if i % 3 == 0 else v[:2000] for i, v in enumerate(values)],
            "client_ip": ["203.0.113.7"] * count,
            "user_agent": values[::-1],
            "started_at": pa.array(
                [T0 + timedelta(seconds=i) for i in range(count)], pa.timestamp("us", "UTC")
            ),
            "ended_at": pa.array(
                [T0 + timedelta(minutes=5, seconds=i) for i in range(count)], pa.timestamp("us", "UTC")
            ),
            "duration_ms": pa.array([300_000] * count, pa.int64()),
            "page_views": pa.array(list(range(count)), pa.int32()),
            "requests": pa.array([i * 2 for i in range(count)], pa.int32()),
            "bytes": pa.array([10**12 + i for i in range(count)], pa.int64()),
            "entry_path": values,
            "is_bounce": [i % 2 == 0 for i in range(count)],
            "is_bot": [i % 5 == 0 for i in range(count)],
        }
    )


def write(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def fetch(conn: psycopg2.extensions.connection, query: str, *args: object) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        rows = cur.fetchall()
    conn.rollback()
    return rows


def test_hostile_text_round_trips_exactly(conn: psycopg2.extensions.connection, tmp_path: Path) -> None:
    source = session_rows()
    result = replace_day(conn, DAY, {"sessions": write(source, tmp_path / "sessions.parquet")})
    assert result.rows == {"sessions": len(HOSTILE)}
    rows = fetch(
        conn,
        "SELECT visitor_key, user_id, user_agent, entry_path, started_at, bytes, is_bounce"
        " FROM webtrail.sessions WHERE day = %s ORDER BY session_id",
        DAY,
    )
    expected = source.to_pylist()
    for got, want in zip(rows, expected, strict=True):
        assert got[0] == want["visitor_key"]
        assert got[1] == want["user_id"]  # NULL stays NULL, "" stays ""
        assert got[2] == want["user_agent"]
        assert got[3] == want["entry_path"]
        assert got[4] == want["started_at"]
        assert got[5] == want["bytes"]
        assert got[6] == want["is_bounce"]


def test_arrays_json_timestamps_and_nul(conn: psycopg2.extensions.connection, tmp_path: Path) -> None:
    paris = ZoneInfo("Europe/Paris")
    user_ids = [
        ['a"b', "c\\d", "", None, "NULL", "{x,y}", "sp ace", "comma,", "\\.", "nl\nx", "日本"],
        [],
        ["only"],
    ]
    evidence = [
        json.dumps({"raw": 'GET /?q=<script>alert("x")</script>\t\\', "paths": ["/.env", "/.git/config"]}),
        '{"nul": "a\\u0000b", "kept": "\\\\u0000 is text"}',
        json.dumps({"unicode": "✓ 🚀", "n": 1.5}),
    ]
    table = pa.table(
        {
            "day": pa.array([DAY] * 3, pa.date32()),
            "client_ip": ["198.51.100.1", "198.51.100.2", "2001:db8::1"],
            "category": ["sql_injection\x00", "flood", "path_scan"],
            "rule_id": ["r1", "r2", "r3"],
            "severity": ["high", "low", "critical"],
            "first_seen_at": pa.array(
                [datetime(2024, 3, 10, 1, 0, tzinfo=paris)] * 3, pa.timestamp("us", "Europe/Paris")
            ),
            "last_seen_at": pa.array([datetime(2024, 3, 10, 23, 59, 59, 999999)] * 3, pa.timestamp("ns")),
            "request_count": pa.array([1, 2, 3], pa.int64()),
            "distinct_paths": pa.array([1, 1, 1], pa.int32()),
            "user_ids": pa.array(user_ids, pa.list_(pa.string())),
            "score": [float("nan"), float("inf"), None],
            "evidence": evidence,
        }
    )
    replace_day(conn, DAY, {"security_findings": write(table, tmp_path / "findings.parquet")})
    rows = fetch(
        conn,
        "SELECT category, user_ids, evidence, first_seen_at, last_seen_at, score"
        " FROM webtrail.security_findings WHERE day = %s ORDER BY client_ip",
        DAY,
    )
    by_ip = dict(zip(["198.51.100.1", "198.51.100.2", "2001:db8::1"], range(3), strict=True))
    rows_by_ip = dict(zip(sorted(by_ip), rows, strict=True))
    first = rows_by_ip["198.51.100.1"]
    assert first[0] == "sql_injection"  # NUL stripped (PostgreSQL text cannot hold it)
    assert first[1] == user_ids[0]
    assert first[2] == json.loads(evidence[0])
    assert first[3] == datetime(2024, 3, 10, 0, 0, tzinfo=UTC)  # 01:00 Paris (CET) = 00:00 UTC
    assert first[4] == datetime(2024, 3, 10, 23, 59, 59, 999999, tzinfo=UTC)  # naive = UTC
    assert first[5] != first[5]  # NaN
    second = rows_by_ip["198.51.100.2"]
    assert second[1] == []
    assert second[2] == {"nul": "ab", "kept": "\\u0000 is text"}  # escape removed, escaped text kept
    assert second[5] == float("inf")
    assert rows_by_ip["2001:db8::1"][5] is None


def test_same_day_twice_is_identical_and_other_days_untouched(
    conn: psycopg2.extensions.connection, tmp_path: Path
) -> None:
    other = date(2024, 3, 9)
    replace_day(conn, other, {"sessions": write(session_rows(other, 50, "o"), tmp_path / "other.parquet")})
    before_other = table_checksum(conn, "sessions", other)
    path = write(session_rows(DAY, 200), tmp_path / "day.parquet")
    replace_day(conn, DAY, {"sessions": path}, batch_rows=7)
    first = table_checksum(conn, "sessions", DAY)
    replace_day(conn, DAY, {"sessions": path}, batch_rows=64)
    assert table_checksum(conn, "sessions", DAY) == first
    assert count_rows(conn, "sessions", DAY) == 200
    assert table_checksum(conn, "sessions", other) == before_other
    assert count_rows(conn, "sessions", other) == 50


def test_spark_part_directory_and_missing_day_column(
    conn: psycopg2.extensions.connection, tmp_path: Path
) -> None:
    out = tmp_path / "status_daily"
    rows = pa.table(
        {"status": pa.array([200, 404, 500], pa.int32()), "requests": [10, 2, 1], "bytes": [5, 6, 7]}
    )
    write(rows.slice(0, 2), out / "part-00000-abc.snappy.parquet")
    write(rows.slice(2), out / "part-00001-abc.snappy.parquet")
    (out / "_SUCCESS").write_text("")
    (out / ".part-00000-abc.snappy.parquet.crc").write_bytes(b"\x00\x01")
    empty = tmp_path / "status_empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    result = replace_day(conn, DAY, {"status_daily": out, "funnel_daily": empty})
    assert result.rows == {"status_daily": 3, "funnel_daily": 0}
    assert fetch(
        conn, "SELECT status, requests FROM webtrail.status_daily WHERE day = %s ORDER BY 1", DAY
    ) == [(200, 10), (404, 2), (500, 1)]


def test_schema_mismatch_errors_name_table_and_column(
    conn: psycopg2.extensions.connection, tmp_path: Path
) -> None:
    good = write(
        pa.table({"status": pa.array([200], pa.int32()), "requests": [1], "bytes": [1]}),
        tmp_path / "good.parquet",
    )
    replace_day(conn, DAY, {"status_daily": good})
    before = table_checksum(conn, "status_daily", DAY)
    extra = write(
        pa.table({"status": [200], "requests": [1], "bytes": [1], "colour": ["red"]}),
        tmp_path / "extra.parquet",
    )
    with pytest.raises(LoadError, match=r"webtrail\.status_daily has no column 'colour'"):
        replace_day(conn, DAY, {"status_daily": extra})
    missing = write(pa.table({"status": [200], "bytes": [1]}), tmp_path / "missing.parquet")
    with pytest.raises(LoadError, match=r"webtrail\.status_daily: NOT NULL column 'requests' is missing"):
        replace_day(conn, DAY, {"status_daily": missing})
    wrong_day = write(
        pa.table(
            {"day": pa.array([date(2024, 1, 1)], pa.date32()), "status": [200], "requests": [1], "bytes": [1]}
        ),
        tmp_path / "wrong_day.parquet",
    )
    with pytest.raises(LoadError, match="not for day 2024-03-10"):
        replace_day(conn, DAY, {"status_daily": wrong_day})
    with pytest.raises(LoadError, match=r"webtrail\.no_such_table does not exist"):
        replace_day(conn, DAY, {"no_such_table": good})
    assert table_checksum(conn, "status_daily", DAY) == before  # every failure rolled back


def test_rejected_lines_capped_per_source_file(conn: psycopg2.extensions.connection, tmp_path: Path) -> None:
    files = (["a.log"] * 2 + ["b.log"]) * 10 + ["a.log"] * 5  # a: 25 lines, b: 10 lines
    lines = list(range(1, len(files) + 1))
    access = write(
        pa.table(
            {
                "source_file": files,
                "line_number": pa.array(lines, pa.int64()),
                "reason": ["unparsable"] * len(files),
                "raw_text": [f'garbage \t"{i}"\n\\.' for i in lines],
            }
        ),
        tmp_path / "rejected.parquet",
    )
    events = write(
        pa.table(
            {
                "source_file": ["e.jsonl"] * 3,
                "line_number": pa.array([1, 2, 3], pa.int64()),
                "reason": ["invalid json"] * 3,
                "raw_text": ["{", "}", "\x00"],
            }
        ),
        tmp_path / "events_rejected.parquet",
    )
    result = replace_day(
        conn, DAY, {}, quarantine=Quarantine([access, events, tmp_path / "absent.parquet"], cap=10), batch_rows=4
    )
    assert result.rejected_seen == {"a.log": 25, "b.log": 10, "e.jsonl": 3}
    assert result.rejected_stored == {"a.log": 10, "b.log": 10, "e.jsonl": 3}
    stored = fetch(
        conn,
        "SELECT source_file, line_number, raw_text FROM webtrail.rejected_lines WHERE day = %s ORDER BY 1, 2",
        DAY,
    )
    a_lines = [r[1] for r in stored if r[0] == "a.log"]
    assert a_lines == sorted(i for f, i in zip(files, lines, strict=True) if f == "a.log")[:10]
    assert stored[0][2] == f'garbage \t"{a_lines[0]}"\n\\.'
    assert [r[2] for r in stored if r[0] == "e.jsonl"] == ["{", "}", ""]
    # Reloading with a smaller cap replaces the day's rejects.
    replace_day(conn, DAY, {}, quarantine=Quarantine([access], cap=2))
    assert count_rows(conn, "rejected_lines", DAY) == 4


def test_parquet_without_a_day_column_is_loaded_for_the_day(
    conn: psycopg2.extensions.connection, tmp_path: Path
) -> None:
    """As Spark writes funnel_daily: no day column in the Parquet; the load fills it in."""
    rows = [
        {"step_number": 1, "step_name": "view", "visitors": 10, "conversion_from_previous": None,
         "conversion_from_start": 1.0},
        {"step_number": 2, "step_name": 'cart "x"', "visitors": 4, "conversion_from_previous": 0.4,
         "conversion_from_start": 0.4},
    ]
    funnel = write(pa.Table.from_pylist(rows), tmp_path / "funnel.parquet")
    result = replace_day(conn, DAY, {"funnel_daily": funnel})
    assert result.rows == {"funnel_daily": 2}
    assert fetch(
        conn, "SELECT day, step_name FROM webtrail.funnel_daily WHERE day = %s ORDER BY step_number", DAY
    ) == [(DAY, "view"), (DAY, 'cart "x"')]


def test_refuses_open_transaction(conn: psycopg2.extensions.connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
    with pytest.raises(LoadError, match="open transaction"):
        replace_day(conn, DAY, {})
    conn.rollback()
