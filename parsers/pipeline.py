"""Overlap reading, parsing and writing: a bounded, ordered pipeline over threads.

polars, pyarrow, zlib and hashlib release the GIL while they work, so on a machine with more than
one core the next batch is read and the previous one written while the current one parses. Every
stage holds a fixed number of batches, so memory stays bounded by the batch size, and results come
out in input order, so the output files are the same as a sequential run's.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

_DONE = object()


def prefetch(items: Iterable[Item], depth: int = 1) -> Iterator[Item]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    An exception raised by the producer is re-raised in the consumer; when the consumer stops early
    the producer is told to stop at its next item."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(value: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            failure.append(exc)
        put(_DONE)

    worker = threading.Thread(target=produce, name="webtrail-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            value = buffer.get()
            if value is _DONE:
                if failure:
                    raise failure[0]
                return
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


def ordered_map(function: Callable[[Item], Result], items: Iterable[Item], workers: int) -> Iterator[Result]:
    """``map(function, items)`` on ``workers`` threads, in input order, with at most ``workers``
    calls in flight (``workers`` 1 runs in the calling thread)."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webtrail-parse") as pool:
        pending: deque[Future[Result]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
