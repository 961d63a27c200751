"""An independent polars implementation of the behavior and performance tables, to check Spark against.

Written from the documented rules (README tables, module docstrings of analytics/), not from the Spark
code. Only configuration is shared: the path template rules and asset extensions (analytics.paths)
and the rare-404 threshold of endpoint_daily (analytics.performance). Which IPs are automated comes
from the Spark findings (an input here: detection has its own tests); bots by user agent come from
the staged user-agent table. Percentiles: linear interpolation, as documented for Spark.

What a request is (README, "What a request is"): every staged row counts in traffic_minute, endpoint_daily and
status_daily; a row whose request_kind is not 'http' (empty, malformed, non-HTTP request line) is
in no session and no page view, and endpoint_daily counts it under '(empty)', '(malformed)' or
'(non-http)', never folded into the rare-404 row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from analytics.paths import ASSET_EXTENSIONS, PATH_RULES
from analytics.performance import RARE_404_HITS, UNMATCHED_404

GAP_US = 30 * 60 * 1_000_000  # more than 30 minutes of inactivity ends a session
CARRY_OVER_US = 120 * 60 * 1_000_000  # ... and so does passing 02:00 of a day after the visit's first
DAY_US = 86_400 * 1_000_000
TEMPLATE_CHARS, TEMPLATE_BYTES = 1024, 2048
DEVICE = ["client_ip", "ua"]
SESSION = ["client_ip", "ua", "seq"]
ORDER = ["requested_at", "source_file", "line_number"]
COLUMNS = (
    ("requests", ("source_file", "line_number", "client_ip", "requested_at", "method", "path", "status", "bytes",
                  "user_agent", "request_time_ms", "referer", "vhost", "request_kind")),
    ("events", ("occurred_at", "event_type", "user_id", "anonymous_id", "client_ip", "user_agent", "path")),
    ("user_agents", ("user_agent", "is_bot", "browser_family", "os_family", "device_type")),
)
DIRECT = "(direct)"
JUNK_TEMPLATES = {"empty": "(empty)", "malformed": "(malformed)", "non_http": "(non-http)"}
_RULES = [(re.compile(r.pattern, re.ASCII), r.placeholder) for r in PATH_RULES]


@dataclass(frozen=True)
class Day:
    """The staged inputs of one day (polars frames), as the daily flow writes them."""

    day: date
    requests: pl.DataFrame
    events: pl.DataFrame
    user_agents: pl.DataFrame

    @classmethod
    def read(cls, staging: Path, day: date) -> Day:
        """The columns the oracle reads, of the staged files of `day`."""
        return cls(day, *(pl.read_parquet(staging / f"{name}.parquet", columns=list(cols)) for name, cols in COLUMNS))

    def bounds(self) -> tuple[datetime, datetime]:
        start = datetime.combine(self.day, time(0), tzinfo=UTC)
        return start, start + timedelta(days=1)


def template(path: str | None) -> str | None:
    """A path's template: trailing slashes dropped (root stays '/'), each rule applied in order, bounded."""
    if path is None:
        return None
    out = (path.rstrip("/") if len(path) > 1 else path) or "/"
    for pattern, placeholder in _RULES:
        out = pattern.sub(lambda _m, p=placeholder: p, out)
    out = out[:TEMPLATE_CHARS]
    return out if len(out.encode()) <= TEMPLATE_BYTES else out[: TEMPLATE_BYTES // 4]


def with_templates(requests: pl.DataFrame) -> pl.DataFrame:
    """requests plus `template` (computed once per distinct path) and `pv` (is a page view)."""
    paths = requests.select(pl.col("path").unique())
    mapping = paths.with_columns(pl.col("path").map_elements(template, return_dtype=pl.String).alias("template"))
    ext = pl.col("path").str.extract(r"\.([A-Za-z0-9]+)$", 1).str.to_lowercase()
    page_view = (
        (pl.col("method").str.to_uppercase() == "GET")
        & (pl.col("status") < 400)
        & (ext.is_null() | ~ext.is_in(list(ASSET_EXTENSIONS)))
        & ~(pl.col("path").str.starts_with("/api/") | (pl.col("path") == "/api"))
        & (pl.col("request_kind") == "http")
    )
    return requests.join(mapping, on="path", how="left", nulls_equal=True).with_columns(
        page_view.fill_null(False).alias("pv")
    )


def host(text: pl.Expr) -> pl.Expr:
    """A host name as compared: lower case, no port, no trailing dot, no leading 'www.'; '' is null."""
    cleaned = text.str.strip_chars().str.to_lowercase().str.replace(r":[0-9]+$", "").str.strip_suffix(".")
    cleaned = cleaned.str.strip_prefix("www.")
    return pl.when(cleaned != "").then(cleaned)


def with_external_referers(requests: pl.DataFrame, day_requests: pl.DataFrame) -> pl.DataFrame:
    """requests plus `ext_ref`: the referer's host unless it is the site's own (its vhosts and the most
    frequent referer host of the day) or the request's own vhost."""
    referer_host = host(pl.col("referer").str.extract(r"^[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^/?#]*@)?([^/?#:]+)", 1))
    marked = day_requests.select(referer_host.alias("ref"), host(pl.col("vhost")).alias("own"))
    top = marked.drop_nulls("ref").group_by("ref").len().sort(["len", "ref"], descending=[True, False]).head(1)
    site = set(marked["own"].drop_nulls()) | set(top["ref"])
    ref, own = pl.col("ref"), pl.col("own")
    return (
        requests.with_columns(referer_host.alias("ref"), host(pl.col("vhost")).alias("own"))
        .with_columns(pl.when(ref.is_not_null() & ~ref.is_in(list(site)) & (own.is_null() | (ref != own)))
                      .then(ref).alias("ext_ref"))
        .drop("ref", "own")
    )


def sessionized(day: Day, automated_ips: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(requests with their session key, sessions started that day) with user, visitor, is_bot, client
    and external referrer."""
    well_formed = day.requests.filter(pl.col("request_kind") == "http")
    reqs = (
        with_external_referers(with_templates(well_formed), day_requests(day))
        .with_columns(pl.col("user_agent").fill_null("").alias("ua"), pl.col("requested_at").dt.epoch("us").alias("us"))
        .sort(DEVICE + ORDER)
    )
    gap = pl.col("us").diff().over(DEVICE)
    reqs = reqs.with_columns((gap.is_null() | (gap > GAP_US)).cast(pl.Int64).cum_sum().over(DEVICE).alias("visit"))
    # a visit's requests fall into day-long slices that start at 02:00, counted from its first day
    first_day = (pl.col("us").min().over([*DEVICE, "visit"]) // DAY_US) * DAY_US
    reqs = reqs.with_columns(
        ((pl.col("us") - CARRY_OVER_US - first_day) // DAY_US).clip(lower_bound=0).alias("slice")
    ).with_columns(pl.struct("visit", "slice").rank("dense").over(DEVICE).alias("seq"))
    sessions = reqs.group_by(SESSION).agg(
        pl.col("user_agent").max(),
        pl.col("requested_at").min().alias("started_at"),
        pl.col("requested_at").max().alias("ended_at"),
        pl.len().alias("requests"),
        pl.col("bytes").sum(),
        pl.col("pv").sum().alias("page_views"),
        pl.col("template").filter(pl.col("pv")).first().alias("entry_path"),
        pl.col("template").filter(pl.col("pv")).last().alias("exit_path"),
        pl.col("ext_ref").drop_nulls().first().alias("referrer_domain"),
    )
    logins = day.events.filter((pl.col("event_type") == "login_success") & pl.col("user_id").is_not_null()).select(
        "client_ip", pl.col("user_agent").fill_null("").alias("ua"), "occurred_at", "user_id"
    )
    attributed = (
        sessions.select(*SESSION, "ended_at")
        .join(logins, on=DEVICE)
        .filter(pl.col("occurred_at") <= pl.col("ended_at"))
        .sort("occurred_at", "user_id")
        .group_by(SESSION)
        .agg(pl.col("user_id").last())
    )
    ua_bots = day.user_agents.select(
        "user_agent", pl.col("is_bot").alias("ua_bot"), "browser_family", "os_family", "device_type"
    )
    device = pl.lit("device ") + pl.col("client_ip") + pl.lit("\x1f") + pl.col("ua")
    sessions = (
        sessions.join(attributed, on=SESSION, how="left")
        .join(ua_bots, on="user_agent", how="left")
        .with_columns(
            pl.coalesce(pl.lit("user ") + pl.col("user_id"), device).alias("visitor"),
            (pl.col("ua_bot").fill_null(False) | pl.col("client_ip").is_in(list(automated_ips))).alias("is_bot"),
        )
    )
    start, end = day.bounds()
    sessions = sessions.filter((pl.col("started_at") >= start) & (pl.col("started_at") < end))
    return reqs, sessions


def day_requests(day: Day) -> pl.DataFrame:
    start, end = day.bounds()
    return day.requests.filter((pl.col("requested_at") >= start) & (pl.col("requested_at") < end))


def _latency() -> list[pl.Expr]:
    ms = pl.col("request_time_ms")
    return [ms.quantile(q, interpolation="linear").alias(f"p{round(q * 100)}_ms") for q in (0.5, 0.95, 0.99)]


def traffic_minute(day: Day) -> pl.DataFrame:
    status = pl.col("status")
    return (
        day_requests(day)
        .group_by(pl.col("requested_at").dt.truncate("1m").alias("minute_at"))
        .agg(
            pl.len().alias("requests"),
            pl.col("bytes").sum(),
            *[status.is_between(c, c + 99).sum().alias(f"status_{c // 100}xx") for c in (200, 300, 400, 500)],
            *_latency(),
            pl.col("client_ip").drop_nulls().n_unique().alias("unique_clients"),
        )
    )


def endpoint_daily(day: Day) -> pl.DataFrame:
    junk = pl.col("request_kind").replace_strict(JUNK_TEMPLATES, default=None)
    keyed = with_templates(day_requests(day)).with_columns(
        pl.col("method").str.to_uppercase().fill_null("-"),
        pl.coalesce(junk, pl.col("template"), pl.lit("-")).alias("path_template"),
        junk.is_null().alias("foldable"),
    )
    seen = pl.len().over("method", "path_template")
    folded = keyed.with_columns(
        pl.when((pl.col("status") == 404) & (seen < RARE_404_HITS) & pl.col("foldable"))
        .then(pl.lit(UNMATCHED_404))
        .otherwise(pl.col("path_template"))
        .alias("path_template")
    )
    out = folded.group_by("method", "path_template").agg(
        pl.len().alias("hits"),
        pl.col("status").is_between(500, 599).sum().alias("errors"),
        *_latency(),
        pl.col("request_time_ms").max().alias("max_ms"),
        pl.col("bytes").sum(),
    )
    return out.with_columns((pl.col("errors") / pl.col("hits")).alias("error_rate"))


def status_daily(day: Day) -> pl.DataFrame:
    return (
        day_requests(day)
        .group_by(pl.col("status").fill_null(0))
        .agg(pl.len().alias("requests"), pl.col("bytes").sum())
    )


def page_daily(reqs: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """Human page views per template: views, visitors, entries, exits, bounces, bounce rate, time on page."""
    human = sessions.filter(~pl.col("is_bot")).select(*SESSION, "visitor")
    views = reqs.filter(pl.col("pv")).join(human, on=SESSION).sort(SESSION + ORDER)
    nxt = pl.col("us").shift(-1).over(SESSION)
    views = views.with_columns(
        (pl.int_range(pl.len()).over(SESSION) == 0).alias("entry"),
        nxt.is_null().alias("exit"),
        pl.len().over(SESSION).alias("n"),
        ((nxt - pl.col("us")) / 1000.0).alias("on_page_ms"),
    )
    out = views.group_by(pl.col("template").alias("path_template")).agg(
        pl.len().alias("views"),
        pl.col("visitor").n_unique().alias("unique_visitors"),
        pl.col("entry").sum().alias("entries"),
        pl.col("exit").sum().alias("exits"),
        (pl.col("entry") & (pl.col("n") == 1)).sum().alias("bounces"),
        pl.col("on_page_ms").mean().alias("avg_time_on_page_ms"),
    )
    rate = pl.when(pl.col("entries") > 0).then(pl.col("bounces") / pl.col("entries"))
    return out.with_columns(rate.alias("bounce_rate"))


def user_daily(day: Day, sessions: pl.DataFrame) -> pl.DataFrame:
    """Known users with a human session that day, with their events and purchases of the day."""
    per_user = (
        sessions.filter(~pl.col("is_bot") & pl.col("user_id").is_not_null())
        .group_by("user_id")
        .agg(
            pl.len().alias("sessions"),
            pl.col("page_views").sum(),
            pl.col("requests").sum(),
            pl.col("bytes").sum(),
            pl.col("started_at").min().alias("first_seen_at"),
            pl.col("ended_at").max().alias("last_seen_at"),
        )
    )
    start, end = day.bounds()
    events = (
        day.events.filter(pl.col("user_id").is_not_null() & pl.col("occurred_at").is_between(start, end, closed="left"))
        .group_by("user_id")
        .agg(pl.len().alias("events"), (pl.col("event_type") == "purchase").sum().alias("purchases"))
    )
    return per_user.join(events, on="user_id", how="left").with_columns(pl.col("events", "purchases").fill_null(0))


def client_daily(sessions: pl.DataFrame) -> pl.DataFrame:
    """Every session (bots too) by browser, OS, device class (unknown: Other / other) and is_bot."""
    return sessions.group_by(
        pl.col("browser_family").fill_null("Other"), pl.col("os_family").fill_null("Other"),
        pl.col("device_type").fill_null("other"), "is_bot",
    ).agg(pl.col("requests").sum(), pl.len().alias("sessions"), pl.col("visitor").n_unique().alias("visitors"))


def referrer_daily(sessions: pl.DataFrame) -> pl.DataFrame:
    """Human sessions and visitors by the session's first external referrer domain, else (direct)."""
    return (
        sessions.filter(~pl.col("is_bot"))
        .group_by(pl.col("referrer_domain").fill_null(DIRECT))
        .agg(pl.len().alias("sessions"), pl.col("visitor").n_unique().alias("visitors"))
    )


def funnel_daily(day: Day, automated_ips: set[str], steps: list[str]) -> pl.DataFrame:
    """Visitors (user id, else anonymous id) of human events of the day who did steps 1..k in that order.

    A step is an event type, `page_view:PREFIX` a page view of a path starting with PREFIX. Each
    visitor's events are walked in time order (at equal times, lower steps first), advancing one step
    whenever an event is the next step.
    """
    start, end = day.bounds()
    bot_agents = list(day.user_agents.filter(pl.col("is_bot"))["user_agent"])
    events = day.events.filter(
        pl.col("occurred_at").is_between(start, end, closed="left")
        & ~pl.col("user_agent").is_in(bot_agents).fill_null(False)
        & ~pl.col("client_ip").is_in(list(automated_ips)).fill_null(False)
    )
    if events.is_empty():
        return pl.DataFrame(schema={"step_number": pl.Int32, "step_name": pl.String, "visitors": pl.Int64,
                                    "conversion_from_previous": pl.Float64, "conversion_from_start": pl.Float64})
    matched = []
    for number, step in enumerate(steps, start=1):
        kind, _, prefix = step.partition(":")
        is_step = pl.col("event_type") == kind
        if prefix:
            is_step = is_step & pl.col("path").str.starts_with(prefix).fill_null(False)
        matched.append(events.filter(is_step).with_columns(pl.lit(number).alias("step")))
    visitor = pl.coalesce("user_id", "anonymous_id").alias("visitor")
    walked = pl.concat(matched).select(visitor, "occurred_at", "step").sort("visitor", "occurred_at", "step")
    reached: dict[str | None, int] = {}
    for who, _, step in walked.iter_rows():
        if step == reached.get(who, 0) + 1:
            reached[who] = step
    counts = [sum(1 for r in reached.values() if r >= k) for k in range(1, len(steps) + 1)]
    rows = []
    for step_number, name in enumerate(steps, start=1):
        previous, first = (counts[step_number - 2] if step_number > 1 else None), counts[0]
        rows.append({
            "step_number": step_number, "step_name": name, "visitors": counts[step_number - 1],
            "conversion_from_previous": counts[step_number - 1] / previous if previous else None,
            "conversion_from_start": counts[step_number - 1] / first if first else None,
        })
    return pl.DataFrame(rows, schema={"step_number": pl.Int32, "step_name": pl.String, "visitors": pl.Int64,
                                      "conversion_from_previous": pl.Float64, "conversion_from_start": pl.Float64})
