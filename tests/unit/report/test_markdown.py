"""Log content rendered into Prefect's markdown artifacts cannot inject markdown or HTML."""

from __future__ import annotations

from report.markdown import escape_markdown, markdown_table


def test_html_and_markdown_are_neutralised() -> None:
    hostile = '<script>alert(1)</script> [click](http://evil) **bold** | pipe `code`'
    escaped = escape_markdown(hostile)
    assert "<script>" not in escaped and "<" not in escaped
    assert escaped.startswith("&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\[click\\]\\(http://evil\\)")
    assert "\\*\\*bold\\*\\*" in escaped and "\\|" in escaped and "\\`code\\`" in escaped


def test_newlines_and_nul_cannot_break_a_table_row() -> None:
    assert escape_markdown("a\nb\r\nc\x00d") == "a b  cd"


def test_long_values_are_truncated() -> None:
    assert escape_markdown("x" * 500, max_chars=10) == "x" * 9 + "…"


def test_table_escapes_every_cell() -> None:
    table = markdown_table([{"ip": "1.2.3.4", "ua": "a|b"}], ["ip", "ua"])
    assert table.splitlines() == ["| ip | ua |", "|---|---|", "| 1\\.2\\.3\\.4 | a\\|b |"]
