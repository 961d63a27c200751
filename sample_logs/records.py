"""Record types shared by the generator modules, and their serialisation to log/JSON lines."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

DAY_MS = 86_400_000
LAST_MS = DAY_MS - 1  # nothing may be logged after 23:59:59.999 of the day
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Context:
    """The day and seed every stream derives its times and RNGs from."""

    day: date
    seed: int
    hostname_share: float = 0.0  # human visitors logged by host name instead of address
    ipv6_share: float | None = None  # human visitors on IPv6; None: the fixed 1 in 29

    def rng(self, *parts: object) -> random.Random:
        # String seeds go through SHA-512 in CPython: stable across runs, unlike hash().
        return random.Random("/".join([str(self.seed), *map(str, parts)]))

    @property
    def log_prefix(self) -> str:
        return f"{self.day.day:02d}/{_MONTHS[self.day.month - 1]}/{self.day.year}"

    def iso(self, ms: int) -> str:
        """ISO-8601 UTC with millisecond precision and a Z suffix."""
        seconds, milli = divmod(ms, 1000)
        hours, rem = divmod(seconds, 3600)
        minutes, sec = divmod(rem, 60)
        return f"{self.day.isoformat()}T{hours:02d}:{minutes:02d}:{sec:02d}.{milli:03d}Z"


class Hit(NamedTuple):
    """One access-log line plus the application events it caused (same ip, ua, second)."""

    ts: int  # milliseconds since the start of the day (UTC)
    ip: str
    method: str
    target: str  # path and query exactly as logged
    status: int
    size: int  # response bytes; 0 is logged as "-"
    referer: str  # "-" when absent
    ua: str
    rt_ms: int  # request time in milliseconds (logged as seconds with 3 decimals)
    events: tuple[dict[str, Any], ...] = ()
    user: str = "-"
    proto: str = "HTTP/1.1"
    raw: bytes | None = None  # set for malformed lines: written verbatim instead
    kind: str = "http"  # the request_kind the line is written as (sample_logs/noise.py writes the others)


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# params: one per field of the event record, in the record's key order (which fixes the JSON bytes)
def event(ctx: Context, rng: random.Random, ts: int, etype: str, user_id: str | None, anon: str,
          ip: str, ua: str, path: str, **properties: Any) -> dict[str, Any]:
    """Build one application event; key order is fixed so the JSON bytes are deterministic."""
    return {"event_id": new_uuid(rng), "ts": ctx.iso(ts), "type": etype, "user_id": user_id,
            "anonymous_id": anon, "ip": ip, "user_agent": ua, "path": path, "properties": properties}


def format_hit(prefix: str, hit: Hit) -> bytes:
    """Combined log format + nginx $request_time, e.g. `... "-" "curl/8" 0.042`."""
    if hit.raw is not None:
        return hit.raw + b"\n"
    seconds, _ = divmod(hit.ts, 1000)
    hours, rem = divmod(seconds, 3600)
    minutes, sec = divmod(rem, 60)
    size = str(hit.size) if hit.size or hit.kind == "empty" else "-"  # nginx: "-" 400 0
    rt_s, rt_ms = divmod(hit.rt_ms, 1000)
    request = f"{hit.method} {hit.target} {hit.proto}" if hit.method else hit.target  # noise: the whole line
    return (f'{hit.ip} - {hit.user} [{prefix}:{hours:02d}:{minutes:02d}:{sec:02d} +0000] '
            f'"{request}" {hit.status} {size} "{hit.referer}" '
            f'"{hit.ua}" {rt_s}.{rt_ms:03d}\n').encode()


def format_event(ev: dict[str, Any]) -> bytes:
    return (json.dumps(ev, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
