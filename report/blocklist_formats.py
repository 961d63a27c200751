"""Blocklist files in the form each tool loads as it is.

| format | loaded by | file |
|---|---|---|
| nginx | `include` in an http / server / location block | `deny ADDR;` lines |
| apache | `Include` in a <Directory> / <Location> (mod_authz_core) | `<RequireAll>` with `Require not ip` |
| ipset | `ipset restore -f FILE` | builds a new set and swaps it in (atomic) |
| nftables | `nft -f FILE` | table `inet webtrail` with timed sets and an input chain that drops them |
| crowdsec / crowdsec-csv | `cscli decisions import -i FILE` | decisions (duration, reason, scope, type, value) |
| csv / json | people and scripts | every field of every entry |

Comments carry category, rule, last seen and expiry of each entry. The values in comments come from
our own tables (category and rule names) but are still reduced to a safe character set, so nothing
can end a comment or a quoted string early.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

from report.blocklist import Blocklist, Entry

SET_NAME = "webtrail-blocklist"
NFT_TABLE = "webtrail"
IPSET_MAX_TIMEOUT = 2_147_483  # seconds: the largest timeout ipset accepts
NFT_COMMENT_MAX = 127
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:,/=+@ -]")


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text)


def _utc(value: object) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined]


def short_comment(entry: Entry) -> str:
    """Expiry and last seen first, then category and rule: fits nftables' 128-byte comments."""
    text = (f"exp={_utc(entry.expires_at)} seen={_utc(entry.last_seen_at)} cat={','.join(entry.categories)} "
            f"rule={','.join(entry.rules)}")
    return _safe(text)[:NFT_COMMENT_MAX]


def comment(entry: Entry) -> str:
    """category, rule, last seen, expiry (and the IPs of a range) in one safe line."""
    text = (f"category={','.join(entry.categories)} rule={','.join(entry.rules)} severity={entry.severity} "
            f"last_seen={_utc(entry.last_seen_at)} expires={_utc(entry.expires_at)}")
    if not entry.is_single:
        text += f" ips={len(entry.ips)}"
    return _safe(text)


def _header(blocklist: Blocklist, loaded_by: str) -> list[str]:
    days = ", ".join(d.isoformat() for d in blocklist.days) or "-"
    skipped = "; ".join(f"{reason}: {len(ips)}" for reason, ips in blocklist.skipped.items()) or "none"
    lines = [
        f"webtrail blocklist, written {_utc(blocklist.generated_at)}",
        f"findings of {_safe(days)} at or above severity {_safe(blocklist.min_severity)}: "
        f"{len(blocklist.entries)} entries",
        f"left out: {_safe(skipped)}",
        f"load with: {loaded_by}",
    ]
    return ["# " + line for line in lines]


def nginx(blocklist: Blocklist) -> str:
    lines = _header(blocklist, "include this file in an nginx http, server or location block; nginx -s reload")
    for entry in blocklist.entries:
        lines.append(f"deny {entry.value};  # {comment(entry)}")
    return "\n".join(lines) + "\n"


def apache(blocklist: Blocklist) -> str:
    # Apache allows comments only on their own lines, never after a directive.
    lines = _header(blocklist, "Include this file inside a Directory or Location block (Apache 2.4, mod_authz_core)")
    lines += ["<RequireAll>", "    Require all granted"]
    for entry in blocklist.entries:
        lines += [f"    # {comment(entry)}", f"    Require not ip {entry.value}"]
    lines.append("</RequireAll>")
    return "\n".join(lines) + "\n"


def ipset(blocklist: Blocklist) -> str:
    lines = _header(blocklist, "ipset restore -f FILE (then match the sets in iptables: -m set --match-set NAME src)")
    for family, version in (("inet", 4), ("inet6", 6)):
        name = f"{SET_NAME}-v{version}"
        new = f"{name}-new"
        options = f"hash:net family {family} hashsize 1024 maxelem 1048576 timeout 0 comment"
        lines += [f"create {new} {options} -exist", f"flush {new}"]
        for entry in (e for e in blocklist.entries if e.version == version):
            timeout = min(IPSET_MAX_TIMEOUT, blocklist.remaining_seconds(entry))
            lines.append(f'add {new} {entry.value} timeout {timeout} comment "{comment(entry)}" -exist')
        lines += [f"create {name} {options} -exist", f"swap {new} {name}", f"destroy {new}"]
    return "\n".join(lines) + "\n"


def nftables(blocklist: Blocklist) -> str:
    lines = _header(blocklist, "nft -f FILE (replaces table inet webtrail in one transaction)")
    # Declaring then deleting the table makes the file re-loadable: the new table replaces the old.
    lines += [f"table inet {NFT_TABLE} {{}}", f"delete table inet {NFT_TABLE}", f"table inet {NFT_TABLE} {{"]
    for version in (4, 6):
        kind = "ipv4_addr" if version == 4 else "ipv6_addr"
        entries = [e for e in blocklist.entries if e.version == version]
        lines += [f"    set blocklist_v{version} {{", f"        type {kind}", "        flags interval, timeout"]
        if entries:
            lines.append("        elements = {")
            for index, entry in enumerate(entries):
                separator = "," if index < len(entries) - 1 else ""
                lines += [
                    f"            # {comment(entry)}",
                    f"            {entry.value} timeout {blocklist.remaining_seconds(entry)}s"
                    f' comment "{short_comment(entry)}"{separator}',
                ]
            lines.append("        }")
        lines.append("    }")
    lines += [
        "    chain input {",
        "        type filter hook input priority filter - 10; policy accept;",
        "        ip saddr @blocklist_v4 drop",
        "        ip6 saddr @blocklist_v6 drop",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _decisions(blocklist: Blocklist) -> list[dict[str, str]]:
    return [
        {
            "duration": f"{blocklist.remaining_seconds(e)}s",
            "reason": f"webtrail {comment(e)}",
            "scope": "ip" if e.is_single else "range",
            "type": "ban",
            "value": e.value,
        }
        for e in blocklist.entries
    ]


def crowdsec(blocklist: Blocklist) -> str:
    return json.dumps(_decisions(blocklist), indent=1) + "\n"


def crowdsec_csv(blocklist: Blocklist) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["duration", "reason", "scope", "type", "value"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(_decisions(blocklist))
    return out.getvalue()


def _record(entry: Entry) -> dict[str, object]:
    return {
        "value": entry.value, "scope": "ip" if entry.is_single else "range", "ips": list(entry.ips),
        "categories": list(entry.categories), "rules": list(entry.rules), "severity": entry.severity,
        "last_seen_at": _utc(entry.last_seen_at), "expires_at": _utc(entry.expires_at),
    }


def as_csv(blocklist: Blocklist) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["value", "scope", "ips", "categories", "rules", "severity", "last_seen_at", "expires_at"])
    for entry in blocklist.entries:
        record = _record(entry)
        writer.writerow([record["value"], record["scope"], " ".join(entry.ips), ",".join(entry.categories),
                         ",".join(entry.rules), entry.severity, record["last_seen_at"], record["expires_at"]])
    return out.getvalue()


def as_json(blocklist: Blocklist) -> str:
    payload = {
        "generated_at": _utc(blocklist.generated_at),
        "days": [d.isoformat() for d in blocklist.days],
        "min_severity": blocklist.min_severity,
        "entries": [_record(e) for e in blocklist.entries],
        "skipped": blocklist.skipped,
    }
    return json.dumps(payload, indent=2) + "\n"


RENDERERS: dict[str, Callable[[Blocklist], str]] = {
    "nginx": nginx, "apache": apache, "ipset": ipset, "nftables": nftables, "crowdsec": crowdsec,
    "crowdsec-csv": crowdsec_csv, "csv": as_csv, "json": as_json,
}
FILE_NAMES: dict[str, str] = {
    "nginx": "blocklist-nginx.conf", "apache": "blocklist-apache.conf", "ipset": "blocklist.ipset",
    "nftables": "blocklist.nft", "crowdsec": "blocklist-crowdsec.json", "crowdsec-csv": "blocklist-crowdsec.csv",
    "csv": "blocklist.csv", "json": "blocklist.json",
}


def render(fmt: str, blocklist: Blocklist) -> str:
    """The blocklist in one format (a key of RENDERERS)."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown blocklist format {fmt!r}: one of {', '.join(RENDERERS)}")
    return RENDERERS[fmt](blocklist)
