"""The contract files are well-formed and agree with the parsers and rules (no Soda run).

Their columns, types and keys against the dataset catalog: tests/unit/config/test_catalog.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from checks.runner import CONTRACTS_DIR, CROSS_TABLE, INPUT_DATASETS
from config.layout import OUTPUT_TABLES
from parsers.schema import EVENT_TYPES

ALL_DATASETS = (*INPUT_DATASETS, *OUTPUT_TABLES, CROSS_TABLE)


def load(dataset: str) -> dict[str, Any]:
    return yaml.safe_load((CONTRACTS_DIR / f"{dataset}.yml").read_text(encoding="utf-8"))


def all_checks(contract: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(check type, body) of every dataset-level and column-level check."""
    found = [next(iter(c.items())) for c in contract.get("checks") or []]
    for column in contract["columns"]:
        found += [next(iter(c.items())) for c in column.get("checks") or []]
    return [(check_type, body or {}) for check_type, body in found]


def test_every_dataset_has_exactly_one_contract() -> None:
    on_disk = {p.stem for p in CONTRACTS_DIR.glob("*.yml")}
    assert on_disk == set(ALL_DATASETS)


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_check_names_are_present_and_unique(dataset: str) -> None:
    names = [body.get("name") for _, body in all_checks(load(dataset))]
    assert all(isinstance(n, str) and n for n in names), names
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("dataset", ALL_DATASETS)
def test_dataset_is_parameterized_by_engine(dataset: str) -> None:
    assert load(dataset)["dataset"] == f"${{var.DATASET_PREFIX}}/{dataset}"


def test_event_types_follow_the_parser() -> None:
    event_type = next(c for c in load("events")["columns"] if c["name"] == "event_type")
    assert tuple(event_type["valid_values"]) == EVENT_TYPES


def test_warn_checks_are_the_intended_ones() -> None:
    """Warn level lives in the threshold (`level: warn`); the input contracts' warn checks are these."""
    warn = {
        (dataset, body["name"])
        for dataset in INPUT_DATASETS
        for _, body in all_checks(load(dataset))
        if (body.get("threshold") or {}).get("level") == "warn"
    }
    assert warn == {
        ("events", "events_row_count"),
        ("users", "users_row_count"),
        ("users", "plan_valid"),
        ("users", "status_valid"),
        # the shapes of real traffic are measured, never blocking (README, "What a request is")
        ("requests", "empty_request_share"),
        ("requests", "malformed_request_share"),
        ("requests", "non_standard_method_share"),
    }


def test_request_kinds_follow_the_parser() -> None:
    from parsers.schema import REQUEST_KINDS

    kind = next(c for c in load("requests")["columns"] if c["name"] == "request_kind")
    assert set(kind["valid_values"]) == set(REQUEST_KINDS)


def test_cross_table_totals_block_and_references_warn() -> None:
    levels = {
        body["name"]: (body.get("threshold") or {}).get("level", "fail") for _, body in all_checks(load(CROSS_TABLE))
    }
    assert {name for name, level in levels.items() if level == "warn"} == {
        "sessions_user_id_in_users",
        "user_daily_user_id_in_users",
    }
    assert all(name.endswith(("_match_staged", "_match_sessions")) for name, lv in levels.items() if lv != "warn")


def test_security_values_follow_the_rules() -> None:
    from analytics.rules import PAYLOAD_RULES, SEVERITIES, THRESHOLD_RULES

    columns = {c["name"]: c for c in load("security_findings")["columns"]}
    built_in = {r.category for r in PAYLOAD_RULES} | set(THRESHOLD_RULES)
    assert built_in <= set(columns["category"]["valid_values"])
    assert tuple(columns["severity"]["valid_values"]) == SEVERITIES
