"""Runner behaviour: run errors kept apart from data failures, the gate, threshold variables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from checks.runner import (
    CheckOutcome,
    ContractReport,
    ContractRunError,
    QualityGateError,
    parse_stats_frame,
    raise_on_blocking,
    verify_frames,
    verify_parquet,
)
from checks.threshold_variables import rendered_contract


def outcome(name: str, level: str, result: str, value: float | None, threshold: str) -> CheckOutcome:
    return CheckOutcome(name, "metric", None, level, result, value, {}, threshold)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- run errors


def test_a_missing_parquet_file_is_a_run_error_not_a_data_failure(
    tmp_path: Path, window: dict[str, str]
) -> None:
    report = verify_parquet("requests", {"requests": tmp_path / "nope.parquet"}, window)
    assert report.infrastructure_error is not None and "nope.parquet" in report.infrastructure_error
    assert report.results == [] and not report.has_blocking_failure
    with pytest.raises(ContractRunError, match="requests: missing input"):
        raise_on_blocking([report])


def test_an_unreadable_parquet_file_is_a_run_error(tmp_path: Path, window: dict[str, str]) -> None:
    path = tmp_path / "requests.parquet"
    path.write_text("not parquet")
    report = verify_parquet("requests", {"requests": path}, window)
    assert report.infrastructure_error and "cannot read Parquet" in report.infrastructure_error
    assert not report.has_blocking_failure


def test_a_dataset_without_a_contract_is_a_run_error(write_parquet: Callable[..., Path]) -> None:
    report = verify_parquet("nonsense", {"nonsense": write_parquet("users")}, {})
    assert report.infrastructure_error and "no contract file" in report.infrastructure_error


def test_a_broken_contract_is_a_run_error(tmp_path: Path, write_parquet: Callable[..., Path]) -> None:
    broken = tmp_path / "users.yml"
    broken.write_text(
        "dataset: ${var.DATASET_PREFIX}/users\n"
        "columns:\n  - name: user_id\n    checks:\n      - misssing:\n          name: typo\n"
    )
    report = verify_parquet("users", {"users": write_parquet("users")}, {}, contract=broken)
    assert report.infrastructure_error and "misssing" in report.infrastructure_error
    assert not report.has_blocking_failure


def test_a_missing_variable_is_a_run_error(write_parquet: Callable[..., Path]) -> None:
    report = verify_parquet("requests", {"requests": write_parquet("requests")}, {})  # no window
    assert report.infrastructure_error and "WINDOW_START" in report.infrastructure_error


def test_repeated_check_names_are_a_run_error(tmp_path: Path) -> None:
    contract = tmp_path / "parse_stats.yml"
    contract.write_text(
        "dataset: ${var.DATASET_PREFIX}/parse_stats\n"
        "variables:\n  DATASET_PREFIX:\n    default: x\n"
        "columns:\n"
        "  - name: lines_read\n    checks:\n      - missing:\n          name: same\n"
        "  - name: lines_rejected\n    checks:\n      - missing:\n          name: same\n"
    )
    frames = {"parse_stats": parse_stats_frame([("a.log", 10, 0)])}
    report = verify_frames("parse_stats", frames, {}, contract=contract)
    assert report.infrastructure_error and "unique" in report.infrastructure_error


def test_a_non_numeric_threshold_variable_is_a_run_error() -> None:
    frames = {"parse_stats": parse_stats_frame([("a.log", 10, 0)])}
    report = verify_frames("parse_stats", frames, {"MAX_REJECT_RATIO": "1%; DROP"})
    assert report.infrastructure_error and "MAX_REJECT_RATIO" in report.infrastructure_error
    assert report.results == []


# -------------------------------------------------------------------------------------- the gate


def test_the_gate_names_dataset_check_measured_value_and_threshold() -> None:
    failing = ContractReport("parse_stats", [outcome("parse_quality", "blocking", "FAILED", 0.02, "<= 0.01")])
    warned = ContractReport("events", [outcome("events_row_count", "warn", "WARN", 0, "> 0 [warn level]")])
    broken = ContractReport("users", [], "missing input: users.parquet")
    with pytest.raises(QualityGateError) as raised:
        raise_on_blocking([failing, warned, broken])
    message = str(raised.value)
    assert "parse_stats.parse_quality: measured 0.02, expected <= 0.01" in message
    assert "events_row_count" not in message
    assert "users: missing input" in message
    assert raised.value.failures == [("parse_stats", failing.results[0])]


def test_the_gate_error_survives_pickling() -> None:
    import pickle

    failure = outcome("parse_quality", "blocking", "FAILED", 0.02, "<= 0.01")
    error = QualityGateError([("parse_stats", failure)], ["  also could not run: users"])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.failures == error.failures and str(copy) == str(error)


def test_warnings_and_passes_do_not_stop_the_run() -> None:
    raise_on_blocking(
        [
            ContractReport("events", [outcome("events_row_count", "warn", "WARN", 0, "> 0")]),
            ContractReport("requests", [outcome("requests_row_count", "blocking", "PASSED", 5, "> 0")]),
        ]
    )


def test_summary_lines_list_only_what_did_not_pass() -> None:
    report = ContractReport(
        "requests",
        [
            outcome("status_range", "blocking", "FAILED", 3, "= 0"),
            outcome("requests_row_count", "blocking", "PASSED", 5, "> 0"),
            outcome("odd", "blocking", "NOT_EVALUATED", None, "= 0"),
        ],
        "Soda reported errors",
    )
    assert report.summary_lines() == [
        "requests.status_range [blocking] FAILED: measured 3, expected = 0",
        "requests.odd [blocking] NOT_EVALUATED: measured nothing (not evaluated), expected = 0",
        "requests: contract could not run: Soda reported errors",
    ]


# ------------------------------------------------------------------------ threshold variables


def test_numeric_variables_are_substituted_in_place(tmp_path: Path) -> None:
    contract = tmp_path / "c.yml"
    contract.write_text(
        "variables:\n  MAX:\n    default: 0.01\n  MIN:\n"
        "checks:\n  - metric:\n      expression: x ${var.MAX}\n      threshold:\n"
        "        must_be_less_than_or_equal: ${var.MAX}   # ratio\n"
        "        must_be_greater_than: '${var.MIN}'\n"
    )
    with rendered_contract(contract, {"MIN": "-3"}) as rendered:
        lines = rendered.read_text().splitlines()
    assert lines[6] == "      expression: x ${var.MAX}"  # SQL text is left to Soda
    assert lines[8] == "        must_be_less_than_or_equal: 0.01   # ratio"
    assert lines[9] == "        must_be_greater_than: -3"
    assert not rendered.exists()


def test_contracts_without_numeric_variables_are_used_as_they_are(tmp_path: Path) -> None:
    contract = tmp_path / "c.yml"
    contract.write_text("checks:\n  - row_count:\n")
    with rendered_contract(contract, {}) as rendered:
        assert rendered == contract


def test_a_threshold_variable_without_value_or_default_is_refused(tmp_path: Path) -> None:
    contract = tmp_path / "c.yml"
    contract.write_text("threshold:\n  must_be: ${var.NOPE}\n")
    with pytest.raises(ContractRunError, match="NOPE"), rendered_contract(contract, {}):
        pass
