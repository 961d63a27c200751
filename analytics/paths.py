"""Path templates and static-asset classification (Spark column expressions).

Templates replace variable path segments by placeholders so `/product/123` and `/product/456` are
counted together as `/product/{id}`. Rules are tried in order, each a Java regex (Spark
`regexp_replace`) anchored on whole segments; extend `PATH_RULES` (or pass your own tuple) to add
site-specific ones, e.g. `PathRule("slug", r"(?<=/blog/)[^/]+", "{slug}")`. Templates are cut to
MAX_PATH_TEMPLATE_CHARS characters (analytics/contracts.py `bounded_text`): they are indexed keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from pyspark.sql import Column, functions

from analytics.contracts import MAX_PATH_TEMPLATE_CHARS, bounded_text

_SEG_START = r"(?<=/)"
_SEG_END = r"(?=/|$)"


class PathRule(NamedTuple):
    """One template rule: every match of `pattern` in the path becomes `placeholder`."""

    name: str
    pattern: str
    placeholder: str


def segment_rule(name: str, segment_regex: str, placeholder: str) -> PathRule:
    """A rule matching whole path segments (between slashes) with `segment_regex`."""
    return PathRule(name, f"{_SEG_START}(?:{segment_regex}){_SEG_END}", placeholder)


_HEX = "[0-9a-fA-F]"
PATH_RULES: tuple[PathRule, ...] = (
    segment_rule("uuid", f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}", "{uuid}"),
    segment_rule("date_ymd", r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])", "{date}"),
    segment_rule("date_path", r"(?:19|20)\d\d/(?:0[1-9]|1[0-2])(?:/(?:0[1-9]|[12]\d|3[01]))?", "{date}"),
    segment_rule("id", r"\d+", "{id}"),
    # a numeric file name in the last segment: /images/products/1960.jpg -> /images/products/{id}.jpg
    PathRule("id_file", r"(?<=/)\d+(?=\.[A-Za-z0-9]{1,10}$)", "{id}"),
    segment_rule("hash", f"{_HEX}{{16,}}", "{hash}"),
    segment_rule("email", r"[^/@\s]+@[^/@\s]+\.[A-Za-z]{2,}", "{email}"),
)

# Extension (lower case, no dot) -> asset type; extend with your own, e.g. ASSET_EXTENSIONS | {...}.
ASSET_EXTENSIONS: Mapping[str, str] = {
    "css": "css",
    **{ext: "js" for ext in ("js", "mjs", "cjs", "map")},
    **{
        ext: "image"
        for ext in ("png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "avif", "bmp", "tif", "tiff")
    },
    **{ext: "font" for ext in ("woff", "woff2", "ttf", "otf", "eot")},
}

API_PREFIX = "/api/"


def path_template(path: Column | str, rules: Sequence[PathRule] = PATH_RULES) -> Column:
    """The template of a path: rules applied in order, trailing slash removed (root stays `/`), bounded."""
    col = functions.col(path) if isinstance(path, str) else path
    return bounded_text(_unbounded_template(_rooted(_trimmed(col)), rules), MAX_PATH_TEMPLATE_CHARS)


def _trimmed(col: Column) -> Column:
    return functions.when(functions.length(col) > 1, functions.regexp_replace(col, "/+$", "")).otherwise(col)


def _rooted(trimmed: Column) -> Column:
    return functions.when(trimmed == "", functions.lit("/")).otherwise(trimmed)


def _unbounded_template(rooted: Column, rules: Sequence[PathRule]) -> Column:
    out = rooted
    for rule in rules:
        out = functions.regexp_replace(out, rule.pattern, rule.placeholder.replace("$", r"\$"))
    return out


def path_template_steps(path: Column, name: str, rules: Sequence[PathRule] = PATH_RULES) -> list[dict[str, Column]]:
    """`path_template(path)` as steps (analytics/lookups.py `_steps`) ending in column `name`: each
    intermediate text, read several times, is one column instead of copies of its expression."""
    trimmed, rooted, template = (f"{name}__{step}" for step in ("trimmed", "rooted", "unbounded"))
    return [
        {trimmed: _trimmed(path)},
        {rooted: _rooted(functions.col(trimmed))},
        {template: _unbounded_template(functions.col(rooted), rules)},
        {name: bounded_text(functions.col(template), MAX_PATH_TEMPLATE_CHARS)},
    ]


def asset_type(path: Column | str, extensions: Mapping[str, str] = ASSET_EXTENSIONS) -> Column:
    """css / js / image / font (per `extensions`) from the path's file extension; null for others."""
    col = functions.col(path) if isinstance(path, str) else path
    ext = functions.lower(functions.regexp_extract(col, r"\.([A-Za-z0-9]+)$", 1))
    mapping = functions.create_map(*[functions.lit(x) for pair in sorted(extensions.items()) for x in pair])
    return functions.try_element_at(mapping, ext)


def is_page_view(
    method: Column | str = "method",
    status: Column | str = "status",
    path: Column | str = "path",
    extensions: Mapping[str, str] = ASSET_EXTENSIONS,
) -> Column:
    """GET, status < 400, not a static asset and not under /api/ (null inputs give false)."""
    method_column = functions.col(method) if isinstance(method, str) else method
    status_column = functions.col(status) if isinstance(status, str) else status
    path_column = functions.col(path) if isinstance(path, str) else path
    cond = (
        (functions.upper(method_column) == "GET")
        & (status_column < 400)
        & asset_type(path_column, extensions).isNull()
        & ~(path_column.startswith(API_PREFIX) | (path_column == API_PREFIX.rstrip("/")))
    )
    return functions.coalesce(cond, functions.lit(False))
