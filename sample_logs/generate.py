"""Deterministic generator of one day of shop traffic: access log, JSON events, users DB, ground truth.

    python -m sample_logs.generate --lines 6000 --date 2026-11-24 --out sample_logs [--seed 7]
        [--hostname-share 0.1] [--ipv6-share 0.2]

Besides people, crawlers and attacks, a day carries what internet-facing servers really log
(sample_logs/noise.py): 2% empty requests (`"-" 400 0`), TLS hellos on the plain port, and a
protocol prober (HELP, PRI, SSTP_DUPLEX_POST, WebDAV, CONNECT, RTSP). Every such line is a request
and the ground truth counts it (`requests_by_kind`).

Same arguments give byte-identical files. Memory stays bounded for any line count: sessions are
planned as integers and generated lazily in time order (see stream.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sample_logs import catalog
from sample_logs.attacks import attackers, crawler_counts, malformed_hits
from sample_logs.noise import counts as noise_counts
from sample_logs.noise import noise_hits
from sample_logs.records import Context, Hit, format_event, format_hit
from sample_logs.stream import ATTACKER, CRAWLER, HUMAN, MALFORMED, NOISE, merged
from sample_logs.users import STUFFING_UNKNOWN, UsersDb, dormant_count, dormant_rows, user_row
from sample_logs.visitors import HEAVY_VISITORS, make_visitor, plan_humans

MIN_LINES = 2_000
DEFAULT_SEED = 7
DUPLICATE_EVENT_AT = 40  # the 40th event is written twice (same event_id)
MALFORMED_EVENT_AT = 75  # a truncated copy of the 75th event precedes it
_BUFFER = 1 << 20


def crawler_total(lines: int) -> int:
    return max(60, lines * 4 // 100)


class _Tally:
    """Counters of the ground truth, filled while the files are written."""

    def __init__(self, n_visitors: int) -> None:
        self.status: Counter[int] = Counter()
        self.total_bytes = 0
        self.by_kind: Counter[int] = Counter()
        self.by_owner: Counter[tuple[int, int]] = Counter()
        self.events: Counter[str] = Counter()
        self.human_login_failures = 0
        self.broken_hits = 0
        self.broken_clients = bytearray(n_visitors)  # one flag per visitor: bounded, no ip set
        self.heavy_minutes: Counter[tuple[int, int]] = Counter()
        self.request_kinds: Counter[str] = Counter()

    def add(self, hit: Hit, kind: int, owner: int) -> None:
        self.by_kind[kind] += 1
        if kind == MALFORMED:
            return
        self.status[hit.status] += 1
        self.total_bytes += hit.size
        self.request_kinds[hit.kind] += 1
        if kind != HUMAN:
            self.by_owner[kind, owner] += 1
            return
        if hit.target == catalog.BROKEN_IMAGE:
            self.broken_hits += 1
            self.broken_clients[owner] = 1
        if owner < HEAVY_VISITORS:
            self.heavy_minutes[owner, hit.ts // 60_000] += 1
        self.human_login_failures += sum(e["type"] == "login_failure" for e in hit.events)


def generate(lines: int, day: date, out_dir: Path, seed: int = DEFAULT_SEED, hostname_share: float = 0.0,
             ipv6_share: float | None = None) -> dict[str, Any]:
    """Write access.log, events.jsonl, users.db, ground_truth.json, manifest.json; return the truth.

    `hostname_share` of the human visitors are logged by host name (Apache's HostnameLookups On);
    `ipv6_share` of them use IPv6 (default: about 1 in 29)."""
    if lines < MIN_LINES:
        raise ValueError(f"--lines must be at least {MIN_LINES} (the attack block alone is ~700 lines)")
    ctx = Context(day, seed, hostname_share, ipv6_share)
    attack = attackers(ctx)
    malformed = malformed_hits(ctx)
    crawlers = crawler_counts(crawler_total(lines))
    noise = sum(noise_counts(lines))
    budget = lines - sum(len(a.hits) for a in attack) - len(malformed) - sum(crawlers) - noise
    plan = plan_humans(ctx, budget)

    out_dir.mkdir(parents=True, exist_ok=True)
    users = UsersDb(out_dir / "users.db")
    users.add(user_row(ctx, v.user_id, None, "active") for v in plan.registered_visitors(ctx) if v.user_id)
    users.add(dormant_rows(ctx, dormant_count(plan.n_visitors)))

    tally = _Tally(plan.n_visitors)
    prefix, n_events, dup_id = ctx.log_prefix, 0, ""
    with open(out_dir / "access.log", "wb", buffering=_BUFFER) as log, \
            open(out_dir / "events.jsonl", "wb", buffering=_BUFFER) as events:
        for hit, kind, owner in merged(ctx, plan, attack, crawlers, malformed, noise_hits(ctx, lines)):
            log.write(format_hit(prefix, hit))
            tally.add(hit, kind, owner)
            for ev in hit.events:
                n_events += 1
                data = format_event(ev)
                if n_events == MALFORMED_EVENT_AT:
                    events.write(data[: len(data) // 2] + b"\n")  # writer crashed mid-line
                events.write(data)
                if n_events == DUPLICATE_EVENT_AT:  # at-least-once delivery: same event twice
                    events.write(data)
                    dup_id = ev["event_id"]
                tally.events[ev["type"]] += 1
                if ev["type"] == "signup":
                    users.add([user_row(ctx, ev["user_id"], ev["ts"][:19] + "Z", "signup")])
    users.close()

    truth = _ground_truth(ctx, lines, plan, attack, crawlers, tally, n_events, dup_id, users.count)
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    manifest = {"date": day.isoformat(), "access_log": "access.log", "events": "events.jsonl",
                "users_db": "users.db", "seed": seed}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return truth


# params: what each step of generate() produced, summarised here once (the only caller)
def _ground_truth(ctx: Context, lines: int, plan: Any, attack: list[Any], crawlers: list[int],
                  tally: _Tally, n_events: int, dup_id: str, n_users: int) -> dict[str, Any]:
    rejected = tally.by_kind[MALFORMED]
    heavy = []
    for index in range(HEAVY_VISITORS):
        visitor = make_visitor(ctx, index)
        per_min = [c for (o, _), c in tally.heavy_minutes.items() if o == index]
        heavy.append({"ip": visitor.ip, "user_agent": visitor.ua, "user_id": visitor.user_id, "requests": sum(per_min),
                      "max_requests_per_minute": max(per_min, default=0)})
    return {
        "date": ctx.day.isoformat(),
        "seed": ctx.seed,
        "lines": lines,
        "rejected_lines": rejected,
        "parsed_requests": lines - rejected,
        # every parsed request, whatever its request line (http, non_http, malformed, empty)
        "requests_by_kind": {k: tally.request_kinds[k] for k in ("http", "non_http", "malformed", "empty")},
        "status_counts": {str(k): tally.status[k] for k in sorted(tally.status)},
        "total_bytes": tally.total_bytes,
        "noise_requests": tally.by_kind[NOISE],  # background empty requests and TLS hellos: no session
        "human_sessions": len(plan.starts),
        "human_visitors": plan.n_visitors,
        "human_requests": tally.by_kind[HUMAN],
        "crawler_requests": tally.by_kind[CRAWLER],
        "attacker_requests": tally.by_kind[ATTACKER],
        "bot_requests": tally.by_kind[CRAWLER] + tally.by_kind[ATTACKER],
        "crawler_ips": [ip for ip, _, _ in catalog.CRAWLERS],
        "crawlers": [{"ip": ip, "user_agent": ua, "requests": n}
                     for (ip, ua, _), n in zip(catalog.CRAWLERS, crawlers, strict=True)],
        "events": {
            "lines": n_events + 2,
            "malformed": 1,
            "duplicates": 1,
            "valid_unique": n_events,
            "malformed_line_number": MALFORMED_EVENT_AT + 1,  # after the duplicate line
            "duplicate_event_id": dup_id,
            "by_type": dict(sorted(tally.events.items())),
            "unknown_user_ids": len(STUFFING_UNKNOWN),
        },
        "users": n_users,
        "attackers": [{"scenario": a.scenario, "ip": a.ip, "categories": list(a.categories),
                       "user_agent": a.ua, "requests": len(a.hits)} for a in attack],
        "benign": {
            "heavy_users": heavy,
            "broken_image": {"path": catalog.BROKEN_IMAGE, "status": 404, "requests": tally.broken_hits,
                             "clients": sum(tally.broken_clients)},
            "human_login_failures": tally.human_login_failures,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_logs.generate",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, required=True, help=f"exact access-log lines (>= {MIN_LINES})")
    parser.add_argument("--date", type=date.fromisoformat, required=True, help="UTC day, YYYY-MM-DD")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--hostname-share", type=float, default=0.0,
                        help="share of human visitors logged by host name (HostnameLookups On)")
    parser.add_argument("--ipv6-share", type=float, default=None,
                        help="share of human visitors on IPv6 (default: about 1 in 29)")
    args = parser.parse_args(argv)
    if args.lines < MIN_LINES:
        parser.error(f"--lines must be at least {MIN_LINES} (the attack block alone is ~700 lines)")
    for name in ("hostname_share", "ipv6_share"):
        value = getattr(args, name)
        if value is not None and not 0.0 <= value <= 1.0:
            parser.error(f"--{name.replace('_', '-')} must be between 0 and 1")
    truth = generate(args.lines, args.date, args.out, args.seed, args.hostname_share, args.ipv6_share)
    print(f"wrote {truth['lines']} log lines, {truth['events']['lines']} event lines, "
          f"{truth['users']} users, {truth['human_sessions']} human sessions to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
