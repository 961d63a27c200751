"""Lazy k-way merge of every traffic stream into one time-ordered sequence of hits.

Only the sessions in progress are open at any moment, so memory does not grow with the line count.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

from sample_logs.attacks import Attacker, crawler_hits
from sample_logs.records import Context, Hit
from sample_logs.sessions import session_hits
from sample_logs.visitors import Plan, make_visitor

HUMAN, CRAWLER, ATTACKER, MALFORMED, NOISE = 0, 1, 2, 3, 4
_FIRST_SESSION_SID = 1_000  # stream ids below this are the fixed streams


def merged(ctx: Context, plan: Plan, attackers: list[Attacker], crawler_counts: list[int],
           malformed: list[Hit], noise: Iterator[Hit] | None = None) -> Iterator[tuple[Hit, int, int]]:
    """Yield (hit, kind, owner) in time order; owner is the visitor / crawler / attacker index.

    Ties on the millisecond are broken by stream id, so the order is deterministic.
    """
    heap: list[tuple[int, int, Hit, Iterator[Hit], int, int]] = []

    def push(gen: Iterator[Hit], sid: int, kind: int, owner: int) -> None:
        hit = next(gen, None)
        if hit is not None:
            heapq.heappush(heap, (hit.ts, sid, hit, gen, kind, owner))

    sid = itertools.count()
    for position, attacker in enumerate(attackers):
        push(iter(attacker.hits), next(sid), ATTACKER, position)
    for position, count in enumerate(crawler_counts):
        push(crawler_hits(ctx, position, count), next(sid), CRAWLER, position)
    push(iter(malformed), next(sid), MALFORMED, 0)
    push(noise if noise is not None else iter(()), next(sid), NOISE, 0)

    starts, visitors, sessions = plan.starts, plan.visitors, plan.sessions
    cut_visitor, cut_session, cut_lines = plan.truncate
    started, n_sessions = 0, len(starts)
    while True:
        # Open every session that starts no later than the earliest pending hit.
        while started < n_sessions and (not heap or starts[started] <= heap[0][0]):
            vi, si = int(visitors[started]), int(sessions[started])
            gen: Iterator[Hit] = session_hits(ctx, make_visitor(ctx, vi), si, int(starts[started]))
            if (vi, si) == (cut_visitor, cut_session):
                gen = itertools.islice(gen, cut_lines)
            push(gen, _FIRST_SESSION_SID + started, HUMAN, vi)
            started += 1
        if not heap:
            return
        entry: tuple[Any, ...] = heap[0]
        _, stream_id, hit, gen, kind, owner = entry
        yield hit, kind, owner
        nxt = next(gen, None)
        if nxt is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (nxt.ts, stream_id, nxt, gen, kind, owner))
