"""Leave `python -m flows.daily` without the interpreter's teardown once the run's own cleanup is done.

Measured on the sample day on the 2-core machine: after the last atexit handler (Prefect's workers
flushed, its API server stopped, the embedded PostgreSQL's handles closed), tearing down the
interpreter's modules (Prefect, pydantic, pyspark, polars, soda, SQLAlchemy...) kept the process
alive for about 1.5 CPU-seconds, 10-14 s of wall time under load. Nothing of the run depends on that
teardown: every file is closed and every atexit handler has run, so the process ends right there.

The order is the interpreter's own (Py_Finalize): first threading's exit functions and the join of
the non-daemon threads, then the atexit handlers. Prefect's log and event workers drain in the first
(they register with threading._register_atexit) and its temporary API server stops in the second;
run the other way round, the logs still batched (up to 2 s of them, the whole run for a day that
blocks early) were sent to a stopped server: lost, `--- Error logging to API ---` on the user's
stderr, and up to 5 s of exit waiting for them.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading


def exit_now(code: int) -> None:
    """Exit with `code` as a normal exit would (threading's exit functions, non-daemon threads
    joined, atexit handlers run, streams flushed), but without the module teardown that follows."""
    threading._shutdown()  # what Py_Finalize runs first: threading._register_atexit functions, then the joins
    atexit._run_exitfuncs()  # what Py_Finalize runs next; registered handlers run once
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to write
            pass
    os._exit(code)
