"""Names explain themselves: no one-letter import alias, variable or parameter outside a comprehension.

A comprehension or a lambda is one expression, where ``x`` in ``[x.ip for x in hits]`` reads fine;
everywhere else a name says what it holds (``settings``, not ``s``; ``detectors``, not ``D``). ``_``
(a value deliberately unused) is allowed.

Every module of the repository, tests and benchmarks included, is held to the rule; so is PySpark's
customary ``functions as F``: the modules import ``functions`` and ``types`` by their own names.
"""

from __future__ import annotations

import ast

import pytest

from tests.unit.code_files import ROOT, python_files


def one_letter_names(source: str, relative_file: str) -> list[str]:
    """One message per one-letter alias, variable or parameter outside comprehensions and lambdas."""
    tree = ast.parse(source, filename=relative_file)
    in_expression_scope: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            for generator in node.generators:
                in_expression_scope.update(id(target) for target in ast.walk(generator.target))
        elif isinstance(node, ast.Lambda):
            in_expression_scope.update(id(argument) for argument in ast.walk(node.args))
    found: list[tuple[int, str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.alias) and node.asname and len(node.asname) == 1:
            found.append((node.lineno, "import alias", node.asname))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and len(node.id) == 1:
            if node.id != "_" and id(node) not in in_expression_scope:
                found.append((node.lineno, "variable", node.id))
        elif isinstance(node, ast.arg) and len(node.arg) == 1 and node.arg != "_":
            if id(node) not in in_expression_scope:
                found.append((node.lineno, "parameter", node.arg))
        elif isinstance(node, ast.ExceptHandler) and node.name and len(node.name) == 1:
            found.append((node.lineno, "exception name", node.name))
    return [f"{relative_file}:{line} {kind} {name!r}: name what it holds" for line, kind, name in sorted(found)]


def test_no_one_letter_names_outside_comprehensions() -> None:
    violations = [
        message
        for path in python_files()
        for message in one_letter_names(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    ]
    assert violations == [], "one-letter names:\n" + "\n".join(violations)


# ------------------------------------------------------------------- the checker itself, on known code


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from pyspark.sql import functions as F\n", True),
        ("import polars as pl\n", False),
        ("s = load()\n", True),
        ("settings = load()\n", False),
        ("for i in range(3):\n    pass\n", True),
        ("def run(n):\n    pass\n", True),
        ("def run(*, k=1):\n    pass\n", True),
        ("with open('x') as f:\n    pass\n", True),
        ("try:\n    pass\nexcept ValueError as e:\n    pass\n", True),
        ("if (m := match()):\n    pass\n", True),
        ("ips = [h.ip for h in hits]\n", False),
        ("pairs = {k: v for k, v in items}\n", False),
        ("hits.sort(key=lambda h: h.ts)\n", False),
        ("for _ in range(3):\n    pass\n", False),
    ],
)
def test_which_names_are_flagged(source: str, flagged: bool) -> None:
    assert bool(one_letter_names(source, "report/example.py")) is flagged


def test_the_message_names_file_line_and_name() -> None:
    assert one_letter_names("import os\ns = os.environ\n", "config/example.py") == [
        "config/example.py:2 variable 's': name what it holds"
    ]

