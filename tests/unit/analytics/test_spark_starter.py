"""The JVM started early (analytics.spark.SparkStarter): its errors surface where the session is asked
for, it is only used for the settings it was started with; and the run timeline's arithmetic."""

from __future__ import annotations

import pytest

import analytics.spark as spark_module
from analytics.spark import JavaMissingError, SparkStarter, spark_session, start_spark_early
from config.settings import SparkSettings
from report.timings import RunTimeline


@pytest.fixture
def no_java(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `java` on PATH
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark_module, "_EARLY", [])


def test_a_failed_early_start_raises_java_missing_where_the_session_is_asked_for(no_java: None) -> None:
    starter = start_spark_early(SparkSettings())
    # start() itself never raises: the run goes on (Prefect, parsing) until the analytics stage needs Spark
    with pytest.raises(JavaMissingError, match="no `java` was found on PATH or in JAVA_HOME"):
        spark_session(SparkSettings())
    assert starter.ready_at is not None and starter.start_seconds is not None
    with pytest.raises(JavaMissingError):  # asked again (a retry): the same clear error
        starter.session()


def test_spark_session_uses_the_early_start_only_for_the_same_settings(no_java: None) -> None:
    early = start_spark_early(SparkSettings(master="local[1]"))
    with pytest.raises(JavaMissingError):
        spark_session(SparkSettings(master="local[2]"))  # built anew (and fails the same way)
    assert early.waited_seconds == 0.0  # the other settings' session never waited on this starter


def test_a_starter_not_started_starts_when_asked(no_java: None) -> None:
    starter = SparkStarter(SparkSettings())
    with pytest.raises(JavaMissingError):
        starter.session()
    assert starter.started_at is not None


class _Starter:
    def __init__(self, started_at: float, ready_at: float, waited: float) -> None:
        self.started_at, self.ready_at, self.waited_seconds = started_at, ready_at, waited


def test_run_timeline_parts() -> None:
    timeline = RunTimeline()
    timeline.main_started, timeline.imports_seconds = 100.0, 2.5
    timeline.flow_called, timeline.flow_running, timeline.flow_returned = 101.0, 115.0, 160.0
    stages = {"parse": 1.0, "analytics": 30.0, "load": 0.5}
    parts = timeline.to_dict(stages, _Starter(100.5, 112.25, 0.75), {"jobs": 12, "stages": 20, "stages_run": 15})
    assert parts == {
        "python_imports": 2.5,
        "prefect_api_start": 14.0,  # 101 -> 115
        "prefect_api": {"early_start": False},
        "flow_body": 45.0,  # 115 -> 160
        "stages": stages,
        "flow_body_outside_stages": 13.5,  # 45 - 31.5
        "main_total": 60.0,
        "spark": {"early_start": True, "jobs": 12, "stages": 20, "stages_run": 15, "start_seconds": 11.75,
                  "ready_after_main_seconds": 12.25, "analytics_waited_seconds": 0.75},
    }
    assert timeline.to_dict({}, None, None)["spark"] == {"early_start": False, "jobs": None, "stages": None}


class _EarlyApi:
    def __init__(self, launched_at: float, ready_at: float) -> None:
        self.launched_at, self.ready_at = launched_at, ready_at


def test_run_timeline_with_the_early_api() -> None:
    timeline = RunTimeline()
    timeline.main_started, timeline.imports_seconds = 100.0, 2.5
    timeline.early_api = _EarlyApi(97.6, 104.0)  # launched before the imports, ready 4 s into main()
    timeline.api_wait_started, timeline.flow_called = 100.5, 104.0
    timeline.flow_running, timeline.flow_returned = 105.0, 150.0
    parts = timeline.to_dict({}, None, None)
    assert parts["prefect_api"] == {"early_start": True, "start_seconds": 6.4, "ready_after_main_seconds": 4.0,
                                    "main_waited_seconds": 3.5}
    assert parts["prefect_api_start"] == 1.0  # the flow call to Running: the server was up already
