"""The layers run one way: bench -> flows -> tasks -> domain packages -> config (README, "Architecture").

Every import of every module is read from its syntax tree, including imports inside functions and
under ``if TYPE_CHECKING:`` (a lazy import is still a dependency) and ``importlib.import_module``
with a literal name. A module may import its own package, any package of a lower layer, and the
other domain packages (they form one layer). Where the packages sit:

- ``bench/``: the benchmarks drive whole runs (flows) and single stages, so they sit on top.
- ``flows/``: the entry points (Prefect flows, ``python -m flows.daily``).
- ``tasks/``: thin Prefect tasks around the domain packages.
- domain: ``parsers``, ``checks``, ``analytics``, ``warehouse``, ``report``, plus ``webtrail`` (the
  notebook and investigation API over the staging files and the warehouse, used by tasks and
  flows and built from the domain packages) and ``sample_logs`` (the sample-day generator, which
  needs nothing but config).
- ``config/``: settings and the data layout, imported by everyone, importing nothing of the project.

Prefect is imported only in flows/ and tasks/. The one exception, by name: the warehouse gateway
reads a Prefect Secret block lazily (inside a function) when ``WEBTRAIL_DATABASE_SECRET_BLOCK`` is
set, so the domain packages still import without Prefect.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.code_files import ROOT, python_files


def project_files() -> list[Path]:
    """Every Python file of the project's packages (tests excluded: they may import anything)."""
    return python_files(also_skip=frozenset({"tests"}))


TOP = "entry points and benchmarks"
LAYER_OF: dict[str, int] = {
    "bench": 4,
    "flows": 3,
    "tasks": 2,
    "parsers": 1,
    "checks": 1,
    "analytics": 1,
    "warehouse": 1,
    "report": 1,
    "webtrail": 1,
    "sample_logs": 1,
    "config": 0,
}
LAYER_NAMES = {4: "bench", 3: "flows", 2: "tasks", 1: "domain packages", 0: "config"}
DOMAIN = 1
PREFECT_PACKAGES = {"flows", "tasks"}
# (module file, imported module): a lazy import inside a function, allowed outside flows/ and tasks/.
PREFECT_EXCEPTIONS = {("warehouse/gateway.py", "prefect.blocks.system")}


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository root
    line: int
    module: str  # the absolute module name imported
    in_function: bool


def imports_of(source: str, relative_file: str) -> list[Import]:
    """Every import in `source`, relative imports resolved against the module's package."""
    tree = ast.parse(source, filename=relative_file)
    package = relative_file.rsplit("/", 1)[0].replace("/", ".")
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(relative_file, node.lineno, alias.name, in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(Import(relative_file, node.lineno, module, in_function))
        elif (
            isinstance(node, ast.Call)
            and _called_name(node.func) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(relative_file, node.lineno, node.args[0].value, in_function))
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def layer_violations(found: list[Import]) -> list[str]:
    """One message per import against the layers (file:line, what is imported, the rule broken)."""
    messages = []
    for item in found:
        importer = item.file.split("/", 1)[0]
        imported = item.module.split(".", 1)[0]
        if imported not in LAYER_OF or imported == importer:
            continue
        own, other = LAYER_OF[importer], LAYER_OF[imported]
        if other < own or (other == own == DOMAIN):
            continue
        direction = "above it" if other > own else "beside it (only domain packages import each other)"
        messages.append(
            f"{item.file}:{item.line} imports {item.module}: {importer}/ ({LAYER_NAMES[own]}) must not import "
            f"{imported}/ ({LAYER_NAMES[other]}, {direction}); layers run bench -> flows -> tasks -> "
            "domain packages -> config"
        )
    return messages


def prefect_violations(found: list[Import]) -> list[str]:
    allowed = ", ".join(f"{file} -> {module} inside a function" for file, module in sorted(PREFECT_EXCEPTIONS))
    messages = []
    for item in found:
        if item.module.split(".", 1)[0] != "prefect" or item.file.split("/", 1)[0] in PREFECT_PACKAGES:
            continue
        if (item.file, item.module) in PREFECT_EXCEPTIONS and item.in_function:
            continue
        messages.append(
            f"{item.file}:{item.line} imports {item.module}: Prefect is imported only in flows/ and tasks/ "
            f"(the one exception: {allowed})"
        )
    return messages


def all_imports() -> list[Import]:
    return [
        item
        for path in project_files()
        for item in imports_of(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    ]


# ------------------------------------------------------------------------------------------- the rules


def test_every_package_has_a_layer() -> None:
    packages = {path.relative_to(ROOT).parts[0] for path in project_files()}
    assert packages - LAYER_OF.keys() == set(), "a new top-level package needs a place in LAYER_OF (and the README)"


def test_imports_run_down_the_layers() -> None:
    violations = layer_violations(all_imports())
    assert violations == [], "imports against the layers:\n" + "\n".join(violations)


def test_prefect_is_imported_only_in_flows_and_tasks() -> None:
    violations = prefect_violations(all_imports())
    assert violations == [], "Prefect outside flows/ and tasks/:\n" + "\n".join(violations)


# ------------------------------------------------------------------- the checker itself, on known code


def test_the_walker_sees_top_level_lazy_relative_and_dynamic_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "import config.settings as settings_module\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from analytics.spark import build_spark_session\n"
        "def run():\n"
        "    from flows.daily import daily\n"
        "    from . import ingest\n"
        "    return importlib.import_module('flows.backfill')\n"
    )
    found = imports_of(source, "tasks/example.py")
    assert [(item.line, item.module, item.in_function) for item in found] == [
        (1, "__future__", False),
        (2, "config.settings", False),
        (3, "typing", False),
        (5, "analytics.spark", False),
        (7, "flows.daily", True),
        (8, "tasks", True),
        (9, "flows.backfill", True),
    ]
    assert layer_violations(found) == [
        "tasks/example.py:7 imports flows.daily: tasks/ (tasks) must not import flows/ (flows, above it); "
        "layers run bench -> flows -> tasks -> domain packages -> config",
        "tasks/example.py:9 imports flows.backfill: tasks/ (tasks) must not import flows/ (flows, above it); "
        "layers run bench -> flows -> tasks -> domain packages -> config",
    ]


@pytest.mark.parametrize(
    ("file", "source", "broken"),
    [
        ("config/layout.py", "from parsers.schema import REQUESTS_SCHEMA\n", True),
        ("report/html.py", "import tasks.report\n", True),
        ("report/html.py", "from warehouse.connect import connect\n", False),
        ("webtrail/client.py", "from report.investigate import glob_to_like\n", False),
        ("flows/daily.py", "from tasks.ingest import parse_access_logs\n", False),
        ("bench/bench_daily.py", "from flows.daily import daily\n", False),
    ],
)
def test_which_imports_break_the_layers(file: str, source: str, broken: bool) -> None:
    assert bool(layer_violations(imports_of(source, file))) is broken


def test_only_the_named_lazy_secret_block_import_is_allowed_outside_flows_and_tasks() -> None:
    lazy = "def secret(name):\n    from prefect.blocks.system import Secret\n    return Secret.load(name)\n"
    assert prefect_violations(imports_of(lazy, "warehouse/gateway.py")) == []
    assert prefect_violations(imports_of("from prefect.blocks.system import Secret\n", "warehouse/gateway.py"))
    assert prefect_violations(imports_of(lazy, "warehouse/show.py"))
    assert prefect_violations(imports_of("from prefect import task\n", "tasks/ingest.py")) == []
