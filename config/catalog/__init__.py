"""The dataset catalog: every staging dataset and output table, declared once.

Each `Dataset` has its name, columns (neutral types, nullability, meaning), primary key and a
one-line description. The polars schemas (parsers/schema.py), the Spark schemas
(analytics/contracts.py), the output table list and paths (config/layout.py) and the loader's
rejected-line columns (warehouse/loader.py) are derived from it. The SQL migrations and the Soda
contracts (checks/contracts/*.yml) stay hand-written; tests/unit/config/test_catalog.py and
tests/integration/warehouse/test_catalog.py hold them against this declaration.
"""

from __future__ import annotations

from config.catalog.model import Column, ColumnType, Dataset, Kind
from config.catalog.outputs import OUTPUT_DATASETS
from config.catalog.staging import REJECTED_LINES, STAGING_DATASETS

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset for dataset in (*STAGING_DATASETS, *OUTPUT_DATASETS, REJECTED_LINES)
}
OUTPUT_TABLES: tuple[str, ...] = tuple(dataset.name for dataset in OUTPUT_DATASETS)


def dataset(name: str) -> Dataset:
    """The declared dataset called `name`; a KeyError lists the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"no dataset {name!r} in config/catalog (known: {', '.join(DATASETS)})") from None


def datasets_of_kind(kind: Kind) -> tuple[Dataset, ...]:
    """The declared datasets of one kind (staging, in_memory, output, warehouse), in declaration order."""
    return tuple(declared for declared in DATASETS.values() if declared.kind == kind)


__all__ = [
    "DATASETS", "OUTPUT_DATASETS", "OUTPUT_TABLES", "Column", "ColumnType", "Dataset", "Kind", "dataset",
    "datasets_of_kind",
]
