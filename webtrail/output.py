"""Print query results and investigation sections as terminal tables, CSV or JSON.

Cells that come from the logs are hostile: in tables they are made single-line, stripped of
control characters and rich markup is never interpreted (``Text`` objects, not markup strings).
CSV goes through the csv module (quotes, embedded newlines) and JSON through json.dumps.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, Literal

Format = Literal["table", "csv", "json"]
FORMATS: tuple[str, ...] = ("table", "csv", "json")
MAX_CELL = 80


def plain(value: Any) -> Any:
    """A JSON-ready value: timestamps ISO 8601, decimals as floats, containers converted."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def cell_text(value: Any, max_chars: int = MAX_CELL) -> str:
    """One printable, bounded line for a terminal cell."""
    if value is None:
        return ""
    value = plain(value)
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def print_table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], out: IO[str] | None = None,
    max_rows: int | None = None,
) -> None:
    """A rich table (no markup interpretation of cells); notes how many rows were left out."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    stream = out or sys.stdout
    # A pipe or a file gets the whole table, not one folded to 80 columns.
    width = None if stream.isatty() else int(os.environ.get("COLUMNS") or 200)
    console = Console(file=stream, highlight=False, soft_wrap=False, width=width)
    shown = rows if max_rows is None else rows[:max_rows]
    table = Table(title=Text(title) if title else None, show_lines=False, title_justify="left")
    for name in columns:
        table.add_column(Text(str(name)), overflow="fold")
    for row in shown:
        table.add_row(*(Text(cell_text(v)) for v in row))
    console.print(table)
    if len(shown) < len(rows):
        console.print(Text(f"({len(rows)} rows, first {len(shown)} shown; use --format csv or json for all)"))
    else:
        console.print(Text(f"({len(rows)} rows)"))


def write_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]], out: IO[str] | None = None) -> None:
    writer = csv.writer(out or sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            ["" if v is None else json.dumps(plain(v)) if isinstance(v, dict | list) else plain(v) for v in row]
        )


def records(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{c: plain(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def write_json(payload: Any, out: IO[str] | None = None) -> None:
    (out or sys.stdout).write(json.dumps(plain(payload), ensure_ascii=False, indent=2) + "\n")


def emit(
    fmt: Format, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
    out: IO[str] | None = None, max_rows: int | None = None,
) -> None:
    """One result in the chosen format."""
    if fmt == "table":
        print_table(title, columns, rows, out, max_rows)
    elif fmt == "csv":
        write_csv(columns, rows, out)
    else:
        write_json(records(columns, rows), out)


def emit_sections(
    fmt: Format, sections: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]],
    summary: dict[str, Any] | None = None, out: IO[str] | None = None,
) -> None:
    """Several titled results: tables one after the other; CSV with a `# title` line before each block;
    JSON as one object {summary, <section>: [records]}."""
    stream = out or sys.stdout
    if fmt == "json":
        payload: dict[str, Any] = {"summary": summary or {}}
        for title, columns, rows in sections:
            payload[title.lower().replace(" ", "_")] = records(columns, rows)
        write_json(payload, stream)
        return
    if fmt == "table" and summary:
        print_table("Summary", ["item", "value"], [[k, v] for k, v in summary.items()], stream)
    for index, (title, columns, rows) in enumerate(sections):
        if fmt == "csv":
            if index:
                stream.write("\n")
            stream.write(f"# {title}\n")
            write_csv(columns, rows, stream)
        else:
            print_table(title, columns, rows, stream)
