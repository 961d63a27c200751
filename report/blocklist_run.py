"""One blocklist run: resolve the window, read the findings, look for declared crawlers, write files.

Pure of Prefect: used by flows/blocklist.py directly (the command line) and through tasks/blocklist.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from config.settings import WebtrailSettings
from report.blocklist import Blocklist, build_blocklist, crawler_regex, read_offences, write_atomic
from report.blocklist_formats import FILE_NAMES, render
from warehouse.gateway import Warehouse

DEFAULT_FORMATS: tuple[str, ...] = tuple(FILE_NAMES)


@dataclass(frozen=True)
class BlocklistRequest:
    """Which findings make the list: ``days`` days ending with ``day`` (default: newest loaded day)."""

    day: date | None = None
    days: int = 1
    min_severity: str | None = None
    generated_at: datetime | None = None


def declared_crawlers(settings: WebtrailSettings, days: Sequence[date], ips: Sequence[str]) -> set[str]:
    """The IPs among ``ips`` whose every staged request of the window declares a good crawler."""
    from webtrail.sql import SqlWorkspace
    from webtrail.staging import staged_days

    present = set(staged_days(settings.data_dir))
    window = [d for d in days if d in present]
    if not ips or not window:
        return set()
    query = (
        "SELECT client_ip FROM requests WHERE list_contains(?, client_ip)"
        " GROUP BY client_ip HAVING bool_and(regexp_matches(coalesce(user_agent, ''), ?))"
    )
    with SqlWorkspace(settings.data_dir.resolve(), window) as workspace:
        result = workspace.query(query, [list(ips), crawler_regex(settings.security.patterns_dir)])
    return set(result.table.column("client_ip").to_pylist())


def make_blocklist(settings: WebtrailSettings, warehouse: Warehouse, request: BlocklistRequest) -> Blocklist:
    """The blocklist of the request's window from the warehouse."""
    from webtrail.sql import window_days

    min_severity = request.min_severity or settings.blocklist.min_severity
    day = request.day or warehouse.latest_day()
    if day is None:
        raise ValueError("no day has been loaded into the warehouse yet: run the daily flow first")
    days = window_days(day, request.days)
    with warehouse.connection(readonly=True) as conn:
        offences = read_offences(conn, days, min_severity)
    crawlers = set() if settings.blocklist.block_declared_crawlers else declared_crawlers(
        settings, days, sorted({o.ip for o in offences})
    )
    context = {"generated_at": request.generated_at, "days": days, "min_severity": min_severity,
               "crawlers": crawlers}
    return build_blocklist(offences, settings.blocklist, context)


def write_files(blocklist: Blocklist, formats: Sequence[str], out_dir: Path) -> dict[str, str]:
    """Format -> path of each file written (atomically) under ``out_dir``."""
    rendered = {fmt: render(fmt, blocklist) for fmt in formats}  # every format renders before any is written
    return {fmt: str(write_atomic(Path(out_dir) / FILE_NAMES[fmt], text)) for fmt, text in rendered.items()}
