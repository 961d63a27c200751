"""One day's analytics: staging Parquet in, the output tables of OUTPUT_TABLES out.

Order: per-request frame -> security findings -> automated IPs -> sessions -> behavior and performance
tables. Day semantics: the staging holds the day plus `sessions.overlap` on both sides; requests
outside [day 00:00, day+1 00:00) UTC are used for sessionization only. A session belongs to the day
of its first request and is kept whole, with its requests after midnight (analytics/sessions.py):
sessions started before the day are left to their own day, and so are their requests on this one.
page_daily counts the page views of the day's sessions. Security, performance and ip_daily use the
requests of the day; user_daily / funnel_daily use the events of the day, while login attribution
uses every staged login. User ids are cut to MAX_USER_ID_CHARS characters on input (indexed keys).

Cost model (bench/results/analytics.md): a small day is dominated by the fixed cost of Spark jobs
and query planning, a large one by regex work and shuffles. So the regex work runs once per distinct
value (paths, queries, referers, request lines, hosts, user agents: analytics/distinct_values.py) and
the per-request frame (pattern matches, sessions' islands, path templates, page views; partitioned by
client ip and user agent) is computed once and kept as a local checkpoint on local disk
(BASE_STORAGE); the findings and the sessions are computed once in `build_tables` and kept as
local checkpoints (memory, else disk), so the tables built on them have small plans;
`write_tables` writes every table concurrently, then releases the kept frames.

What each checkpoint costs and saves (event log of the sample day, bench/results/analytics.md "B2"):
the per-request frame, 14 of the 92 Spark jobs, is read by every table and every rule family (without
it each would re-run the regex pass); the findings, 26 jobs, are read by the automated IPs (sessions,
funnel), ip_daily and security_findings; the unflagged sessions, 10 jobs, run concurrently with the
findings; the flagged sessions, 3 jobs, are read by five tables (each would otherwise re-run the
automated-IP aggregation and its broadcast). All four are kept, each having several readers that
would re-run its plan (kept by that count, not timed without it); the writes are the other 39 jobs.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, functions, types

from analytics import anomalies, behavior, contracts, detectors, performance, security, sessions
from config.layout import OUTPUT_TABLES, DayLayout
from config.settings import WebtrailSettings

# Concurrent table writes: enough to overlap one query's planning and scheduling with another's
# tasks; more only adds contention on a small driver.
WRITE_THREADS = 4
# Raw request columns no table reads once the per-request frame is prepared (patterns matched, hosts
# normalized): not kept in memory.
_MATCHED_AWAY = ("referer", "vhost", "has_invalid_utf8")
# The per-request frame is kept on local disk, not in the heap: it is the one large intermediate
# (rows x ~40 columns), and with the default 2g driver a 10M-line day's frame cannot fit in storage
# memory: MEMORY_AND_DISK first unrolls each block into the heap, fails ("Not enough space to
# cache"), then writes it to disk anyway, and the heap it held is taken from the sorts and
# aggregations. Both levels keep serialized rows, so reading costs the same; the disk blocks of a
# small day stay in the OS page cache (bench/results/analytics.md, "B2").
BASE_STORAGE = StorageLevel.DISK_ONLY


class DayTables(dict[str, DataFrame]):
    """The output tables by name, plus the kept intermediates they share (see `release`)."""

    def __init__(self, tables: dict[str, DataFrame], kept: Sequence[DataFrame]) -> None:
        super().__init__(tables)
        self.kept = list(kept)

    def release(self) -> None:
        """Free the kept intermediates (after the tables were written or collected)."""
        for df in self.kept:
            _release(df)
        self.kept.clear()


def _checkpoint(df: DataFrame, level: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> DataFrame:
    """df computed now and kept by the executors (`level`), behind a plan of its own.

    Later queries on it neither re-run nor re-plan its lineage: analysing and optimising every query
    over the whole security plan cost more than running them on a small day.
    """
    return df.localCheckpoint(eager=True, storageLevel=level)


def _checkpoint_all(frames: Sequence[DataFrame], kept: list[DataFrame]) -> list[DataFrame]:
    """`_checkpoint` of each frame, concurrently; every checkpoint made is appended to `kept`."""
    with ThreadPoolExecutor(max_workers=len(frames), thread_name_prefix="webtrail-build") as pool:
        futures = [pool.submit(_checkpoint, df) for df in frames]
    kept.extend(f.result() for f in futures if f.exception() is None)
    for future in futures:
        if (error := future.exception()) is not None:
            raise error
    return [f.result() for f in futures]


def _release(df: DataFrame) -> None:
    """Unpersist a persisted frame, or the blocks of a local checkpoint (its plan is a LogicalRDD)."""
    plan = df._jdf.queryExecution().analyzed()
    if plan.getClass().getSimpleName() == "LogicalRDD":
        plan.rdd().unpersist(False)
    else:
        df.unpersist()


def read_parquet(spark: SparkSession, path: Path, schema: types.StructType) -> DataFrame:
    """A staging dataset with the contract's columns; a missing file gives an empty frame."""
    if not path.exists():
        return contracts.empty(spark, schema)
    # the contract's schema on read: no footer inference, and a column the file lacks reads as null
    return spark.read.schema(schema).parquet(str(path))


def _within(col: str, day_start: datetime) -> Column:
    return (functions.col(col) >= functions.lit(day_start)) & (
        functions.col(col) < functions.lit(day_start + timedelta(days=1))
    )


def _bounded_user_id(df: DataFrame) -> DataFrame:
    return df.withColumn("user_id", contracts.bounded_text(functions.col("user_id"), contracts.MAX_USER_ID_CHARS))


def build_tables(
    spark: SparkSession,
    layout: DayLayout,
    settings: WebtrailSettings,
    site_hosts: Sequence[str] | None = None,
) -> DayTables:
    """All OUTPUT_TABLES of `layout.day`, each with `day` and the columns of the SQL contract in order.

    `site_hosts` (the site's own domains, for telling external referrers) defaults to
    `sessions.site_hosts_frame` of the day's requests. Runs the security findings and the sessions
    (shared by several tables); the tables themselves run when written (`write_tables`) or collected,
    after which call `release()` on the result.
    """
    day_start = datetime.combine(layout.day, time(0), tzinfo=UTC)
    requests_all = read_parquet(spark, layout.requests, contracts.REQUESTS)
    events_all = _bounded_user_id(read_parquet(spark, layout.events, contracts.EVENTS))
    users = _bounded_user_id(read_parquet(spark, layout.users, contracts.USERS))
    user_agents = read_parquet(spark, layout.user_agents, contracts.USER_AGENTS)
    events = events_all.where(_within("occurred_at", day_start))

    # Every table reads this frame: one scan, one regex pass (security patterns, path templates), one
    # shuffle (by client ip and user agent). Computed first, so that the queries reading it do not
    # race to build it.
    detection = detectors.load_detection(settings.security)
    enriched = (
        sessions.prepare_requests(detectors.match_payloads(requests_all, detection), settings.sessions)
        .withColumn("_in_day", _within("requested_at", day_start))
        .drop(*_MATCHED_AWAY)
    )
    kept: list[DataFrame] = []
    try:
        # computed once and kept (memory, else disk), behind a plan of its own: the queries reading it
        # neither re-run nor re-analyse the regex pass
        base = _checkpoint(enriched, BASE_STORAGE)
        kept.append(base)
        requests = base.where(functions.col("_in_day"))
        hosts = sessions.site_hosts_frame(requests) if site_hosts is None else list(site_hosts)
        # the sessions need the findings only for their final is_bot flag: both run at once
        findings, unflagged = _checkpoint_all(
            [
                security.security_findings(requests, events, settings.security),
                sessions.session_rows(base, user_agents, events_all, users, hosts).where(
                    _within("started_at", day_start)
                ),
            ],
            kept,
        )
        auto_ips = security.automated_ips(findings, settings.security)
        session_rows = _checkpoint(sessions.flag_bots(unflagged, auto_ips))
        kept.append(session_rows)
    except BaseException:
        DayTables({}, kept).release()
        raise
    page_requests = sessions.assign(base.where(functions.col("is_page_view")), session_rows)
    human_events = behavior.human_events(events, user_agents, auto_ips)

    tables = {
        "sessions": session_rows,
        "user_daily": behavior.user_daily(session_rows, events),
        "page_daily": behavior.page_daily(page_requests, session_key=sessions.SESSION_KEY),
        "funnel_daily": behavior.funnel_daily(human_events, settings.funnel_steps),
        "client_daily": behavior.client_daily(session_rows),
        "referrer_daily": behavior.referrer_daily(session_rows),
        "traffic_minute": anomalies.minute_spikes(performance.traffic_minute(requests), settings.security.spike_score),
        "endpoint_daily": performance.endpoint_daily(requests),
        "status_daily": performance.status_daily(requests),
        "security_findings": findings,
        "ip_daily": security.ip_daily(requests, findings),
    }
    assert set(tables) == set(OUTPUT_TABLES)
    conformed = {name: contracts.conform(tables[name], name, layout.day) for name in OUTPUT_TABLES}
    return DayTables(conformed, kept)


def write_tables(tables: dict[str, DataFrame], layout: DayLayout) -> dict[str, Path]:
    """Write each table as Parquet to `layout.output_table(name)` (overwrite); returns the paths.

    The writes run concurrently (Spark schedules jobs of several threads; the persisted frames they
    share are computed once). The persisted intermediates of a `DayTables` are released afterwards.
    """
    paths = {name: layout.output_table(name) for name in tables}

    def write(name: str) -> None:
        tables[name].write.mode("overwrite").parquet(str(paths[name]))

    try:
        with ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="webtrail-write") as pool:
            for future in [pool.submit(write, name) for name in tables]:
                future.result()
    finally:
        if isinstance(tables, DayTables):
            tables.release()
    return paths
