"""Prefect's ephemeral API, started at the first line of `python -m flows.daily` (before the imports).

Without a configured API (PREFECT_API_URL), the first Prefect client of a process starts a temporary
API server in a subprocess (prefect.server.api.server.SubprocessASGIServer) and waits for it: 10-20 s
here, and it began only after our 2.5-5 s of imports. This module launches the same subprocess, with
the same command and environment Prefect uses, before anything heavy is imported, so the server's
start overlaps the imports and the JVM's. `adopt` then gives Prefect the server's URL once it answers
/health, as a configured API (so Prefect never imports its server application here), and the server
is stopped at exit once Prefect's workers have sent what they hold. Whenever an API is configured, or
the early server does not come up, nothing is adopted and Prefect behaves as before.

The server's output (stdout and stderr, one pipe) is copied to this process's stderr as it comes, or,
once the run names its log file (a terminal or --quiet run), to that file. Launched before the run
captures stderr, the server would otherwise write on the user's terminal: over the progress display,
and after the run's last message, where its shutdown logs tracebacks when it is stopped while still
recording the last task runs' events (prefect.server.services.task_run_recorder, "Error flushing").

Only the standard library is imported here: it runs before Prefect is.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import random
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PORTS = range(8000, 9000)  # SubprocessASGIServer._port_range
# What SubprocessASGIServer._run_uvicorn_command adds to the environment (no UI, ephemeral mode).
SERVER_ENVIRONMENT = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
PORT_IN_USE_EXIT = 3  # uvicorn's exit code when the port was taken meanwhile
DEFAULT_TIMEOUT_SECONDS = 20.0
EPHEMERAL_SWITCHES = ("PREFECT_SERVER_EPHEMERAL_ENABLED", "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE")


class ServerOutput:
    """Copies the server's output pipe to our stderr (fd 2 as it is at each write), or to a file once named."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def follow(self, pipe: int) -> None:
        """Copy `pipe` (a file descriptor) until the server closes it."""
        thread = threading.Thread(target=self._copy, args=(pipe,), name="webtrail-api-output", daemon=True)
        thread.start()
        self.threads.append(thread)

    def to_file(self, path: Path) -> None:
        """From now on, append the server's output to `path` (the run's log) instead of stderr."""
        with self.lock:
            self.path = path

    def finish(self, timeout_seconds: float = 5.0) -> None:
        """Wait until what the stopped server wrote last has been copied."""
        for thread in self.threads:
            thread.join(timeout_seconds)

    def _copy(self, pipe: int) -> None:
        with contextlib.closing(os.fdopen(pipe, "rb", buffering=0)) as source:
            for chunk in iter(lambda: source.read(65536), b""):
                with self.lock:
                    if self.path is not None:
                        with contextlib.suppress(OSError), open(self.path, "ab") as log:
                            log.write(chunk)
                    else:
                        _write_all(2, chunk)


def _write_all(descriptor: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # a closed stderr: the output has nowhere to go
        while data:
            data = data[os.write(descriptor, data):]


@dataclass
class EarlyApi:
    """The API server subprocess launched early, until Prefect adopts it (or it is discarded)."""

    process: subprocess.Popen[bytes]
    port: int
    prefect_dir: Path
    launched_at: float = field(default_factory=time.perf_counter)
    ready_at: float | None = None
    adopted: bool = False
    output: ServerOutput = field(default_factory=ServerOutput)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def discard(self) -> None:
        """Stop the subprocess, as SubprocessASGIServer.stop does, and copy its last output. Registered
        at exit when launched: it runs after every later atexit handler, and after Prefect's workers
        have sent what they held (threading's exit functions run first)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.finish()


def _configured_elsewhere(environ: dict[str, str], cwd: Path) -> bool:
    """Whether an API URL may come from a source other than the environment: the active profile,
    or a prefect.toml / .env / pyproject.toml in the working directory (then no early start)."""
    home = Path(environ.get("PREFECT_HOME", "~/.prefect")).expanduser()
    profiles_path = Path(environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml")).expanduser()
    try:
        profiles = tomllib.loads(profiles_path.read_text()) if profiles_path.exists() else {}
    except (OSError, tomllib.TOMLDecodeError):
        return True  # unreadable: let Prefect decide, as before
    active = environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    if "PREFECT_API_URL" in profiles.get("profiles", {}).get(active, {}):
        return True
    for name, marker in ((".env", "PREFECT_API_URL"), ("prefect.toml", "[api]"), ("pyproject.toml", "tool.prefect")):
        candidate = cwd / name
        with contextlib.suppress(OSError):
            if candidate.is_file() and marker in candidate.read_text():
                return True
    return False


def _free_port() -> int | None:
    for _attempt in range(10):
        port = random.choice(PORTS)  # noqa: S311 - a port, not a secret
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return None


def _launch(port: int, prefect_dir: Path, output: ServerOutput) -> subprocess.Popen[bytes]:
    """The server as SubprocessASGIServer starts it, its stdout and stderr on one pipe to `output`."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir.parent), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "error", "--lifespan", "on"],
            env={**os.environ, **SERVER_ENVIRONMENT}, stdout=write_end, stderr=write_end,
        )
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)  # the server holds it now: the pipe ends when the server does
    output.follow(read_end)
    return process


def start_api_early() -> EarlyApi | None:
    """Launch the ephemeral API server now when Prefect would start one; None when it would not."""
    environ = dict(os.environ)
    ephemeral = (environ.get(name, "").lower() for name in EPHEMERAL_SWITCHES)
    if environ.get("PREFECT_API_URL") or any(value in ("0", "false") for value in ephemeral):
        return None
    if environ.get("WEBTRAIL_EARLY_API", "true").lower() in ("0", "false", "no"):
        return None
    if {"-h", "--help"} & set(sys.argv[1:]):  # nothing will run
        return None
    if _configured_elsewhere(environ, Path.cwd()):
        return None
    spec = importlib.util.find_spec("prefect")
    port = _free_port()
    if spec is None or not spec.submodule_search_locations or port is None:
        return None
    prefect_dir = Path(next(iter(spec.submodule_search_locations)))
    output = ServerOutput()
    early = EarlyApi(_launch(port, prefect_dir, output), port, prefect_dir, output=output)
    atexit.register(early.discard)  # stopped at exit, also after a usage error or a crash before the flow
    return early


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:  # noqa: S310 - our localhost
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(early: EarlyApi, timeout_seconds: float) -> bool:
    """Wait until the server answers /health (relaunching on a port taken meanwhile, as Prefect does)."""
    deadline = time.perf_counter() + timeout_seconds
    while time.perf_counter() < deadline:
        status = early.process.poll()
        if status == PORT_IN_USE_EXIT:
            port = _free_port()
            if port is None:
                return False
            early.port, early.process = port, _launch(port, early.prefect_dir, early.output)
            continue
        if status is not None:
            return False
        if _healthy(early.api_url):
            early.ready_at = time.perf_counter()
            return True
        time.sleep(0.1)
    return False


def adopt(early: EarlyApi | None, log_file: Path | None = None) -> EarlyApi | None:
    """Point Prefect at the early server once it is up, as at a configured API; else discard it.

    Prefect's own ephemeral start (SubprocessASGIServer) would first import the whole server
    application in this process, 2 s of CPU while the server, the JVM and PostgreSQL start on the same
    cores; with the server's URL set, Prefect's client only talks HTTP to it. The UI is off on this
    server, so Prefect logs no UI links (PREFECT_UI_URL empty). The server is stopped at exit by
    EarlyApi.discard, after Prefect's log and event workers have drained (flows/quick_exit.py).

    With `log_file` (the run's log, when the run sends stderr there), the server's output goes to that
    file from now on, up to its last line at exit. Returns the server Prefect now uses, or None
    (Prefect then starts its own, as before).
    """
    if early is None:
        return None
    if log_file is not None:
        early.output.to_file(log_file)
    from prefect.context import refresh_global_settings_context
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    )

    # Prefect would use a configured API, or refuse to start a server: then ours is not wanted
    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        early.discard()
        return None
    timeout = float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value() or DEFAULT_TIMEOUT_SECONDS)
    if not wait_ready(early, timeout):
        early.discard()
        return None
    os.environ.update({"PREFECT_API_URL": early.api_url, "PREFECT_UI_URL": ""})
    refresh_global_settings_context()  # the settings Prefect read at import, with these two
    early.adopted = True
    return early


@contextlib.contextmanager
def flow_settings(early: EarlyApi | None) -> Iterator[None]:
    """Prefect settings for a flow run on the early server: no flow-run heartbeats.

    Heartbeats let a long-lived server notice a flow whose process died; this server stops with the
    process. They cost the run the join of their thread when the flow ends, which sleeps in 1 s steps
    (0-1 s per run, 0.84 s in a measured sample day). Other APIs keep Prefect's setting.
    """
    if early is None:
        yield
        return
    from prefect.settings import temporary_settings

    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield
