"""The sample-data generator: determinism, exact sizes, and a ground truth that matches an
independent re-count of the files it wrote."""

from __future__ import annotations

import bisect
import ipaddress
import json
import re
import sqlite3
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import user_agents

from sample_logs import catalog
from sample_logs.generate import generate, main

LINES = 3_000
DAY = date(2026, 11, 24)
LINE_RE = re.compile(
    rb'^(?P<ip>\S+) - (?P<user>\S+) \[(?P<ts>[^\]]+)\] "(?P<request>[^"]*)" '
    rb'(?P<status>\d{3}) (?P<size>\d+|-) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" (?P<rt>\d+\.\d{3})$'
)
# RFC 9112 request-line: method (a token) SP request-target [SP HTTP-version]
REQUEST_RE = re.compile(r"^(?P<method>[!#$%&'*+.^_`|~0-9A-Za-z-]+) (?P<target>\S+)(?: (?P<proto>\S+))?$")


def kind_of(row: dict[str, Any]) -> str:
    """The request_kind of a logged request line, from the RFCs (not from the parser or the generator)."""
    if row["request"] in ("", "-"):
        return "empty"
    if row["method"] is None:
        return "malformed"
    if row["proto"] is not None and re.fullmatch(r"HTTP/\d(\.\d)?", row["proto"]) is None:
        return "non_http"
    return "http"

FILES = ("access.log", "events.jsonl", "users.db", "ground_truth.json", "manifest.json")

# The pages sample_logs/sessions.py requests (GET, status < 400 => a page_view event); everything else
# is an asset, API call or action.
PAGE_EXACT = frozenset({"/", "/cart", "/checkout", "/account", "/login", "/signup", "/about"})
PAGE_PREFIXES = ("/category/", "/product/", "/search", "/blog/", "/order/")


def is_page(path: str) -> bool:
    """True for page paths (query string ignored); the events file has a page_view for each."""
    path = path.split("?", 1)[0]
    return path in PAGE_EXACT or path.startswith(PAGE_PREFIXES)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample")
    generate(LINES, DAY, path, seed=11)
    return path


@pytest.fixture(scope="module")
def truth(out: Path) -> dict[str, Any]:
    return json.loads((out / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def parsed(out: Path) -> tuple[list[dict[str, Any]], int]:
    """(parsed lines, number of lines the regex rejects)."""
    rows, rejected = [], 0
    for raw in (out / "access.log").read_bytes().split(b"\n")[:-1]:
        match = LINE_RE.match(raw)
        if match is None:
            rejected += 1
            continue
        row: dict[str, Any] = {k: v.decode() for k, v in match.groupdict().items()}
        split = REQUEST_RE.match(row["request"])
        row.update(split.groupdict() if split else {"method": None, "target": None, "proto": None})
        row["kind"] = kind_of(row)
        row["dt"] = datetime.strptime(row["ts"], "%d/%b/%Y:%H:%M:%S %z")
        row["sec"] = row["dt"].strftime("%Y-%m-%dT%H:%M:%S")
        rows.append(row)
    return rows, rejected


@pytest.fixture(scope="module")
def events(out: Path) -> tuple[list[dict[str, Any]], int]:
    """(valid events, malformed line count)."""
    good, bad = [], 0
    for line in (out / "events.jsonl").read_text().splitlines():
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            bad += 1
    return good, bad


def _human(truth: dict[str, Any]):
    bad_ips = set(truth["crawler_ips"]) | {a["ip"] for a in truth["attackers"]}
    # sessions are made of well-formed requests only: background noise (empty requests, TLS) is in none
    return lambda row: row["ip"] not in bad_ips and not user_agents.parse(row["ua"]).is_bot and row["kind"] == "http"


def test_exact_line_count_and_manifest(out: Path, truth: dict[str, Any]) -> None:
    assert (out / "access.log").read_bytes().count(b"\n") == LINES
    assert truth["lines"] == LINES and truth["parsed_requests"] == LINES - truth["rejected_lines"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == {"date": "2026-11-24", "access_log": "access.log", "events": "events.jsonl",
                        "users_db": "users.db", "seed": 11}


def test_same_seed_gives_identical_bytes(out: Path, tmp_path: Path) -> None:
    assert main(["--lines", str(LINES), "--date", "2026-11-24", "--out", str(tmp_path), "--seed", "11"]) == 0
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_other_seed_gives_other_data(out: Path, tmp_path: Path) -> None:
    generate(LINES, DAY, tmp_path, seed=12)
    assert (tmp_path / "access.log").read_bytes() != (out / "access.log").read_bytes()


def test_too_few_lines_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--lines", "100", "--date", "2026-11-24", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "at least" in capsys.readouterr().err


def test_malformed_lines_and_recounted_totals(parsed, truth: dict[str, Any], out: Path) -> None:
    rows, rejected = parsed
    assert rejected == truth["rejected_lines"] == 3
    assert b"\x16\x03\x01" in (out / "access.log").read_bytes()
    assert len(rows) == truth["parsed_requests"]
    assert dict(Counter(r["status"] for r in rows)) == truth["status_counts"]
    assert sum(int(r["size"]) for r in rows if r["size"] != "-") == truth["total_bytes"]
    kinds = Counter(r["kind"] for r in rows)
    assert dict(kinds) == {k: v for k, v in truth["requests_by_kind"].items() if v}
    # realistic rates: 1-6% empty requests, TLS hellos and odd methods present
    assert 0.01 <= kinds["empty"] / len(rows) <= 0.06
    assert kinds["malformed"] >= 3 and kinds["non_http"] >= 1
    assert sum(r["request"].startswith("\\x16\\x03") for r in rows) >= 3
    assert {"PRI", "HELP", "CONNECT", "SSTP_DUPLEX_POST", "PROPFIND"} <= {r["request"].split(" ")[0] for r in rows}
    assert b'"-" 400 0 ' in (out / "access.log").read_bytes()


def test_timestamps_are_inside_the_day_and_ordered(parsed) -> None:
    rows, _ = parsed
    stamps = [r["dt"] for r in rows]
    assert stamps == sorted(stamps)
    assert all(s.date() == DAY and s.utcoffset().total_seconds() == 0 for s in stamps)


def test_human_sessions_recount(parsed, truth: dict[str, Any]) -> None:
    rows, _ = parsed
    humans = [row for row in rows if _human(truth)(row)]
    assert len(humans) == truth["human_requests"]
    last: dict[tuple[str, str], datetime] = {}
    sessions = 0
    for row in humans:
        key = (row["ip"], row["ua"])
        if key not in last or (row["dt"] - last[key]).total_seconds() > 30 * 60:
            sessions += 1
        last[key] = row["dt"]
    assert sessions == truth["human_sessions"]
    assert len(last) == truth["human_visitors"]
    assert len({ip for ip, _ in last}) == len(last)  # one user agent per human ip
    assert len([row for row in rows if not _human(truth)(row)]) == truth["bot_requests"] + truth["noise_requests"]


def test_user_agents_classify_as_intended(truth: dict[str, Any]) -> None:
    assert len(catalog.HUMAN_AGENTS) == len(set(catalog.HUMAN_AGENTS)) >= 150
    assert not any(user_agents.parse(ua).is_bot for ua in catalog.HUMAN_AGENTS)
    assert all(user_agents.parse(c["user_agent"]).is_bot for c in truth["crawlers"])


def test_attackers_are_isolated(parsed, truth: dict[str, Any]) -> None:
    rows, _ = parsed
    by_ip: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_ip[row["ip"]].append(row)
    human_ips = {row["ip"] for row in rows if _human(truth)(row)}
    for attacker in truth["attackers"]:
        mine = by_ip[attacker["ip"]]
        assert len(mine) == attacker["requests"] and {row["ua"] for row in mine} == {attacker["user_agent"]}
        assert attacker["ip"] not in human_ips and attacker["ip"] not in truth["crawler_ips"]
    scenarios = {attacker["scenario"] for attacker in truth["attackers"]}
    assert scenarios == {"brute_force", "credential_stuffing", "path_scan", "sql_injection", "path_traversal",
                         "scanner_user_agent", "flood", "protocol_probe"}


def _span_s(rows: list[dict[str, Any]]) -> float:
    return (rows[-1]["dt"] - rows[0]["dt"]).total_seconds()


def test_attack_shapes(parsed, truth: dict[str, Any]) -> None:
    rows, _ = parsed
    ip = {a["scenario"]: a["ip"] for a in truth["attackers"]}
    brute = [r for r in rows if r["ip"] == ip["brute_force"]]
    assert len(brute) >= 50 and {(r["method"], r["target"], r["status"]) for r in brute} == {
        ("POST", "/login", "401")} and _span_s(brute) <= 300
    scan = [r for r in rows if r["ip"] == ip["path_scan"]]
    assert len({r["target"] for r in scan if r["status"] in ("403", "404")}) >= 60 and _span_s(scan) <= 600
    flood = [r for r in rows if r["ip"] == ip["flood"]]
    assert len(flood) >= 400 and _span_s(flood) < 60
    sqli = [r for r in rows if r["ip"] == ip["sql_injection"]]
    assert all("%27" in r["target"] or "%20" in r["target"] for r in sqli)
    heavy = truth["benign"]["heavy_users"]
    assert all(h["requests"] >= 100 and h["max_requests_per_minute"] < 60 for h in heavy)
    broken = [r for r in rows if r["target"] == catalog.BROKEN_IMAGE]
    assert {r["status"] for r in broken} == {"404"} and len({r["ip"] for r in broken}) >= 10


def test_events_file_quality(events, truth: dict[str, Any]) -> None:
    good, bad = events
    expected = truth["events"]
    assert bad == expected["malformed"] == 1
    ids = Counter(e["event_id"] for e in good)
    assert sum(c - 1 for c in ids.values()) == expected["duplicates"] == 1
    assert len(ids) == expected["valid_unique"] and expected["lines"] == len(good) + bad
    assert all(e["ts"].startswith("2026-11-24T") and re.fullmatch(r".*T\d\d:\d\d:\d\d\.\d{3}Z", e["ts"])
               for e in good)


# event type -> the log line it must match: (method, path predicate, statuses)
_LINKS = {
    "login_success": ("POST", "/login", {"302"}), "login_failure": ("POST", "/login", {"401"}),
    "add_to_cart": ("POST", "/api/cart", {"200"}), "checkout": ("GET", "/checkout", {"200", "304"}),
    "purchase": ("POST", "/checkout/complete", {"302"}), "signup": ("POST", "/signup", {"302"}),
    "logout": ("GET", "/logout", {"302"}),
}


def test_events_match_log_lines(parsed, events, truth: dict[str, Any]) -> None:
    rows, _ = parsed
    good, _ = events
    unique = list({event["event_id"]: event for event in good}.values())
    keys = Counter((r["sec"], r["ip"], r["ua"], r["method"], r["target"], r["status"]) for r in rows)
    for etype, (method, path, statuses) in _LINKS.items():
        mine = [event for event in unique if event["type"] == etype]
        assert len(mine) == truth["events"]["by_type"].get(etype, 0)
        for event in mine:
            second = event["ts"][:19]
            assert any(keys[(second, event["ip"], event["user_agent"], method, path, s)] for s in statuses), event
    # page views: exactly the human GETs of pages with status < 400 (same second, ip, ua, path)
    pages = Counter((r["sec"], r["ip"], r["ua"], r["target"]) for r in rows if _human(truth)(r)
                    and r["method"] == "GET" and is_page(r["target"]) and int(r["status"]) < 400)
    views = Counter((event["ts"][:19], event["ip"], event["user_agent"], event["path"])
                    for event in unique if event["type"] == "page_view")
    assert views == pages and len(views) > 100


def test_logged_in_events_follow_a_login_in_the_same_session(parsed, events, truth: dict[str, Any]) -> None:
    rows, _ = parsed
    starts: dict[tuple[str, str], list[str]] = defaultdict(list)
    last: dict[tuple[str, str], datetime] = {}
    for row in filter(_human(truth), rows):
        key = (row["ip"], row["ua"])
        if key not in last or (row["dt"] - last[key]).total_seconds() > 1800:
            starts[key].append(row["sec"])
        last[key] = row["dt"]
    good, _ = events
    opened: set[tuple[str, str, int]] = set()
    for event in good:
        key = (event["ip"], event["user_agent"])
        if key not in starts:
            continue  # attacker events
        session = (*key, bisect.bisect_right(starts[key], event["ts"][:19]))
        if event["type"] in ("login_success", "signup"):
            opened.add(session)
        elif event["user_id"] is not None and event["type"] != "login_failure":
            assert session in opened, event


def test_users_db_covers_event_user_ids(out: Path, events, truth: dict[str, Any]) -> None:
    with sqlite3.connect(out / "users.db") as conn:
        users = {row[0]: row for row in conn.execute("SELECT * FROM users")}
    assert len(users) == truth["users"]
    assert {r[4] for r in users.values()} <= {"free", "pro", "enterprise"}
    assert {r[6] for r in users.values()} <= {"active", "suspended", "deleted"}
    good, _ = events
    missing = {e["user_id"] for e in good if e["user_id"] and e["user_id"] not in users}
    assert len(missing) == truth["events"]["unknown_user_ids"]
    stuffer = next(a["ip"] for a in truth["attackers"] if a["scenario"] == "credential_stuffing")
    tried = {e["user_id"] for e in good if e["ip"] == stuffer and e["type"] == "login_failure"}
    assert len(tried) >= 30 and missing <= tried
    assert 1 <= sum(e["ip"] == stuffer and e["type"] == "login_success" for e in good) <= 2


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def test_hostname_and_ipv6_clients_when_asked(tmp_path: Path) -> None:
    truth = generate(LINES, DAY, tmp_path, seed=11, hostname_share=0.3, ipv6_share=0.3)
    rows = [LINE_RE.match(raw) for raw in (tmp_path / "access.log").read_bytes().split(b"\n")[:-1]]
    humans = {m["ip"].decode() for m in rows if m} - set(truth["crawler_ips"]) - {a["ip"] for a in truth["attackers"]}
    humans = {c for c in humans if not c.startswith(("45.", "167."))}  # background noise addresses
    hostnames = {c for c in humans if not _is_address(c)}
    ipv6 = {c for c in humans if ":" in c}
    assert 0.15 <= len(hostnames) / len(humans) <= 0.45 and hostnames == {c for c in humans if c.startswith("host-")}
    assert 0.1 <= len(ipv6) / len(humans) <= 0.4
    assert len(humans) == truth["human_visitors"]
