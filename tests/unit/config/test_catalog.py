"""The dataset catalog (config/catalog) against the Soda contracts, and what is derived from it.

The catalog against the SQL migrations needs PostgreSQL: tests/integration/warehouse/test_catalog.py.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from checks.runner import CONTRACTS_DIR, CROSS_TABLE, CROSS_TABLE_SOURCES, INPUT_DATASETS
from config import catalog
from config.catalog import ColumnType, Dataset
from config.layout import OUTPUT_TABLES, DayLayout
from parsers import schema

# The Soda contracts of the staging datasets name DuckDB types (the engine of the input checks).
DUCKDB_TYPES = {
    ColumnType.TEXT: "varchar",
    ColumnType.INT32: "integer",
    ColumnType.INT64: "bigint",
    ColumnType.FLOAT64: "double",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.TIMESTAMP: "timestamp with time zone",
    ColumnType.DATE: "date",
}
CONTRACTED = [p.stem for p in sorted(CONTRACTS_DIR.glob("*.yml")) if p.stem != CROSS_TABLE]


def contract(name: str) -> dict[str, Any]:
    return yaml.safe_load((CONTRACTS_DIR / f"{name}.yml").read_text(encoding="utf-8"))


def checks_of(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(check_type, spec or {}) for check in body or [] for check_type, spec in check.items()]


def test_output_tables_are_the_shipped_ones_in_load_order() -> None:
    assert OUTPUT_TABLES == (
        "sessions", "user_daily", "page_daily", "funnel_daily", "client_daily", "referrer_daily",
        "traffic_minute", "endpoint_daily", "status_daily", "security_findings", "ip_daily",
    )
    assert OUTPUT_TABLES == tuple(d.name for d in catalog.datasets_of_kind("output"))


def test_every_dataset_is_described_and_daily_tables_lead_with_day() -> None:
    for declared in catalog.DATASETS.values():
        assert declared.description.strip(), declared.name
        assert declared.primary_key, declared.name
        if declared.kind in ("output", "warehouse"):
            assert declared.column_names[0] == "day" and declared.primary_key[0] == "day", declared.name
            assert all(not declared.column(key).nullable for key in declared.primary_key), declared.name


def test_a_bad_declaration_is_refused_with_its_name() -> None:
    text = catalog.Column("a", ColumnType.TEXT)
    with pytest.raises(ValueError, match="dataset broken: a column is declared twice"):
        Dataset("broken", "staging", "x", (text, text), ("a",))
    with pytest.raises(ValueError, match="dataset broken: primary key column 'b' is not a column"):
        Dataset("broken", "staging", "x", (text,), ("b",))
    with pytest.raises(KeyError, match="no dataset 'nope' in config/catalog"):
        catalog.dataset("nope")
    with pytest.raises(KeyError, match="dataset sessions has no column 'nope'"):
        catalog.dataset("sessions").column("nope")


def test_every_contract_is_of_a_declared_dataset() -> None:
    assert set(CONTRACTED) <= set(catalog.DATASETS)
    assert set(OUTPUT_TABLES) | set(INPUT_DATASETS) == set(CONTRACTED)
    assert set(CROSS_TABLE_SOURCES) <= set(catalog.DATASETS)


@pytest.mark.parametrize("name", CONTRACTED)
def test_contract_columns_are_the_declared_ones_in_order(name: str) -> None:
    assert tuple(c["name"] for c in contract(name)["columns"]) == catalog.dataset(name).column_names


@pytest.mark.parametrize("name", CONTRACTED)
def test_contract_types_match_the_declaration(name: str) -> None:
    declared = catalog.dataset(name)
    typed = {c["name"]: c["data_type"] for c in contract(name)["columns"] if "data_type" in c}
    assert typed == {n: DUCKDB_TYPES[declared.column(n).type] for n in typed}
    if declared.kind != "output":  # the output contracts leave types to PostgreSQL (see their header)
        assert set(typed) == set(declared.column_names)


@pytest.mark.parametrize("name", CONTRACTED)
def test_contract_duplicate_check_is_the_primary_key(name: str) -> None:
    body = contract(name)
    keys = [tuple(spec["columns"]) for kind, spec in checks_of(body.get("checks")) if kind == "duplicate"]
    keys += [(c["name"],) for c in body["columns"] for kind, _ in checks_of(c.get("checks")) if kind == "duplicate"]
    expected = catalog.dataset(name).primary_key
    if name == "parse_stats":  # one row per file by construction (checks.runner.parse_stats_frame)
        assert keys == []
    else:
        assert keys == [expected]


@pytest.mark.parametrize("name", CONTRACTED)
def test_missing_checks_are_on_required_columns(name: str) -> None:
    """Staging Parquet carries no NOT NULL: its `required` columns are exactly the contract's missing checks."""
    declared = catalog.dataset(name)
    columns = contract(name)["columns"]
    checked = {c["name"] for c in columns for kind, _ in checks_of(c.get("checks")) if kind == "missing"}
    required = {c.name for c in declared.columns if not c.nullable}
    assert checked <= required
    if declared.kind != "output":
        assert checked == required


def test_polars_types_of_the_vocabulary() -> None:
    assert schema.POLARS_TYPES == {
        ColumnType.TEXT: pl.String(),
        ColumnType.INT32: pl.Int32(),
        ColumnType.INT64: pl.Int64(),
        ColumnType.FLOAT64: pl.Float64(),
        ColumnType.BOOLEAN: pl.Boolean(),
        ColumnType.TIMESTAMP: pl.Datetime("us", "UTC"),
        ColumnType.DATE: pl.Date(),
        ColumnType.TEXT_LIST: pl.List(pl.String()),
        ColumnType.JSON: pl.String(),
    }


def test_staging_schemas_come_from_the_catalog() -> None:
    assert list(schema.REQUESTS_SCHEMA.items())[:5] == [
        ("source_file", pl.String()),
        ("line_number", pl.Int64()),
        ("client_ip", pl.String()),
        ("remote_user", pl.String()),
        ("requested_at", pl.Datetime("us", "UTC")),
    ]
    derived = {
        "requests": schema.REQUESTS_SCHEMA,
        "rejected": schema.REJECTED_SCHEMA,
        "events": schema.EVENTS_SCHEMA,
        "events_rejected": schema.REJECTED_SCHEMA,
        "users": schema.USERS_SCHEMA,
        "user_agents": schema.USER_AGENTS_SCHEMA,
        "parse_stats": schema.PARSE_STATS_SCHEMA,
        **schema.DICTIONARY_SCHEMAS,
    }
    assert set(derived) == {d.name for d in catalog.datasets_of_kind("staging") + catalog.datasets_of_kind("in_memory")}
    for name, polars_schema in derived.items():
        declared = catalog.dataset(name)
        assert list(polars_schema.items()) == [(c.name, schema.POLARS_TYPES[c.type]) for c in declared.columns]


def test_layout_paths_come_from_the_catalog(tmp_path: Path) -> None:
    layout = DayLayout(tmp_path, date(2026, 11, 24))
    staging = tmp_path / "staging" / "day=2026-11-24"
    assert layout.requests == staging / "requests.parquet"
    assert layout.events_rejected == staging / "events_rejected.parquet"
    assert layout.user_agents == staging / "user_agents.parquet"
    assert layout.client_keys == staging / "client_keys.parquet"
    assert layout.file_keys == staging / "file_keys.parquet"
    assert layout.value_key_dictionaries == {
        name: staging / f"{name}.parquet"
        for name in ("client_keys", "agent_keys", "request_keys", "referer_keys", "vhost_keys", "remote_user_keys",
                     "file_keys")
    }
    assert layout.output_table("ip_daily") == tmp_path / "output" / "day=2026-11-24" / "ip_daily"
    with pytest.raises(ValueError, match="'requests' is staging, not an output table"):
        layout.output_table("requests")
    with pytest.raises(ValueError, match="'sessions' is output, not a staging dataset"):
        layout.staging_dataset("sessions")
    with pytest.raises(KeyError, match="no dataset 'sesions'"):
        layout.output_table("sesions")


def test_loader_rejected_columns_come_from_the_catalog() -> None:
    from warehouse import loader

    assert loader.REJECTED_COLUMNS == ("source_file", "line_number", "reason", "raw_text")
    assert catalog.dataset("rejected_lines").names_without("day") == loader.REJECTED_COLUMNS


def test_session_columns_come_from_the_catalog() -> None:
    from analytics.sessions import SESSION_COLUMNS

    assert SESSION_COLUMNS == catalog.dataset("sessions").column_names[1:]
    assert SESSION_COLUMNS[:2] == ("session_id", "visitor_key") and "day" not in SESSION_COLUMNS


def test_value_keys_are_appended_to_requests_and_each_has_its_dictionary() -> None:
    """config/catalog/value_keys.py is the one declaration: the key columns of `requests`, the
    dictionary datasets and the parsed-row schema all follow it."""
    requests = catalog.dataset("requests")
    assert requests.column_names[-7:] == (
        "client_key", "agent_key", "request_key", "referer_key", "vhost_key", "remote_user_key", "file_key",
    )
    assert all(requests.column(name).type == ColumnType.INT32 and requests.column(name).nullable
               for name in requests.column_names[-7:])
    assert list(schema.PARSED_REQUESTS_SCHEMA) == list(requests.column_names[:-7])
    expected = {
        "client_keys": ("key", "client_ip"),
        "agent_keys": ("key", "user_agent"),
        "request_keys": ("key", "request", "method", "path", "query", "protocol", "request_kind"),
        "referer_keys": ("key", "referer"),
        "vhost_keys": ("key", "vhost"),
        "remote_user_keys": ("key", "remote_user"),
        "file_keys": ("key", "source_file"),
    }
    for name, columns in expected.items():
        declared = catalog.dataset(name)
        assert (declared.kind, declared.column_names, declared.primary_key) == ("staging", columns, ("key",))
        assert declared.column("key").type == ColumnType.INT32
        assert not declared.column("key").nullable and not declared.column(columns[1]).nullable
        assert [declared.column(c).type for c in columns[1:]] == [requests.column(c).type for c in columns[1:]]
    assert catalog.dataset("request_keys").column("method").nullable
    assert "from the request alone" in catalog.dataset("request_keys").description
