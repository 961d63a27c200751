"""The DuckDB workspace on hand-made staging days: day ranges, read-only refusal, lazy warehouse views."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from config.layout import DayLayout
from parsers.schema import PARSED_REQUESTS_SCHEMA, REJECTED_SCHEMA, REQUESTS_SCHEMA
from webtrail.sql import QueryRefused, SqlWorkspace, check_read_only, referenced_views, window_days

DAY = date(2026, 11, 24)
BEFORE = date(2026, 11, 23)


def _request(ts: datetime, ip: str, path: str, status: int = 200) -> dict:
    return {
        "source_file": "access.log", "line_number": 1, "client_ip": ip, "remote_user": None, "requested_at": ts,
        "method": "GET", "path": path, "query": None, "protocol": "HTTP/1.1", "request": f"GET {path} HTTP/1.1",
        "status": status, "bytes": 100, "referer": None, "user_agent": "curl/8", "request_time_ms": 1.0,
        "vhost": None, "has_invalid_utf8": False,
    }


def _stage(data_dir: Path, day: date, rows: list[dict], rejected: int = 0, keyed: bool = True) -> None:
    """One staged day; ``keyed`` False writes requests as staged before the value keys."""
    layout = DayLayout(data_dir, day)
    layout.staging.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows, schema=REQUESTS_SCHEMA if keyed else PARSED_REQUESTS_SCHEMA).write_parquet(layout.requests)
    bad = [{"source_file": "access.log", "line_number": n, "reason": "no_format_match", "raw_text": "junk"}
           for n in range(rejected)]
    pl.DataFrame(bad, schema=REJECTED_SCHEMA).write_parquet(layout.rejected)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    late = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # day before, staged in both files (overlap)
    early = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # the day, staged in both files (overlap)
    _stage(tmp_path, BEFORE, [
        _request(datetime(2026, 11, 23, 12, tzinfo=UTC), "192.0.2.9", "/"),
        _request(late, "198.51.100.7", "/late"),
        _request(early, "198.51.100.7", "/early"),
    ], rejected=1)
    _stage(tmp_path, DAY, [
        _request(late, "198.51.100.7", "/late"),
        _request(early, "198.51.100.7", "/early"),
        _request(datetime(2026, 11, 24, 10, tzinfo=UTC), "203.0.113.45", "/.env", 404),
        _request(datetime(2026, 11, 24, 10, 1, tzinfo=UTC), "203.0.113.45", "/wp-login.php", 404),
    ], rejected=2)
    return tmp_path


def _no_warehouse() -> None:
    raise AssertionError("a query of the staged views must not open the warehouse")


def test_requests_view_counts_each_request_in_its_own_day(data_dir: Path) -> None:
    with SqlWorkspace(data_dir, [BEFORE, DAY], _no_warehouse) as ws:
        result = ws.query("SELECT day, count(*) AS n FROM requests GROUP BY day ORDER BY day")
        assert result.table.to_pylist() == [{"day": BEFORE, "n": 2}, {"day": DAY, "n": 3}]
        columns = ws.query("SELECT * FROM requests LIMIT 1").columns
        assert columns == ["day", *PARSED_REQUESTS_SCHEMA], "one day column (the directory name adds none), no keys"
        paths = ws.query("SELECT path FROM requests WHERE client_ip = ? ORDER BY requested_at", ["198.51.100.7"])
        assert paths.table.column("path").to_pylist() == ["/late", "/early"]
        assert ws.query("SELECT day, count(*) n FROM rejected GROUP BY 1 ORDER BY 1").table.to_pylist() == [
            {"day": BEFORE, "n": 1}, {"day": DAY, "n": 2}]
    assert [(p.view, p.day, p.exists, p.rows) for p in result.partitions] == [
        ("requests", BEFORE, True, 3), ("requests", DAY, True, 4)]


def test_the_value_keys_stay_out_of_the_requests_view_and_older_days_read_alike(tmp_path: Path) -> None:
    """Keys belong to one day's dictionaries: the view shows the strings only, so a day staged before
    the keys and one after them make one view."""
    _stage(tmp_path, BEFORE, [_request(datetime(2026, 11, 23, 12, tzinfo=UTC), "192.0.2.9", "/old")], keyed=False)
    keyed = {**_request(datetime(2026, 11, 24, 12, tzinfo=UTC), "192.0.2.9", "/new"), "client_key": 0, "file_key": 0}
    _stage(tmp_path, DAY, [keyed])
    with SqlWorkspace(tmp_path, [BEFORE, DAY], _no_warehouse) as ws:
        rows = ws.query("SELECT day, client_ip, path FROM requests ORDER BY day").table.to_pylist()
        assert rows == [{"day": BEFORE, "client_ip": "192.0.2.9", "path": "/old"},
                        {"day": DAY, "client_ip": "192.0.2.9", "path": "/new"}]
        with pytest.raises(ValueError, match="\"client_key\" not found"):
            ws.query("SELECT client_key FROM requests")


def test_missing_days_are_reported_and_an_empty_window_is_an_error(data_dir: Path) -> None:
    with SqlWorkspace(data_dir, window_days(date(2026, 11, 26), 3)) as ws:
        result = ws.query("SELECT count(*) AS n FROM requests")
        assert result.table.to_pylist() == [{"n": 3}]
        assert [(p.day.isoformat(), p.exists) for p in result.partitions] == [
            ("2026-11-24", True), ("2026-11-25", False), ("2026-11-26", False)]
    with SqlWorkspace(data_dir, [date(2026, 10, 1)]) as ws, pytest.raises(FileNotFoundError, match="2026-10-01"):
        ws.query("SELECT * FROM requests")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM requests", "DELETE"),
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"),
        ("ATTACH 'x.db'", "ATTACH"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("SET threads = 1", "SET"),
        ("PRAGMA version", "PRAGMA"),
        ("INSTALL httpfs", "LOAD statement"),
        ("SELECT 1; DROP TABLE requests", "one query at a time"),
        ("", "empty"),
        ("SELEC 1", "does not parse"),
    ],
)
def test_only_single_select_statements_run(query: str, message: str) -> None:
    with pytest.raises(QueryRefused, match=message):
        check_read_only(query)


def test_queries_of_every_shape_are_accepted() -> None:
    for query in ("SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x", "FROM requests", "VALUES (1), (2);"):
        assert check_read_only(query)


def test_referenced_views_even_when_binding_fails() -> None:
    assert referenced_views("SELECT * FROM requests r JOIN findings f ON r.client_ip = f.client_ip") == {
        "requests", "findings"}
    # USING over views that do not exist yet cannot be bound: the word match still finds them.
    assert referenced_views("SELECT * FROM requests JOIN ip_daily USING (client_ip)") == {"requests", "ip_daily"}
    assert referenced_views("SELECT 42") == set()


def test_a_warehouse_view_opens_the_warehouse_once(data_dir: Path) -> None:
    calls = []

    def opener() -> None:
        calls.append(1)
        raise ConnectionError("no warehouse here")

    with SqlWorkspace(data_dir, [DAY], opener) as ws:
        ws.query("SELECT count(*) FROM requests")
        assert calls == []
        with pytest.raises(ConnectionError):
            ws.query("SELECT * FROM findings")
    assert calls == [1]


def test_window_days() -> None:
    assert window_days(DAY, 3) == [date(2026, 11, 22), BEFORE, DAY]
    with pytest.raises(ValueError, match="--days"):
        window_days(DAY, 0)


def test_a_query_reads_the_staging_and_no_other_file(data_dir: Path) -> None:
    """The SQL may come from a deployment parameter: files outside the staging stay out of reach."""
    secret = data_dir / "secret.csv"
    secret.write_text("token\nhunter2\n")
    with SqlWorkspace(data_dir, [DAY], _no_warehouse) as ws:
        assert ws.query("SELECT count(*) AS n FROM requests").table.column("n").to_pylist() == [3]
        for query in (f"SELECT * FROM read_csv('{secret}')", "SELECT * FROM glob('/etc/*')"):  # noqa: S608 - the test's own path
            with pytest.raises(ValueError, match="disabled by configuration"):
                ws.query(query)
