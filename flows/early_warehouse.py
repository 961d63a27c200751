"""The embedded PostgreSQL started in the background while `python -m flows.daily` waits for Prefect.

The flow's first task (prepare-warehouse) starts the embedded server when no database is configured:
1.5 s, more on a fresh data directory (initdb). Started here while main() waits for Prefect's API, it
is already running when the task asks for it (warehouse.embedded reuses a running server). Any error
is left for that task to meet and report as before: this start is only a head start.
"""

from __future__ import annotations

import threading

from config.settings import WebtrailSettings


def _start(settings: WebtrailSettings) -> None:
    try:
        from warehouse.embedded import embedded_url

        embedded_url(settings.postgres_dir)
    except Exception:  # noqa: BLE001 - prepare-warehouse starts it again and reports the error
        return


def start_embedded_early(settings: WebtrailSettings, database_url: str | None) -> threading.Thread | None:
    """Start the embedded server on a thread when the run will use it (no URL, no secret block)."""
    if database_url or settings.database_url is not None or settings.database_secret_block:
        return None
    thread = threading.Thread(target=_start, args=(settings,), name="webtrail-postgres-start", daemon=True)
    thread.start()
    return thread
