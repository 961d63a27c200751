"""The texts the payload rules match, built as steps: one column per intermediate text.

A rule matches its target raw and URL-decoded once and twice (each distinct form once, joined by
newlines: `variants`). Written as one nested expression, the decoded-twice text holds three copies
of the decoded-once text and the variants three of each, and a target made of two texts nests
those again: plans of thousands of expression nodes, analysed, optimised and compiled for every
query. Here each text is a column of its own step (analytics/lookups.py `_steps`), computed
once and read by name, so every expression stays small.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, functions

# the step columns of a text `name`: its raw form, decoded once, twice, and the variants
_RAW, _ONCE, _TWICE = "{}__raw", "{}__once", "{}__twice"


def decode_once(col: Column) -> Column:
    """One round of URL decoding; a stray `%` is kept literally, undecodable text left as it was."""
    safe = functions.regexp_replace(col, "%(?![0-9a-fA-F]{2})", "%25")
    return functions.coalesce(functions.try_url_decode(safe), col)


def decoded(col: Column) -> Column:
    """`decode_once` of text holding '%' or '+' (decoding changes no other text)."""
    return functions.when(col.contains("%") | col.contains("+"), decode_once(col)).otherwise(col)


def joined_variants(raw: Column, once: Column, twice: Column) -> Column:
    """Raw, decoded once and decoded twice, each distinct form once, joined by newlines."""
    # string comparisons, no array functions: this runs on every distinct text
    return (
        functions.when(once == raw, raw)
        .when(twice == once, functions.concat_ws("\n", raw, once))
        .otherwise(functions.concat_ws("\n", raw, once, twice))
    )


def variant_steps(texts: dict[str, Column]) -> list[dict[str, Column]]:
    """Four steps giving, for each (name, text) of `texts`, the column `name` of its variants."""
    steps: list[dict[str, Column]] = [{}, {}, {}, {}]
    for name, text in texts.items():
        raw, once, twice = (functions.col(form.format(name)) for form in (_RAW, _ONCE, _TWICE))
        steps[0][_RAW.format(name)] = text
        steps[1][_ONCE.format(name)] = decoded(raw)
        steps[2][_TWICE.format(name)] = decoded(once)
        steps[3][name] = joined_variants(raw, once, twice)
    return steps


def path_texts() -> dict[str, Column]:
    """The raw request texts the targets are made of: `_path` (path, '' when null), `_path_query`
    (path, then '?query' when there is a query) and `_request` (request line, '' when null)."""
    path = functions.coalesce(functions.col("path"), functions.lit(""))
    return {
        "_path": path,
        "_path_query": functions.when(functions.col("query").isNull(), path).otherwise(
            functions.concat(path, functions.lit("?"), functions.col("query"))
        ),
        "_request": functions.coalesce(functions.col("request"), functions.lit("")),
    }


# the text each payload target matches on the request side, as a column of `target_steps`: an
# `everywhere` rule matches the path and query here, and the referer and user agent in their own
# lookups (analytics/lookups.py), never across two parts
TARGET_TEXT = {"path": "_v_path", "path_query": "_v_path_query", "everywhere": "_v_path_query", "request": "_request"}


def target_steps(targets: Iterable[str]) -> list[dict[str, Column]]:
    """Steps giving the column TARGET_TEXT[target] of each of `targets` (request-side targets only)."""
    wanted = set(targets)
    raw = path_texts()
    varied = {}
    if "path" in wanted:
        varied["_v_path"] = raw["_path"]
    if wanted & {"path_query", "everywhere"}:
        varied["_v_path_query"] = raw["_path_query"]
    steps = variant_steps(varied)
    if "request" in wanted:
        steps[0]["_request"] = raw["_request"]
    return steps
