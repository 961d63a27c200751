"""The table printer keeps hostile cell content on one readable line."""

from __future__ import annotations

from warehouse.show import render


def test_render_aligns_and_neutralises_control_characters() -> None:
    out = render(["ip", "ua"], [("1.2.3.4", "evil\nline\x1b[31m"), ("::1", None)]).splitlines()
    assert out == [
        "ip       ua             ",
        "-------  ---------------",
        "1.2.3.4  evil\\nline?[31m",
        "::1                     ",
        "(2 rows)",
    ]


def test_render_truncates_long_cells() -> None:
    assert render(["p"], [("x" * 100,)], max_width=10).splitlines()[2] == "x" * 9 + "…"
