"""Security rule catalogue and pattern files (analytics/patterns/*.txt plus a user directory).

Pattern file format: one pattern per line; blank lines and lines starting with `#` are ignored; a
line starting with `re:` is a regular expression (the common subset of Java and Python syntax),
any other line is a literal substring. All matching is case-insensitive. A line may start with a
label in brackets, `[CVE-2021-44228] ${jndi:`: known_exploit.txt labels every line with the CVE
(or a short name) it detects, and the finding names it (`exploit_labels`). A file in
`SecuritySettings.patterns_dir` named like a built-in one (`sql_injection.txt`) adds its patterns
to that rule; a file with a new name (`my_probe.txt`) defines a new payload rule of that name,
matched on path, query, referer and user agent with severity medium.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from analytics.regex_guard import guard

BUILTIN_DIR = Path(__file__).resolve().parent / "patterns"

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

# Where a payload rule looks. path: the path; path_query: path + '?' + query; everywhere: path,
# query, referer and user agent; user_agent: the user agent only; request: the raw request line.
TARGETS: tuple[str, ...] = ("path", "path_query", "everywhere", "user_agent", "request")


@dataclass(frozen=True)
class PayloadRule:
    """A rule that fires on requests whose target text matches one of its patterns."""

    category: str
    rule_id: str
    severity: str
    target: str
    description: str
    escalate_on_success: bool = False  # a 2xx answer to a matching request makes it critical


PAYLOAD_RULES: tuple[PayloadRule, ...] = (
    PayloadRule("sensitive_file", "WT-SEC-002", "high", "path", "Sensitive file or status page probed", True),
    PayloadRule("path_traversal", "WT-SEC-003", "high", "path_query", "Directory traversal payload", True),
    PayloadRule("sql_injection", "WT-SEC-004", "high", "path_query", "SQL injection payload"),
    PayloadRule("xss", "WT-SEC-005", "medium", "path_query", "Cross-site scripting payload"),
    PayloadRule(
        "known_exploit",
        "WT-SEC-006",
        "critical",
        "everywhere",
        "Known exploit: a single request that triggers a named CVE (log4shell, Spring4Shell, Confluence...)",
    ),
    PayloadRule(
        "scanner_user_agent", "WT-SEC-007", "medium", "user_agent", "Vulnerability scanner user agent"
    ),
    PayloadRule("webshell", "WT-SEC-012", "high", "path_query", "Webshell or backdoor name requested", True),
    PayloadRule("rfi", "WT-SEC-017", "high", "path_query", "Remote file inclusion: URL or PHP wrapper as argument"),
    PayloadRule(
        "open_proxy", "WT-SEC-013", "medium", "request", "Open-proxy probe (absolute URI or CONNECT)"
    ),
)


@dataclass(frozen=True)
class ThresholdRule:
    """A rule that fires when a count per client IP reaches a threshold within a window."""

    category: str
    rule_id: str
    severity: str
    description: str


THRESHOLD_RULES: dict[str, ThresholdRule] = {
    r.category: r
    for r in (
        ThresholdRule(
            "path_scan", "WT-SEC-001", "medium", "Many distinct non-static paths answered 400/403/404"
        ),
        ThresholdRule("brute_force", "WT-SEC-008", "high",
                      "Failed logins: wp-login.php / xmlrpc.php POST streams, 401s, login POSTs answered 401/403"),
        ThresholdRule(
            "credential_stuffing",
            "WT-SEC-009",
            "high",
            "Distinct user ids with login_failure events in the window",
        ),
        ThresholdRule("flood", "WT-SEC-010", "medium", "Requests in one calendar minute"),
        ThresholdRule(
            "anomaly",
            "WT-SEC-011",
            "low",
            "Requests per active minute far above the day's median (robust z-score)",
        ),
        # analytics/window_rules.py and analytics/anomalies.py
        ThresholdRule(
            "malformed_request", "WT-SEC-014", "medium",
            "Requests answered 400, binary junk or a non-HTTP protocol in the window",
        ),
        ThresholdRule(
            "account_takeover", "WT-SEC-015", "high",
            "login_success after many login_failure events from the same IP in the window",
        ),
        ThresholdRule(
            "error_ratio_anomaly", "WT-SEC-016", "low",
            "Share of 4xx/5xx answers far above the day's median (robust z-score)",
        ),
        # analytics/count_rules.py (the first rule of each category)
        ThresholdRule("admin_probing", "WT-SEC-018", "medium", "Admin interfaces probed (answered 403/404)"),
        ThresholdRule("cms_scan", "WT-SEC-020", "medium", "CMS plugin / theme / core files probed (403/404)"),
        ThresholdRule("user_enumeration", "WT-SEC-025", "medium", "User enumeration (?author=N, users API)"),
        ThresholdRule("dos_fingerprint", "WT-SEC-026", "high",
                      "DoS tool fingerprint: invalid HTTP version, cache-busters, random URIs, switching agents"),
        ThresholdRule("aggressive_crawl", "WT-SEC-030", "medium", "Aggressive crawling of non-static pages"),
        ThresholdRule("fake_crawler", "WT-SEC-031", "high",
                      "User agent claims a search engine from outside the engine's published ranges"),
        ThresholdRule("sigma", "WT-SIGMA", "medium", "A Sigma rule (category webserver) matched"),
    )
}


_LABEL = re.compile(r"^\[([A-Za-z0-9._-]+)\]\s+")
# Pattern files that feed count rules or checks, not a payload rule of their own.
DATA_FILES = frozenset({"login_endpoints", "good_bots", "admin_interfaces", "cms_scan"})


def labelled_patterns(text: str) -> list[tuple[str | None, str]]:
    """(label or None, regex source) of each pattern line: literals escaped, `re:` lines as written."""
    out: list[tuple[str | None, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        label = None
        if found := _LABEL.match(line):
            label, line = found.group(1), line[found.end():]
        out.append((label, line[3:] if line.startswith("re:") else re.escape(line)))
    return out


def parse_patterns(text: str) -> list[str]:
    """Regex sources of a pattern file's text (labels dropped)."""
    return [source for _, source in labelled_patterns(text)]


def exploit_labels(extra_dir: Path | None = None) -> list[tuple[str, str]]:
    """(label, regex) of every known_exploit line, built-in first; unlabelled lines get 'known_exploit'."""
    dirs = [BUILTIN_DIR] + ([Path(extra_dir)] if extra_dir is not None else [])
    out: list[tuple[str, str]] = []
    for directory in dirs:
        file = directory / "known_exploit.txt"
        if file.exists():
            out += [(label or "known_exploit", src) for label, src in labelled_patterns(file.read_text("utf-8"))]
    return out


def load_patterns(extra_dir: Path | None = None) -> dict[str, list[str]]:
    """Patterns per file stem: the built-in files, then the files of `extra_dir` appended."""
    patterns: dict[str, list[str]] = {}
    dirs = [BUILTIN_DIR] + ([Path(extra_dir)] if extra_dir is not None else [])
    for directory in dirs:
        for file in sorted(directory.glob("*.txt")):
            patterns.setdefault(file.stem, []).extend(parse_patterns(file.read_text(encoding="utf-8")))
    return patterns


def combined_regex(patterns: list[str]) -> str:
    """One case-insensitive alternation of the patterns (each validated with Python's `re`).

    Led by a lookahead of the characters a match can start with (analytics/regex_guard.py): the same
    matches, several times faster on long texts.
    """
    for pattern in patterns:
        re.compile(pattern)
    return "(?i)" + guard(patterns) + "(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"


def payload_rules(patterns: dict[str, list[str]]) -> list[PayloadRule]:
    """The built-in payload rules plus one per user-defined pattern file of a new name."""
    reserved = {r.category for r in PAYLOAD_RULES} | DATA_FILES
    extra = [
        PayloadRule(name, f"WT-USER-{name}", "medium", "everywhere", f"User-defined patterns {name}.txt")
        for name in sorted(patterns)
        if name not in reserved
    ]
    return [r for r in PAYLOAD_RULES if patterns.get(r.category)] + extra
