"""Input contracts on tiny Parquet files: clean data passes, each corruption trips exactly its check.

Each case is one Soda run over DuckDB (about 0.1 s each).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from checks.runner import CheckOutcome, ContractReport, parse_stats_frame, verify_frames, verify_parquet
from parsers.schema import REQUESTS_SCHEMA

Rows = list[dict[str, Any]]


def not_passed(report: ContractReport) -> dict[str, str]:
    assert report.infrastructure_error is None, report.infrastructure_error
    return {r.check_name: r.outcome for r in report.results if r.outcome != "PASSED"}


def outcome_named(report: ContractReport, check_name: str) -> CheckOutcome:
    """The one result of `check_name` (the rows tasks/quality.py stores, looked up by check name)."""
    (result,) = [result for result in report.results if result.check_name == check_name]
    return result


@pytest.mark.parametrize("dataset", ["requests", "events", "users"])
def test_clean_staging_data_passes(
    dataset: str, write_parquet: Callable[..., Path], window: dict[str, str]
) -> None:
    report = verify_parquet(dataset, {dataset: write_parquet(dataset)}, window)
    assert not_passed(report) == {}
    assert report.infrastructure_error is None and not report.has_blocking_failure
    assert len(report.results) >= 5
    assert all(r.level == "blocking" for r in report.results if r.check_type in ("schema", "missing"))


def _set(column: str, value: Any, row: int = 0) -> Callable[[Rows], Rows]:
    def corrupt(rows: Rows) -> Rows:
        rows[row][column] = value
        return rows

    return corrupt


def _duplicate_first(rows: Rows) -> Rows:
    return [*rows, dict(rows[0])]


OUTSIDE_WINDOW = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # WINDOW_END is exclusive

REQUEST_CASES: list[tuple[str, Callable[[Rows], Rows], str]] = [
    ("status 700", _set("status", 700), "status_range"),
    ("status 99", _set("status", 99), "status_range"),
    ("status null", _set("status", None), "status_missing"),
    ("http request without a method", _set("method", None), "request_kind_consistent"),
    ("unknown request kind", _set("request_kind", "weird"), "request_kind_valid"),
    ("request kind null", _set("request_kind", None), "request_kind_missing"),
    ("negative bytes", _set("bytes", -1), "bytes_non_negative"),
    ("negative latency", _set("request_time_ms", -0.5), "request_time_ms_non_negative"),
    ("client not an address", _set("client_ip", "evil host; DROP"), "client_ip_format"),
    ("client empty", _set("client_ip", ""), "client_ip_missing"),
    ("http request without a path", _set("path", None), "request_kind_consistent"),
    ("line number null", _set("line_number", None), "line_number_missing"),
    ("requested_at null", _set("requested_at", None), "requested_at_missing"),
    ("requested_at at window end", _set("requested_at", OUTSIDE_WINDOW), "requested_at_in_window"),
    ("same file and line twice", _duplicate_first, "requests_duplicate_source_line"),
    ("no rows", lambda rows: [], "requests_row_count"),
]


@pytest.mark.parametrize(
    ("corrupt", "expected"), [(c, e) for _, c, e in REQUEST_CASES], ids=[i for i, _, _ in REQUEST_CASES]
)
def test_requests_corruption_trips_exactly_its_check(
    corrupt: Callable[[Rows], Rows],
    expected: str,
    write_parquet: Callable[..., Path],
    make_rows: Callable[[str], Rows],
    window: dict[str, str],
) -> None:
    path = write_parquet("requests", corrupt(make_rows("requests")))
    report = verify_parquet("requests", {"requests": path}, window)
    assert not_passed(report) == {expected: "FAILED"}
    assert report.has_blocking_failure
    failed = outcome_named(report, expected)
    assert failed.level == "blocking"
    assert failed.measured_value == (1 if expected != "requests_row_count" else 0)


def _junk(kind: str, method: str | None = None, row: int = 0) -> Callable[[Rows], Rows]:
    def corrupt(rows: Rows) -> Rows:
        parsed = kind in ("http", "non_http")
        rows[row].update(request_kind=kind, method=method if parsed else None,
                         path="/" if parsed else None, protocol="RTSP/1.0" if kind == "non_http" else None)
        return rows

    return corrupt


SHARE_CASES: list[tuple[str, Callable[[Rows], Rows], str]] = [
    ("an empty request line", _junk("empty"), "empty_request_share"),
    ("TLS junk", _junk("malformed"), "malformed_request_share"),
    ("a WebDAV method", _junk("http", "PROPFIND"), "non_standard_method_share"),
    ("a non-HTTP protocol", _junk("non_http", "GET"), "non_standard_method_share"),
]


@pytest.mark.parametrize(
    ("corrupt", "expected"), [(c, e) for _, c, e in SHARE_CASES], ids=[i for i, _, _ in SHARE_CASES]
)
def test_real_traffic_shapes_only_warn(
    corrupt: Callable[[Rows], Rows],
    expected: str,
    write_parquet: Callable[..., Path],
    make_rows: Callable[[str], Rows],
    window: dict[str, str],
) -> None:
    """1 of the 5 rows (a share of 0.2, above every default threshold) is measured and warned about;
    nothing blocks. With the threshold raised as a setting would, it passes."""
    path = write_parquet("requests", corrupt(make_rows("requests")))
    report = verify_parquet("requests", {"requests": path}, window)
    assert not_passed(report) == {expected: "WARN"}
    assert not report.has_blocking_failure and report.infrastructure_error is None
    warned = outcome_named(report, expected)
    assert (warned.level, warned.measured_value) == ("warn", pytest.approx(0.2))
    variable = {"empty_request_share": "MAX_EMPTY_REQUEST_SHARE",
                "malformed_request_share": "MAX_MALFORMED_REQUEST_SHARE",
                "non_standard_method_share": "MAX_NON_STANDARD_METHOD_SHARE"}[expected]
    relaxed = verify_parquet("requests", {"requests": path}, {**window, variable: "0.25"})
    assert not_passed(relaxed) == {}


def test_requests_with_a_drifted_schema_fails_the_schema_check_only(
    write_parquet: Callable[..., Path], make_rows: Callable[[str], Rows], window: dict[str, str]
) -> None:
    rows = [{**row, "has_invalid_utf8": "no", "extra": 1} for row in make_rows("requests")]
    schema = {**REQUESTS_SCHEMA, "has_invalid_utf8": pl.String(), "extra": pl.Int8()}
    report = verify_parquet("requests", {"requests": write_parquet("requests", rows, schema)}, window)
    assert not_passed(report) == {"requests_schema": "FAILED"}
    details = outcome_named(report, "requests_schema").metric_values
    assert details["unexpected_columns"] == ["extra"]
    assert details["type_mismatches"] == ["has_invalid_utf8: expected boolean, actual varchar"]


EVENT_CASES: list[tuple[str, Callable[[Rows], Rows], str]] = [
    ("event_id twice", _set("event_id", "e0", row=1), "event_id_duplicate"),
    ("event_id null", _set("event_id", None), "event_id_missing"),
    ("unknown event type", _set("event_type", "teleport"), "event_type_valid"),
    ("occurred_at outside", _set("occurred_at", OUTSIDE_WINDOW), "occurred_at_in_window"),
]


@pytest.mark.parametrize(
    ("corrupt", "expected"), [(c, e) for _, c, e in EVENT_CASES], ids=[i for i, _, _ in EVENT_CASES]
)
def test_events_corruption_trips_exactly_its_check(
    corrupt: Callable[[Rows], Rows],
    expected: str,
    write_parquet: Callable[..., Path],
    make_rows: Callable[[str], Rows],
    window: dict[str, str],
) -> None:
    report = verify_parquet(
        "events", {"events": write_parquet("events", corrupt(make_rows("events")))}, window
    )
    assert not_passed(report) == {expected: "FAILED"}
    assert report.has_blocking_failure


@pytest.mark.parametrize("dataset", ["events", "users"])
def test_an_empty_optional_dataset_only_warns(
    dataset: str, write_parquet: Callable[..., Path], window: dict[str, str]
) -> None:
    report = verify_parquet(dataset, {dataset: write_parquet(dataset, [])}, window)
    assert not_passed(report) == {f"{dataset}_row_count": "WARN"}
    warned = outcome_named(report, f"{dataset}_row_count")
    assert (warned.level, warned.measured_value) == ("warn", 0)
    assert not report.has_blocking_failure and report.infrastructure_error is None
    assert report.summary_lines() == [
        f"{dataset}.{dataset}_row_count [warn] WARN: measured 0, expected > 0 [warn level]"
    ]


USER_CASES: list[tuple[str, Callable[[Rows], Rows], dict[str, str]]] = [
    ("user_id twice", _set("user_id", "u0", row=1), {"user_id_duplicate": "FAILED"}),
    ("user_id empty", _set("user_id", ""), {"user_id_missing": "FAILED"}),
    ("unknown plan", _set("plan", "platinum"), {"plan_valid": "WARN"}),
    ("unknown status", _set("status", "zombie"), {"status_valid": "WARN"}),
]


@pytest.mark.parametrize(
    ("corrupt", "expected"), [(c, e) for _, c, e in USER_CASES], ids=[i for i, _, _ in USER_CASES]
)
def test_users_corruption_trips_exactly_its_check(
    corrupt: Callable[[Rows], Rows],
    expected: dict[str, str],
    write_parquet: Callable[..., Path],
    make_rows: Callable[[str], Rows],
) -> None:
    report = verify_parquet("users", {"users": write_parquet("users", corrupt(make_rows("users")))}, {})
    assert not_passed(report) == expected
    assert report.has_blocking_failure == ("FAILED" in expected.values())


# ----------------------------------------------------------------------------------- parse quality


def parse_stats_parquet(tmp_path: Path, read: int, rejected: int) -> Path:
    path = tmp_path / "parse_stats.parquet"
    parse_stats_frame(
        [("access.log", read // 2, 0), ("access.log.1", read - read // 2, rejected)]
    ).write_parquet(path)
    return path


def test_reject_ratio_above_the_default_threshold_trips_parse_quality_only(tmp_path: Path) -> None:
    path = parse_stats_parquet(tmp_path, read=1000, rejected=20)  # 2% vs 1%
    report = verify_parquet("parse_stats", {"parse_stats": path}, {"MAX_REJECT_RATIO": "0.01"})
    assert not_passed(report) == {"parse_quality": "FAILED"}
    quality = outcome_named(report, "parse_quality")
    assert (quality.level, quality.measured_value, quality.threshold) == ("blocking", 0.02, "<= 0.01")


def test_reject_ratio_threshold_comes_from_the_variables(tmp_path: Path) -> None:
    path = parse_stats_parquet(tmp_path, read=1000, rejected=20)
    report = verify_parquet("parse_stats", {"parse_stats": path}, {"MAX_REJECT_RATIO": "0.05"})
    assert not_passed(report) == {}
    assert outcome_named(report, "parse_quality").threshold == "<= 0.05"


def test_reject_ratio_default_is_the_settings_default(tmp_path: Path) -> None:
    from config.settings import QualitySettings

    report = verify_frames("parse_stats", {"parse_stats": parse_stats_frame([("a.log", 1000, 20)])}, {})
    assert outcome_named(report, "parse_quality").threshold == f"<= {QualitySettings().max_reject_ratio}"
    assert report.has_blocking_failure


def test_an_empty_day_has_a_zero_reject_ratio() -> None:
    report = verify_frames("parse_stats", {"parse_stats": parse_stats_frame([("a.log", 0, 0)])}, {})
    assert not_passed(report) == {}
    assert outcome_named(report, "parse_quality").measured_value == 0
