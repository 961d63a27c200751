"""Substitute Soda variables used as threshold numbers before Soda parses a contract.

Soda 4.28 reads threshold numbers (and valid_min / valid_max / length) as YAML numbers only, so a
``${var.NAME}`` there is a string and is rejected. A value written as exactly ``${var.NAME}`` is
therefore replaced by the variable's number (or its declared default) in a temporary copy of the
contract, line numbers kept; every other ``${var.NAME}`` is left to Soda.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from checks.results import ContractRunError

# Keys Soda 4.28 reads with read_number_opt: a `${var.X}` there is a string and is rejected.
_NUMERIC_KEYS = (
    "must_be|must_not_be|must_be_greater_than|must_be_greater_than_or_equal|must_be_less_than"
    "|must_be_less_than_or_equal|greater_than|greater_than_or_equal|less_than|less_than_or_equal"
    "|valid_min|valid_max|valid_length|valid_min_length|valid_max_length"
)
_NUMERIC_VARIABLE = re.compile(
    rf"^(?P<head>[ \t]*(?:-[ \t]+)?(?:{_NUMERIC_KEYS})[ \t]*:[ \t]*)"
    r"(?P<q>[\"']?)\$\{\s*var\.(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*\}(?P=q)(?P<tail>[ \t]*(?:#.*)?)$",
    re.MULTILINE,
)


def number_literal(name: str, raw: str) -> str:
    """The YAML number for variable ``name``'s value; ContractRunError when it is not a finite number."""
    text = raw.strip()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return str(int(text))
    try:
        number = float(text)
    except ValueError:
        raise ContractRunError(
            f"variable {name}={raw!r} is used as a threshold and is not a number"
        ) from None
    if not math.isfinite(number):
        raise ContractRunError(f"variable {name}={raw!r} is used as a threshold and is not finite")
    return repr(number)


@contextmanager
def rendered_contract(path: Path, variables: Mapping[str, str]) -> Iterator[Path]:
    """The contract with numeric `${var.X}` values substituted (line numbers kept), else the file itself."""
    text = path.read_text(encoding="utf-8")
    if not _NUMERIC_VARIABLE.search(text):
        yield path
        return
    try:
        declared = (yaml.safe_load(text) or {}).get("variables") or {}
    except yaml.YAMLError as exc:
        raise ContractRunError(f"{path}: YAML syntax error: {exc}") from None

    def substitute(match: re.Match[str]) -> str:
        name = match["name"]
        if name in variables:
            raw = variables[name]
        elif isinstance(declared.get(name), dict) and declared[name].get("default") is not None:
            raw = str(declared[name]["default"])
        else:
            raise ContractRunError(f"{path}: threshold variable {name} has no value and no default")
        return f"{match['head']}{number_literal(name, raw)}{match['tail']}"

    rendered_text = _NUMERIC_VARIABLE.sub(substitute, text)
    with tempfile.TemporaryDirectory(prefix="webtrail-contract-") as tmp:
        rendered = Path(tmp) / path.name
        rendered.write_text(rendered_text, encoding="utf-8")
        yield rendered
