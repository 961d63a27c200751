"""One day's analytics: staging Parquet in, the output tables of OUTPUT_TABLES out.

Order: facts and lookups -> per-request frame -> security findings and sessions -> behavior,
performance and IP tables (analytics/day.py). Day semantics: the staging holds the day plus
`sessions.overlap` on both sides; requests outside [day 00:00, day+1 00:00) UTC are used for
sessionization only. A session belongs to the day of its first request and is kept whole, with its
requests after midnight (analytics/sessions.py): sessions started before the day are left to their
own day, and so are their requests on this one. page_daily counts the page views of the day's
sessions. Security, performance and ip_daily use the requests of the day; user_daily / funnel_daily
use the events of the day, while login attribution uses every staged login. User ids are cut to
MAX_USER_ID_CHARS characters on input.

Cost model (BENCHMARKS.md, "Analytics stage"): Spark reads the requests as integer keys and numbers
(analytics/facts.py); every regex runs once per distinct value (analytics/lookups.py); one shuffle by
client and one sort by device and time give the per-request frame (analytics/request_frame.py), which
is kept on local disk and read by the sessions, the security rules and the IP table without another
shuffle; the security rules read only the few requests the day's counts single out
(analytics/rule_input.py); the performance tables count the requests per distinct (minute, latency)
and (request line, status, latency) first. The small intermediates several tables read (the lookups,
the findings, the sessions) are kept as local checkpoints, so the queries reading them neither re-run
nor re-plan them.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, types

from analytics import contracts
from analytics.day import DayAnalysis, DayInputs
from analytics.facts import read_facts
from config.layout import DayLayout
from config.settings import WebtrailSettings

# Concurrent table writes: enough to overlap one query's planning and scheduling with another's
# tasks; more only adds contention on a small driver.
WRITE_THREADS = 4


class DayTables(dict[str, DataFrame]):
    """The output tables by name, plus the analysis whose kept intermediates they share (`release`)."""

    def __init__(self, tables: dict[str, DataFrame], analysis: DayAnalysis | None = None) -> None:
        super().__init__(tables)
        self.analysis = analysis

    @property
    def kept(self) -> list[DataFrame]:
        """The intermediates kept for these tables (until `release`)."""
        return self.analysis.keeper.kept if self.analysis is not None else []

    def release(self) -> None:
        """Free the kept intermediates (after the tables were written or collected)."""
        if self.analysis is not None:
            self.analysis.release()


def read_parquet(spark: SparkSession, path: Path, schema: types.StructType) -> DataFrame:
    """A staging dataset with the contract's columns; a missing file gives an empty frame."""
    if not path.exists():
        return contracts.empty(spark, schema)
    # the contract's schema on read: no footer inference, and a column the file lacks reads as null
    return spark.read.schema(schema).parquet(str(path))


def day_inputs(spark: SparkSession, layout: DayLayout) -> DayInputs:
    """The staged inputs of `layout.day` as Spark reads them."""
    return DayInputs(
        day=layout.day,
        facts=read_facts(spark, layout),
        events_all=read_parquet(spark, layout.events, contracts.EVENTS),
        users=read_parquet(spark, layout.users, contracts.USERS),
        user_agents=read_parquet(spark, layout.user_agents, contracts.USER_AGENTS),
    )


def build_tables(
    spark: SparkSession,
    layout: DayLayout,
    settings: WebtrailSettings,
    site_hosts: Sequence[str] | None = None,
) -> DayTables:
    """All OUTPUT_TABLES of `layout.day`, each with `day` and the columns of the SQL contract in order.

    `site_hosts` (the site's own domains, for telling external referrers) defaults to the day's vhosts
    and its most frequent referer host. Runs the lookups, the per-request frame, the security findings
    and the sessions (shared by several tables); the tables themselves run when written
    (`write_tables`) or collected, after which call `release()` on the result.
    """
    analysis = DayAnalysis(day_inputs(spark, layout), settings, site_hosts)
    try:
        return DayTables(analysis.tables(), analysis)
    except BaseException:
        analysis.release()
        raise


def write_tables(tables: dict[str, DataFrame], layout: DayLayout) -> dict[str, Path]:
    """Write each table as Parquet to `layout.output_table(name)` (overwrite); returns the paths.

    The writes run concurrently (Spark schedules jobs of several threads; the kept frames they share
    are computed once). The kept intermediates of a `DayTables` are released afterwards.
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
