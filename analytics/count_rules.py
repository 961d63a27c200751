"""Count rules of the public detectors: CrowdSec leaky buckets and fail2ban jails, in one window pass.

Each rule is a filter on a request's terms (`Terms`: its request line, status and crawler status),
an optional value counted distinctly (`DISTINCT_KEYS`), and a limit from settings: a `Bucket`
(capacity C, leak L seconds) or a `Retry` (maxretry N, findtime F). Grouped by client IP, every rule
is a sliding window (t - W, t] ending at each qualifying row, that fires when it holds >= threshold
rows (or distinct keys):

- Retry: threshold N, W = F: fail2ban's own semantics.
- Bucket: threshold C + 1, W = C x L. A bucket overflows on the event poured into a full bucket.
  For a burst, C + 1 events within the window overflow it and fire the window, C do not. For a
  steady stream one event every d seconds, the window holds C + 1 events when C x d < C x L, so it
  fires exactly when d < L; the bucket, leaking 1 / L per second and filling 1 / d, overflows for
  d < L too and never for d >= L (tests/unit/analytics/test_count_rules.py checks both on a
  reference bucket). They differ in timing: a bucket only forgets one event per L, so uneven
  traffic near the rate can overflow it later than W; and CrowdSec's `distinct` drops a value
  still held in the bucket, where the window counts distinct values of the window.
- C = 0 is a trigger: one event fires.

This module is the catalogue (`COUNT_RULES`); analytics/count_signals.py evaluates it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, functions

from config.settings import Bucket, Retry, SecuritySettings

_VALID_HTTP_VERSIONS = ("HTTP/0.9", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/2", "HTTP/3.0", "HTTP/3")
_SCRIPT_EXTENSIONS = ("php", "php3", "php5", "phtml", "asp", "aspx", "exe", "pl", "cgi", "scgi", "jsp", "cfm")


@dataclass(frozen=True)
class Terms:
    """The columns rule filters are written in (analytics/count_signals.py `terms`). `crawler`: a
    verified or declared crawler; `fake`: an agent claiming a search engine from outside its ranges."""

    path: Column
    lower_path: Column
    query: Column
    method: Column
    status: Column
    static: Column
    crawler: Column
    admin: Column
    cms: Column
    login: Column
    last_name: Column
    fake: Column


@dataclass(frozen=True)
class CountRule:
    """A filter, a distinct key and a limit (a settings field) with the public rule it matches."""

    rule_id: str
    category: str
    severity: str
    setting: str
    public: str
    when: Callable[[Terms], Column]
    distinct: str | None = None  # what is counted distinctly: a key of DISTINCT_KEYS, or None (rows)


# The statuses the rules compare a request's status with (Terms.status is compared with nothing
# else, and neither is the malformed rule's): every other status is decided alike, as OTHER_STATUS, so
# the rules are evaluated once per request line for each of these (analytics/count_signals.py).
# tests/unit/analytics/test_count_rules.py holds every rule to it for every status 100-599.
NAMED_STATUSES: tuple[int, ...] = (200, 400, 401, 403, 404)
OTHER_STATUS = 0

# The values a rule may count distinctly, by the column of their text on a rule's candidate rows
# (analytics/rule_input.py `texts`): the path ('' when the request line has none), the path with
# '?query', the query, the user agent ('' when missing).
DISTINCT_KEYS: dict[str, str] = {"path": "_rule_path", "path_query": "_path_query", "query": "query", "agent": "_ua"}


COUNT_RULES: tuple[CountRule, ...] = (
    CountRule(
        "WT-SEC-001",
        "path_scan",
        "medium",
        "probing",
        "CrowdSec http-probing",
        lambda row: row.status.isin(400, 403, 404) & ~row.static & ~row.crawler,
        "path",
    ),
    CountRule(
        "WT-SEC-001-NS",
        "path_scan",
        "medium",
        "noscript",
        "fail2ban apache-noscript",
        lambda row: (
            (row.status == 404)
            & functions.substring_index(row.last_name, ".", -1).isin(*_SCRIPT_EXTENSIONS)
            & row.last_name.contains(".")
            & ~row.crawler
        ),
    ),
    CountRule(
        "WT-SEC-001-NH",
        "path_scan",
        "medium",
        "nohome",
        "fail2ban apache-nohome",
        lambda row: (row.status == 404) & row.path.startswith("/~") & ~row.crawler,
    ),
    CountRule(
        "WT-SEC-001-FB",
        "path_scan",
        "medium",
        "forbidden",
        "fail2ban nginx-forbidden",
        lambda row: (row.status == 403) & ~row.crawler,
    ),
    CountRule(
        "WT-SEC-018",
        "admin_probing",
        "medium",
        "admin_probing",
        "CrowdSec http-admin-interface-probing",
        lambda row: row.status.isin(403, 404) & row.admin,
        "path",
    ),
    CountRule(
        "WT-SEC-019",
        "admin_probing",
        "medium",
        "botsearch",
        "fail2ban apache-botsearch / nginx-botsearch",
        lambda row: (row.status == 404) & row.admin,
    ),
    CountRule(
        "WT-SEC-020",
        "cms_scan",
        "medium",
        "cms_scan",
        "CrowdSec http-wordpress-scan",
        lambda row: row.status.isin(403, 404) & row.cms,
        "path",
    ),
    CountRule(
        "WT-SEC-021",
        "brute_force",
        "high",
        "wordpress_bf",
        "CrowdSec http-bf-wordpress_bf",
        lambda row: (row.method == "POST") & row.lower_path.endswith("/wp-login.php") & (row.status == 200),
    ),
    CountRule(
        "WT-SEC-022",
        "brute_force",
        "high",
        "xmlrpc_bf",
        "CrowdSec http-bf-wordpress_bf_xmlrpc",
        lambda row: (row.method == "POST") & row.lower_path.endswith("/xmlrpc.php"),
    ),
    CountRule(
        "WT-SEC-023",
        "brute_force",
        "high",
        "generic_bf",
        "CrowdSec http-generic-bf (401)",
        lambda row: (row.status == 401) & ~row.method.isin("OPTIONS", "PROPFIND", "REPORT"),
    ),
    CountRule(
        "WT-SEC-008",
        "brute_force",
        "high",
        "login_bf",
        "fail2ban apache-auth / nginx-http-auth",
        lambda row: ((row.method == "POST") & row.login & row.status.isin(401, 403)) | (row.status == 401),
    ),
    CountRule(
        "WT-SEC-025",
        "user_enumeration",
        "medium",
        "user_enumeration",
        "CrowdSec http-wordpress_user-enum",
        lambda row: (
            functions.upper(functions.coalesce(row.query, functions.lit(""))).contains("AUTHOR=")
            | row.lower_path.startswith("/wp-json/wp/v2/users")
            | functions.lower(functions.coalesce(row.query, functions.lit(""))).contains("rest_route=/wp/v2/users")
        ),
        "path_query",
    ),
    CountRule(
        "WT-SEC-026",
        "dos_fingerprint",
        "high",
        "invalid_http_version",
        "CrowdSec http-dos-invalid-http-versions",
        lambda row: (
            functions.col("protocol").startswith("HTTP/") & ~functions.col("protocol").isin(*_VALID_HTTP_VERSIONS)
        ),
    ),
    CountRule(
        "WT-SEC-027",
        "dos_fingerprint",
        "high",
        "cache_bypass",
        "CrowdSec http-dos-bypass-cache",
        lambda row: (
            functions.coalesce(row.query, functions.lit("")).rlike("^[0-9]{7,12}$") & ~row.static & ~row.crawler
        ),
        "query",
    ),
    CountRule(
        "WT-SEC-028",
        "dos_fingerprint",
        "high",
        "random_uri",
        "CrowdSec http-dos-random-uri",
        lambda row: (
            (row.method == "GET")
            & row.query.isNull()
            & ~row.static
            & ~row.crawler
            & functions.substring_index(row.last_name, ".", 1).rlike("^(?=[^a-z]*[A-Z])[^a-z]{6}$")
        ),
    ),
    CountRule(
        "WT-SEC-029",
        "dos_fingerprint",
        "high",
        "switching_ua",
        "CrowdSec http-dos-switching-ua",
        lambda row: ~row.crawler,
        "agent",
    ),
    CountRule(
        "WT-SEC-030",
        "aggressive_crawl",
        "medium",
        "aggressive_crawl",
        "CrowdSec http-crawl-non_statics",
        lambda row: ~row.static & ~row.crawler,
    ),
    CountRule(
        "WT-SEC-031",
        "fake_crawler",
        "high",
        "fake_crawler",
        "fail2ban apache-fakegooglebot",
        lambda row: row.fake,
    ),
)


def limit(rule: CountRule, settings: SecuritySettings) -> Bucket | Retry:
    return getattr(settings, rule.setting)


def describe(rule: CountRule, settings: SecuritySettings) -> str:
    """The public rule and its count, as the evidence states it."""
    lim = limit(rule, settings)
    count = (f"capacity {lim.capacity}, leakspeed {lim.leak_seconds:g}s" if isinstance(lim, Bucket)
             else f"maxretry {lim.maxretry}, findtime {lim.findtime_seconds:g}s")
    key = " distinct" if rule.distinct else ""
    return f"{rule.public} ({count}): >= {lim.threshold}{key} in {lim.window_seconds:g}s"
