"""Print a webtrail table (or a read-only query) from the warehouse the pipeline uses.

    python -m warehouse.show security_findings --day 2026-11-24
    python -m warehouse.show sessions --limit 20
    python -m warehouse.show --sql "SELECT category, count(*) FROM webtrail.security_findings GROUP BY 1"
    psql "$(python -m warehouse.show --url)"
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from typing import Any

from config.settings import WebtrailSettings
from warehouse.gateway import Warehouse
from warehouse.schema import SCHEMA


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    """A plain-text table; cells are single-line and truncated so hostile log text stays readable."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(line[index]) for line in cells)]) for index, name in enumerate(columns)]
    header = "  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True))
    body = ["  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)) for line in cells]
    return "\n".join([header, "  ".join("-" * width for width in widths), *body, f"({len(rows)} rows)"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warehouse.show", description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?", help=f"table in schema {SCHEMA}, e.g. sessions")
    parser.add_argument("--day", type=date.fromisoformat, help="only this day (tables with a day column)")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--sql", help="a read-only query to run instead")
    parser.add_argument("--url", action="store_true", help="print the database URL (password hidden) for psql")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: WEBTRAIL_DATABASE_URL, then "
                        "WEBTRAIL_DATABASE_SECRET_BLOCK, else embedded)")
    args = parser.parse_args(argv)
    if not args.table and not args.sql and not args.url:
        parser.error("give a table name, --sql or --url")
    warehouse = Warehouse.resolve(WebtrailSettings(), args.database_url)
    if args.url:
        print(warehouse.redacted_url)
        return 0
    if args.sql:
        columns, rows = warehouse.read(args.sql)
    else:
        columns, rows = warehouse.table_rows(args.table, args.day, args.limit)
    print(render(columns, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
