"""Statistical anomalies against the day's robust baseline: per-IP error ratio, site-wide minute spikes.

Both score a value x against the median and the MAD (median absolute deviation) of its peers of the
same day with the robust z-score z = 0.6745 (x - median) / MAD, as `anomaly` does for request rates
(analytics/detectors.py). When MAD is 0 (more than half of the peers share one value, e.g. no errors
at all) the scale falls back to 1.2533 * mean absolute deviation; when both are 0 every peer is equal
and there is no score.

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

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from analytics import detectors as D
from analytics import rules as R
from config.settings import SecuritySettings


def robust_z(x: Column, median: Column, mad: Column, mean_ad: Column) -> Column:
    """0.6745 (x - median) / MAD; 1.2533 * mean absolute deviation as the scale when MAD is 0; else null."""
    diff = x - median
    return F.when(mad > 0, 0.6745 * diff / mad).when(mean_ad > 0, diff / (1.253314 * mean_ad))


def with_robust_z(df: DataFrame, value: str) -> DataFrame:
    """df plus `median`, `mad` and `z` of column `value` over all of df's rows (two small aggregations)."""
    med = df.agg(F.percentile(value, 0.5).alias("median"))
    dev = df.crossJoin(F.broadcast(med)).withColumn("_dev", F.abs(F.col(value) - F.col("median")))
    spread = dev.agg(F.percentile("_dev", 0.5).alias("mad"), F.avg("_dev").alias("_mean_ad"))
    out = dev.crossJoin(F.broadcast(spread))
    z = robust_z(F.col(value), F.col("median"), F.col("mad"), F.col("_mean_ad"))
    return out.withColumn("z", z).drop("_dev", "_mean_ad")


def error_ratio_signals(base: DataFrame, s: SecuritySettings) -> DataFrame:
    """Signals of error_ratio_anomaly: the 4xx/5xx answers of IPs whose error share is far above the day's."""
    requests = base.where(~F.col("_good_bot")) if "_good_bot" in base.columns else base
    error = F.col("status").between(400, 599)
    per_ip = (
        requests.groupBy("client_ip")
        .agg(F.count(F.lit(1)).alias("n"), F.count(F.when(error, 1)).alias("errors"))
        .where(F.col("n") >= s.error_ratio_min_requests)
        .withColumn("ratio", F.col("errors") / F.col("n"))
    )
    flagged = with_robust_z(per_ip, "ratio").where(
        (F.col("ratio") >= s.error_ratio_min) & (F.col("z") >= s.error_ratio_score)
    ).select(
        "client_ip", F.col("z").alias("metric"),
        F.format_string(
            "requests=%d errors=%d ratio=%.3f median=%.3f mad=%.3f", "n", "errors", "ratio", "median", "mad"
        ).alias("detail"),
    )
    # few IPs are flagged: a broadcast join keeps the requests where they are
    rows = requests.where(error).join(F.broadcast(flagged), "client_ip")
    rule = R.THRESHOLD_RULES["error_ratio_anomaly"]
    return D.to_signals(
        rows, category="error_ratio_anomaly", rule_id=rule.rule_id, severity=rule.severity,
        ts=F.col("requested_at"), user_id=F.when(~F.col("remote_user").isin("-", ""), F.col("remote_user")),
        request=F.coalesce(F.col("request"), F.concat_ws(" ", "method", "path")),
        threshold=s.error_ratio_score, window_minutes=None,
    )


def minute_spikes(traffic: DataFrame, spike_score: float) -> DataFrame:
    """traffic_minute rows plus `is_spike` and `spike_score` (robust z-score of `requests` over the rows)."""
    scored = with_robust_z(traffic, "requests")
    return scored.select(
        *traffic.columns,
        F.coalesce(F.col("z") >= spike_score, F.lit(False)).alias("is_spike"),
        F.col("z").cast("double").alias("spike_score"),
    )
