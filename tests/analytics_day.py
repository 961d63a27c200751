"""Test support: the analysis of a day given as small Spark frames of text rows, as the tests write them.

The production run reads the parser's keys and dictionaries from staging (analytics/facts.py); a
test writes its requests as rows of text (tests/unit/analytics/conftest.py `Frames`) and
`analytics.facts.encode_requests` gives them keys the same way.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, functions

from analytics import contracts
from analytics.day import DayAnalysis, DayInputs
from config.settings import SecuritySettings, SessionSettings, WebtrailSettings


def analysis(
    requests: DataFrame,
    events: DataFrame | None = None,
    settings: SecuritySettings | WebtrailSettings | None = None,
    **inputs: object,
) -> DayAnalysis:
    """The DayAnalysis of `requests` (REQUESTS columns) and `events` (EVENTS columns, default none).

    `inputs` may give `users`, `user_agents` (frames), `day` (default: the day of the first request),
    `sessions` (SessionSettings) and `site_hosts`.
    """
    spark = requests.sparkSession
    if settings is None or isinstance(settings, SecuritySettings):
        settings = WebtrailSettings(security=settings or SecuritySettings(),
                                    sessions=inputs.get("sessions") or SessionSettings())
    day = inputs.get("day") or _first_day(requests)
    frames = [
        events if events is not None else contracts.empty(spark, contracts.EVENTS),
        inputs.get("users") or contracts.empty(spark, contracts.USERS),
        inputs.get("user_agents") or contracts.empty(spark, contracts.USER_AGENTS),
    ]
    site_hosts = inputs.get("site_hosts")
    return DayAnalysis(DayInputs.of_requests(day, requests, frames), settings, site_hosts)  # type: ignore[arg-type]


def _first_day(requests: DataFrame) -> date:
    first = requests.agg(functions.min(functions.to_date("requested_at")).alias("first")).first()
    assert first is not None and first["first"] is not None, "a test day needs at least one request"
    return first["first"]


def findings(requests: DataFrame, events: DataFrame, settings: SecuritySettings) -> DataFrame:
    """The security findings of a day of `requests` and `events` (what analytics.security.findings_of gives)."""
    return analysis(requests, events, settings).findings
