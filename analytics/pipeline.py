"""One day's analytics: staging Parquet in, the output tables of OUTPUT_TABLES out.

Order: security findings -> automated IPs -> sessions -> behavior and performance tables.
Day semantics: requests of the staging file outside [day 00:00, day+1 00:00) UTC (lookback) are
used for sessionization only; a session belongs to the day of its first request, so sessions
started in the lookback are left to their own day. Security, performance and ip_daily use the
requests of the day; user_daily / funnel_daily use the events of the day, while login attribution
uses every staged login. Intermediate results used by several tables are persisted; call
`spark.catalog.clearCache()` after writing to free them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from analytics import behavior, contracts, performance, security
from analytics.sessions import normalize_host, referer_host, sessionize
from config.layout import OUTPUT_TABLES, DayLayout
from config.settings import WebtrailSettings


def read_parquet(spark: SparkSession, path: Path, schema: T.StructType) -> DataFrame:
    """A staging dataset with the contract's columns; a missing file gives an empty frame."""
    if not path.exists():
        return contracts.empty(spark, schema)
    df = spark.read.parquet(str(path))
    return df.select(
        *[
            (F.col(f.name) if f.name in df.columns else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )


def _within(col: str, day_start: datetime) -> Column:
    return (F.col(col) >= F.lit(day_start)) & (F.col(col) < F.lit(day_start + timedelta(days=1)))


def infer_site_hosts(requests: DataFrame) -> list[str]:
    """The site's own hosts: distinct vhosts plus the most frequent referer host (internal links)."""
    hosts = {
        r[0] for r in requests.select(normalize_host(F.col("vhost"))).distinct().limit(50).collect() if r[0]
    }
    top = (
        requests.select(referer_host(F.col("referer")).alias("h"))
        .where(F.col("h").isNotNull())
        .groupBy("h")
        .count()
        .orderBy(F.desc("count"), "h")
        .limit(1)
        .collect()
    )
    return sorted(hosts | {r[0] for r in top})


def build_tables(
    spark: SparkSession,
    layout: DayLayout,
    settings: WebtrailSettings,
    site_hosts: Sequence[str] | None = None,
) -> dict[str, DataFrame]:
    """All OUTPUT_TABLES of `layout.day`, each with `day` and the columns of the SQL contract in order.

    `site_hosts` (the site's own domains, for telling external referrers) defaults to
    `infer_site_hosts` of the day's requests.
    """
    day_start = datetime.combine(layout.day, time(0), tzinfo=UTC)
    requests_all = read_parquet(spark, layout.requests, contracts.REQUESTS)
    events_all = read_parquet(spark, layout.events, contracts.EVENTS)
    users = read_parquet(spark, layout.users, contracts.USERS)
    user_agents = read_parquet(spark, layout.user_agents, contracts.USER_AGENTS)
    requests = requests_all.where(_within("requested_at", day_start))
    events = events_all.where(_within("occurred_at", day_start))

    findings = security.security_findings(requests, events, settings.security).persist()
    auto_ips = security.automated_ips(findings, settings.security).persist()
    hosts = infer_site_hosts(requests) if site_hosts is None else list(site_hosts)
    result = sessionize(requests_all, user_agents, events_all, users, auto_ips, settings.sessions, hosts)
    sessions = result.sessions.where(_within("started_at", day_start)).persist()
    session_requests = result.requests.where(_within("session_started_at", day_start))
    human_events = behavior.human_events(events, user_agents, auto_ips)

    tables = {
        "sessions": sessions,
        "user_daily": behavior.user_daily(sessions, events),
        "page_daily": behavior.page_daily(session_requests),
        "funnel_daily": behavior.funnel_daily(human_events, settings.funnel_steps),
        "client_daily": behavior.client_daily(sessions),
        "referrer_daily": behavior.referrer_daily(sessions),
        "traffic_minute": performance.traffic_minute(requests),
        "endpoint_daily": performance.endpoint_daily(requests),
        "status_daily": performance.status_daily(requests),
        "security_findings": findings,
        "ip_daily": security.ip_daily(requests, findings),
    }
    assert set(tables) == set(OUTPUT_TABLES)
    return {name: contracts.conform(tables[name], name, layout.day) for name in OUTPUT_TABLES}


def write_tables(tables: dict[str, DataFrame], layout: DayLayout) -> dict[str, Path]:
    """Write each table as Parquet to `layout.output_table(name)` (overwrite); returns the paths."""
    paths: dict[str, Path] = {}
    for name, df in tables.items():
        path = layout.output_table(name)
        df.write.mode("overwrite").parquet(str(path))
        paths[name] = path
    return paths
