"""The public API of checks/: run the Soda v4 data contracts and gate on their results.

    report = verify_parquet("requests", {"requests": layout.requests}, {"WINDOW_START": ..., ...})
    raise_on_blocking([report, ...])          # QualityGateError / ContractRunError

The code lives in three modules, one job each; import from here or from them:

- checks/results.py: the result model (CheckOutcome, ContractReport) and the gate (raise_on_blocking).
- checks/engines.py: one adapter per engine (DuckDB over Parquet or frames, Spark, PostgreSQL),
  with checks/postgres_dsn.py turning a libpq URL into soda-postgres connection properties.
- checks/threshold_variables.py: the `${var.NAME}` thresholds substituted before Soda parses a contract.

Levels: a check whose threshold has ``level: warn`` reports WARN instead of FAILED and is ``warn``;
every other check is ``blocking`` (see checks/README.md).
"""

from __future__ import annotations

from checks.engines import (
    CONTRACTS_DIR,
    CROSS_TABLE,
    CROSS_TABLE_SOURCES,
    INPUT_DATASETS,
    PARSE_STATS_SCHEMA,
    contract_path,
    parse_stats_frame,
    verify_cross_table,
    verify_frames,
    verify_parquet,
    verify_postgres,
    verify_spark,
)
from checks.postgres_dsn import InvalidDatabaseUrl, postgres_connection
from checks.results import (
    CheckOutcome,
    ContractReport,
    ContractRunError,
    Level,
    Outcome,
    QualityGateError,
    raise_on_blocking,
)

__all__ = [
    "CONTRACTS_DIR",
    "CROSS_TABLE",
    "CROSS_TABLE_SOURCES",
    "INPUT_DATASETS",
    "PARSE_STATS_SCHEMA",
    "CheckOutcome",
    "ContractReport",
    "ContractRunError",
    "InvalidDatabaseUrl",
    "Level",
    "Outcome",
    "QualityGateError",
    "contract_path",
    "parse_stats_frame",
    "postgres_connection",
    "raise_on_blocking",
    "verify_cross_table",
    "verify_frames",
    "verify_parquet",
    "verify_postgres",
    "verify_spark",
]
