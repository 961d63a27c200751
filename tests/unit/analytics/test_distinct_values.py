"""with_distinct: a column computed per distinct key and joined back equals the per-row column."""

from __future__ import annotations

from typing import Any

from pyspark.sql import functions

from analytics.distinct_values import merge_steps, with_distinct


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


def test_the_sparse_filter_runs_after_the_distinct_so_the_expression_is_evaluated_per_value(spark: Any) -> None:
    # A filter on the keys alone is pushed below the aggregation by the optimizer: the regex would
    # then run once per row. In the optimized plan the Filter must sit above (be printed before) the
    # Aggregate it reads, and read the computed column, not a second copy of its expression.
    df = spark.createDataFrame([(1, "/a"), (2, "/b"), (3, "/a")], "id int, path string")
    out = with_distinct(df, ("path",), {"_hit": functions.regexp_extract("path", "b", 0)}, default="")
    plan = out._jdf.queryExecution().optimizedPlan().toString().splitlines()
    filters = [index for index, line in enumerate(plan) if "Filter" in line and "_hit" in line]
    aggregates = [index for index, line in enumerate(plan) if "Aggregate" in line]
    assert filters and aggregates
    assert max(filters) < min(aggregates)
    assert sum(line.count("regexp_extract") for line in plan) == 1
    assert sorted((r.id, r._hit) for r in out.collect()) == [(1, ""), (2, "b"), (3, "")]


def test_steps_read_earlier_steps_and_only_the_last_step_is_joined_back(spark: Any) -> None:
    df = spark.createDataFrame([(1, "a"), (2, "bb"), (3, "a"), (4, None)], "id int, word string")
    steps = [
        {"_upper": functions.upper("word")},
        {"_twice": functions.concat(functions.col("_upper"), functions.col("_upper"))},
        {"_out": functions.concat(functions.col("_twice"), functions.lit("!")), "_size": functions.length("_twice")},
    ]
    out = with_distinct(df, ("word",), steps)
    assert out.columns == ["id", "word", "_out", "_size"]
    assert sorted((r.id, r._out, r._size) for r in out.collect()) == [
        (1, "AA!", 2), (2, "BBBB!", 4), (3, "AA!", 2), (4, None, None),
    ]
    # sparse: 'AA!' is the default, so only 'bb' and the null word are kept (and the null stays the
    # default, as a missing key does); _size must then never be null, so only _out here
    sparse = with_distinct(df, ("word",), [steps[0], steps[1], {"_out": steps[2]["_out"]}], default="AA!")
    assert sorted((r.id, r._out) for r in sparse.collect()) == [(1, "AA!"), (2, "BBBB!"), (3, "AA!"), (4, "AA!")]


def test_merge_steps_ends_every_list_at_the_last_step(spark: Any) -> None:
    first, second, third = (functions.lit(value) for value in (1, 2, 3))
    merged = merge_steps([{"a": first}, {"b": second}], [{"c": third}])
    assert [sorted(step) for step in merged] == [["a"], ["b", "c"]]
    assert merge_steps() == []
