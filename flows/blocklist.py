"""Write blocklists (nginx, Apache, ipset, nftables, CrowdSec, CSV, JSON) from the security findings.

examples:
  python -m flows.blocklist                                   # newest loaded day, every format
  python -m flows.blocklist --day 2026-11-24 --days 7 --min-severity high --format nginx
  python -m flows.blocklist --format nftables --out /etc/nftables.d/webtrail.nft

Without --out the files go to <data dir>/reports/ (blocklist-nginx.conf, blocklist.nft, ...);
--out names the one file of a single --format ("-" prints it). Each file is written to a temporary
file and renamed, so a server reloading meanwhile never reads half of one. The command runs directly;
--prefect runs it as a flow run (the webtrail-blocklist deployment does the same after each daily run).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from analytics.rules import SEVERITIES
from report.blocklist_formats import RENDERERS

FORMATS = tuple(RENDERERS)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.blocklist", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--day", type=date.fromisoformat, help="last day of the window (default: newest loaded)")
    parser.add_argument("--days", type=int, default=1, help="days in the window, ending with --day (default 1)")
    parser.add_argument("--min-severity", choices=SEVERITIES,
                        help="lowest severity blocked (default WEBTRAIL_BLOCKLIST__MIN_SEVERITY, high)")
    parser.add_argument("--format", dest="formats", action="append", choices=FORMATS,
                        help="a format to write (repeatable; default: every format)")
    parser.add_argument("--out", help="file to write for a single --format ('-' for stdout)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: WEBTRAIL_DATABASE_URL, else embedded)")
    parser.add_argument("--prefect", action="store_true", help="run as a Prefect flow run")
    args = parser.parse_args(argv)
    if args.out and len(args.formats or []) != 1:
        parser.error("--out needs exactly one --format")
    return args


def run_direct(argv: list[str] | None = None) -> int:
    """`python -m flows.blocklist` without Prefect."""
    from config.settings import WebtrailSettings
    from report.blocklist_formats import render
    from report.blocklist_run import DEFAULT_FORMATS, BlocklistRequest, make_blocklist, write_files
    from warehouse.gateway import Warehouse

    args = _parse_args(argv)
    settings = WebtrailSettings()
    try:
        warehouse = Warehouse.resolve(settings, args.database_url)
        blocklist = make_blocklist(settings, warehouse, BlocklistRequest(args.day, args.days, args.min_severity))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    formats = args.formats or list(DEFAULT_FORMATS)
    if args.out == "-":
        sys.stdout.write(render(formats[0], blocklist))
        return 0
    if args.out:
        from report.blocklist import write_atomic

        written = {formats[0]: str(write_atomic(Path(args.out), render(formats[0], blocklist)))}
    else:
        written = write_files(blocklist, formats, settings.reports_dir.resolve())
    skipped = ", ".join(f"{reason}: {len(ips)}" for reason, ips in blocklist.skipped.items()) or "none"
    print(f"{len(blocklist.entries)} entries ({', '.join(d.isoformat() for d in blocklist.days)}, "
          f"severity >= {blocklist.min_severity}); left out: {skipped}")
    for fmt, path in written.items():
        print(f"  {fmt}: {path}")
    return 0


# Importing Prefect alone takes seconds: the direct command line stops here, before that import.
if __name__ == "__main__" and "--prefect" not in sys.argv[1:]:
    sys.exit(run_direct(sys.argv[1:]))

from prefect import flow  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from config.settings import WebtrailSettings  # noqa: E402
from report.blocklist_run import DEFAULT_FORMATS, BlocklistRequest  # noqa: E402
from tasks.blocklist import build_blocklist_task, write_blocklist_task  # noqa: E402
from tasks.investigate import resolve_warehouse  # noqa: E402


def _run_name() -> str:
    """blocklist-<day>, or blocklist-latest when the newest loaded day is used."""
    from prefect.runtime import flow_run

    day = flow_run.parameters.get("day")
    return f"blocklist-{day or 'latest'}"


@flow(name="webtrail-blocklist", flow_run_name=_run_name)
def blocklist(
    day: date | None = None,
    days: int = 1,
    min_severity: str | None = None,
    formats: list[str] | None = None,
    database_url: SecretStr | None = None,
) -> dict[str, Any]:
    """Write the blocklist files of the findings of a window of days to <data dir>/reports/.

    Args:
        day: last day of the window; default: the newest day loaded into the warehouse.
        days: number of days in the window, ending with day.
        min_severity: lowest severity blocked (low, medium, high, critical); default
            WEBTRAIL_BLOCKLIST__MIN_SEVERITY.
        formats: formats to write (nginx, apache, ipset, nftables, crowdsec, crowdsec-csv, csv, json);
            default every one.
        database_url: PostgreSQL URL; default WEBTRAIL_DATABASE_URL, else the embedded PostgreSQL.
    """
    settings = WebtrailSettings()
    unknown = sorted(set(formats or []) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown formats {unknown}: choose from {', '.join(FORMATS)}")
    if min_severity is not None and min_severity not in SEVERITIES:
        raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}")
    warehouse = resolve_warehouse(settings, database_url)
    built = build_blocklist_task(settings, warehouse, BlocklistRequest(day, days, min_severity))
    written = write_blocklist_task(built, list(formats or DEFAULT_FORMATS), settings.reports_dir.resolve())
    return {
        "days": [d.isoformat() for d in built.days], "entries": len(built.entries),
        "skipped": {reason: len(ips) for reason, ips in built.skipped.items()}, "files": written,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (the Prefect path with --prefect)."""
    args = _parse_args(argv)
    if not args.prefect or args.out:
        return run_direct(argv)
    result = blocklist(day=args.day, days=args.days, min_severity=args.min_severity, formats=args.formats,
                       database_url=SecretStr(args.database_url) if args.database_url else None)
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
