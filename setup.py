"""Build of the parser's compiled fast path (parsers/_fastsplit.c); everything else is in pyproject.toml.

`pip install -e ".[dev]"` compiles it (gcc and the Python headers are needed); in a checkout that is
not installed, `python setup.py build_ext --inplace` builds it beside the sources. Without it the
parser still works on its regex path, and tests/unit/parsers/test_fast_path.py fails.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "parsers._fastsplit",
            sources=["parsers/_fastsplit.c"],
            depends=["parsers/_fastsplit_lines.h", "parsers/_fastsplit_values.h"],
            extra_compile_args=["-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
