"""No function takes more than six parameters unless a ``# params:`` comment says why.

A long parameter list is run state travelling as loose arguments: pass a context object (a frozen
dataclass such as the run context) instead. Where the list is right (the fields of one record, the
parameters of a Prefect flow that a deployment fills), a comment containing ``params:`` on the
``def`` line or on the line above the function (above its decorators) says why.

Counted: every parameter (positional, keyword-only, ``*args`` and ``**kwargs``), not ``self`` /
``cls``. Not counted: pytest test functions and fixtures, whose parameters are fixtures pytest
injects by name.
"""

from __future__ import annotations

import ast
import io
import tokenize

import pytest

from tests.unit.code_files import ROOT, python_files

MAX_PARAMETERS = 6
REASON_MARKER = "params:"


def comment_lines(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line."""
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string
    return comments


def parameter_count(function: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool) -> int:
    arguments = function.args
    names = [argument.arg for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]
    if is_method and names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + (arguments.vararg is not None) + (arguments.kwarg is not None)


def _is_pytest_injected(function: ast.FunctionDef | ast.AsyncFunctionDef, relative_file: str) -> bool:
    if not relative_file.startswith("tests/"):
        return False
    if function.name.startswith("test_"):
        return True
    return any("fixture" in ast.unparse(decorator) for decorator in function.decorator_list)


def long_parameter_lists(source: str, relative_file: str) -> list[str]:
    """One message per function with more than MAX_PARAMETERS parameters and no ``# params:`` reason."""
    tree = ast.parse(source, filename=relative_file)
    comments = comment_lines(source)
    messages = []
    methods = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        for child in node.body
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        count = parameter_count(node, id(node) in methods)
        if count <= MAX_PARAMETERS or _is_pytest_injected(node, relative_file):
            continue
        first_line = min([node.lineno, *(decorator.lineno for decorator in node.decorator_list)])
        reason_lines = {node.lineno, node.lineno - 1, first_line - 1}
        if any(REASON_MARKER in comments.get(line, "") for line in reason_lines):
            continue
        messages.append(
            f"{relative_file}:{node.lineno} {node.name}() takes {count} parameters (at most {MAX_PARAMETERS}): "
            f"pass a context object, or say why in a '# {REASON_MARKER} ...' comment on the def line or above"
        )
    return messages


def test_no_function_takes_more_than_six_parameters_without_a_reason() -> None:
    violations = [
        message
        for path in python_files()
        for message in long_parameter_lists(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    ]
    assert violations == [], "long parameter lists:\n" + "\n".join(violations)


# ------------------------------------------------------------------- the checker itself, on known code

SEVEN = "a, b, c, d, e, f, g"


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        (f"def build({SEVEN}):\n    pass\n", True),
        ("def build(a, b, c, d, e, f):\n    pass\n", False),
        ("def build(a, b, c, *, d, e, f, g):\n    pass\n", True),
        ("def build(a, b, c, d, e, *args, **kwargs):\n    pass\n", True),
        ("class Run:\n    def build(self, a, b, c, d, e, f):\n        pass\n", False),
        ("def build(self, a, b, c, d, e, f):\n    pass\n", True),  # not a method: self is a parameter
        (f"def build({SEVEN}):  # params: the seven fields of one log record\n    pass\n", False),
        (f"# params: the flow's deployment parameters\ndef build({SEVEN}):\n    pass\n", False),
        (f"# params: the flow's deployment parameters\n@flow(name='x')\ndef build({SEVEN}):\n    pass\n", False),
        (f"# a comment without the marker\ndef build({SEVEN}):\n    pass\n", True),
        (f"def outer():\n    def inner({SEVEN}):\n        pass\n", True),
    ],
)
def test_which_functions_are_flagged(source: str, flagged: bool) -> None:
    assert bool(long_parameter_lists(source, "parsers/example.py")) is flagged


def test_the_message_names_the_file_line_function_and_count() -> None:
    source = f"import os\n\n\ndef build({SEVEN}):\n    pass\n"
    assert long_parameter_lists(source, "parsers/example.py") == [
        "parsers/example.py:4 build() takes 7 parameters (at most 6): pass a context object, "
        "or say why in a '# params: ...' comment on the def line or above"
    ]


def test_pytest_tests_and_fixtures_are_not_counted() -> None:
    source = f"import pytest\n\n@pytest.fixture\ndef built({SEVEN}):\n    pass\n\ndef test_it({SEVEN}):\n    pass\n"
    assert long_parameter_lists(source, "tests/unit/test_example.py") == []
    assert long_parameter_lists(source.replace("def test_it", "def helper"), "tests/unit/test_example.py")


# ------------------------------------------------------------------- Prefect tasks: at most three

MAX_TASK_PARAMETERS = 3  # a task takes the run context (DayRun) and what the stage adds to it


def wide_tasks(source: str, relative_file: str) -> list[str]:
    """One message per ``@task``-decorated function with more than MAX_TASK_PARAMETERS parameters."""
    messages = []
    for node in ast.walk(ast.parse(source, filename=relative_file)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        decorators = [ast.unparse(decorator) for decorator in node.decorator_list]
        is_task = any(text == "task" or text.startswith(("task(", "prefect.task")) for text in decorators)
        count = parameter_count(node, is_method=False)
        if is_task and count > MAX_TASK_PARAMETERS:
            messages.append(
                f"{relative_file}:{node.lineno} task {node.name}() takes {count} parameters "
                f"(at most {MAX_TASK_PARAMETERS}): pass the run context (warehouse.run_context.DayRun)"
            )
    return messages


def test_no_task_takes_more_than_three_parameters() -> None:
    violations = [
        message
        for path in python_files()
        if path.relative_to(ROOT).parts[0] == "tasks"
        for message in wide_tasks(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    ]
    assert violations == [], "\n".join(violations)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("@task(name='x')\ndef load(run, outputs, inputs):\n    pass\n", False),
        ("@task(name='x', retries=2)\ndef load(url, run_id, layout, settings):\n    pass\n", True),
        ("@task\ndef load(url, run_id, layout, settings):\n    pass\n", True),
        ("def helper(url, run_id, layout, settings):\n    pass\n", False),  # not a task: the six-rule applies
    ],
)
def test_which_tasks_are_flagged(source: str, flagged: bool) -> None:
    assert bool(wide_tasks(source, "tasks/example.py")) is flagged
