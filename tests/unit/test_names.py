"""Names explain themselves: no one-letter import alias, variable or parameter outside a comprehension.

A comprehension or a lambda is one expression, where ``x`` in ``[x.ip for x in hits]`` reads fine;
everywhere else a name says what it holds (``settings``, not ``s``; ``detectors``, not ``D``). ``_``
(a value deliberately unused) is allowed.

NOT_YET_CLEAN lists the modules that still use such names (their owners rename them; shrink the list,
never grow it). Every other module, and every new one, is held to the rule.
"""

from __future__ import annotations

import ast

import pytest

from tests.unit.code_files import ROOT, python_files

NOT_YET_CLEAN = frozenset(
    {
        "analytics/anomalies.py", "analytics/behavior.py", "analytics/contracts.py", "analytics/count_rules.py",
        "analytics/crawlers.py", "analytics/detectors.py", "analytics/paths.py", "analytics/performance.py",
        "analytics/pipeline.py", "analytics/regex_guard.py", "analytics/rules.py", "analytics/security.py",
        "analytics/sessions.py", "analytics/sigma.py", "analytics/window_rules.py",
        "bench/bench_analytics.py", "bench/bench_investigate.py", "bench/bench_parse.py",
        "flows/daily.py",
        "parsers/access_convert.py", "parsers/access_log.py", "parsers/line_reader.py", "parsers/log_format.py",
        "parsers/schema.py", "parsers/server_config.py", "parsers/spark_access_log.py", "parsers/user_agents.py",
        "report/html.py",
        "tasks/ingest.py",
        "warehouse/audit.py",
        "tests/detection/corpus.py", "tests/detection/test_evaluation.py",
        "tests/integration/analytics/oracle.py", "tests/integration/prefect/test_deployments.py",
        "tests/integration/report/runs.py",
        "tests/integration/test_midnight_sessions.py", "tests/integration/test_real_traffic_flow.py",
        "tests/integration/warehouse/test_atomicity.py", "tests/integration/warehouse/test_loader.py",
        "tests/integration/warehouse/test_migrate.py",
        "tests/unit/analytics/conftest.py", "tests/unit/analytics/test_contracts.py",
        "tests/unit/analytics/test_count_rules.py", "tests/unit/analytics/test_crawlers.py",
        "tests/unit/analytics/test_endpoint_keys.py", "tests/unit/analytics/test_funnel_performance.py",
        "tests/unit/analytics/test_paths.py", "tests/unit/analytics/test_pipeline.py",
        "tests/unit/analytics/test_regex_guard.py", "tests/unit/analytics/test_request_kinds.py",
        "tests/unit/analytics/test_security.py", "tests/unit/analytics/test_security_extra.py",
        "tests/unit/analytics/test_sessions_behavior.py", "tests/unit/analytics/test_sessions_midnight.py",
        "tests/unit/analytics/test_sigma.py",
        "tests/unit/parsers/conftest.py", "tests/unit/parsers/test_access_log.py",
        "tests/unit/parsers/test_hostile_corpus.py", "tests/unit/parsers/test_line_reader.py",
        "tests/unit/parsers/test_log_format.py", "tests/unit/parsers/test_real_server_lines.py",
        "tests/unit/parsers/test_spark_parity.py", "tests/unit/parsers/test_user_agents.py",
    }
)


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
        if path.relative_to(ROOT).as_posix() not in NOT_YET_CLEAN
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


def test_the_not_yet_clean_modules_exist() -> None:
    missing = sorted(name for name in NOT_YET_CLEAN if not (ROOT / name).is_file())
    assert missing == [], f"remove from NOT_YET_CLEAN (moved or deleted): {missing}"
