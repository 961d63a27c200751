"""A day shaped like a real internet-facing nginx site loads with the default settings (real Prefect,
Spark and the embedded PostgreSQL), and its tables equal an independent count of the file.

The file is written here, not by the project's generator: nginx `combined` (no timing field), CRLF
line ends, IPv4 / IPv6 / host-name clients, 3% `"-" 400 0` entries (connections closed before a
request line), TLS hellos on the plain port, odd methods (HELP, PRI, SSTP_DUPLEX_POST, PROPFIND,
CONNECT, RTSP) and two truly unparsable lines. The expected values come from a plain `re` pass
over the same bytes.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from config.settings import WebtrailSettings

pytestmark = pytest.mark.integration

DAY = date(2026, 10, 7)
LINES = 3_000
EMPTY_SHARE = 0.03
TLS = r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\x9Bz\x1E"
ODD = ("HELP", "PRI * HTTP/2.0", "SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1",
       "PROPFIND /remote.php/dav/ HTTP/1.1", "CONNECT www.example.org:443 HTTP/1.1",
       "OPTIONS rtsp://192.0.2.1:554/ RTSP/1.0", "GET /")
PAGES = ("/", "/blog/2026/10/hello-world/", "/wp-content/themes/x/style.css", "/feed/", "/about/", "/?p=12")
AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
          "Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile "
          "Safari/604.1")
LINE_RE = re.compile(r'^(\S+) - (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"\r?$')


def write_day(path: Path) -> None:
    rnd = random.Random(20261007)
    clients = ([f"198.51.{i // 250}.{i % 250 + 1}" for i in range(60)] + [f"2001:db8::{i:x}" for i in range(1, 15)]
               + [f"host-{i}.dsl.example.net" for i in range(10)])
    lines = []
    for line_index in range(LINES - 2):
        second_of_day = line_index * 86_399 // LINES
        stamp = (f"[{DAY.day:02d}/Oct/{DAY.year}:{second_of_day // 3600:02d}:{second_of_day // 60 % 60:02d}:"
                 f"{second_of_day % 60:02d} +0000]")
        draw = rnd.random()
        client = rnd.choice(clients)
        if draw < EMPTY_SHARE:
            request, status, size, agent = "-", 400, "0", "-"
        elif draw < EMPTY_SHARE + 0.004:
            request, status, size, agent, client = TLS, 400, "157", "-", "45.95.147.3"
        elif draw < EMPTY_SHARE + 0.012:
            request, status, size, agent, client = rnd.choice(ODD), rnd.choice((400, 405)), "157", "-", "45.95.147.9"
        else:
            request = f"GET {rnd.choice(PAGES)} HTTP/1.1"
            status = rnd.choice((200, 200, 200, 304, 404))
            size, agent = ("0" if status == 304 else str(rnd.randint(300, 90_000))), rnd.choice(AGENTS)
        lines.append(f'{client} - - {stamp} "{request}" {status} {size} "-" "{agent}"')
    lines.insert(1000, f'198.51.0.1 - - [{DAY.day:02d}/Oct/{DAY.year}:10:00:00 +0000] "GET /cut-by-a-cra')
    lines.insert(2000, "- - - [07/Oct/2026:11:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"")
    path.write_bytes("".join(line + "\r\n" for line in lines).encode())


def independent_count(path: Path) -> dict[str, Any]:
    """Per-status requests and bytes, and request-line classes, with a plain `re` pass over the file."""
    status: Counter[int] = Counter()
    size: Counter[int] = Counter()
    empty = junk = rejected = 0
    for raw in path.read_bytes().decode().split("\r\n")[:-1]:
        match = LINE_RE.match(raw)
        if match is None or match.group(1) == "-":
            rejected += 1
            continue
        status[int(match.group(5))] += 1
        size[int(match.group(5))] += 0 if match.group(6) == "-" else int(match.group(6))
        request = match.group(4)
        empty += request == "-"
        junk += request == TLS or request == "HELP" or request.endswith("RTSP/1.0")
    return {"status": dict(status), "bytes": dict(size), "empty": empty, "junk": junk, "rejected": rejected}


@pytest.fixture(scope="module")
def data_dir(service_tmp_dir: Path, prefect_harness: None, spark: Any,
             monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Path]:
    from warehouse.embedded import stop_embedded

    path = service_tmp_dir / "real-traffic-data"
    path.mkdir()
    monkeypatch_module.setenv("WEBTRAIL_DATA_DIR", str(path))
    for name in ("WEBTRAIL_DATABASE_URL", "WEBTRAIL_QUALITY__MAX_REJECT_RATIO", "WEBTRAIL_ACCESS_LOGS",
                 "WEBTRAIL_EVENTS", "WEBTRAIL_USERS_DB", "WEBTRAIL_PARSER__LOG_FORMAT"):
        monkeypatch_module.delenv(name, raising=False)
    yield path
    stop_embedded(path / "postgres")


@pytest.fixture(scope="module")
def access_log(service_tmp_dir: Path) -> Path:
    path = service_tmp_dir / "real-traffic-inputs" / "access.log"
    path.parent.mkdir()
    write_day(path)
    return path


@pytest.fixture(scope="module")
def run(data_dir: Path, access_log: Path) -> dict[str, Any]:
    from flows.daily import daily

    return daily(day=DAY, access_log=[str(access_log)], events=[])


def _rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    from warehouse.connect import connect
    from warehouse.embedded import database_url

    conn = connect(database_url(WebtrailSettings(data_dir=data_dir)))
    try:
        with conn.cursor() as cur:
            cur.execute(sql, (DAY,))
            return list(cur.fetchall())
    finally:
        conn.close()


def test_the_day_loads_with_default_settings(run: dict[str, Any], access_log: Path) -> None:
    expected = independent_count(access_log)
    assert run["status"] == "completed"
    assert run["lines_read"] == LINES and run["lines_rejected"] == expected["rejected"] == 2
    assert expected["empty"] >= 0.025 * LINES  # the shape asked for: about 3% "-" 400 entries


def test_status_counts_and_bytes_equal_an_independent_count(run: dict[str, Any], data_dir: Path,
                                                              access_log: Path) -> None:
    expected = independent_count(access_log)
    got = _rows(data_dir, "SELECT status, requests, bytes FROM webtrail.status_daily WHERE day = %s")
    assert {s: n for s, n, _ in got} == expected["status"]
    assert {s: b for s, _, b in got} == expected["bytes"]
    (traffic,) = _rows(data_dir, "SELECT sum(requests), sum(bytes) FROM webtrail.traffic_minute WHERE day = %s")
    assert traffic == (sum(expected["status"].values()), sum(expected["bytes"].values()))
    (ips,) = _rows(data_dir, "SELECT sum(requests) FROM webtrail.ip_daily WHERE day = %s")
    assert ips[0] == sum(expected["status"].values())


def test_junk_request_lines_are_endpoints_of_their_own_and_in_no_session(run: dict[str, Any], data_dir: Path,
                                                                          access_log: Path) -> None:
    expected = independent_count(access_log)
    ends = dict(((m, t), h) for m, t, h in _rows(
        data_dir, "SELECT method, path_template, hits FROM webtrail.endpoint_daily WHERE day = %s"))
    assert ends[("-", "(empty)")] == expected["empty"]
    assert ends.get(("-", "(malformed)"), 0) + ends.get(("OPTIONS", "(non-http)"), 0) == expected["junk"]
    (sessions,) = _rows(data_dir, "SELECT sum(requests) FROM webtrail.sessions WHERE day = %s")
    well_formed = sum(expected["status"].values()) - expected["empty"] - expected["junk"]
    assert sessions[0] == well_formed


def test_real_traffic_shapes_are_measured_and_nothing_blocks(run: dict[str, Any], data_dir: Path,
                                                              access_log: Path) -> None:
    expected = independent_count(access_log)
    rows = _rows(data_dir, "SELECT dataset, check_name, level, outcome, metric_values->>'measured_value' "
                           "FROM webtrail.quality_results WHERE day = %s")
    results = {(d, c): (lv, o, None if v is None else float(v)) for d, c, lv, o, v in rows}
    assert not [k for k, (lv, o, _) in results.items() if lv == "blocking" and o != "PASSED"]
    level, outcome, share = results[("requests", "empty_request_share")]
    assert (level, outcome) == ("warn", "PASSED")
    assert share == pytest.approx(expected["empty"] / sum(expected["status"].values()))
    assert results[("requests", "malformed_request_share")][:2] == ("warn", "PASSED")
    rejected = _rows(data_dir, "SELECT line_number, reason FROM webtrail.rejected_lines WHERE day = %s "
                               "ORDER BY line_number")
    assert rejected == [(1001, "no_format_match"), (2001, "missing_client")]
