"""Search-engine ranges (dated data and their refresh command), fake crawlers and the allowlists."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics import crawlers
from config.settings import SecuritySettings
from tests.analytics_day import findings as security_findings

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_shipped_ranges_are_dated_and_parse() -> None:
    engines = {e.name: e for e in crawlers.load_engines()}
    assert {"google", "bing", "duckduckgo", "yandex", "baidu", "apple"} <= set(engines)
    assert all(e.created.startswith("20") and e.networks for e in engines.values())


def test_refresh_replaces_prefixes_and_date(tmp_path: Path) -> None:
    downloaded = tmp_path / "googlebot.json"
    downloaded.write_text(json.dumps({"creationTime": "2027-01-02T03:04:05.000000", "prefixes": [
        {"ipv6Prefix": "2001:4860:4801:10::/64"}, {"ipv4Prefix": "192.0.2.0/27"}]}))
    assert crawlers.main(["refresh", "google", str(downloaded), "--dest", str(tmp_path / "ranges")]) == 0
    google = {e.name: e for e in crawlers.load_engines(tmp_path / "ranges")}["google"]
    assert google.created == "2027-01-02T03:04:05.000000" and [str(n) for n in google.networks] == [
        "2001:4860:4801:10::/64", "192.0.2.0/27"]
    assert "googlebot" in google.user_agent  # the claim regex is kept from the shipped file
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"creationTime": "x", "prefixes": [{"ipv4Prefix": "300.1.1.0/24"}]}))
    assert crawlers.main(["refresh", "google", str(bad), "--dest", str(tmp_path / "ranges")]) == 1


def test_fake_crawlers_and_allowlists(frames: Any, tmp_path: Path) -> None:
    ranges = tmp_path / "ranges"
    ranges.mkdir()
    (ranges / "google.json").write_text(json.dumps({
        "engine": "google", "user_agent": "googlebot", "creationTime": "2026-12-01",
        "prefixes": [{"ipv4Prefix": "66.249.64.0/19"}, {"ipv6Prefix": "2001:4860:4801::/48"}]}))

    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    rows = [
        {"client_ip": "66.249.66.1", "requested_at": at(1), "user_agent": GOOGLEBOT},
        {"client_ip": "2001:4860:4801:2a::5", "requested_at": at(2), "user_agent": GOOGLEBOT},
        {"client_ip": "203.0.113.9", "requested_at": at(3), "user_agent": GOOGLEBOT},  # fake
        {"client_ip": "2001:db8::9", "requested_at": at(4), "user_agent": GOOGLEBOT},  # fake
        # payloads from allowlisted sources: an IP, a network, an agent
        {"client_ip": "198.51.100.1", "requested_at": at(5), "path": "/.env"},
        {"client_ip": "198.51.100.77", "requested_at": at(6), "path": "/.env"},
        {"client_ip": "192.0.2.50", "requested_at": at(7), "path": "/.env", "user_agent": "InternalScanner/2.0"},
        {"client_ip": "192.0.2.51", "requested_at": at(8), "path": "/.env"},  # not allowlisted
    ]
    settings = SecuritySettings(crawler_ranges_dir=ranges, allow_ips=["198.51.100.1"],
                                allow_cidrs=["198.51.100.64/26"], allow_user_agents=["^internalscanner/"])
    found = {(r.client_ip, r.category) for r in
             security_findings(frames.requests(rows), frames.events([]), settings).collect()}
    assert found == {("203.0.113.9", "fake_crawler"), ("2001:db8::9", "fake_crawler"),
                     ("192.0.2.51", "sensitive_file")}


def test_an_allowlisted_agent_does_not_hide_the_login_events_of_its_ip(frames: Any) -> None:
    """Only an allowlisted IP silences login events: the agent string is the client's to choose."""
    attacker = "192.0.2.60"
    rows = [{"client_ip": attacker, "requested_at": T0, "user_agent": "InternalScanner/2.0"}]
    events = [{"client_ip": attacker, "occurred_at": T0 + timedelta(seconds=i), "event_type": "login_failure",
               "user_id": f"u{i}", "path": "/login"} for i in range(6)]
    settings = SecuritySettings(allow_ips=["198.51.100.1"], allow_user_agents=["^internalscanner/"])
    found = {(r.client_ip, r.category) for r in
             security_findings(frames.requests(rows), frames.events(events), settings).collect()}
    assert (attacker, "credential_stuffing") in found
