"""Markdown rendering of run summaries; every value from the logs is escaped first."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

# Characters that start markdown constructs (links, emphasis, tables, code, headings, HTML).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def escape_markdown(value: object, max_chars: int = 200) -> str:
    """Text safe inside a markdown table cell: HTML-escaped, markdown-escaped, one line, bounded."""
    text = "" if value is None else str(value)
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    text = text.replace("\r", " ").replace("\n", " ").replace("\x00", "")
    text = html.escape(text, quote=True)
    # html.escape produced entities such as &lt; whose '&' and ';' are harmless; escape the rest.
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A markdown table of `rows` restricted to `columns`, every cell escaped."""
    header = "| " + " | ".join(escape_markdown(c) for c in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(escape_markdown(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join([header, rule, *body])
