"""Application events from an HTTP JSON API, staged as a JSON-lines file for parse_events.

Pages are followed until the response names no next page: either ``next_url`` (absolute or relative)
or ``next_cursor`` (sent back as the ``cursor`` query parameter). Connection errors, timeouts, 429 and
5xx are retried with exponential backoff (``Retry-After`` is honoured); other HTTP errors fail at
once. Validation is left to parse_events, so API records and file records get the same rules.
Error messages never include the query string or credentials of the URL.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class EventsApiError(RuntimeError):
    """The events API failed after retries or answered something unusable."""


@dataclass(frozen=True)
class FetchPolicy:
    """How the API is read: the list's key in each page, the per-request timeout, retries and limits."""

    items_key: str = "events"
    timeout: float = 10.0
    max_retries: int = 4
    backoff_seconds: float = 0.5
    max_pages: int = 100_000


@dataclass
class ApiFetchResult:
    pages: int = 0
    events: int = 0
    retries: int = 0


def _redact(url: str) -> str:
    """scheme://host/path only: no user:password, no query (tokens often live there)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _with_params(url: str, params: Mapping[str, str]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(params)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


class _Client:
    def __init__(self, headers: Mapping[str, str], policy: FetchPolicy) -> None:
        self.headers = {"Accept": "application/json", **headers}
        self.timeout, self.max_retries, self.backoff = policy.timeout, policy.max_retries, policy.backoff_seconds
        self.retries = 0

    def get_json(self, url: str) -> Any:
        for attempt in range(self.max_retries + 1):
            delay = self.backoff * 2**attempt
            try:
                req = urllib.request.Request(url, headers=self.headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # scheme checked in fetch_events
                    body = resp.read()
                return json.loads(body)
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUS or attempt == self.max_retries:
                    raise EventsApiError(f"{_redact(url)}: HTTP {exc.code} {exc.reason}") from None
                retry_after = exc.headers.get("Retry-After", "")
                delay = float(retry_after) if retry_after.isdigit() else delay
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
                if attempt == self.max_retries:
                    reason = getattr(exc, "reason", exc)
                    raise EventsApiError(f"{_redact(url)}: {reason} after {attempt + 1} attempts") from None
            except ValueError:
                raise EventsApiError(f"{_redact(url)}: response is not JSON") from None
            self.retries += 1
            time.sleep(min(delay, 60.0))
        raise AssertionError("unreachable")


def fetch_events(
    url: str,
    out: Path,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    policy: FetchPolicy = FetchPolicy(),  # noqa: B008 - frozen, so one shared default is safe
) -> ApiFetchResult:
    """Fetch every page of events from ``url`` into the JSON-lines file ``out`` (read as ``policy`` says)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise EventsApiError(f"{_redact(url)}: only http(s) URLs are supported")
    client = _Client(headers or {}, policy)
    result = ApiFetchResult()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    next_url: str | None = _with_params(url, params or {})
    seen: set[str] = set()
    try:
        with open(tmp, "w", encoding="utf-8") as staged:
            while next_url:
                if next_url in seen or result.pages >= policy.max_pages:
                    raise EventsApiError(f"{_redact(url)}: pagination loops or exceeds {policy.max_pages} pages")
                seen.add(next_url)
                page = client.get_json(next_url)
                items, next_url = _page(page, policy.items_key, next_url)
                for item in items:
                    staged.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
                result.pages += 1
                result.events += len(items)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    result.retries = client.retries
    return result


def _page(page: Any, items_key: str, current: str) -> tuple[list[Any], str | None]:
    """(items, next page URL or None) of one response."""
    if isinstance(page, list):
        return page, None  # a bare list is a single, final page
    if not isinstance(page, dict) or not isinstance(page.get(items_key), list):
        raise EventsApiError(f"{_redact(current)}: response has no {items_key!r} list")
    if page.get("next_url"):
        return page[items_key], urllib.parse.urljoin(current, str(page["next_url"]))
    if page.get("next_cursor"):
        return page[items_key], _with_params(current, {"cursor": str(page["next_cursor"])})
    return page[items_key], None
