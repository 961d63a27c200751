"""Behavior tables: user_daily, page_daily, funnel_daily, client_daily, referrer_daily.

Inputs are already limited to one day by the caller: sessions started that day, the requests of
those sessions (from `sessionize`), and the events that occurred that day.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window, functions

from analytics.sessions import SESSION_KEY

DIRECT = "(direct)"
_FUNNEL_SCHEMA = "step_number int, step_name string, visitors bigint, conversion_from_previous double, " \
    "conversion_from_start double"


def human_events(events: DataFrame, user_agents: DataFrame, automated_ips: DataFrame) -> DataFrame:
    """Events whose user agent is not a bot and whose client IP is not automated."""
    # anti joins: duplicates on the right change nothing, so no distinct (and no shuffle) is needed
    bots = user_agents.where(functions.col("is_bot")).select("user_agent")
    return events.join(functions.broadcast(bots), "user_agent", "left_anti").join(
        functions.broadcast(automated_ips.select("client_ip")), "client_ip", "left_anti"
    )


def user_daily(sessions: DataFrame, events: DataFrame) -> DataFrame:
    """Per known user with at least one human session: activity totals plus their events that day.

    Rows come from human sessions only (so victims of credential stuffing do not get a row);
    `events` and `purchases` count that user's events of the day (purchases = event_type purchase).
    """
    per_user = (
        sessions.where(~functions.col("is_bot") & functions.col("user_id").isNotNull())
        .groupBy("user_id")
        .agg(
            functions.count(functions.lit(1)).alias("sessions"),
            functions.sum("page_views").alias("page_views"),
            functions.sum("requests").alias("requests"),
            functions.sum("bytes").alias("bytes"),
            functions.min("started_at").alias("first_seen_at"),
            functions.max("ended_at").alias("last_seen_at"),
        )
    )
    ev = (
        events.where(functions.col("user_id").isNotNull())
        .groupBy("user_id")
        .agg(
            functions.count(functions.lit(1)).alias("events"),
            functions.count(functions.when(functions.col("event_type") == "purchase", 1)).alias("purchases"),
        )
    )
    return per_user.join(ev, "user_id", "left").fillna(0, subset=["events", "purchases"])


def page_daily(page_views: DataFrame, sessions: DataFrame, templates: DataFrame) -> DataFrame:
    """Human page views per path template: views, visitors, entries, exits, bounces, time on page.

    Entries / exits are the first / last page view of a session; a bounce is the entry of a session
    with a single page view; bounce_rate = bounces / entries (null without entries); time on page =
    gap to the next page view of the session, averaged over page views that have one (exits excluded).

    `page_views`: the page-view rows of the per-request frame (analytics/request_frame.py), in its
    device and time order; `sessions`: the day's sessions with their key (sessions.SESSION_KEY),
    `visitor_key` and `is_bot`; `templates`: key, path_template.
    """
    # the page views of a device in request order (the frame's own order: no sort); a session's first
    # and last are where the session number changes
    device = Window.partitionBy("client_key", "device_agent").orderBy("junk", "t", "file_rank", "line_number")
    seq = functions.col("seq")
    previous_seq, next_seq = functions.lag("seq").over(device), functions.lead("seq").over(device)
    ordered = page_views.select(
        *SESSION_KEY, "t", "template_key",
        (previous_seq.isNull() | (previous_seq != seq)).alias("_entry"),
        (next_seq.isNull() | (next_seq != seq)).alias("_exit"),
        functions.when(next_seq == seq, functions.lead("t").over(device)).alias("_next"),
    )
    human_sessions = sessions.where(~functions.col("is_bot")).select(*SESSION_KEY, "visitor_key")
    human = ordered.join(human_sessions, list(SESSION_KEY))
    on_page = (functions.col("_next") - functions.col("t")) / 1000.0
    out = human.groupBy("template_key").agg(
        functions.count(functions.lit(1)).alias("views"),
        functions.countDistinct("visitor_key").alias("unique_visitors"),
        functions.count(functions.when(functions.col("_entry"), 1)).alias("entries"),
        functions.count(functions.when(functions.col("_exit"), 1)).alias("exits"),
        functions.count(functions.when(functions.col("_entry") & functions.col("_exit"), 1)).alias("bounces"),
        functions.avg(on_page).alias("avg_time_on_page_ms"),
    )
    rate = functions.when(functions.col("entries") > 0, functions.col("bounces") / functions.col("entries"))
    named = out.join(functions.broadcast(templates.withColumnRenamed("key", "template_key")), "template_key")
    return named.withColumn("bounce_rate", rate)


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
    if not steps:
        return events.sparkSession.createDataFrame([], _FUNNEL_SCHEMA)
    conds = []
    for step_number, step in enumerate(steps, start=1):
        event_type, prefix = parse_step(step)
        cond = functions.col("event_type") == event_type
        if prefix is not None:
            cond = cond & functions.coalesce(functions.col("path").startswith(prefix), functions.lit(False))
        conds.append(functions.when(cond, functions.lit(step_number)))
    # explode_outer: events matching no step still make their visitor (and the day) present
    per_event = events.select(
        functions.coalesce("user_id", "anonymous_id").alias("visitor"),
        "occurred_at",
        functions.explode_outer(functions.filter(functions.array(*conds), lambda x: x.isNotNull())).alias("step"),
    )
    greedy = functions.aggregate(
        functions.array_sort(
            functions.collect_list(
                functions.when(functions.col("step").isNotNull(), functions.struct("occurred_at", "step"))
            )
        ),
        functions.lit(0),
        lambda acc, x: functions.when(x["step"] == acc + 1, acc + 1).otherwise(acc),
    )
    depth = per_event.groupBy("visitor").agg(greedy.alias("depth"))
    # one row with the visitors of every step; the rows of the table are unpacked from it
    known = functions.col("visitor").isNotNull()
    reached = [
        functions.count(functions.when(known & (functions.col("depth") >= k), 1)).alias(f"_s{k}")
        for k in range(1, len(steps) + 1)
    ]
    totals = depth.agg(functions.count(functions.lit(1)).alias("_groups"), *reached).where(functions.col("_groups") > 0)

    def rate(step_number: int, base: int) -> Column:
        return functions.when(
            functions.col(f"_s{base}") > 0, functions.col(f"_s{step_number}") / functions.col(f"_s{base}")
        )

    rows = [
        functions.struct(
            functions.lit(k).alias("step_number"),
            functions.lit(step).alias("step_name"),
            functions.col(f"_s{k}").alias("visitors"),
            (rate(k, k - 1) if k > 1 else functions.lit(None).cast("double")).alias("conversion_from_previous"),
            rate(k, 1).alias("conversion_from_start"),
        )
        for k, step in enumerate(steps, start=1)
    ]
    return totals.select(functions.inline(functions.array(*rows)))


def client_daily(sessions: DataFrame) -> DataFrame:
    """Requests, sessions and visitors per (browser, OS, device type, is_bot); unknown -> Other/other."""
    return sessions.groupBy(
        functions.coalesce("browser_family", functions.lit("Other")).alias("browser_family"),
        functions.coalesce("os_family", functions.lit("Other")).alias("os_family"),
        functions.coalesce("device_type", functions.lit("other")).alias("device_type"),
        "is_bot",
    ).agg(
        functions.sum("requests").alias("requests"),
        functions.count(functions.lit(1)).alias("sessions"),
        functions.countDistinct("visitor_key").alias("visitors"),
    )


def referrer_daily(sessions: DataFrame) -> DataFrame:
    """Human sessions and visitors per external referrer domain; direct sessions as '(direct)'."""
    return (
        sessions.where(~functions.col("is_bot"))
        .groupBy(functions.coalesce("referrer_domain", functions.lit(DIRECT)).alias("referrer_domain"))
        .agg(
            functions.count(functions.lit(1)).alias("sessions"),
            functions.countDistinct("visitor_key").alias("visitors"),
        )
    )
