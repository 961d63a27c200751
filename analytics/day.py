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
    """The tables of one day, from its inputs (module docstring)."""

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
    def lookups(self) -> lookups.Lookups:
        """The day's lookups (analytics/lookups.py), kept: each is read by several queries."""
        keep, keep_all = self.keeper.keep, self.keeper.keep_all
        referers, vhosts = keep_all(
            [lookups.referer_lookup(self.facts, self.detection), lookups.vhost_lookup(self.facts)])
        host_names = keep(lookups.host_dictionary(referers, vhosts))
        requests, agents, referers, vhosts, files = keep_all([
            lookups.request_lookup(self.facts, self.detection),
            lookups.agent_lookup(self.facts, self.user_agents, self.detection),
            lookups.with_host_key(referers, "referer_host", host_names, "referer_host_key"),
            lookups.with_host_key(vhosts, "vhost_host", host_names, "vhost_host_key"),
            lookups.file_lookup(self.facts),
        ])
        return lookups.Lookups(requests, agents, referers, vhosts, files, host_names)

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
        return site_host_keys(self.in_day, self.site_hosts, self.lookups.hosts)

    @cached_property
    def _counted(self) -> tuple[DataFrame, DataFrame]:
        """(every request of the day with the rules' columns; those that count: not allowlisted)."""
        tags = rule_input.client_tags(self.in_day, self.facts, self.lookups.agents, self.detection)
        kinds = rule_input.classes(self.in_day, self.lookups.requests, self.detection)
        if tags is None:
            kinds = self.keeper.keep(kinds)
        else:
            tags, kinds = self.keeper.keep_all([tags, kinds])
        rows = rule_input.rule_rows(self.in_day, self.lookups, tags, kinds)
        return rows, rows.where(~functions.col("allowed"))

    @cached_property
    def _counts(self) -> tuple[DataFrame, DataFrame, DataFrame]:
        """(per-client and per-minute counts of the counted requests, the day's session keys), kept."""
        counted = self._counted[1]
        day_start = request_frame.day_micros(self.day)
        started = functions.col("started_us")
        keyed = sessions.session_keys(self.frame, external_referer(self.site_keys)).where(
            (started >= day_start) & (started < day_start + request_frame.DAY_US))
        kept = self.keeper.keep_all([rule_input.per_client(counted), rule_input.per_minute(counted), keyed])
        return kept[0], kept[1], kept[2]

    def rule_counts(self) -> tuple[DataFrame, DataFrame]:
        """(per-client, per-minute) counts of the requests that count for the rules (analytics/rule_input.py)."""
        per_client, per_minute, _ = self._counts
        return per_client, per_minute

    def rule_day(self) -> signals.RuleInput:
        """What the security rules read (analytics/signals.py)."""
        rows, counted = self._counted
        per_client, per_minute, _ = self._counts
        chosen = rule_input.candidates(counted, per_client, per_minute, self.settings.security)
        return signals.RuleInput(
            requests=counted, candidates=self.keeper.keep(rule_input.texts(chosen, self.facts, self.lookups)),
            events=security.allowed_events(self.events, rows, self.facts, self.settings.security),
            facts=self.facts, lookups=self.lookups, detection=self.detection,
            texts=lambda some: rule_input.texts(some, self.facts, self.lookups),
        )

    def _session_rows(self) -> DataFrame:
        """The day's sessions before is_bot (a plan)."""
        logins = sessions.device_logins(self.events_all, self.facts, self.lookups.agents)
        names = {"clients": self.facts.clients, "agents": self.lookups.agents, "templates": self.lookups.templates(),
                 "hosts": self.lookups.hosts}
        return sessions.session_rows(self._counts[2], names, logins, self.users)

    def prepare(self) -> None:
        """Compute the findings and the unflagged sessions now, together (neither reads the other)."""
        if "findings" not in self.__dict__ and "unflagged_sessions" not in self.__dict__:
            found, unflagged = self.keeper.keep_all(
                [security.findings_of(self.rule_day(), self.settings.security), self._session_rows()])
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

    @cached_property
    def per_line(self) -> DataFrame:
        """The day's requests counted per (request line, status, latency), with each line's endpoint
        (performance.endpoint_daily's input), kept: endpoint_daily and status_daily read it."""
        endpoints = self.lookups.requests.select(
            functions.col("key").alias("request_key"), "endpoint_key", "endpoint_method", "endpoint_template",
            "foldable")
        counted = performance.lines_per_status_and_latency(self.in_day)
        return self.keeper.keep(counted.join(functions.broadcast(endpoints), "request_key"))

    def tables(self) -> dict[str, DataFrame]:
        """Every output table, each with `day` and the columns of the SQL contract in order."""
        self.prepare()
        session_rows, in_day, per_line = self.sessions, self.in_day, self.per_line
        minute = (functions.col("t") - functions.pmod("t", functions.lit(performance.MINUTE_US))).alias("minute_us")
        clients_per_minute = in_day.groupBy("client_key", minute).count().groupBy("minute_us").agg(
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
                performance.traffic_minute(in_day, clients_per_minute), self.settings.security.spike_score),
            "endpoint_daily": performance.endpoint_daily(per_line),
            "status_daily": performance.status_daily(per_line),
            "security_findings": self.findings,
            "ip_daily": security.ip_daily(in_day, self.findings, self.facts, self.lookups),
        }
        assert set(tables) == set(OUTPUT_TABLES)
        return {name: contracts.conform(tables[name], name, self.day) for name in OUTPUT_TABLES}

    def release(self) -> None:
        """Free every kept intermediate."""
        self.keeper.release()


def site_host_keys(in_day: DataFrame, site_hosts: Sequence[str] | None, host_names: DataFrame) -> list[int]:
    """The host keys of the site itself: `site_hosts` (normalized names) when given, else the day's
    vhosts and its most frequent referer host (ties: the first by name), whose links are internal."""
    if site_hosts is not None:
        names = [name.lower().removeprefix("www.") for name in site_hosts]
        return [row.key for row in host_names.where(functions.col("host").isin(names)).collect()]
    counts = in_day.groupBy("referer_host_key", "vhost_host_key").count().collect()
    keys = {row.vhost_host_key for row in counts if row.vhost_host_key is not None}
    referer_counts: dict[int, int] = {}
    for row in counts:
        if row.referer_host_key is not None:
            referer_counts[row.referer_host_key] = referer_counts.get(row.referer_host_key, 0) + row["count"]
    if referer_counts:
        named = host_names.where(functions.col("key").isin(list(referer_counts))).collect()
        names_of = {row.key: row.host for row in named}
        keys.add(min(referer_counts, key=lambda key: (-referer_counts[key], names_of[key])))
    return sorted(keys)


def external_referer(site_keys: list[int]) -> Column:
    """The row's referer host key when the referer is external: a host that is neither the request's
    vhost nor one of the site's own hosts; else null."""
    referer = functions.col("referer_host_key")
    external = referer.isNotNull() & ~referer.eqNullSafe(functions.col("vhost_host_key"))
    if site_keys:
        external = external & ~referer.isin(site_keys)
    return functions.when(external, referer)
