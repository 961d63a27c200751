"""Human visitors: identities, and a compact plan of their sessions that fills an exact line budget.

A visitor is fully determined by (seed, index), so the plan only stores integers per session:
start time, visitor index, session number. The writer re-creates each session lazily from them.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from sample_logs.catalog import HUMAN_AGENT_WEIGHTS, HUMAN_AGENTS, HUMAN_FIRST_OCTETS
from sample_logs.records import LAST_MS, Context, new_uuid
from sample_logs.sessions import session_hits
from sample_logs.users import user_id

HEAVY_VISITORS = 2  # visitors 0 and 1: hundreds of legitimate requests spread over the day
MIN_SESSION_GAP_MS = 45 * 60_000  # > the 30-min sessionizer timeout, so sessions never merge
_CUM_HOURS = list(itertools.accumulate(
    [1, .6, .4, .3, .3, .5, 1, 2, 3, 4, 4.5, 5, 5.5, 5, 5, 5, 5.5, 6, 7, 8, 8, 7, 5, 2.5]))
_CUM_AGENTS = list(itertools.accumulate(HUMAN_AGENT_WEIGHTS))
_NAMES = ("alice", "bob", "carol", "dave", "erin", "frank")
_M24 = 0xFFFFFF


class Visitor(NamedTuple):
    index: int
    ip: str
    ua: str
    user_id: str | None  # registered account (None: anonymous visitor)
    anon: str  # anonymous_id cookie, stable across the visitor's sessions
    remote_user: str
    proto: str
    heavy: bool
    mistype: float  # probability to mistype the password (once or twice) per login
    n_sessions: int
    first_start: int


def _mix24(value: int) -> int:
    """Bijection on 24 bits (odd multipliers and xor-shifts), so distinct inputs give distinct IPs."""
    value = (value * 0x5BD1E9) & _M24
    value ^= value >> 11
    value = (value * 0x1B873B) & _M24
    return value ^ (value >> 13)


_ISPS = ("dyn.kpn-net.example", "pool.telia.example", "cable.virgin-media.example", "dsl.orange.example")


def visitor_client(ctx: Context, index: int) -> str:
    """What the server logs as the visitor's client: its address, or its reverse-DNS host name for
    `ctx.hostname_share` of the visitors; `ctx.ipv6_share` of them on IPv6 when set."""
    pick = _mix24(index ^ 0xA5A5A5) / float(_M24 + 1)  # uniform in [0, 1), stable per visitor
    ipv6 = None if ctx.ipv6_share is None else pick < ctx.ipv6_share
    ip = visitor_ip(ctx.seed, index, ipv6)
    if ctx.hostname_share and _mix24(index ^ 0x3C3C3C) / float(_M24 + 1) < ctx.hostname_share:
        if ":" in ip:
            return f"host-{ip.replace(':', '-').replace('--', '-0-').strip('-')}.ip6.{_ISPS[index % len(_ISPS)]}"
        return f"host-{ip.replace('.', '-')}.{_ISPS[index % len(_ISPS)]}"
    return ip


def visitor_ip(seed: int, index: int, ipv6: bool | None = None) -> str:
    """A unique public-looking IP per visitor index (about 1 in 29 is IPv6 unless `ipv6` says)."""
    if (index % 29 == 13) if ipv6 is None else ipv6:
        hi, lo = divmod(index, 0x10000)
        return f"2a02:{0x8100 + seed % 256:x}:{hi:x}:{lo:x}:{_mix24(index) & 0xFFFF:x}::{seed % 97 + 1:x}"
    octet = HUMAN_FIRST_OCTETS[index % len(HUMAN_FIRST_OCTETS)]
    # For a fixed first octet, slot -> mix(slot ^ c) is a bijection: unique, and neighbours look unrelated.
    slot, octet_no = divmod(index, len(HUMAN_FIRST_OCTETS))
    rest = _mix24(((slot + seed * 7919) ^ (octet_no * 0x9E3779)) & _M24)
    return f"{octet}.{rest >> 16}.{(rest >> 8) & 255}.{rest & 255}"


def diurnal_ms(r1: float, r2: float) -> int:
    """A time of day drawn from the diurnal curve (r1 picks the hour, r2 the moment in it)."""
    hour = bisect.bisect_right(_CUM_HOURS, r1 * _CUM_HOURS[-1])
    return min(hour, 23) * 3_600_000 + int(r2 * 3_600_000)


def make_visitor(ctx: Context, index: int) -> Visitor:
    rng = ctx.rng("v", index)
    heavy = index < HEAVY_VISITORS
    ua = rng.choices(HUMAN_AGENTS, cum_weights=_CUM_AGENTS)[0]
    registered = heavy or rng.random() < 0.35
    anon = new_uuid(rng)
    remote_user = rng.choice(_NAMES) if rng.random() < 0.01 else "-"
    proto = "HTTP/2.0" if rng.random() < 0.55 else "HTTP/1.1"
    # Visitor 1 always mistypes: the sample then surely holds a benign failed login.
    mistype = 1.0 if index == 1 else (0.5 if rng.random() < 0.08 else 0.0)
    if heavy:
        n_sessions, first = 10, 6 * 3_600_000 + rng.randrange(5_400_000)
    else:
        n_sessions = 1 if rng.random() < 0.72 else 1 + min(int(rng.paretovariate(1.1)), 7)
        first = diurnal_ms(rng.random(), rng.random())
    return Visitor(index, visitor_client(ctx, index), ua, user_id(ctx, "v", index) if registered else None,
                   anon, remote_user, proto, heavy, mistype, n_sessions, first)


class Plan(NamedTuple):
    starts: np.ndarray  # session start (ms), sorted ascending
    visitors: np.ndarray  # visitor index of each session
    sessions: np.ndarray  # session number within its visitor
    truncate: tuple[int, int, int]  # (visitor, session, lines kept) of the session cut to fit
    n_visitors: int

    def registered_visitors(self, ctx: Context) -> Iterator[Visitor]:
        visitors = (make_visitor(ctx, index) for index in range(self.n_visitors))
        return (visitor for visitor in visitors if visitor.user_id)


def plan_humans(ctx: Context, budget: int) -> Plan:
    """Plan visitors in index order until their sessions hold exactly `budget` lines.

    Each session is generated once here just to count its lines and find its end (the next session
    of the visitor starts >= 45 min after it); only integers are kept.
    """
    starts, vis, sess = array("q"), array("q"), array("q")
    remaining, index, truncate = budget, 0, (0, 0, 0)
    while remaining > 0:
        visitor = make_visitor(ctx, index)
        gaps = ctx.rng("gap", index)
        start = visitor.first_start
        for number in range(visitor.n_sessions):
            lines, last = 0, start
            for hit in session_hits(ctx, visitor, number, start):
                lines, last = lines + 1, hit.ts
                if lines == remaining:
                    break
            starts.append(start)
            vis.append(index)
            sess.append(number)
            remaining -= lines
            if remaining == 0:
                truncate = (index, number, lines)
                break
            gap = 60_000 * gaps.randint(0, 25) if visitor.heavy else int(gaps.expovariate(1 / 5_400_000))
            start = last + MIN_SESSION_GAP_MS + gap
            if start > LAST_MS - 60_000:
                break
        index += 1
    order = np.argsort(np.frombuffer(starts, dtype=np.int64), kind="stable")
    return Plan(np.frombuffer(starts, dtype=np.int64)[order], np.frombuffer(vis, dtype=np.int64)[order],
                np.frombuffer(sess, dtype=np.int64)[order], truncate, index)
