"""Blocklists from the security findings: which addresses to block, and the files servers load.

Pure logic, no Prefect: flows/blocklist.py wraps it. An entry is one IP, or one /24 (IPv4) or /64
(IPv6) when at least ``aggregate_min_ips`` offending IPs share it and no allowlisted network overlaps
it. Each entry expires ``ban_hours`` after its IP was last seen; entries already expired when the
list is written are left out. Allowlisted networks (and, by default, IPs whose every request
declares a good crawler) are never listed. The renderers live in report/blocklist_formats.py.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2.extensions

from analytics.rules import SEVERITIES
from config.settings import BlocklistSettings

IPV4_GROUP, IPV6_GROUP = 24, 64
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# An address as servers and firewalls spell it. ipaddress also accepts an IPv6 scope id ("fe80::1%eth0"),
# which may carry any text, spaces, ";" and newlines included: that would inject directives.
_ADDRESS_TEXT = re.compile(r"[0-9A-Fa-f:.]+")
# Claiming to be a search engine from outside its ranges is the offence itself: never exempt it.
_NEVER_EXEMPT_AS_CRAWLER = frozenset({"fake_crawler"})


@dataclass(frozen=True)
class Offence:
    """One finding of one IP (a row of webtrail.security_findings)."""

    ip: str
    category: str
    rule_id: str
    severity: str
    last_seen_at: datetime


@dataclass(frozen=True)
class Entry:
    """One blocklist line: an IP or a CIDR, why, and until when."""

    network: Network
    ips: tuple[str, ...]
    categories: tuple[str, ...]
    rules: tuple[str, ...]
    severity: str
    last_seen_at: datetime
    expires_at: datetime

    @property
    def value(self) -> str:
        """`192.0.2.7` for one address, `198.51.100.0/24` for a range."""
        return str(self.network.network_address) if self.is_single else str(self.network)

    @property
    def is_single(self) -> bool:
        return self.network.num_addresses == 1

    @property
    def version(self) -> int:
        return self.network.version


@dataclass
class Blocklist:
    """The entries and what was left out (reason -> addresses)."""

    entries: list[Entry]
    generated_at: datetime
    days: list[date]
    min_severity: str
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def remaining_seconds(self, entry: Entry) -> int:
        """Seconds from the writing of the list to the entry's expiry (at least 1)."""
        return max(1, int((entry.expires_at - self.generated_at).total_seconds()))


_FINDINGS_SQL = """
SELECT client_ip, category, rule_id, severity, last_seen_at
FROM webtrail.security_findings
WHERE day = ANY(%(days)s) AND severity = ANY(%(severities)s)
ORDER BY client_ip, category
"""
def at_or_above(min_severity: str) -> list[str]:
    """The severities at or above ``min_severity``."""
    if min_severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {min_severity!r}")
    return list(SEVERITIES[SEVERITIES.index(min_severity):])


def read_offences(conn: psycopg2.extensions.connection, days: Sequence[date], min_severity: str) -> list[Offence]:
    """The findings of the days at or above the severity (bound parameters only)."""
    with conn.cursor() as cur:
        cur.execute(_FINDINGS_SQL, {"days": list(days), "severities": at_or_above(min_severity)})
        rows = cur.fetchall()
    conn.rollback()
    return [Offence(ip, category, rule, severity, seen) for ip, category, rule, severity, seen in rows]


def parse_networks(values: Iterable[str]) -> list[Network]:
    """CIDRs or single addresses; ValueError naming the bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"WEBTRAIL_BLOCKLIST__ALLOWLIST: {value!r} is not an IP address or CIDR") from None
    return out


def _merge(network: Network, offences: Sequence[Offence], ban: timedelta) -> Entry:
    last = max(o.last_seen_at for o in offences)
    return Entry(
        network=network,
        ips=tuple(sorted({o.ip for o in offences}, key=ipaddress.ip_address)),
        categories=tuple(sorted({o.category for o in offences})),
        rules=tuple(sorted({o.rule_id for o in offences})),
        severity=max((o.severity for o in offences), key=SEVERITIES.index),
        last_seen_at=last,
        expires_at=last + ban,
    )


def build_blocklist(
    offences: Sequence[Offence], settings: BlocklistSettings, context: Mapping[str, Any],
) -> Blocklist:
    """The blocklist of the offences.

    ``context``: ``generated_at`` (aware datetime, default now), ``days``, ``min_severity`` and
    ``crawlers`` (IPs whose every request declares a good crawler; kept off unless
    ``block_declared_crawlers``).
    """
    generated_at = context.get("generated_at") or datetime.now(UTC)
    allow = parse_networks(settings.allowlist)
    crawlers = set(context.get("crawlers") or ()) if not settings.block_declared_crawlers else set()
    ban = timedelta(hours=settings.ban_hours)
    skipped: dict[str, set[str]] = {}
    per_ip: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, list[Offence]] = {}
    crawlers -= {o.ip for o in offences if o.category in _NEVER_EXEMPT_AS_CRAWLER}
    for offence in offences:
        try:
            if not _ADDRESS_TEXT.fullmatch(offence.ip):
                raise ValueError(offence.ip)
            address = ipaddress.ip_address(offence.ip)
        except ValueError:
            skipped.setdefault("not an IP address", set()).add(offence.ip)
            continue
        if any(address in net for net in allow):
            skipped.setdefault("allowlist", set()).add(offence.ip)
        elif offence.ip in crawlers:
            skipped.setdefault("declared crawler", set()).add(offence.ip)
        else:
            per_ip.setdefault(address, []).append(offence)
    live = {}
    for address, found in per_ip.items():
        if max(o.last_seen_at for o in found) + ban <= generated_at:
            skipped.setdefault("expired", set()).add(str(address))
        else:
            live[address] = found
    groups: dict[Network, list[ipaddress.IPv4Address | ipaddress.IPv6Address]] = {}
    for address in live:
        prefix = IPV4_GROUP if address.version == 4 else IPV6_GROUP
        groups.setdefault(ipaddress.ip_network(f"{address}/{prefix}", strict=False), []).append(address)
    entries = []
    for supernet, members in groups.items():
        if len(members) >= settings.aggregate_min_ips and not any(supernet.overlaps(net) for net in allow):
            entries.append(_merge(supernet, [o for a in members for o in live[a]], ban))
        else:
            entries += [_merge(ipaddress.ip_network(a), live[a], ban) for a in members]
    entries.sort(key=lambda entry: (entry.version, entry.network.network_address, entry.network.prefixlen))
    return Blocklist(
        entries=entries, generated_at=generated_at, days=list(context.get("days") or []),
        min_severity=str(context.get("min_severity") or settings.min_severity),
        skipped={reason: sorted(ips) for reason, ips in sorted(skipped.items())},
    )


def crawler_regex(patterns_dir: Path | None = None) -> str:
    """One case-insensitive RE2 alternation of the declared good crawlers (analytics/patterns/good_bots.txt)."""
    from analytics.rules import load_patterns

    bots = load_patterns(patterns_dir).get("good_bots") or []
    return "(?i)(?:" + "|".join(f"(?:{p})" for p in bots) + ")" if bots else "$^"


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same directory and a rename:
    a server reloading at any moment reads the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
