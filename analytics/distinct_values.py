"""Column expressions computed once per distinct value and joined back to every request.

A day has far fewer distinct paths, queries, referers, request lines and hosts than requests (at
1M generated requests: 10k (path, query) pairs, 6k referers, 18k request lines, one vhost), and
regex work on a value gives the same result each time. So the regexes of the security patterns,
the path templates and the host normalization run on the distinct values of their inputs, and the
results join back on those values (null-safe: a null path is a value too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame, functions

# `columns` of with_distinct: one mapping, or steps (a sequence of mappings) where each step may read
# the columns of the earlier ones and only the last step's columns are kept (see `with_distinct`)
Steps = Mapping[str, Column] | Sequence[Mapping[str, Column]]


def merge_steps(*step_lists: Sequence[Mapping[str, Column]]) -> list[dict[str, Column]]:
    """One sequence of steps computing every list's columns, all lists ending at the last step.

    Each list reads only its own earlier steps' columns, so a shorter list may start later.
    """
    depth = max((len(steps) for steps in step_lists), default=0)
    merged: list[dict[str, Column]] = [{} for _ in range(depth)]
    for steps in step_lists:
        for offset, step in enumerate(steps, start=depth - len(steps)):
            merged[offset].update(step)
    return merged


def with_distinct(
    df: DataFrame,
    keys: Sequence[str],
    columns: Steps,
    default: str | None = None,
    values_of: DataFrame | None = None,
) -> DataFrame:
    """df plus `columns` (expressions over the `keys` columns), each evaluated once per distinct key.

    `columns` may be steps: a sequence of mappings, each evaluated over the previous ones' columns,
    of which only the last mapping's columns are joined back. A text used by several expressions (a
    decoded path, say) is then one column computed once, not a copy of its expression in each: the
    optimizer keeps an expensive column apart when it is read twice, and the plans stay small.

    The distinct values are few (paths, referers, hosts), so they are broadcast and the requests keep
    their partitioning. `default`: when given, only the keys where some column differs from it are
    kept and broadcast, and the other requests get `default` (for keys with many distinct values,
    such as (path, query, referer), whose results are nearly all the default: no pattern matched).
    The columns must then never be null. `values_of`: the frame to take the distinct keys from (df's
    own input before earlier joins): taking them from a frame that already joined other distinct
    values copies that whole plan into each new one, and the plans grow with every call.
    """
    renamed = {key: f"_distinct_{key}" for key in keys}
    source = df if values_of is None else values_of
    rows = "_distinct_rows"
    steps = [columns] if isinstance(columns, Mapping) else list(columns)
    outputs = list(steps[-1])
    values = source.groupBy(*keys).agg(functions.count(functions.lit(1)).alias(rows))
    for step in steps:
        values = values.withColumns(dict(step))
    values = values.select(*keys, rows, *outputs)
    if default is not None:
        changed = reduce(lambda a, b: a | b, [functions.col(name) != default for name in outputs])
        # A filter on the keys alone would be pushed below the aggregation by the optimizer, which then
        # evaluates every regex once per request instead of once per value (measured: 50 CPU-s of 190 at
        # 1M). Reading the group's row count, an output of the aggregation, keeps it above. And the
        # optimizer pushes a filter through a projection by copying the projected expressions into
        # it: a nondeterministic column in the projection, read by the filter (so never pruned), stops
        # that, and the filter reads the columns (evaluated once) instead of a second copy of each step.
        barrier = "_distinct_barrier"
        values = values.withColumn(barrier, functions.spark_partition_id())
        kept = (functions.col(rows) > 0) & (functions.col(barrier) >= 0)
        values = values.where(functions.when(kept, changed)).drop(barrier)
    values = values.drop(rows).withColumnsRenamed(renamed)
    condition = reduce(lambda a, b: a & b, [functions.col(key).eqNullSafe(functions.col(renamed[key])) for key in keys])
    joined = df.join(functions.broadcast(values), condition, "left").drop(*renamed.values())
    if default is None:
        return joined
    return joined.withColumns(
        {name: functions.coalesce(functions.col(name), functions.lit(default)) for name in outputs}
    )
