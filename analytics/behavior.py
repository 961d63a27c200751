"""Behavior tables: user_daily, page_daily, funnel_daily, client_daily, referrer_daily.

Inputs are already limited to one day by the caller: sessions started that day, the requests of
those sessions (from `sessionize`), and the events that occurred that day.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

DIRECT = "(direct)"
_ORDER = ("requested_at", "source_file", "line_number")


def human_events(events: DataFrame, user_agents: DataFrame, automated_ips: DataFrame) -> DataFrame:
    """Events whose user agent is not a bot and whose client IP is not automated."""
    bots = user_agents.where(F.col("is_bot")).select("user_agent").distinct()
    return events.join(F.broadcast(bots), "user_agent", "left_anti").join(
        F.broadcast(automated_ips.select("client_ip").distinct()), "client_ip", "left_anti"
    )


def user_daily(sessions: DataFrame, events: DataFrame) -> DataFrame:
    """Per known user with at least one human session: activity totals plus their events that day.

    Rows come from human sessions only (so victims of credential stuffing do not get a row);
    `events` and `purchases` count that user's events of the day (purchases = event_type purchase).
    """
    per_user = (
        sessions.where(~F.col("is_bot") & F.col("user_id").isNotNull())
        .groupBy("user_id")
        .agg(
            F.count(F.lit(1)).alias("sessions"),
            F.sum("page_views").alias("page_views"),
            F.sum("requests").alias("requests"),
            F.sum("bytes").alias("bytes"),
            F.min("started_at").alias("first_seen_at"),
            F.max("ended_at").alias("last_seen_at"),
        )
    )
    ev = (
        events.where(F.col("user_id").isNotNull())
        .groupBy("user_id")
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.count(F.when(F.col("event_type") == "purchase", 1)).alias("purchases"),
        )
    )
    return per_user.join(ev, "user_id", "left").fillna(0, subset=["events", "purchases"])


def page_daily(session_requests: DataFrame) -> DataFrame:
    """Human page views per path template: views, visitors, entries, exits, bounces, time on page.

    Entries / exits are the first / last page view of a session; a bounce is the entry of a session
    with a single page view; bounce_rate = bounces / entries (null without entries); time on page =
    gap to the next page view of the session, averaged over page views that have one (exits excluded).
    """
    pv = session_requests.where(F.col("is_page_view") & ~F.col("is_bot"))
    ordered = Window.partitionBy("session_id").orderBy(*_ORDER)
    nxt = F.lead("requested_at").over(ordered)
    pv = pv.select(
        "path_template",
        "visitor_key",
        "requested_at",
        (F.row_number().over(ordered) == 1).alias("_entry"),
        nxt.alias("_next"),
        F.count(F.lit(1)).over(Window.partitionBy("session_id")).alias("_n"),
    )
    on_page = (F.unix_micros("_next") - F.unix_micros("requested_at")) / 1000.0
    out = pv.groupBy("path_template").agg(
        F.count(F.lit(1)).alias("views"),
        F.countDistinct("visitor_key").alias("unique_visitors"),
        F.count(F.when(F.col("_entry"), 1)).alias("entries"),
        F.count(F.when(F.col("_next").isNull(), 1)).alias("exits"),
        F.count(F.when(F.col("_entry") & (F.col("_n") == 1), 1)).alias("bounces"),
        F.avg(on_page).alias("avg_time_on_page_ms"),
    )
    rate = F.when(F.col("entries") > 0, F.col("bounces") / F.col("entries"))
    return out.withColumn("bounce_rate", rate)


def parse_step(step: str) -> tuple[str, str | None]:
    """'page_view:/product/' -> ('page_view', '/product/'); 'purchase' -> ('purchase', None)."""
    event_type, _, prefix = step.partition(":")
    return event_type, (prefix or None)


def funnel_daily(events: DataFrame, steps: Sequence[str]) -> DataFrame:
    """Visitors (user_id, else anonymous_id) reaching each step, having done steps 1..k in order.

    Events are taken in (occurred_at, step) order and matched greedily (ties in time count as in
    order). conversion_from_previous is null for step 1; both rates are null when the base is 0.
    No rows when there are no events (no data is not zero visitors).
    """
    spark = events.sparkSession
    conds = []
    for k, step in enumerate(steps, start=1):
        event_type, prefix = parse_step(step)
        cond = F.col("event_type") == event_type
        if prefix is not None:
            cond = cond & F.coalesce(F.col("path").startswith(prefix), F.lit(False))
        conds.append(F.when(cond, F.lit(k)))
    visitor = F.coalesce("user_id", "anonymous_id")
    matched = events.where(visitor.isNotNull()).select(
        visitor.alias("visitor"),
        "occurred_at",
        F.explode(F.filter(F.array(*conds), lambda x: x.isNotNull())).alias("step"),
    )
    greedy = F.aggregate(
        F.array_sort(F.collect_list(F.struct("occurred_at", "step"))),
        F.lit(0),
        lambda acc, x: F.when(x["step"] == acc + 1, acc + 1).otherwise(acc),
    )
    depth = matched.groupBy("visitor").agg(greedy.alias("depth"))
    schema = T.StructType(
        [T.StructField("step_number", T.IntegerType()), T.StructField("step_name", T.StringType())]
    )
    step_df = spark.createDataFrame(list(enumerate(steps, start=1)), schema)
    present = (
        events.agg(F.count(F.lit(1)).alias("_n")).where(F.col("_n") > 0).select(F.lit(1).alias("_present"))
    )
    counts = (
        step_df.crossJoin(present)
        .join(depth, F.col("depth") >= F.col("step_number"), "left")
        .groupBy("step_number", "step_name")
        .agg(F.count("visitor").alias("visitors"))
    )
    ordered = Window.orderBy("step_number")
    prev = F.lag("visitors").over(ordered)
    first = F.first("visitors").over(ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    return counts.select(
        "step_number",
        "step_name",
        "visitors",
        F.when(prev > 0, F.col("visitors") / prev).alias("conversion_from_previous"),
        F.when(first > 0, F.col("visitors") / first).alias("conversion_from_start"),
    )


def client_daily(sessions: DataFrame) -> DataFrame:
    """Requests, sessions and visitors per (browser, OS, device type, is_bot); unknown -> Other/other."""
    return sessions.groupBy(
        F.coalesce("browser_family", F.lit("Other")).alias("browser_family"),
        F.coalesce("os_family", F.lit("Other")).alias("os_family"),
        F.coalesce("device_type", F.lit("other")).alias("device_type"),
        "is_bot",
    ).agg(
        F.sum("requests").alias("requests"),
        F.count(F.lit(1)).alias("sessions"),
        F.countDistinct("visitor_key").alias("visitors"),
    )


def referrer_daily(sessions: DataFrame) -> DataFrame:
    """Human sessions and visitors per external referrer domain; direct sessions as '(direct)'."""
    return (
        sessions.where(~F.col("is_bot"))
        .groupBy(F.coalesce("referrer_domain", F.lit(DIRECT)).alias("referrer_domain"))
        .agg(F.count(F.lit(1)).alias("sessions"), F.countDistinct("visitor_key").alias("visitors"))
    )
