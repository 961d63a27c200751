"""Install (or update) webtrail's alerting on a Prefect server: a webhook block and the automations.

    export PREFECT_API_URL=http://127.0.0.1:4200/api
    python -m flows.install_alerts --webhook-url https://hooks.example.com/T000/B000/XXXX
    python -m flows.install_alerts --webhook-url https://hooks.slack.com/services/... --style slack

Idempotent: the block is saved under one name (overwritten), and each automation of
flows/automations.yaml is updated in place when one of the same name exists, created otherwise.
The webhook URL is kept in the block's encrypted secrets, not in its plain fields.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import yaml
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore
from prefect.settings import get_current_settings

DEFINITIONS = Path(__file__).resolve().parent / "automations.yaml"
BLOCK_NAME = "webtrail-alerts"
Style = Literal["json", "slack"]

# Request bodies per receiver style; {{subject}} / {{body}} / {{webhook_url}} are filled in by the block.
_PAYLOADS: dict[str, dict[str, Any]] = {
    "json": {"source": "webtrail", "subject": "{{subject}}", "body": "{{body}}"},
    "slack": {"text": "*{{subject}}*\n{{body}}"},
}


def webhook_block(webhook_url: str, style: Style = "json") -> CustomWebhookNotificationBlock:
    """A POST-JSON webhook block whose URL lives in the encrypted `secrets`."""
    return CustomWebhookNotificationBlock(
        name="webtrail",
        url="{{webhook_url}}",
        method="POST",
        json_data=_PAYLOADS[style],
        secrets={"webhook_url": webhook_url},
        timeout=10,
    )


def load_definitions(
    path: Path, block_document_id: UUID, deployment_ids: Mapping[str, UUID | None] | None = None
) -> list[AutomationCore]:
    """The automations of the YAML file, every send-notification action pointed at the block and every
    run-deployment action's `deployment: flow/name` replaced by the id in ``deployment_ids``
    (an automation whose deployment is not deployed is left out)."""
    data = yaml.safe_load(path.read_text())
    items = data["automations"] if isinstance(data, Mapping) else data
    automations = []
    for item in items:
        missing = False
        for action in item.get("actions", []):
            if action.get("type") == "send-notification":
                action["block_document_id"] = str(block_document_id)
            if action.get("type") == "run-deployment" and "deployment" in action:
                found = (deployment_ids or {}).get(action.pop("deployment"))
                missing = missing or found is None
                action["deployment_id"] = str(found) if found else None
        if not missing:
            automations.append(AutomationCore.model_validate(item))
    names = [a.name for a in automations]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"{path}: automation names must be unique, repeated: {sorted(duplicates)}")
    return automations


def _deployment_ids(client: Any, path: Path) -> dict[str, UUID | None]:
    """flow/deployment name -> id of every deployment a run-deployment action names (None: not deployed)."""
    from prefect.exceptions import ObjectNotFound

    data = yaml.safe_load(path.read_text())
    items = data["automations"] if isinstance(data, Mapping) else data
    names = {a["deployment"] for item in items for a in item.get("actions", []) if "deployment" in a}
    found: dict[str, UUID | None] = {}
    for name in sorted(names):
        try:
            found[name] = client.read_deployment_by_name(name).id
        except ObjectNotFound:
            found[name] = None
    return found


def install(
    webhook_url: str, *, style: Style = "json", block_name: str = BLOCK_NAME, definitions: Path = DEFINITIONS
) -> dict[str, str]:
    """Save the block and create or update every automation; returns automation name -> what was done."""
    block_id = webhook_block(webhook_url, style).save(block_name, overwrite=True)
    done: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        deployment_ids = _deployment_ids(client, definitions)
        for name, found in deployment_ids.items():
            if found is None:
                done[f"(needs deployment {name})"] = "skipped: run `prefect --no-prompt deploy --all` first"
        for automation in load_definitions(definitions, block_id, deployment_ids):
            existing = client.read_automations_by_name(automation.name)
            if existing:
                client.update_automation(existing[0].id, automation)
                for extra in existing[1:]:  # left by an older, non-idempotent install
                    client.delete_automation(extra.id)
                done[automation.name] = f"updated {existing[0].id}"
            else:
                done[automation.name] = f"created {client.create_automation(automation)}"
    return done


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of `python -m flows.install_alerts`."""
    parser = argparse.ArgumentParser(prog="python -m flows.install_alerts", description=__doc__.splitlines()[0])
    parser.add_argument("--webhook-url", required=True, help="where notifications are POSTed")
    parser.add_argument("--style", choices=sorted(_PAYLOADS), default="json",
                        help="request body: json = {source, subject, body}; slack = {text}")
    parser.add_argument("--block-name", default=BLOCK_NAME, help=f"name of the webhook block (default {BLOCK_NAME})")
    parser.add_argument("--definitions", type=Path, default=DEFINITIONS, help="automations YAML file")
    args = parser.parse_args(argv)
    api_url = get_current_settings().api.url
    if not api_url:
        parser.error("PREFECT_API_URL is not set: alerts need a running Prefect server (prefect server start)")
    done = install(args.webhook_url, style=args.style, block_name=args.block_name, definitions=args.definitions)
    print(f"Prefect API {api_url}: webhook block '{args.block_name}' saved")
    for name, what in done.items():
        print(f"  automation {name}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
