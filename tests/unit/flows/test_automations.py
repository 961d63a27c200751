"""flows/automations.yaml: the blocklist automation's deployment is resolved by name, or left out."""

from __future__ import annotations

import uuid

from flows.install_alerts import DEFINITIONS, load_definitions


def test_run_deployment_action_gets_the_deployment_id() -> None:
    block, deployment = uuid.uuid4(), uuid.uuid4()
    loaded = load_definitions(DEFINITIONS, block, {"webtrail-blocklist/blocklist": deployment})
    automations = {a.name: a for a in loaded}
    after_daily = automations["webtrail-blocklist-after-daily"]
    assert [a.type for a in after_daily.actions] == ["run-deployment"]
    assert after_daily.actions[0].deployment_id == deployment and after_daily.actions[0].source == "selected"
    assert after_daily.trigger.expect == {"prefect.flow-run.Completed"}
    assert automations["webtrail-security-finding"].actions[0].block_document_id == block


def test_without_the_deployment_the_automation_is_left_out() -> None:
    names = [a.name for a in load_definitions(DEFINITIONS, uuid.uuid4(), {"webtrail-blocklist/blocklist": None})]
    assert "webtrail-blocklist-after-daily" not in names and "webtrail-daily-run-failed" in names
