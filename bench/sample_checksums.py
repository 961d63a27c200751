"""Checksums of every output table after a run of the bundled sample day, to prove a change kept them.

    python bench/sample_checksums.py --out before.json            # run the sample day, save checksums
    python bench/sample_checksums.py --compare before.json        # run again, list the tables that differ

Each run uses a fresh data directory (so a fresh embedded PostgreSQL) and `python -m flows.daily`
with its embedded defaults, exactly as a user runs it. A checksum is `warehouse.query.table_checksum`:
md5 over the day's rows in text form, sorted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.layout import OUTPUT_TABLES  # noqa: E402
from config.plan import sample_manifest  # noqa: E402


def sample_day_checksums(data_dir: Path) -> dict[str, str]:
    """Run the daily flow on the sample day into `data_dir`; the checksum of each output table."""
    from config.settings import WebtrailSettings
    from warehouse.connect import connection
    from warehouse.embedded import database_url, stop_embedded
    from warehouse.query import table_checksum

    env = {**os.environ, "WEBTRAIL_DATA_DIR": str(data_dir)}
    subprocess.run([sys.executable, "-m", "flows.daily", "--quiet"], cwd=ROOT, env=env, check=True)
    settings = WebtrailSettings(data_dir=data_dir)
    day = date.fromisoformat(sample_manifest()["date"])
    try:
        with connection(database_url(settings)) as conn:
            return {table: table_checksum(conn, table, day) for table in OUTPUT_TABLES}
    finally:
        stop_embedded(settings.postgres_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the checksums here as JSON")
    parser.add_argument("--compare", type=Path, help="compare with checksums saved by --out")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="webtrail-checksums-") as tmp:
        sums = sample_day_checksums(Path(tmp))
    if args.out:
        args.out.write_text(json.dumps(sums, indent=2) + "\n")
    print(json.dumps(sums, indent=2))
    if args.compare:
        before = json.loads(args.compare.read_text())
        changed = sorted(table for table in set(before) | set(sums) if before.get(table) != sums.get(table))
        print("changed tables:", ", ".join(changed) if changed else "none")
        return 1 if changed else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
