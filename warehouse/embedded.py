"""The warehouse URL: the configured one, or an embedded PostgreSQL (pgserver) under the data directory.

Layout under ``settings.postgres_dir``: ``data/`` (PGDATA, created on first use) and ``embedded.lock``
(serializes start-up across processes). The server is left running when the process exits so later
runs reuse it; :func:`stop_embedded` stops it. A ``postmaster.pid`` left by a killed server (dead pid,
or a pid reused by an unrelated process) is removed before starting.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import signal
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
from psycopg2 import sql

from config.settings import WebtrailSettings
from warehouse.connect import redact

__all__ = ["database_url", "embedded_url", "redact", "stop_embedded"]

log = logging.getLogger(__name__)
DEFAULT_DATABASE = "webtrail"


def database_url(settings: WebtrailSettings) -> str:
    """The configured database URL, else the URL of the (started or reused) embedded server: the
    URL of ``Warehouse.resolve(settings)``, kept for scripts (bench/) that want a plain string."""
    from warehouse.gateway import Warehouse

    return Warehouse.resolve(settings).url


def embedded_url(postgres_dir: Path, database: str = DEFAULT_DATABASE) -> str:
    """Start or reuse the embedded server under ``postgres_dir``; its URL for ``database`` (created)."""
    root = Path(postgres_dir).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    pgdata = root / "data"
    with _file_lock(root / "embedded.lock"):
        _clear_stale_pid(pgdata)
        url = _start(pgdata)
        if not _accepts_connections(url):
            log.warning("embedded PostgreSQL at %s does not answer; restarting it", pgdata)
            _kill_postmaster(pgdata)
            url = _start(pgdata)
        _ensure_database(url, database)
    return _with_db(url, database)


def stop_embedded(postgres_dir: Path) -> bool:
    """Stop the embedded server under ``postgres_dir`` if it runs; True when one was stopped."""
    pgdata = Path(postgres_dir).expanduser().resolve() / "data"
    with _file_lock(Path(postgres_dir).expanduser().resolve() / "embedded.lock"):
        return _kill_postmaster(pgdata)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pgserver() -> Any:
    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR at import
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver.postgres_server
    return pgserver


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().splitlines()[0]
        return int(first.strip())
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _is_our_postmaster(pid: int, pgdata: Path) -> bool:
    """True when ``pid`` is alive and is a postgres process serving ``pgdata``."""
    import psutil

    try:
        proc = psutil.Process(pid)
        cmdline = proc.cmdline()
        return proc.is_running() and "postgres" in proc.name() and str(pgdata) in " ".join(cmdline)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _clear_stale_pid(pgdata: Path) -> None:
    pid = _postmaster_pid(pgdata)
    if pid is None or _is_our_postmaster(pid, pgdata):
        return
    log.warning("removing stale %s (pid %d is not a running server for it)", pgdata / "postmaster.pid", pid)
    _remove_lock_files(pgdata, pid)


def _remove_lock_files(pgdata: Path, pid: int) -> None:
    """Wait for the dead server's processes, then drop its pid and socket lock files."""
    import psutil

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        leftovers = [
            proc
            for proc in psutil.process_iter(attrs=["name", "cmdline"])
            if proc.info.get("name") == "postgres" and str(pgdata) in " ".join(proc.info.get("cmdline") or [])
        ]
        if not leftovers and not _pid_alive(pid):
            break
        time.sleep(0.1)
    socket_dirs = {pgdata}
    with contextlib.suppress(FileNotFoundError, IndexError):
        socket_dirs.add(Path((pgdata / "postmaster.pid").read_text().splitlines()[4].strip() or pgdata))
    for directory in socket_dirs:
        for lock in directory.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
            Path(str(lock)[: -len(".lock")]).unlink(missing_ok=True)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    _forget_handle(pgdata)


def _forget_handle(pgdata: Path) -> None:
    """Drop pgserver's cached handle so the next get_server() starts a fresh server."""
    instance = _pgserver().postgres_server.PostgresServer._instances.pop(pgdata, None)
    if instance is not None:
        atexit.unregister(instance._cleanup)


def _pid_alive(pid: int) -> bool:
    """A live (non-zombie) postgres process with this pid: the dead server is still shutting down."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.name() == "postgres"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _kill_postmaster(pgdata: Path) -> bool:
    pid = _postmaster_pid(pgdata)
    stopped = False
    if pid is not None and _is_our_postmaster(pid, pgdata):
        os.kill(pid, signal.SIGINT)  # "fast" shutdown: abort transactions, exit cleanly
        deadline = time.monotonic() + 20
        while _is_our_postmaster(pid, pgdata) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_our_postmaster(pid, pgdata):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    if pid is not None:
        _remove_lock_files(pgdata, pid)
    return stopped


def _start(pgdata: Path) -> str:
    """Start (or attach to) the server; a libpq URL with the socket directory as ``host`` parameter."""
    server = _pgserver().get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    if info.socket_dir is None:  # TCP fallback (Windows)
        return f"postgresql://postgres@{info.hostname}:{info.port}/postgres"
    # Percent-encoded socket path in the query: accepted by libpq (psycopg2, psycopg 3) and SQLAlchemy.
    return f"postgresql://postgres@/postgres?host={quote(str(info.socket_dir), safe='')}&port={info.port}"


def _with_db(url: str, database: str) -> str:
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{quote(database, safe='')}" + (f"?{query}" if query else "")


def _accepts_connections(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=5).close()
        return True
    except psycopg2.OperationalError as exc:
        log.debug("embedded server check failed: %s", exc)
        return False


def _ensure_database(url: str, database: str) -> None:
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                log.info("creating database %s on the embedded server", database)
                with contextlib.suppress(psycopg2.errors.DuplicateDatabase):
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        conn.close()
