"""Every rule's sliding windows, evaluated exactly in one pass of O(rows) window frames.

A candidate row (signals.WINDOW_COLUMNS set) at position t of its rule's time axis sees the window
(t - span, t] of its (client_ip, rule_id): its `metric` is the number of candidate rows in it, or for a
distinct rule the number of distinct non-null `window_key` values in it. It is a signal when some
window holding it reached the rule's threshold: a candidate row at y with y - span < t <= y, i.e.
t <= y < t + span, has metric >= threshold. Rows at equal positions (peers) see the same window.

Spark evaluates a sliding range frame by re-aggregating the whole frame at every row (O(rows x
window), and collect_set copies a set per row); frames that start at the partition's first row grow
incrementally (O(rows)). So each window count is a running sum of +1 / -1 marks:

- every counted row is the interval [t, end) of the positions whose window holds it: +1 at t and
  -1 at end (a mark row: the row itself again at position end). Count rules: end = t + span.
- distinct rules count, per key, only the last row of each position, over [t, min(t + span, next)),
  where `next` is the key's next position (lead over (client_ip, rule_id, key) ordered by position):
  the intervals of one key are disjoint, and together they are the positions whose window holds the
  key, so the sum counts each key of a window once.

The running sum over rangeBetween(unboundedPreceding, currentRow) at a row is its window's count (a
mark at exactly t is included: a row exactly span before t is out). Whether a window holding the row
fired is the nearest firing position at or after t, a running minimum over the rows in descending
order, within span of t; only (client_ip, rule_id) partitions where some window fired get there.
Rows without a window_span pass through unchanged.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, functions

from analytics.signals import FINDING_COLUMNS

PARTITION = ("client_ip", "rule_id")


def _weight_and_end(rows: DataFrame) -> DataFrame:
    """rows plus `_weight` (1 when the row counts, 0 when not, null outside windows) and `_end`."""
    at, span = functions.col("window_at"), functions.col("window_span")
    by_key = Window.partitionBy(*PARTITION, "window_key").orderBy("window_at")
    following = functions.lead("window_at").over(by_key)
    last_of_position = following.isNull() | (following > at)
    distinct = functions.coalesce(functions.col("window_distinct"), functions.lit(False))
    weight = (
        functions.when(span.isNull(), functions.lit(None))
        .when(~distinct, functions.lit(1))
        .when(functions.col("window_key").isNotNull() & last_of_position, functions.lit(1))
        .otherwise(functions.lit(0))
    )
    end = functions.when(distinct, functions.least(following, at + span)).otherwise(at + span)
    return rows.withColumns({"_weight": weight, "_end": end})


def _counted(rows: DataFrame) -> DataFrame:
    """rows with `metric` replaced by the count of the window ending at each candidate row."""
    entry = functions.struct(functions.lit(False).alias("mark"), functions.col("window_at").alias("position"),
                             functions.col("_weight").alias("step"))
    mark = functions.when(
        functions.col("_weight") == 1,
        functions.struct(functions.lit(True).alias("mark"), functions.col("_end").alias("position"),
                         functions.lit(-1).alias("step")),
    )
    # a generator, not a union: the rows keep their partitioning by client IP
    marked = rows.select("*", functions.explode(functions.array_compact(functions.array(entry, mark))).alias("_e"))
    running = Window.partitionBy(*PARTITION).orderBy("_e.position").rangeBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    tally = functions.sum("_e.step").over(running)
    counted = marked.withColumn("_tally", tally).where(~functions.col("_e.mark"))
    windowed = functions.col("window_span").isNotNull()
    return counted.withColumn(
        "metric", functions.when(windowed, functions.col("_tally").cast("double")).otherwise(functions.col("metric"))
    )


def _fires() -> Column:
    return functions.col("window_span").isNotNull() & (functions.col("metric") >= functions.col("threshold"))


def fire(candidates: DataFrame) -> DataFrame:
    """The signals of `candidates` (signals.SIGNAL_COLUMNS): rows outside windows, and the candidate rows
    of every window that reached its threshold, with the metric of the window ending at them
    (FINDING_COLUMNS)."""
    counted = _counted(_weight_and_end(candidates))
    firing = _fires()
    partition = Window.partitionBy(*PARTITION)
    any_fired = functions.max(firing.cast("int")).over(partition)
    # the nearest firing position at or after the row's (peers included): rows in descending order
    descending = Window.partitionBy(*PARTITION).orderBy(functions.desc("window_at")).rangeBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    next_firing = functions.min(functions.when(firing, functions.col("window_at"))).over(descending)
    windowed = counted.withColumn("_any", any_fired).where(
        functions.col("window_span").isNull() | (functions.col("_any") == 1)
    )
    held = functions.col("window_span").isNull() | (
        (functions.col("_next") - functions.col("window_at")) < functions.col("window_span")
    )
    return windowed.withColumn("_next", next_firing).where(held).select(*FINDING_COLUMNS)
