"""Performance tables: traffic_minute, endpoint_daily, status_daily (all requests, bots included).

Percentiles are exact (Spark `percentile`, linear interpolation between closest ranks, as numpy's
and polars' 'linear' method) over request_time_ms; null when no request of the group has a latency.
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
with a non-HTTP protocol under its method and `(non-http)`. Those templates are never folded.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions

from analytics.contracts import MAX_METHOD_CHARS, bounded_text
from analytics.paths import path_template

QUANTILES = (0.5, 0.95, 0.99)
UNMATCHED_404 = "{unmatched-404}"
# endpoint_daily templates of the requests without an HTTP target, by request_kind (parsers/schema.py)
KIND_TEMPLATES = {"malformed": "(malformed)", "empty": "(empty)", "non_http": "(non-http)"}
RARE_404_HITS = 5  # module constant for now; a candidate for a setting (config/settings.py)


def _percentiles(col: str = "request_time_ms") -> list[Column]:
    """p50 / p95 / p99 of a column (exact, linear interpolation)."""
    arr = functions.percentile(functions.col(col), list(QUANTILES))
    return [arr.getItem(i).alias(f"p{round(q * 100)}_ms") for i, q in enumerate(QUANTILES)]


def _status_count(low: int) -> Column:
    return functions.count(functions.when(functions.col("status").between(low, low + 99), 1))


def traffic_minute(requests: DataFrame) -> DataFrame:
    """Per UTC minute: requests, bytes, 2xx..5xx counts, latency percentiles, unique client IPs."""
    return requests.groupBy(functions.date_trunc("minute", "requested_at").alias("minute_at")).agg(
        functions.count(functions.lit(1)).alias("requests"),
        functions.coalesce(functions.sum("bytes"), functions.lit(0)).alias("bytes"),
        *[_status_count(c).alias(f"status_{c // 100}xx") for c in (200, 300, 400, 500)],
        *_percentiles(),
        functions.countDistinct("client_ip").alias("unique_clients"),
    )


def endpoint_daily(requests: DataFrame, rare_404_hits: int = RARE_404_HITS) -> DataFrame:
    """Per (method, path template): hits, 5xx errors, error rate, latency percentiles and max, bytes.

    A missing method or path is reported as '-'; the template is the `path_template` column when the
    input has one (as computed by analytics.paths), else computed from `path`. Rare 404s are folded
    into `{unmatched-404}` (module docstring); `rare_404_hits=0` turns folding off.
    """
    template = functions.col("path_template") if "path_template" in requests.columns else path_template("path")
    by_kind = functions.create_map(*[functions.lit(x) for pair in sorted(KIND_TEMPLATES.items()) for x in pair])
    kind_template = functions.try_element_at(by_kind, functions.col("request_kind"))
    keyed = requests.select(
        bounded_text(functions.coalesce(functions.upper("method"), functions.lit("-")), MAX_METHOD_CHARS).alias(
            "method"
        ),
        functions.coalesce(kind_template, template, functions.lit("-")).alias("path_template"),
        "status",
        "request_time_ms",
        "bytes",
        kind_template.isNull().alias("_foldable"),
    )
    seen = keyed.groupBy("method", "path_template").agg(functions.count(functions.lit(1)).alias("_seen"))
    # one row per distinct endpoint of the day: small enough to broadcast, so the requests stay put
    rare = (functions.col("status") == 404) & (functions.col("_seen") < rare_404_hits) & functions.col("_foldable")
    folded = keyed.join(functions.broadcast(seen), ["method", "path_template"]).withColumn(
        "path_template", functions.when(rare, functions.lit(UNMATCHED_404)).otherwise(functions.col("path_template"))
    )
    out = folded.groupBy("method", "path_template").agg(
        functions.count(functions.lit(1)).alias("hits"),
        _status_count(500).alias("errors"),
        *_percentiles(),
        functions.max("request_time_ms").alias("max_ms"),
        functions.coalesce(functions.sum("bytes"), functions.lit(0)).alias("bytes"),
    )
    return out.withColumn("error_rate", functions.col("errors") / functions.col("hits"))


def status_daily(requests: DataFrame) -> DataFrame:
    """Requests and bytes per HTTP status (a missing status is reported as 0)."""
    return requests.groupBy(functions.coalesce("status", functions.lit(0)).alias("status")).agg(
        functions.count(functions.lit(1)).alias("requests"),
        functions.coalesce(functions.sum("bytes"), functions.lit(0)).alias("bytes"),
    )
