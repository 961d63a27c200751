"""Safe HTML building blocks of the day report: escaping, inlined JSON, tables, KPIs, the page shell.

Log content is hostile. Text and attribute values go through `esc` (quotes included); data for the
charts is inlined as JSON inside a non-executable `<script type="application/json">`, with `<`, `>`,
`&` and U+2028/U+2029 written as `\\u` escapes so no value can close the element or open a comment.
No value from the data ever becomes a URL, an event handler or an element name. A Content-Security-
Policy allows only the page's own two scripts (by hash) and no network at all, as a second line.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent / "html_assets"
CHART_LIBRARY = "echarts.common.min.js"  # Apache ECharts 6.1.0 (Apache-2.0), from the npm package's dist/


def esc(value: Any) -> str:
    """Text safe in HTML element content and in quoted attribute values."""
    text = "" if value is None else str(value)
    return html.escape(text.replace("\x00", "\ufffd"), quote=True)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def inline_json(data: Any) -> str:
    """JSON that can sit inside a `<script type="application/json">` element whatever the data holds."""
    text = json.dumps(_finite(data), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return "".join(_JSON_ESCAPES.get(ch, ch) for ch in text)


@cache
def asset(name: str) -> str:
    """A file of report/html_assets, checked to be safe to inline in a `<script>` or `<style>` element."""
    text = (ASSETS / name).read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
        raise ValueError(f"{ASSETS / name} cannot be inlined: it contains </script, </style or <!--")
    return text


def csp_hash(script: str) -> str:
    """The Content-Security-Policy source that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def number(value: Any, digits: int = 0) -> str:
    """A number for people: thousands separators; '–' for missing."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its header, and how the cell is shown (`text`, `num`, or a function)."""

    key: str
    label: str
    kind: str = "text"
    show: Callable[[Any], str] | None = None  # returns already-escaped HTML


def _cell(column: Column, row: Mapping[str, Any]) -> str:
    value = row.get(column.key)
    if isinstance(value, Mapping):  # e.g. evidence: sort by how many samples it holds
        value_for_sort: Any = len(value.get("samples") or [])
    elif isinstance(value, list | tuple):
        value_for_sort = len(value)
    else:
        value_for_sort = value
    sort_key = "" if value_for_sort is None else (
        repr(value_for_sort) if isinstance(value_for_sort, float) else str(value_for_sort)
    )
    if column.kind == "num" and isinstance(value, bool):
        sort_key = str(int(value))
    if column.show is not None:
        shown = column.show(row)
    elif column.kind == "num":
        shown = esc(number(value, 1 if isinstance(value, float) else 0))
    else:
        shown = esc("" if value is None else value)
    css = ' class="num"' if column.kind == "num" else ""
    return f'<td{css} data-sort="{esc(sort_key)}">{shown}</td>'


def table(table_id: str, columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], empty: str = "None.") -> str:
    """A sortable table (click a header); every cell escaped."""
    if not rows:
        return f'<p class="empty" id="{esc(table_id)}-empty">{esc(empty)}</p>'
    head = "".join(
        f'<th{" class=num" if c.kind == "num" else ""} scope="col">{esc(c.label)}</th>' for c in columns
    )
    body = "".join("<tr>" + "".join(_cell(c, row) for c in columns) + "</tr>" for row in rows)
    return (
        f'<div class="table-wrap"><table class="sortable" id="{esc(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def kpi(kpi_id: str, label: str, value: Any, shown: str | None = None) -> str:
    """A headline number; `data-value` holds the exact value (the browser test compares it)."""
    raw = "" if value is None else (repr(value) if isinstance(value, float) else str(value))
    text = shown if shown is not None else number(value)
    return (
        f'<div class="kpi"><div class="label">{esc(label)}</div>'
        f'<div class="value" id="{esc(kpi_id)}" data-value="{esc(raw)}">{esc(text)}</div></div>'
    )


def chart(chart_id: str, has_data: bool, size: str = "", empty: str = "No data for this day.") -> str:
    """A chart container, or a note when there is nothing to draw."""
    if not has_data:
        return f'<p class="empty" id="{esc(chart_id)}-empty">{esc(empty)}</p>'
    return f'<div class="chart {esc(size)}" id="{esc(chart_id)}" role="img" aria-label="{esc(chart_id)}"></div>'


def section(section_id: str, title: str, body: str) -> str:
    return f'<section id="{esc(section_id)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, nav: Sequence[tuple[str, str]], body: str, data: Any, footer: str) -> str:
    """The whole self-contained document: styles, data, chart library and report script inlined."""
    library, script, style = asset(CHART_LIBRARY), asset("report.js"), asset("report.css")
    policy = (
        "default-src 'none'; "
        f"script-src {csp_hash(library)} {csp_hash(script)}; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "connect-src 'none'; form-action 'none'; base-uri 'none'"
    )
    links = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label in nav)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{esc(title)}</title><style>{style}</style></head>'
        f"<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{links}</nav>"
        f"<main>{body}</main><footer>{esc(footer)}</footer>"
        f'<script type="application/json" id="webtrail-data">{inline_json(data)}</script>'
        f"<script>{library}</script><script>{script}</script></body></html>\n"
    )
