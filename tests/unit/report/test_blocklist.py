"""Blocklists: which addresses, merged how, and files that nginx / nft accept as they are.

The other formats are checked against their documented grammar: Apache mod_authz_core (`Require not
ip` inside `<RequireAll>`, comments on their own lines), `ipset restore` commands (create / flush /
add / swap / destroy with timeout and comment options; max timeout 2147483 s) and CrowdSec's
`cscli decisions import` (fields duration, reason, scope, type, value; scope ip or range).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from config.settings import BlocklistSettings
from report.blocklist import Offence, build_blocklist, write_atomic
from report.blocklist_formats import IPSET_MAX_TIMEOUT, render

DAY = date(2026, 11, 24)
SEEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def _offences() -> list[Offence]:
    return [
        Offence("203.0.113.45", "path_scan", "WT-SEC-001", "high", SEEN),
        Offence("203.0.113.45", "sensitive_file", "WT-SEC-002", "critical", SEEN + timedelta(hours=1)),
        Offence("198.51.100.20", "flood", "WT-SEC-010", "high", SEEN),
        Offence("198.51.100.21", "flood", "WT-SEC-010", "high", SEEN),
        Offence("198.51.100.22", "brute_force", "WT-SEC-008", "high", SEEN + timedelta(hours=2)),
        Offence("192.0.2.1", "xss", "WT-SEC-005", "high", SEEN),
        Offence("192.0.2.2", "xss", "WT-SEC-005", "high", SEEN),  # only two in 192.0.2.0/24: no range
        Offence("2001:db8:1:2::5", "sql_injection", "WT-SEC-004", "high", SEEN),
        Offence("2001:db8:1:2::6", "sql_injection", "WT-SEC-004", "high", SEEN),
        Offence("2001:db8:1:2::7", "sql_injection", "WT-SEC-004", "high", SEEN),
        Offence("10.1.2.3", "flood", "WT-SEC-010", "high", SEEN),  # private: default allowlist
        Offence("66.249.66.1", "path_scan", "WT-SEC-001", "high", SEEN),  # a declared crawler
        Offence("crawler.example.net", "xss", "WT-SEC-005", "high", SEEN),  # HostnameLookups On
    ]


def _blocklist(settings: BlocklistSettings | None = None, now: datetime = NOW):
    context = {"generated_at": now, "days": [DAY], "min_severity": "high", "crawlers": {"66.249.66.1"}}
    return build_blocklist(_offences(), settings or BlocklistSettings(), context)


def test_entries_merge_ips_into_ranges_and_leave_out_the_allowed() -> None:
    blocklist = _blocklist()
    assert [e.value for e in blocklist.entries] == [
        "192.0.2.1", "192.0.2.2", "198.51.100.0/24", "203.0.113.45", "2001:db8:1:2::/64"]
    by_value = {e.value: e for e in blocklist.entries}
    scanner = by_value["203.0.113.45"]
    assert scanner.categories == ("path_scan", "sensitive_file") and scanner.severity == "critical"
    assert scanner.last_seen_at == SEEN + timedelta(hours=1)
    assert scanner.expires_at == SEEN + timedelta(hours=1 + 168)
    flood = by_value["198.51.100.0/24"]
    assert flood.ips == ("198.51.100.20", "198.51.100.21", "198.51.100.22")
    assert flood.rules == ("WT-SEC-008", "WT-SEC-010") and flood.last_seen_at == SEEN + timedelta(hours=2)
    assert blocklist.skipped == {
        "allowlist": ["10.1.2.3"], "declared crawler": ["66.249.66.1"], "not an IP address": ["crawler.example.net"],
    }


def test_allowlist_blocks_a_range_and_crawlers_can_be_blocked_on_request() -> None:
    settings = BlocklistSettings(allowlist=["198.51.100.21/32"], block_declared_crawlers=True)
    values = [e.value for e in _blocklist(settings).entries]
    # The allowed IP is kept off, and the /24 it sits in is never listed as a whole.
    assert "198.51.100.0/24" not in values and "198.51.100.21" not in values
    assert {"198.51.100.20", "198.51.100.22", "66.249.66.1", "10.1.2.3"} <= set(values)


def test_a_fake_crawler_is_blocked_although_its_agent_declares_a_crawler() -> None:
    """The user agent claims Googlebot from outside Google's ranges: that claim is the offence."""
    offences = [Offence("203.0.113.99", "fake_crawler", "WT-SEC-031", "high", SEEN)]
    context = {"generated_at": NOW, "days": [DAY], "min_severity": "high", "crawlers": {"203.0.113.99"}}
    blocklist = build_blocklist(offences, BlocklistSettings(), context)
    assert [e.value for e in blocklist.entries] == ["203.0.113.99"]
    assert "declared crawler" not in blocklist.skipped


@pytest.mark.parametrize("hostile", [
    "fe80::1%x;\nallow all;\ninclude conf.d",  # an IPv6 scope id carrying directives
    "2001:db8::1%x all granted",
    " 192.0.2.50",
])
def test_an_address_with_a_scope_id_or_extra_text_is_never_written(hostile: str) -> None:
    offences = [Offence(hostile, "xss", "WT-SEC-005", "high", SEEN)]
    context = {"generated_at": NOW, "days": [DAY], "min_severity": "high", "crawlers": set()}
    blocklist = build_blocklist(offences, BlocklistSettings(), context)
    assert blocklist.entries == []
    assert blocklist.skipped == {"not an IP address": [hostile]}
    for name in ("nginx", "apache", "nftables", "ipset"):
        text = render(name, blocklist)
        assert "allow all" not in text and "include conf.d" not in text and "%x" not in text


def test_expired_entries_are_left_out() -> None:
    late = SEEN + timedelta(hours=168, minutes=30)  # the 10:00 offences expired, 11:00 and 12:00 not yet
    blocklist = _blocklist(now=late)
    assert [e.value for e in blocklist.entries] == ["198.51.100.22", "203.0.113.45"]
    assert "192.0.2.1" in blocklist.skipped["expired"]
    assert blocklist.remaining_seconds(blocklist.entries[1]) == 30 * 60


def test_every_entry_is_commented_with_category_rule_last_seen_and_expiry() -> None:
    blocklist = _blocklist()
    for fmt in ("nginx", "apache", "ipset", "nftables", "crowdsec", "crowdsec-csv", "csv", "json"):
        text = render(fmt, blocklist)
        assert "2026-11-24T11:00:00Z" in text and "2026-12-01T11:00:00Z" in text, fmt
        assert "sensitive_file" in text and "WT-SEC-002" in text, fmt


def test_hostile_names_cannot_break_out_of_a_comment() -> None:
    from report.blocklist_formats import comment, short_comment

    evil = Offence("192.0.2.99", 'x"; } \n deny all; #', "R\nULE", "critical", SEEN)
    blocklist = build_blocklist([evil], BlocklistSettings(), {"generated_at": NOW, "days": [DAY]})
    entry = blocklist.entries[0]
    for text in (comment(entry), short_comment(entry)):
        assert not set(text) & set('"#;{}\n\r\\'), text
    nginx_lines = [ln for ln in render("nginx", blocklist).splitlines() if not ln.startswith("#")]
    assert nginx_lines == [f"deny 192.0.2.99;  # {comment(entry)}"]
    apache_lines = [ln.strip() for ln in render("apache", blocklist).splitlines() if not ln.lstrip().startswith("#")]
    assert apache_lines == ["<RequireAll>", "Require all granted", "Require not ip 192.0.2.99", "</RequireAll>"]


NGINX_CONF = """
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:18080;
        include {blocklist};
        location / {{ return 204; }}
    }}
}}
"""


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx)")
@pytest.mark.parametrize("empty", [False, True])
def test_nginx_accepts_the_include(tmp_path: Path, empty: bool) -> None:
    blocklist = _blocklist()
    if empty:
        blocklist.entries = []
    include = write_atomic(tmp_path / "blocklist-nginx.conf", render("nginx", blocklist))
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=tmp_path, blocklist=include))
    done = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "e.log")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
    assert len(re.findall(r"^deny ", include.read_text(), re.M)) == (0 if empty else 5)


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed (apt-get install nftables)")
@pytest.mark.parametrize("empty", [False, True])
def test_nft_checks_the_set_file(tmp_path: Path, empty: bool) -> None:
    blocklist = _blocklist()
    if empty:
        blocklist.entries = []
    path = write_atomic(tmp_path / "blocklist.nft", render("nftables", blocklist))
    done = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    if done.returncode != 0 and re.search(r"Operation not permitted|Permission denied|netlink", done.stderr):
        pytest.skip(f"nft -c needs netlink access (CAP_NET_ADMIN), refused in this sandbox: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr + path.read_text()


def test_apache_block_follows_mod_authz_core_grammar() -> None:
    lines = render("apache", _blocklist()).splitlines()
    body = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    assert body[0] == "<RequireAll>" and body[1] == "Require all granted" and body[-1] == "</RequireAll>"
    values = [re.fullmatch(r"Require not ip (\S+)", ln).group(1) for ln in body[2:-1]]
    assert values == ["192.0.2.1", "192.0.2.2", "198.51.100.0/24", "203.0.113.45", "2001:db8:1:2::/64"]
    for value in values:
        ipaddress.ip_network(value)
    # Apache does not allow a comment after a directive on the same line.
    assert not any("#" in ln for ln in body)


def test_ipset_restore_file_grammar() -> None:
    text = render("ipset", _blocklist(now=NOW - timedelta(days=60)))
    commands = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    grammar = [
        r"create (\S+) hash:net family (inet|inet6) hashsize \d+ maxelem \d+ timeout 0 comment -exist",
        r"flush (\S+)",
        r'add (\S+) (\S+) timeout (\d+) comment "([^"]{1,255})" -exist',
        r"swap (\S+) (\S+)",
        r"destroy (\S+)",
    ]
    added = []
    for line in commands:
        match = next((re.fullmatch(g, line) for g in grammar if re.fullmatch(g, line)), None)
        assert match, f"not an ipset restore command: {line}"
        if line.startswith("add "):
            ipaddress.ip_network(match.group(2))
            assert 1 <= int(match.group(3)) <= IPSET_MAX_TIMEOUT
            added.append((match.group(1), match.group(2)))
    assert [name for name, _ in added] == ["webtrail-blocklist-v4-new"] * 4 + ["webtrail-blocklist-v6-new"]
    assert commands[-3:] == ["create webtrail-blocklist-v6 hash:net family inet6 hashsize 1024 maxelem 1048576 "
                             "timeout 0 comment -exist", "swap webtrail-blocklist-v6-new webtrail-blocklist-v6",
                             "destroy webtrail-blocklist-v6-new"]


def test_crowdsec_decisions_json_and_csv() -> None:
    blocklist = _blocklist()
    decisions = json.loads(render("crowdsec", blocklist))
    assert all(set(d) == {"duration", "reason", "scope", "type", "value"} for d in decisions)
    by_value = {d["value"]: d for d in decisions}
    assert by_value["198.51.100.0/24"]["scope"] == "range" and by_value["203.0.113.45"]["scope"] == "ip"
    assert by_value["203.0.113.45"]["duration"] == f"{(168 + 1 + 10 - 27) * 3600}s"  # expiry - written
    assert all(d["type"] == "ban" and re.fullmatch(r"\d+s", d["duration"]) for d in decisions)
    rows = list(csv.DictReader(io.StringIO(render("crowdsec-csv", blocklist))))
    assert [{k: r[k] for k in ("value", "scope", "duration")} for r in rows] == [
        {k: d[k] for k in ("value", "scope", "duration")} for d in decisions]


def test_csv_and_json_carry_every_field() -> None:
    blocklist = _blocklist()
    payload = json.loads(render("json", blocklist))
    assert payload["days"] == ["2026-11-24"] and payload["skipped"]["allowlist"] == ["10.1.2.3"]
    flood = next(e for e in payload["entries"] if e["value"] == "198.51.100.0/24")
    assert flood["ips"] == ["198.51.100.20", "198.51.100.21", "198.51.100.22"]
    rows = list(csv.DictReader(io.StringIO(render("csv", blocklist))))
    assert [r["value"] for r in rows] == [e["value"] for e in payload["entries"]]


def test_write_atomic_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "blocklist-nginx.conf"
    write_atomic(target, "old\n")
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in target.parent.iterdir()] == ["blocklist-nginx.conf"]
