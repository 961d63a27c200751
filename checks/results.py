"""The result model of a contract run and the quality gate over it (no Soda run, no Prefect here).

A ``ContractReport`` holds one dataset's ``CheckOutcome`` rows and, apart from them, the error that
kept the contract from running. ``raise_on_blocking`` is the gate: a blocking ``FAILED`` raises
``QualityGateError`` (the data must not be loaded), a run error ``ContractRunError`` (retried).
``outcome_of_soda_check`` maps one Soda v4 check result to a ``CheckOutcome``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from soda_core.contracts.contract_verification import CheckResult, Threshold

Level = Literal["blocking", "warn"]
Outcome = Literal["PASSED", "FAILED", "WARN", "NOT_EVALUATED"]


@dataclass(frozen=True)
class CheckOutcome:
    """One check of one contract run, as stored in webtrail.quality_results."""

    check_name: str
    check_type: str
    column_name: str | None
    level: Level
    outcome: Outcome
    measured_value: float | int | None
    metric_values: dict[str, Any]
    threshold: str

    @property
    def is_blocking_failure(self) -> bool:
        return self.level == "blocking" and self.outcome == "FAILED"

    @property
    def is_problem(self) -> bool:
        """Anything an on-call engineer should read: a failure, a warning, or a check that did not run."""
        return self.outcome != "PASSED"


@dataclass
class ContractReport:
    """The result of one dataset's contract; data failures and run errors kept apart."""

    dataset: str
    results: list[CheckOutcome] = field(default_factory=list)
    infrastructure_error: str | None = None
    seconds: float | None = None  # wall time of the verification (the run's timings list it per contract)

    @property
    def has_blocking_failure(self) -> bool:
        return any(result.is_blocking_failure for result in self.results)

    def summary_lines(self) -> list[str]:
        """One line per check that did not pass, then the run error if any."""
        lines = [
            f"{self.dataset}.{result.check_name} [{result.level}] {result.outcome}: "
            f"measured {format_value(result.measured_value)}, expected {result.threshold}"
            for result in self.results
            if result.is_problem
        ]
        if self.infrastructure_error:
            lines.append(f"{self.dataset}: contract could not run: {self.infrastructure_error}")
        return lines


class QualityGateError(Exception):
    """A blocking check failed: the data must not be loaded."""

    def __init__(self, failures: list[tuple[str, CheckOutcome]], extra_lines: list[str] | None = None):
        self.failures = failures
        self.extra_lines = list(extra_lines or [])
        head = f"{len(failures)} blocking data-quality check(s) failed:"
        lines = [
            f"  {dataset}.{result.check_name}: measured {format_value(result.measured_value)}, "
            f"expected {result.threshold}" + (f" (column {result.column_name})" if result.column_name else "")
            for dataset, result in failures
        ]
        super().__init__("\n".join([head, *lines, *self.extra_lines]))

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable with its failures (Prefect may serialize a task's exception)."""
        return (type(self), (self.failures, self.extra_lines))


class ContractRunError(Exception):
    """A contract could not be run (missing file, broken YAML, SQL error): not a data failure."""


def raise_on_blocking(reports: Iterable[ContractReport]) -> None:
    """Raise QualityGateError on any blocking failure, else ContractRunError on any run error."""
    reports = list(reports)
    failures = [
        (report.dataset, result) for report in reports for result in report.results if result.is_blocking_failure
    ]
    errors = [f"{report.dataset}: {report.infrastructure_error}" for report in reports if report.infrastructure_error]
    if failures:
        raise QualityGateError(failures, [f"  also could not run: {error}" for error in errors])
    if errors:
        raise ContractRunError("data contract(s) could not run:\n  " + "\n  ".join(errors))


# ------------------------------------------------------------------------- Soda results -> outcomes


def outcome_of_soda_check(check_result: CheckResult) -> CheckOutcome:
    """The CheckOutcome of one Soda check result: level from its threshold, values made JSON-ready."""
    check = check_result.check
    level: Level = "warn" if check.threshold is not None and check.threshold.level == "warn" else "blocking"
    outcome_name = check_result.outcome.name
    outcome: Outcome = outcome_name if outcome_name in ("PASSED", "FAILED", "WARN") else "NOT_EVALUATED"
    metric_values: dict[str, Any] = {
        name: _jsonable(value) for name, value in (check_result.diagnostic_metric_values or {}).items()
    }
    if check.type == "schema":
        metric_values.update(_schema_details(check_result))
    threshold = _threshold_text(check.threshold)
    if check.warn_threshold is not None:
        threshold += f" (warn unless {_threshold_text(check.warn_threshold)})"
    return CheckOutcome(
        check_name=check.name,
        check_type=check.type,
        column_name=check.column_name,
        level=level,
        outcome=outcome,
        measured_value=_jsonable(check_result.threshold_value),
        metric_values=metric_values,
        threshold=threshold,
    )


def _schema_details(check_result: CheckResult) -> dict[str, Any]:
    details: dict[str, Any] = {}
    missing = getattr(check_result, "expected_column_names_not_actual", None)
    extra = getattr(check_result, "actual_column_names_not_expected", None)
    mismatches = getattr(check_result, "column_data_type_mismatches", None)
    if missing:
        details["missing_columns"] = list(missing)
    if extra:
        details["unexpected_columns"] = list(extra)
    if mismatches:
        details["type_mismatches"] = [
            f"{mismatch.column}: expected {mismatch.expected_data_type}, actual {mismatch.actual_data_type}"
            for mismatch in mismatches
        ]
    return details


_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("must_be", "="),
    ("must_not_be", "!="),
    ("must_be_greater_than", ">"),
    ("must_be_greater_than_or_equal", ">="),
    ("must_be_less_than", "<"),
    ("must_be_less_than_or_equal", "<="),
)


def _threshold_text(threshold: Threshold | None) -> str:
    if threshold is None:
        return "n/a"
    parts = [
        f"{operator} {format_value(getattr(threshold, key))}"
        for key, operator in _COMPARISONS
        if getattr(threshold, key) is not None
    ]
    text = " and ".join(parts) or "n/a"
    return f"{text} [warn level]" if threshold.level == "warn" else text


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def format_value(value: Any) -> str:
    """A measured value or threshold number as the gate's messages print it."""
    if value is None:
        return "nothing (not evaluated)"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
