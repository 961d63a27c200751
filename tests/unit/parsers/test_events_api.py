"""HTTP events source against a real http.server on 127.0.0.1: pages, retries, timeouts, errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from parsers.events import parse_events
from parsers.events_api import EventsApiError, FetchPolicy, fetch_events

QUICK = FetchPolicy(backoff_seconds=0.01)


def ev(number: int) -> dict:
    return {
        "event_id": f"e{number}", "ts": f"2026-11-24T10:00:{number:02d}Z", "type": "page_view", "path": f"/{number}"
    }


class Api(BaseHTTPRequestHandler):
    calls: list[str] = []
    failures: dict[str, int] = {}

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def send_json(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        Api.calls.append(self.path)
        key = f"{url.path}?{query.get('cursor', '')}"
        if Api.failures.get(key, 0) > 0:  # fail this page N times, then succeed
            Api.failures[key] -= 1
            if key.startswith("/slow"):
                time.sleep(0.5)
            else:
                self.send_json(503, {"error": "busy"})
                return
        if url.path in ("/events", "/slow"):
            if query.get("token") != "t0p" or self.headers.get("Authorization") != "Bearer x":
                self.send_json(401, {"error": "auth"})
            elif "cursor" not in query:
                self.send_json(200, {"events": [ev(1), ev(2)], "next_cursor": "c2"})
            elif query["cursor"] == "c2":
                self.send_json(200, {"events": [ev(3), ev(2)], "next_url": "/events/last?token=t0p"})
        elif url.path == "/events/last":
            self.send_json(200, {"events": [ev(4), "not an object"]})
        elif url.path == "/loop":
            self.send_json(200, {"events": [], "next_url": "/loop"})
        else:
            self.send_json(404, {"error": "nope"})


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Api.calls, Api.failures = [], {}
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


AUTH = {"Authorization": "Bearer x"}


def test_pages_and_a_failing_page_retried(api: str, tmp_path: Path) -> None:
    Api.failures["/events?c2"] = 1  # the second page answers 503 once
    out = tmp_path / "api.jsonl"
    res = fetch_events(f"{api}/events", out, params={"token": "t0p"}, headers=AUTH, policy=QUICK)
    assert (res.pages, res.events, res.retries) == (3, 6, 1)
    assert len(Api.calls) == 4
    parsed = parse_events([out], date(2026, 11, 24), tmp_path / "ev.parquet", tmp_path / "rej.parquet")
    df = pl.read_parquet(tmp_path / "ev.parquet")
    assert df["event_id"].to_list() == ["e1", "e2", "e3", "e4"]
    assert parsed.duplicates_dropped == 1
    assert parsed.files[0].rejected_by_reason == {"not_an_object": 1}


def test_timeout_is_retried(api: str, tmp_path: Path) -> None:
    Api.failures["/slow?"] = 1
    res = fetch_events(
        f"{api}/slow", tmp_path / "a.jsonl", params={"token": "t0p"}, headers=AUTH,
        policy=FetchPolicy(timeout=0.2, backoff_seconds=0.01),
    )
    assert res.retries == 1 and res.events == 6


def test_client_error_fails_at_once_without_secrets(api: str, tmp_path: Path) -> None:
    with pytest.raises(EventsApiError, match="HTTP 401") as err:
        fetch_events(f"{api}/events?token=s3cret", tmp_path / "a.jsonl", headers=AUTH, policy=QUICK)
    assert "s3cret" not in str(err.value) and len(Api.calls) == 1
    assert not (tmp_path / "a.jsonl").exists()


def test_retries_exhausted_and_loops(api: str, tmp_path: Path) -> None:
    Api.failures["/events?"] = 10
    with pytest.raises(EventsApiError, match="HTTP 503"):
        fetch_events(
            f"{api}/events",
            tmp_path / "a.jsonl",
            params={"token": "t0p"},
            headers=AUTH,
            policy=FetchPolicy(max_retries=2, backoff_seconds=0.01),
        )
    assert len(Api.calls) == 3
    with pytest.raises(EventsApiError, match="loops"):
        fetch_events(f"{api}/loop", tmp_path / "b.jsonl", policy=QUICK)


def test_unreachable(tmp_path: Path) -> None:
    with pytest.raises(EventsApiError, match="after 2 attempts"):
        fetch_events(
            "http://127.0.0.1:9/x",
            tmp_path / "a.jsonl",
            policy=FetchPolicy(max_retries=1, backoff_seconds=0.01, timeout=1),
        )
