"""Blocklist tasks: read the findings, build the list, write the files (atomically)."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from config.settings import WebtrailSettings
from report.blocklist import Blocklist
from report.blocklist_run import BlocklistRequest, make_blocklist, write_files
from warehouse.gateway import Warehouse

_IO: dict = {"retries": 2, "retry_delay_seconds": [2, 10], "cache_policy": NO_CACHE}


@task(name="build-blocklist", **_IO)
def build_blocklist_task(settings: WebtrailSettings, warehouse: Warehouse, request: BlocklistRequest) -> Blocklist:
    """The findings of the window at or above the severity, allowlist and crawlers left out."""
    blocklist = make_blocklist(settings, warehouse, request)
    get_run_logger().info(
        "blocklist of %s: %d entries; left out: %s",
        ", ".join(d.isoformat() for d in blocklist.days), len(blocklist.entries),
        {reason: len(ips) for reason, ips in blocklist.skipped.items()} or "none",
    )
    return blocklist


@task(name="write-blocklist", cache_policy=NO_CACHE)
def write_blocklist_task(blocklist: Blocklist, formats: list[str], out_dir: Path) -> dict[str, str]:
    """Each format's file under out_dir, through a temporary file and a rename."""
    written = write_files(blocklist, formats, out_dir)
    get_run_logger().info("wrote %s", ", ".join(written.values()))
    return written


