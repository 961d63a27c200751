"""The vocabulary of the dataset catalog: column types, columns and datasets.

config/ is the bottom layer, so the types are neutral names; parsers/schema.py maps them to polars,
analytics/contracts.py (through parsers/schema.py) to Spark, and the SQL migrations spell them in
PostgreSQL (tests/integration/warehouse/test_catalog.py holds the two together).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal


class ColumnType(Enum):
    """A column type every engine can hold; the value is its PostgreSQL spelling (format_type)."""

    TEXT = "text"
    INT32 = "integer"
    INT64 = "bigint"
    FLOAT64 = "double precision"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp with time zone"  # always UTC
    DATE = "date"
    TEXT_LIST = "text[]"
    JSON = "jsonb"  # a JSON document, carried as text in Parquet and Spark


TEXT = ColumnType.TEXT
INT32 = ColumnType.INT32
INT64 = ColumnType.INT64
FLOAT64 = ColumnType.FLOAT64
BOOLEAN = ColumnType.BOOLEAN
TIMESTAMP = ColumnType.TIMESTAMP
DATE = ColumnType.DATE
TEXT_LIST = ColumnType.TEXT_LIST
JSON = ColumnType.JSON

# Where a dataset lives:
#   staging     a Parquet file of the day's staging directory, written by the parsers
#   in_memory   a frame built during the run and only checked (no file)
#   output      a Spark output table: Parquet part files, then the PostgreSQL table of the same name
#   warehouse   a PostgreSQL table loaded from staging files (not produced by Spark)
Kind = Literal["staging", "in_memory", "output", "warehouse"]


@dataclass(frozen=True)
class Column:
    """One column: name, type, whether it may be null, and what it means when the name does not say."""

    name: str
    type: ColumnType
    nullable: bool = True
    description: str = ""


@dataclass(frozen=True)
class Dataset:
    """One dataset, declared once: its columns in order, its primary key, and what one row is."""

    name: str
    kind: Kind
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"dataset {self.name}: a column is declared twice")
        unknown = [key for key in self.primary_key if key not in names]
        if unknown:
            raise ValueError(f"dataset {self.name}: primary key column {unknown[0]!r} is not a column")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        """The column called `name` (KeyError naming the dataset when there is none)."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"dataset {self.name} has no column {name!r}")

    def names_without(self, *excluded: str) -> tuple[str, ...]:
        """Column names in order, leaving out `excluded` (e.g. `day`, which the pipeline adds last)."""
        return tuple(name for name in self.column_names if name not in excluded)


def required(name: str, column_type: ColumnType, description: str = "") -> Column:
    """A column that is never null."""
    return Column(name, column_type, nullable=False, description=description)


def optional(name: str, column_type: ColumnType, description: str = "") -> Column:
    """A column that may be null."""
    return Column(name, column_type, nullable=True, description=description)
