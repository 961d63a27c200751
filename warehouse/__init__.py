"""The PostgreSQL warehouse: migrations, the COPY loader, the run audit, and `Warehouse`, the one
gateway every flow, task and command line goes through."""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMA", "DayLoad", "Warehouse"]


def __getattr__(name: str) -> Any:
    # Lazy: `import warehouse.connect` (Soda adapters, tests) need not load the gateway and its imports.
    if name in {"Warehouse", "DayLoad", "DayCounts"}:
        from warehouse import gateway

        return getattr(gateway, name)
    if name == "SCHEMA":
        from warehouse.schema import SCHEMA

        return SCHEMA
    raise AttributeError(f"module 'warehouse' has no attribute {name!r}")
