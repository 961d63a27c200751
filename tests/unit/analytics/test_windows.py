"""analytics/windows.py: the running-sum windows give the counts of the sliding window (t - span, t]
(values worked out by hand in the comments: equal positions, a row exactly span before, repeated and
null keys), and, on a random day with many ties, exactly what sliding range frames give."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest
from pyspark.sql import DataFrame, Window, functions, types

from analytics import signals, windows

SPAN = 10
T0 = datetime(2026, 5, 1, tzinfo=UTC)
_SCHEMA = types.StructType([
    types.StructField("client_ip", types.StringType()),
    types.StructField("rule_id", types.StringType()),
    types.StructField("window_at", types.LongType()),
    types.StructField("window_key", types.StringType()),
    types.StructField("window_distinct", types.BooleanType()),
    types.StructField("threshold", types.DoubleType()),
    types.StructField("window_span", types.LongType()),
    types.StructField("metric", types.DoubleType()),
    types.StructField("request", types.StringType()),
])


def candidates(spark: Any, rows: list[tuple[Any, ...]]) -> DataFrame:
    """Signal rows of (client_ip, rule_id, position, key, distinct, threshold[, span, metric]); request
    numbers the rows so that each can be found again."""
    full = [(*row, *(() if len(row) == 8 else (SPAN, None)), f"r{index}") for index, row in enumerate(rows)]
    df = spark.createDataFrame(full, _SCHEMA)
    return signals.to_signals(df, category=functions.col("rule_id"), severity="medium", ts=functions.lit(T0))


def fired(df: DataFrame) -> dict[str, float | None]:
    return {row.request: row.metric for row in windows.fire(df).collect()}


def test_counts_with_peers_and_a_row_exactly_span_before(spark: Any) -> None:
    # positions 0, 5, 5, 10, 20, threshold 3: windows (-10, 0] = 1, (-5, 5] = 3 (both 5s: peers),
    # (0, 10] = 3 (0 is exactly 10 before: out), (10, 20] = 1. Fired at 5 and 10: rows 0..10 are in a
    # window that fired; the row at 20 is not (no window holding it reached 3).
    rows = [("10.0.0.1", "R1", at, None, False, 3.0) for at in (0, 5, 5, 10, 20)]
    assert fired(candidates(spark, rows)) == {"r0": 1.0, "r1": 3.0, "r2": 3.0, "r3": 3.0}


def test_distinct_keys_repeated_null_and_exactly_span_before(spark: Any) -> None:
    # threshold 2, distinct keys: (0,k1) (0,k1) (3,null) (4,k2) (12,k1) (14,k2) (25,k3)
    # at 0: {k1} = 1 (the repeat at the same position counts once); at 3: {k1} (null keys are not
    # counted); at 4: {k1,k2} = 2; at 12: (2,12] holds k2 at 4 and k1 at 12 = 2; at 14: (4,14] holds
    # k1 at 12 and k2 at 14 (k2 at 4 is exactly 10 before: out) = 2; at 25: {k3} = 1.
    # Fired at 4, 12 and 14: every row but the one at 25 is in a window that fired.
    keyed = [(0, "k1"), (0, "k1"), (3, None), (4, "k2"), (12, "k1"), (14, "k2"), (25, "k3")]
    rows = [("10.0.0.1", "D", at, key, True, 2.0) for at, key in keyed]
    assert fired(candidates(spark, rows)) == {"r0": 1.0, "r1": 1.0, "r2": 1.0, "r3": 2.0, "r4": 2.0, "r5": 2.0}


def test_a_key_seen_again_after_the_window_counts_again(spark: Any) -> None:
    # one key at 0, 9, 19, 28 (threshold 2): windows at 9 (-1,9] and 19 (9,19] each hold it once;
    # at 28 (18,28] = {k}: 1. The count never reaches 2: no signal.
    rows = [("10.0.0.1", "D", at, "k", True, 2.0) for at in (0, 9, 19, 28)]
    rows += [("10.0.0.1", "D", 28, "other", True, 2.0)]  # at 28: {k, other} = 2, fires; 19 and 28 held
    assert fired(candidates(spark, rows)) == {"r2": 1.0, "r3": 2.0, "r4": 2.0}


def test_partitions_and_rows_outside_windows(spark: Any) -> None:
    # R1 of 10.0.0.2 holds 2 rows (threshold 3): quiet, and R2's row (threshold 1) of the same IP does
    # not count for it; a row without a window passes with its own metric.
    rows = [("10.0.0.2", "R1", 0, None, False, 3.0), ("10.0.0.2", "R1", 1, None, False, 3.0),
            ("10.0.0.2", "R2", 1, None, False, 1.0), ("10.0.0.2", "P", None, None, None, None, None, 7.5)]
    assert fired(candidates(spark, rows)) == {"r2": 1.0, "r3": 7.5}


def reference(df: DataFrame) -> dict[str, float]:
    """The sliding range frames the rules used before: O(rows x window), the definition itself."""
    ordered = Window.partitionBy("client_ip", "rule_id").orderBy("window_at")
    back, ahead = ordered.rangeBetween(-(SPAN - 1), 0), ordered.rangeBetween(0, SPAN - 1)
    metric = functions.when(
        functions.col("window_distinct"), functions.size(functions.collect_set("window_key").over(back))
    ).otherwise(functions.count(functions.lit(1)).over(back))
    counted = df.withColumn("metric", metric.cast("double"))
    fires = functions.max((functions.col("metric") >= functions.col("threshold")).cast("int")).over(ahead)
    kept = counted.withColumn("_fired", fires).where(functions.col("_fired") == 1)
    return {row.request: row.metric for row in kept.collect()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_rows_as_sliding_frames_on_a_random_day(spark: Any, seed: int) -> None:
    draw = random.Random(seed)
    rows = []
    for ip in ("10.1.0.1", "10.1.0.2"):
        for rule, distinct, threshold in (("C", False, 4.0), ("D", True, 3.0)):
            for _ in range(150):
                key = draw.choice(["a", "b", "c", "d", None])
                rows.append((ip, rule, draw.randrange(0, 200), key, distinct, threshold))
    df = candidates(spark, rows)
    expected = reference(df)
    assert 0 < len(expected) < len(rows)
    assert fired(df) == expected
