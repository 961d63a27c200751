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

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def with_distinct(
    df: DataFrame, keys: Sequence[str], columns: Mapping[str, Column], broadcast: bool = True
) -> DataFrame:
    """df plus `columns` (expressions over the `keys` columns), each evaluated once per distinct key.

    `broadcast`: the distinct values are few (paths, referers, hosts), so they are broadcast and the
    requests keep their partitioning; pass False for keys whose distinct values may be many (AQE
    then decides at run time).
    """
    renamed = {key: f"_distinct_{key}" for key in keys}
    values = (
        df.select(*keys).distinct().withColumns(dict(columns)).withColumnsRenamed(renamed)
    )
    condition = reduce(lambda a, b: a & b, [F.col(key).eqNullSafe(F.col(renamed[key])) for key in keys])
    joined = df.join(F.broadcast(values) if broadcast else values, condition, "left")
    return joined.drop(*renamed.values())
