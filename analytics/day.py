"""One day's analytics, step by step (analytics/pipeline.py explains the order and the cost model).

`DayAnalysis` computes each shared step once, when a table first needs it, and keeps it (a local
checkpoint: the queries reading it neither re-run nor re-plan it): the lookups, the per-request frame,
the security rules' input, the findings, the sessions. `tables()` gives every output table; a test may
ask for one step alone (`findings`, `sessions`, ...). `release()` frees what was kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, functions

from analytics import (
    anomalies,
    behavior,
    contracts,
    detectors,
    lookups,
    performance,
    request_frame,
    rule_input,
    security,
    sessions,
    signals,
)
from analytics.facts import RequestFacts, encode_requests
from config.layout import OUTPUT_TABLES
from config.settings import WebtrailSettings

# The per-request frame is kept on local disk, not in the heap: with the default 2g driver a 10M-line
# day's frame does not fit in storage memory (BENCHMARKS.md); the disk blocks of a small day stay in
# the OS page cache.
FRAME_STORAGE = StorageLevel.DISK_ONLY


class Keeper:
    """Computes frames now and keeps them (local checkpoints), remembering them for `release`."""

    def __init__(self) -> None:
        self.kept: list[DataFrame] = []

    def keep(self, df: DataFrame, level: StorageLevel = StorageLevel.MEMORY_AND_DISK) -> DataFrame:
        """df computed now and kept by the executors, behind a plan of its own."""
        kept = df.localCheckpoint(eager=True, storageLevel=level)
        self.kept.append(kept)
        return kept

    def keep_all(self, frames: Sequence[DataFrame]) -> list[DataFrame]:
        """`keep` of each frame, concurrently (one query's planning overlaps another's tasks)."""
        with ThreadPoolExecutor(max_workers=max(1, len(frames)), thread_name_prefix="webtrail-keep") as pool:
            futures = [pool.submit(self.keep, df) for df in frames]
        for future in futures:
            if (error := future.exception()) is not None:
                raise error
        return [future.result() for future in futures]

    def release(self) -> None:
        """Free every kept frame (the blocks of a local checkpoint: its plan is a LogicalRDD)."""
        for df in self.kept:
            plan = df._jdf.queryExecution().analyzed()
            if plan.getClass().getSimpleName() == "LogicalRDD":
                plan.rdd().unpersist(False)
            else:
                df.unpersist()
        self.kept.clear()


@dataclass(frozen=True)
class DayInputs:
    """The staged inputs of one day: the requests as facts, the events (the day and its overlap), the
    users and the classified user agents."""

    day: date
    facts: RequestFacts
    events_all: DataFrame
    users: DataFrame
    user_agents: DataFrame

    @classmethod
    def of_requests(cls, day: date, requests: DataFrame, others: Sequence[DataFrame]) -> DayInputs:
        """Inputs from requests given as text columns (REQUESTS) and (events, users, user agents)."""
        events, users, user_agents = others
        return cls(day, encode_requests(requests), events, users, user_agents)


def _within(col: str, day: date) -> Column:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    end = start + timedelta(days=1)
    return (functions.col(col) >= functions.lit(start)) & (functions.col(col) < functions.lit(end))


def _bounded_user_id(df: DataFrame) -> DataFrame:
    return df.withColumn("user_id", contracts.bounded_text(functions.col("user_id"), contracts.MAX_USER_ID_CHARS))


class DayAnalysis:
    """The tables of one day, from its inputs (module docstring).

    The steps, each kept and computed with the others of its line at once (one query's planning
    overlaps another's tasks): the lookups and the day's referer counts; the per-request frame; the
    counts per client, per (client, minute), per (request line, status, latency) and per (minute,
    latency), and the session keys; the rules' candidates; the findings and the sessions; the tables.
    """

    def __init__(self, inputs: DayInputs, settings: WebtrailSettings, site_hosts: Sequence[str] | None = None) -> None:
        self.day = inputs.day
        self.facts = inputs.facts
        self.settings = settings
        self.site_hosts = site_hosts
        self.users = _bounded_user_id(inputs.users)
        self.user_agents = inputs.user_agents
        self.events_all = _bounded_user_id(inputs.events_all)
        self.events = self.events_all.where(_within("occurred_at", inputs.day))
        self.detection = detectors.load_detection(settings.security)
        self.keeper = Keeper()

    @cached_property
    def _first(self) -> tuple[lookups.Lookups, dict[str, DataFrame]]:
        """(the day's lookups, the day's requests counted per (referer, vhost), per (request line,
        status, latency) and per (minute, latency)), kept. The counts read the facts' few columns they
        need, beside the lookups' regex work."""
        plans = lookups.day_lookups(self.facts, self.user_agents, self.detection)
        day_rows = self.facts.rows.where(_within("requested_at", self.day)).select(
            *[lookups.key_or_null(name).alias(name) for name in ("request_key", "referer_key", "vhost_key")],
            functions.unix_micros("requested_at").alias("t"), "status", "bytes", "request_time_ms")
        counts = {
            "referer_counts": day_rows.groupBy("referer_key", "vhost_key").count(),
            "per_line": performance.lines_per_status_and_latency(day_rows),
            "per_latency": performance.minutes_per_latency(day_rows),
        }
        kept = dict(zip([*plans, *counts], self.keeper.keep_all([*plans.values(), *counts.values()]), strict=True))
        return (lookups.Lookups(**{"clients": None, **{name: kept[name] for name in plans}}),
                {name: kept[name] for name in counts})

    @property
    def lookups(self) -> lookups.Lookups:
        """The day's lookups (analytics/lookups.py), kept: each is read by several queries."""
        return self._first[0]

    @cached_property
    def frame(self) -> DataFrame:
        """The per-request frame (analytics/request_frame.py), kept on local disk."""
        built = request_frame.request_frame(self.facts, self.lookups, self.day, self.settings.sessions)
        return self.keeper.keep(built, FRAME_STORAGE)

    @property
    def in_day(self) -> DataFrame:
        """The frame's requests of the day itself (not of the overlap on either side)."""
        return self.frame.where(functions.col("in_day"))

    @cached_property
    def site_keys(self) -> list[int]:
        """The host keys of the site's own hosts (internal referers)."""
        return site_host_keys(self._first[1]["referer_counts"], self.site_hosts, self.lookups)

    @cached_property
    def _counts(self) -> dict[str, DataFrame]:
        """The day's counts per client and per (client, minute), and its session keys, kept."""
        in_day = self.in_day
        day_start = request_frame.day_micros(self.day)
        started = functions.col("started_us")
        plans = {
            "per_client": rule_input.per_client(in_day),
            "per_minute": rule_input.per_minute(in_day),
            "session_keys": sessions.session_keys(self.frame, external_referer(self.site_keys)).where(
                (started >= day_start) & (started < day_start + request_frame.DAY_US)),
        }
        return dict(zip(plans, self.keeper.keep_all(list(plans.values())), strict=True))

    def rule_counts(self) -> tuple[DataFrame, DataFrame]:
        """(per-client, per-minute) counts of the day's requests (analytics/rule_input.py)."""
        return self._counts["per_client"], self._counts["per_minute"]

    def rule_day(self) -> signals.RuleInput:
        """What the security rules read (analytics/signals.py)."""
        in_day = self.in_day
        per_client, per_minute = self.rule_counts()
        chosen = rule_input.texts(
            rule_input.candidates(in_day, per_client, per_minute, self.settings.security), self.facts, self.lookups)
        chosen = self.keeper.keep(chosen)
        return signals.RuleInput(
            requests=in_day.where(functions.col("counted")), candidates=chosen,
            events=security.allowed_events(self.events, in_day, self.facts, self.settings.security),
            facts=self.facts, lookups=self.lookups, detection=self.detection,
            texts=lambda some: rule_input.texts(some, self.facts, self.lookups),
        )

    def _session_rows(self) -> DataFrame:
        """The day's sessions before is_bot (a plan)."""
        logins = sessions.device_logins(self.events_all, self.facts, self.lookups.agents)
        names = {"clients": self.facts.clients, "agents": self.lookups.agents, "templates": self.lookups.templates(),
                 "hosts": self.lookups.hosts()}
        return sessions.session_rows(self._counts["session_keys"], names, logins, self.users)

    def prepare(self) -> None:
        """Compute the findings and the unflagged sessions now, together (neither reads the other)."""
        if "findings" not in self.__dict__ and "unflagged_sessions" not in self.__dict__:
            plans = [security.findings_of(self.rule_day(), self.settings.security), self._session_rows()]
            found, unflagged = self.keeper.keep_all(plans)
            self.__dict__["findings"], self.__dict__["unflagged_sessions"] = found, unflagged

    @cached_property
    def findings(self) -> DataFrame:
        """The day's security findings (security_findings without `day`), kept."""
        return self.keeper.keep(security.findings_of(self.rule_day(), self.settings.security))

    @cached_property
    def unflagged_sessions(self) -> DataFrame:
        """The day's sessions before is_bot (sessions.session_rows), kept."""
        return self.keeper.keep(self._session_rows())

    @cached_property
    def automated(self) -> DataFrame:
        """The client addresses with a finding in a bot category (client_ip)."""
        return security.automated_clients(self.findings, self.settings.security)

    @cached_property
    def sessions(self) -> DataFrame:
        """The day's sessions (SESSION_KEY and the sessions table's columns), kept."""
        addresses = self.facts.clients.select(functions.col("key").alias("client_key"), "client_ip")
        automated = self.automated.join(addresses, "client_ip")
        return self.keeper.keep(sessions.flag_bots(self.unflagged_sessions, automated))

    @property
    def per_line(self) -> DataFrame:
        """The day's requests counted per (request line, status, latency), with each line's endpoint
        (performance.endpoint_daily's input)."""
        endpoints = self.lookups.requests.select(
            functions.col("key").alias("request_key"), "endpoint_method", "endpoint_template", "foldable")
        return self._first[1]["per_line"].join(functions.broadcast(endpoints), "request_key")

    def tables(self) -> dict[str, DataFrame]:
        """Every output table, each with `day` and the columns of the SQL contract in order."""
        self.prepare()
        session_rows, counts, per_line = self.sessions, self._counts, self.per_line
        clients_per_minute = counts["per_minute"].groupBy("minute_us").agg(
            functions.count(functions.lit(1)).alias("unique_clients"))
        human_events = behavior.human_events(self.events, self.user_agents, self.automated)
        tables = {
            "sessions": session_rows,
            "user_daily": behavior.user_daily(session_rows, self.events),
            "page_daily": behavior.page_daily(
                self.frame.where(functions.col("page_view")), session_rows, self.lookups.templates()),
            "funnel_daily": behavior.funnel_daily(human_events, self.settings.funnel_steps),
            "client_daily": behavior.client_daily(session_rows),
            "referrer_daily": behavior.referrer_daily(session_rows),
            "traffic_minute": anomalies.minute_spikes(
                performance.traffic_minute(self._first[1]["per_latency"], clients_per_minute),
                self.settings.security.spike_score),
            "endpoint_daily": performance.endpoint_daily(per_line),
            "status_daily": performance.status_daily(per_line),
            "security_findings": self.findings,
            "ip_daily": security.ip_daily(counts["per_client"], self.findings, self.facts),
        }
        assert set(tables) == set(OUTPUT_TABLES)
        return {name: contracts.conform(tables[name], name, self.day) for name in OUTPUT_TABLES}

    def release(self) -> None:
        """Free every kept intermediate."""
        self.keeper.release()


def site_host_keys(referer_counts: DataFrame, site_hosts: Sequence[str] | None,
                   day_lookups: lookups.Lookups) -> list[int]:
    """The host keys of the site itself: `site_hosts` (normalized names) when given, else the day's
    vhosts and its most frequent referer host (ties: the first by name), whose links are internal.

    `referer_counts`: the day's requests counted per (referer_key, vhost_key).
    """
    vhosts = day_lookups.vhosts.select(functions.col("key").alias("vhost_key"), "vhost_host", "vhost_host_key")
    referers = day_lookups.referers.select(functions.col("key").alias("referer_key"), "referer_host",
                                           "referer_host_key")
    if site_hosts is not None:
        names = [name.lower().removeprefix("www.") for name in site_hosts]
        keys = {row.referer_host_key for row in referers.where(functions.col("referer_host").isin(names)).collect()}
        keys |= {row.vhost_host_key for row in vhosts.where(functions.col("vhost_host").isin(names)).collect()}
        return sorted(keys)
    named = referer_counts.join(functions.broadcast(vhosts), "vhost_key").join(
        functions.broadcast(referers), "referer_key")
    keys = {row.vhost_host_key for row in named.select("vhost_host_key").distinct().collect()
            if row.vhost_host_key is not None}
    top = named.where(functions.col("referer_host_key").isNotNull()).groupBy("referer_host_key", "referer_host").agg(
        functions.sum("count").alias("requests")).orderBy(functions.desc("requests"), "referer_host").first()
    if top is not None:
        keys.add(top.referer_host_key)
    return sorted(keys)


def external_referer(site_keys: list[int]) -> Column:
    """The row's referer host key when the referer is external: a host that is neither the request's
    vhost nor one of the site's own hosts; else null."""
    referer = functions.col("referer_host_key")
    external = referer.isNotNull() & ~referer.eqNullSafe(functions.col("vhost_host_key"))
    if site_keys:
        external = external & ~referer.isin(site_keys)
    return functions.when(external, referer)
