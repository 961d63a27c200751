"""Performance tables: traffic_minute, endpoint_daily, status_daily (all requests of the day, bots included).

Percentiles are exact (Spark `percentile`, linear interpolation between closest ranks, as numpy's
and polars' 'linear' method) over request_time_ms; null when no request of the group has a latency.
They are computed from counts: the requests of a group are first counted per distinct latency (a day
of 10M requests has about 460k distinct (minute, latency) pairs), and `percentile` takes each latency
with its count as frequency. The result is the same as over the requests one by one (Spark's
percentile keeps such counts itself), from a fraction of the rows.

An error is a 5xx answer (the server failed); 4xx are client errors and are counted separately in
traffic_minute / status_daily. error_rate = errors / hits.

endpoint_daily folds scanner noise: a request answered 404 whose (method, path template) was requested
fewer than RARE_404_HITS times that day (all statuses counted) is counted under the template
`{unmatched-404}` of its method, so thousands of probed paths make one row per method instead of one
each. Templates seen more often keep their 404s (a broken link is worth its own row), and the other
answers of a rare template keep their template.

Every request counts in these tables, whatever its request line (README, "What a request is"): a
request whose line could not be split (request_kind `malformed` or `empty`, method and path null)
is counted in endpoint_daily under the method '-' and the template `(malformed)` or `(empty)`; one
with a non-HTTP protocol under its method and `(non-http)`. Those templates are never folded
(analytics/lookups.py `request_lookup` gives each request line its endpoint).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions

QUANTILES = (0.5, 0.95, 0.99)
UNMATCHED_404 = "{unmatched-404}"
# endpoint_daily templates of the requests without an HTTP target, by request_kind (parsers/schema.py)
KIND_TEMPLATES = {"malformed": "(malformed)", "empty": "(empty)", "non_http": "(non-http)"}
RARE_404_HITS = 5  # module constant for now; a candidate for a setting (config/settings.py)
MINUTE_US = 60_000_000


def _percentiles(frequency: str) -> list[Column]:
    """p50 / p95 / p99 of request_time_ms, each latency counted `frequency` times (exact, linear)."""
    values = functions.percentile(functions.col("request_time_ms"), list(QUANTILES), functions.col(frequency))
    return [values.getItem(index).alias(f"p{round(q * 100)}_ms") for index, q in enumerate(QUANTILES)]


def _status_count(low: int, counted: str = "n") -> Column:
    return functions.sum(functions.when(functions.col("status").between(low, low + 99), functions.col(counted)))


def _zero_if_null(total: Column) -> Column:
    return functions.coalesce(total, functions.lit(0))


def minutes_per_latency(requests: DataFrame) -> DataFrame:
    """The day's requests counted per (calendar minute, latency): minute_us, request_time_ms, n, bytes
    (sum, null when every request's bytes is null) and `_s2`..`_s5` (the 2xx..5xx answers)."""
    return requests.groupBy(
        (functions.col("t") - functions.pmod("t", functions.lit(MINUTE_US))).alias("minute_us"), "request_time_ms"
    ).agg(
        functions.count(functions.lit(1)).alias("n"),
        functions.sum("bytes").alias("bytes"),
        *[functions.count(functions.when(functions.col("status").between(low, low + 99), 1)).alias(f"_s{low // 100}")
          for low in (200, 300, 400, 500)],
    )


def traffic_minute(per_latency: DataFrame, clients_per_minute: DataFrame) -> DataFrame:
    """Per UTC minute: requests, bytes, 2xx..5xx counts, latency percentiles, unique client IPs.

    `per_latency`: `minutes_per_latency` of the day's requests. `clients_per_minute`: minute_us and
    `unique_clients`, the distinct clients of each minute.
    """
    per_minute = per_latency.groupBy("minute_us").agg(
        functions.sum("n").alias("requests"),
        _zero_if_null(functions.sum("bytes")).alias("bytes"),
        *[_zero_if_null(functions.sum(f"_s{low // 100}")).alias(f"status_{low // 100}xx")
          for low in (200, 300, 400, 500)],
        *_percentiles("n"),
    )
    return per_minute.join(clients_per_minute, "minute_us").withColumn(
        "minute_at", functions.timestamp_micros("minute_us")
    )


def endpoint_daily(per_line: DataFrame, rare_404_hits: int = RARE_404_HITS) -> DataFrame:
    """Per (method, path template): hits, 5xx errors, error rate, latency percentiles and max, bytes.

    `per_line`: the day's requests counted per (request line, status, latency), with each line's
    endpoint (`endpoint_method`, `endpoint_template`, `foldable`): columns n, bytes.
    Rare 404s are folded into `{unmatched-404}` (module docstring); `rare_404_hits=0` turns folding off.
    """
    endpoint = ["endpoint_method", "endpoint_template"]
    seen = per_line.groupBy(*endpoint).agg(functions.sum("n").alias("_seen"))
    rare = (functions.col("status") == 404) & (functions.col("_seen") < rare_404_hits) & functions.col("foldable")
    folded = per_line.join(functions.broadcast(seen), endpoint).withColumn(
        "path_template",
        functions.when(rare, functions.lit(UNMATCHED_404)).otherwise(functions.col("endpoint_template")),
    ).withColumnRenamed("endpoint_method", "method")
    out = folded.groupBy("method", "path_template").agg(
        functions.sum("n").alias("hits"),
        _zero_if_null(_status_count(500)).alias("errors"),
        *_percentiles("n"),
        functions.max("request_time_ms").alias("max_ms"),
        _zero_if_null(functions.sum("bytes")).alias("bytes"),
    )
    return out.withColumn("error_rate", functions.col("errors") / functions.col("hits"))


def status_daily(per_line: DataFrame) -> DataFrame:
    """Requests and bytes per HTTP status (a missing status is reported as 0), from `endpoint_daily`'s input."""
    return per_line.groupBy(functions.coalesce("status", functions.lit(0)).alias("status")).agg(
        functions.sum("n").alias("requests"),
        _zero_if_null(functions.sum("bytes")).alias("bytes"),
    )


def lines_per_status_and_latency(requests: DataFrame) -> DataFrame:
    """The day's requests counted per (request_key, status, request_time_ms): n and bytes (sum, null
    when every request's bytes is null)."""
    return requests.groupBy("request_key", "status", "request_time_ms").agg(
        functions.count(functions.lit(1)).alias("n"), functions.sum("bytes").alias("bytes")
    )
