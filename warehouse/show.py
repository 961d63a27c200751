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

from psycopg2 import sql

from config.settings import WebtrailSettings
from warehouse.connect import connection, redact
from warehouse.embedded import database_url


def render(columns: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 60) -> str:
    """A plain-text table; cells are single-line and truncated so hostile log text stays readable."""

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body, f"({len(rows)} rows)"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warehouse.show", description=__doc__.splitlines()[0])
    parser.add_argument("table", nargs="?", help="table in schema webtrail, e.g. sessions")
    parser.add_argument("--day", type=date.fromisoformat, help="only this day (tables with a day column)")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--sql", help="a read-only query to run instead")
    parser.add_argument("--url", action="store_true", help="print the database URL (password hidden) for psql")
    args = parser.parse_args(argv)
    if not args.table and not args.sql and not args.url:
        parser.error("give a table name, --sql or --url")
    url = database_url(WebtrailSettings())
    if args.url:
        print(redact(url))
        return 0
    with connection(url) as conn, conn.cursor() as cur:
        conn.set_session(readonly=True)
        if args.sql:
            cur.execute(args.sql)
        else:
            query = sql.SQL("SELECT * FROM webtrail.{}").format(sql.Identifier(args.table))
            if args.day:
                query += sql.SQL(" WHERE day = %s")
            query += sql.SQL(" ORDER BY 1, 2 LIMIT %s")
            cur.execute(query, ([args.day] if args.day else []) + [args.limit])
        columns = [d.name for d in cur.description or []]
        print(render(columns, cur.fetchall()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
