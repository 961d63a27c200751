"""with_distinct: a column computed per distinct key and joined back equals the per-row column."""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions

from analytics.distinct_values import with_distinct


def test_every_row_gets_the_value_of_its_key_null_keys_included(spark: Any) -> None:
    rows = [(1, "/a", None), (2, "/a", "x=1"), (3, None, None), (4, "/a", None), (5, None, "y")]
    df = spark.createDataFrame(rows, "id int, path string, query string")
    text = functions.concat(
        functions.coalesce("path", functions.lit("-")),
        functions.lit("?"),
        functions.coalesce("query", functions.lit("")),
    )
    out = with_distinct(df, ("path", "query"), {"_text": text})
    assert out.columns == ["id", "path", "query", "_text"]
    # (/a, null) twice, (null, null) and (null, y): each row its own key's value, no row lost or doubled
    assert sorted((r.id, r._text) for r in out.collect()) == [
        (1, "/a?"), (2, "/a?x=1"), (3, "-?"), (4, "/a?"), (5, "-?y"),
    ]
    # with a default only the keys whose value differs are broadcast: the others read as the default
    sparse = with_distinct(df, ("path", "query"), {"_text": text}, default="/a?")
    assert sorted((r.id, r._text) for r in sparse.collect()) == [
        (1, "/a?"), (2, "/a?x=1"), (3, "-?"), (4, "/a?"), (5, "-?y"),
    ]
