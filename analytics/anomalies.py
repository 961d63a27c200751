"""Statistical anomalies against the day's robust baseline: per-IP request rate and error ratio,
site-wide minute spikes.

Each scores a value x against the median and the MAD (median absolute deviation) of its peers of the
same day with the robust z-score z = 0.6745 (x - median) / MAD (`with_robust_z`). When MAD is 0
(more than half of the peers share one value, e.g. no errors at all) the scale falls back to 1.2533
* mean absolute deviation; when both are 0 every peer is equal and there is no score.

- `rate_signals` (category anomaly, low): per client IP, requests per active minute. Every IP is in
  the baseline; IPs with at least `anomaly_min_requests` requests are flagged at z >= `anomaly_score`.
  Signals are all the IP's requests (declared crawlers left out).
- `error_ratio_signals` (category error_ratio_anomaly, low): per client IP, the share of its requests
  answered 4xx or 5xx. The baseline and the scored IPs are the IPs with at least
  `error_ratio_min_requests` requests (declared crawlers left out); an IP is flagged when its share
  is at least `error_ratio_min` *and* its z-score at least `error_ratio_score`. The absolute floor
  keeps the rule quiet on days when nearly every IP has no error (MAD 0, tiny mean deviation): a
  visitor who hit a broken image twice in 30 requests is not an anomaly, whatever the z-score says.
  Signals are the IP's error answers (request_count = its errors).
- `minute_spikes`: per row of traffic_minute, `spike_score` (z-score of its requests among the
  day's minutes that had traffic) and `is_spike` (score >= `spike_score`). Only minutes with traffic
  form the baseline: on a small site most minutes are empty, and counting them would make any
  busy minute (one visitor loading a page with its assets) a spike.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, functions

from analytics import signals
from config.settings import SecuritySettings


def robust_z(observed: Column, median: Column, mad: Column, mean_ad: Column) -> Column:
    """0.6745 (observed - median) / MAD; 1.2533 * mean absolute deviation as the scale when MAD is 0; else null."""
    diff = observed - median
    return functions.when(mad > 0, 0.6745 * diff / mad).when(mean_ad > 0, diff / (1.253314 * mean_ad))


def with_robust_z(df: DataFrame, value: str) -> DataFrame:
    """df plus `median`, `mad` and `z` of column `value` over all of df's rows.

    Two window passes over one partition (df has one row per IP or minute): df is computed once,
    where aggregations cross-joined back would compute it once per statistic.
    """
    every = Window.partitionBy(functions.lit(0))
    dev = df.withColumn("median", functions.percentile(value, 0.5).over(every)).withColumn(
        "_dev", functions.abs(functions.col(value) - functions.col("median"))
    )
    out = dev.withColumns(
        {"mad": functions.percentile("_dev", 0.5).over(every), "_mean_ad": functions.avg("_dev").over(every)}
    )
    score = robust_z(functions.col(value), functions.col("median"), functions.col("mad"), functions.col("_mean_ad"))
    return out.withColumn("z", score).drop("_dev", "_mean_ad")


def _flagged_clients(per_client: DataFrame, value: str, flag: Column, detail: str, *detail_columns: str) -> DataFrame:
    """client_key, metric (the z-score of `value`) and detail of the rows of per_client (one per client)
    where `flag` holds; `flag` may use `z`, `detail` is a format of `detail_columns` (median and MAD follow)."""
    return with_robust_z(per_client, value).where(flag).select(
        "client_key", functions.col("z").alias("metric"),
        functions.format_string(detail + " median=%.3f mad=%.3f", *detail_columns, "median", "mad").alias("detail"),
    )


def rate_flags(per_minute: DataFrame, settings: SecuritySettings) -> DataFrame:
    """The clients whose requests per active minute are far above the day's: client_key, metric, detail.

    `per_minute`: the counted requests of each (client, minute) that are not a crawler's (`n`).
    """
    per_client = (
        per_minute.groupBy("client_key")
        .agg(functions.sum("n").alias("n"), functions.count(functions.lit(1)).alias("minutes"))
        .withColumn("rate", functions.col("n") / functions.col("minutes"))
    )
    return _flagged_clients(
        per_client,
        "rate",
        (functions.col("n") >= settings.anomaly_min_requests) & (functions.col("z") >= settings.anomaly_score),
        "requests=%d active_minutes=%d rate=%.3f",
        "n",
        "minutes",
        "rate",
    )


def error_ratio_flags(per_client: DataFrame, settings: SecuritySettings) -> DataFrame:
    """The clients whose share of 4xx/5xx answers is far above the day's: client_key, metric, detail.

    `per_client`: `requests_counted` and `errors` of each client's requests that are not a crawler's.
    """
    scored = (
        per_client.select("client_key", functions.col("requests_counted").alias("n"), "errors")
        .where(functions.col("n") >= settings.error_ratio_min_requests)
        .withColumn("ratio", functions.col("errors") / functions.col("n"))
    )
    return _flagged_clients(
        scored,
        "ratio",
        (functions.col("ratio") >= settings.error_ratio_min) & (functions.col("z") >= settings.error_ratio_score),
        "requests=%d errors=%d ratio=%.3f",
        "n",
        "errors",
        "ratio",
    )


def rate_signals(day: signals.RuleInput) -> DataFrame:
    """Signals of anomaly: all requests of the clients of `rate_flags` (crawlers' left out)."""
    rows = day.candidates.where(functions.col("_rate_metric").isNotNull() & ~functions.col("good_bot"))
    rule = signals.threshold_rule("anomaly", day.detection.settings.anomaly_score, None)
    return signals.to_signals(rows, **signals.request_texts(), metric=functions.col("_rate_metric"),
                              detail=functions.col("_rate_detail"), **rule)


def error_ratio_anomaly_signals(day: signals.RuleInput) -> DataFrame:
    """Signals of error_ratio_anomaly: the 4xx/5xx answers of the clients of `error_ratio_flags`."""
    error = functions.col("status").between(400, 599)
    rows = day.candidates.where(functions.col("_error_metric").isNotNull() & ~functions.col("good_bot") & error)
    rule = signals.threshold_rule("error_ratio_anomaly", day.detection.settings.error_ratio_score, None)
    return signals.to_signals(rows, **signals.request_texts(), metric=functions.col("_error_metric"),
                              detail=functions.col("_error_detail"), **rule)


def minute_spikes(traffic: DataFrame, spike_score: float) -> DataFrame:
    """traffic_minute rows plus `is_spike` and `spike_score` (robust z-score of `requests` over the rows)."""
    scored = with_robust_z(traffic, "requests")
    return scored.select(
        *traffic.columns,
        functions.coalesce(functions.col("z") >= spike_score, functions.lit(False)).alias("is_spike"),
        functions.col("z").cast("double").alias("spike_score"),
    )
