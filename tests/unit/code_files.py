"""The project's Python files, for the tests that read the code itself (layers, names, parameters)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# build/ and data/ are git-ignored outputs; hidden directories (.ci, .venv) hold no package
NOT_CODE = frozenset({"build", "data", "venv"})


def python_files(also_skip: frozenset[str] = frozenset()) -> list[Path]:
    """Every .py file under ROOT outside NOT_CODE, hidden directories and the top folders in `also_skip`."""
    skipped = NOT_CODE | also_skip
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if len(parts := path.relative_to(ROOT).parts) > 1 and parts[0] not in skipped and not parts[0].startswith(".")
    )
