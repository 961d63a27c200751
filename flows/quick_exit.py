"""Leave `python -m flows.daily` without the interpreter's teardown once the run's own cleanup is done.

Measured on the sample day on the 2-core machine: after the last atexit handler (Prefect's workers
flushed, its API server stopped, the embedded PostgreSQL's handles closed), tearing down the
interpreter's modules (Prefect, pydantic, pyspark, polars, soda, SQLAlchemy...) kept the process
alive for about 1.5 CPU-seconds, 10-14 s of wall time under load. Nothing of the run depends on that
teardown: every file is closed and every atexit handler has run, so the process ends right there.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def exit_now(code: int) -> None:
    """Exit with `code` as a normal exit would (non-daemon threads joined, atexit handlers run,
    streams flushed), but without the module teardown that follows."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # what Py_Finalize would run first; registered handlers run once
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to write
            pass
    os._exit(code)
