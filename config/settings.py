"""All tunable settings of webtrail in one place.

Every value can be set with an environment variable (prefix ``WEBTRAIL_``, nested groups joined with
``__``, e.g. ``WEBTRAIL_SECURITY__FLOOD_REQUESTS_PER_MINUTE=500``) or passed as a flow parameter.
The README's configuration table lists them; keep the two in step.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_logs"


class ParserSettings(BaseModel):
    """How access logs are read."""

    log_format: str | None = Field(
        default=None,
        description="Named format (combined, common, vhost_combined, main, combined_timed, combined_upstream, "
        "combined_timed_upstream, json) or an nginx log_format / Apache LogFormat string; None detects it "
        "from a sample of lines. With log_format_config: the name of the format in that file.",
    )
    log_format_config: Path | None = Field(
        default=None,
        description="nginx or Apache configuration file to read the format from (log_format NAME ...; or "
        "LogFormat \"...\" NAME), chosen by log_format (optional when the file defines one format).",
    )
    trust_x_forwarded_for: bool = Field(
        default=False, description="Use the first X-Forwarded-For address as the client when present."
    )
    max_line_bytes: int = Field(default=65_536, description="Longer lines are rejected as over-long.")
    rejected_raw_chars: int = Field(default=2_000, description="Raw text kept per rejected line.")
    batch_lines: int = Field(default=100_000, description="Lines parsed per polars batch (bounds memory).")
    parse_threads: int = Field(
        default=2, ge=1, description="Batches parsed at once (threads) while the next is read and the last written."
    )


class SessionSettings(BaseModel):
    """Sessionization rules (README, "Tables" and "Sessions and midnight"; analytics/sessions.py)."""

    gap_minutes: int = Field(default=30, ge=1, description="Inactivity that starts a new session.")
    split_at_midnight: bool = Field(default=False, description="Also end sessions at 00:00 UTC (GA4: off).")
    overlap_minutes: int = Field(
        default=120,
        ge=0,
        description="Minutes of the neighbouring days each run reads on both sides of its day: a session "
        "begun before midnight runs on up to this long into the next day (then it is split), and stays "
        "whole in the day it started. At least gap_minutes.",
    )

    @model_validator(mode="after")
    def _overlap_covers_gap(self) -> SessionSettings:
        # a run must see the gap before its first request to know whether that request starts a session
        if not self.split_at_midnight and self.overlap_minutes < self.gap_minutes:
            raise ValueError(
                f"WEBTRAIL_SESSIONS__OVERLAP_MINUTES ({self.overlap_minutes}) must be at least "
                f"WEBTRAIL_SESSIONS__GAP_MINUTES ({self.gap_minutes}): a run reads that much of the day "
                "before to tell a session started after midnight from one continued across it"
            )
        return self

    @property
    def overlap(self) -> timedelta:
        """How much of the neighbouring days a run reads on each side of its day."""
        return timedelta(minutes=self.overlap_minutes)

    @property
    def carry_over(self) -> timedelta:
        """How long after midnight a session begun the day before may continue (0 with split_at_midnight)."""
        return timedelta(0) if self.split_at_midnight else self.overlap


class Bucket(BaseModel):
    """A leaky bucket as CrowdSec defines it: it holds `capacity` events and leaks one every `leak_seconds`.

    webtrail evaluates it as the sliding window that fires on the same sequences (analytics/count_rules.py):
    `capacity + 1` events within `capacity * leak_seconds`.
    """

    capacity: int = Field(ge=0, description="Events the bucket holds; one more overflows it (0: every event).")
    leak_seconds: float = Field(gt=0, description="Seconds per leaked event (CrowdSec's leakspeed).")

    @property
    def threshold(self) -> int:
        return self.capacity + 1

    @property
    def window_seconds(self) -> float:
        return max(self.capacity, 1) * self.leak_seconds


class Retry(BaseModel):
    """A fail2ban jail's count: `maxretry` matching lines within `findtime` seconds."""

    maxretry: int = Field(ge=1, description="Matching requests that ban (fail2ban maxretry).")
    findtime_seconds: float = Field(gt=0, description="Window in seconds (fail2ban findtime).")

    @property
    def threshold(self) -> int:
        return self.maxretry

    @property
    def window_seconds(self) -> float:
        return self.findtime_seconds


def _bucket(capacity: int, leak_seconds: float, what: str) -> Any:
    return Field(default_factory=lambda: Bucket(capacity=capacity, leak_seconds=leak_seconds), description=what)


def _retry(maxretry: int, findtime_seconds: float, what: str) -> Any:
    return Field(default_factory=lambda: Retry(maxretry=maxretry, findtime_seconds=findtime_seconds), description=what)


class SecuritySettings(BaseModel):
    """Thresholds of the security rules: a rule fires at `count >= threshold` within its window.

    Count rules of the public detectors carry their public counts: `Bucket` (CrowdSec capacity and
    leakspeed) or `Retry` (fail2ban maxretry and findtime); README "Detection coverage" maps them.
    """

    probing: Bucket = _bucket(10, 10, "http-probing: distinct non-static paths answered 400/403/404.")
    admin_probing: Bucket = _bucket(4, 10, "http-admin-interface-probing: distinct admin paths answered 403/404.")
    botsearch: Retry = _retry(2, 600, "apache/nginx-botsearch: admin and CMS paths answered 404.")
    noscript: Retry = _retry(5, 600, "apache-noscript: script files (.php, .asp, .cgi...) answered 404.")
    nohome: Retry = _retry(2, 600, "apache-nohome: home directories (/~user) answered 404.")
    forbidden: Retry = _retry(5, 600, "nginx-forbidden: requests answered 403.")
    cms_scan: Bucket = _bucket(3, 10, "http-wordpress-scan: distinct CMS files answered 403/404.")
    wordpress_bf: Bucket = _bucket(5, 10, "http-bf-wordpress_bf: POST wp-login.php answered 200.")
    xmlrpc_bf: Bucket = _bucket(5, 120, "http-bf-wordpress_bf_xmlrpc: POST xmlrpc.php.")
    generic_bf: Bucket = _bucket(5, 10, "http-generic-bf: requests answered 401 (not OPTIONS/PROPFIND/REPORT).")
    login_bf: Retry = _retry(5, 600, "apache-auth style: login POSTs answered 401/403 and 401s.")
    user_enumeration: Bucket = _bucket(5, 10, "http-wordpress_user-enum: distinct ?author= / users queries.")
    cache_bypass: Bucket = _bucket(30, 1, "http-dos-bypass-cache: distinct 7-12 digit queries on non-static paths.")
    random_uri: Bucket = _bucket(30, 1, "http-dos-random-uri: GETs of 6-character upper-case names.")
    switching_ua: Bucket = _bucket(10, 8, "http-dos-switching-ua: distinct user agents.")
    invalid_http_version: Bucket = _bucket(0, 1, "http-dos-invalid-http-versions: trigger on one request.")
    aggressive_crawl: Bucket = _bucket(40, 0.5, "http-crawl-non_statics: non-static requests.")
    fake_crawler: Retry = _retry(1, 600, "apache-fakegooglebot: a search-engine claim from outside its ranges.")
    static_extensions: list[str] = Field(
        default=["css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "ico", "svg", "webp", "avif", "bmp",
                 "woff", "woff2", "ttf", "eot", "otf", "mp4", "webm", "mp3", "ogg", "pdf"],
        description="Extensions of static resources (CrowdSec's static_ressource), left out of the probing, "
        "crawl and DoS counts.",
    )
    allow_ips: list[str] = Field(default_factory=list, description="Client IPs that never get a finding.")
    allow_cidrs: list[str] = Field(
        default_factory=list, description="Networks (CIDR, IPv4 or IPv6) that never get a finding: CDN, proxies."
    )
    allow_user_agents: list[str] = Field(
        default_factory=list,
        description="Regexes (case-insensitive) of user agents whose requests never count: health checkers, "
        "your monitoring.",
    )
    crawler_ranges_dir: Path | None = Field(
        default=None, description="Directory of refreshed search-engine range files replacing the built-in ones."
    )
    sigma_rules_dir: Path | None = Field(
        default=None, description="Directory of Sigma rules (category webserver) evaluated on every request."
    )

    @model_validator(mode="before")
    @classmethod
    def _partial_counts(cls, data: Any) -> Any:
        # WEBTRAIL_SECURITY__PROBING__CAPACITY=20 alone keeps the rule's default leak (and vice versa)
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                value = data.get(name)
                if isinstance(value, dict) and field.annotation in (Bucket, Retry) and field.default_factory:
                    data = {**data, name: field.default_factory().model_dump() | value}
        return data

    window_minutes: int = Field(
        default=10, description="Sliding window of credential_stuffing, malformed_request and account_takeover."
    )
    credential_stuffing_users: int = Field(
        default=5, description="Distinct user ids with login_failure events per IP in a window."
    )
    flood_requests_per_minute: int = Field(default=300, description="Requests per IP in one minute.")
    injection_min_requests: int = Field(default=1, description="Requests carrying an injection payload.")
    anomaly_min_requests: int = Field(default=200, description="Minimum requests before an IP is scored.")
    anomaly_score: float = Field(default=12.0, description="Robust z-score (median / MAD) that flags an IP.")
    malformed_requests: int = Field(
        default=10, description="Malformed requests (400, no method, non-HTTP protocol) per IP in a window."
    )
    account_takeover_failures: int = Field(
        default=5, description="login_failure events from an IP in the window before one of its login_success."
    )
    error_ratio_min_requests: int = Field(
        default=20, description="Requests before an IP's error ratio is scored (and part of the baseline)."
    )
    error_ratio_min: float = Field(default=0.5, description="4xx+5xx share an IP needs to be flagged at all.")
    error_ratio_score: float = Field(
        default=6.0, description="Robust z-score of an IP's 4xx+5xx share against the day's that flags it."
    )
    spike_score: float = Field(
        default=10.0, description="Robust z-score of a minute's requests that marks it is_spike in traffic_minute."
    )
    bot_categories: list[str] = Field(
        default=[
            "path_scan", "sensitive_file", "path_traversal", "sql_injection", "xss", "known_exploit",
            "scanner_user_agent", "brute_force", "credential_stuffing", "flood", "webshell",
            "open_proxy", "malformed_request", "account_takeover", "admin_probing", "cms_scan",
            "user_enumeration", "rfi", "dos_fingerprint", "aggressive_crawl", "fake_crawler",
        ],
        description="Finding categories whose IPs are treated as automated (kept out of human sessions).",
    )
    alert_min_severity: Literal["low", "medium", "high", "critical"] = Field(
        default="high", description="Findings at or above this severity emit a Prefect event (alerts)."
    )
    patterns_dir: Path | None = Field(
        default=None, description="Directory of extra pattern files added to the built-in ones."
    )


class QualitySettings(BaseModel):
    """Data-contract thresholds passed to the Soda contracts as variables."""

    max_reject_ratio: float = Field(default=0.01, description="Blocking: rejected / read lines per run.")
    # Shapes of real traffic (README, "What a request is"): measured, warn only. Internet-facing
    # sites log 1-6% empty requests (connections closed before a request line).
    max_empty_request_share: float = Field(
        default=0.10, description="Warn: requests with an empty request line ('-') / requests."
    )
    max_malformed_request_share: float = Field(
        default=0.02, description="Warn: requests whose request line is junk (TLS bytes, no target) / requests."
    )
    max_non_standard_method_share: float = Field(
        default=0.01,
        description="Warn: requests with a method outside RFC 9110 and WebDAV, or a non-HTTP protocol / requests.",
    )


class StagingSettings(BaseModel):
    """How the staged raw requests are laid out on disk and how long they are kept."""

    cluster_by_ip: bool = Field(
        default=False,
        description="Rewrite each day's requests.parquet sorted by client_ip (then time) so that one IP's rows "
        "sit in a few row groups and investigations skip the rest by their statistics. Off by default: the sort "
        "costs more than the parse on a 10M-line day, and the investigation targets hold without it (BENCHMARKS.md).",
    )
    row_group_rows: int = Field(default=100_000, ge=1_000, description="Rows per Parquet row group when clustering.")
    sort_memory: str = Field(default="1GB", description="Memory DuckDB may use to sort a day (spills to disk beyond).")
    retention_days: int = Field(
        default=30, ge=0, description="Days of staged raw requests kept (newest days by date); 0 keeps every day."
    )


class BlocklistSettings(BaseModel):
    """Blocklists written from the security findings (flows/blocklist.py)."""

    min_severity: Literal["low", "medium", "high", "critical"] = Field(
        default="high", description="Findings at or above this severity put their IP on the blocklist."
    )
    ban_hours: float = Field(
        default=168.0, gt=0, description="Ban duration: an entry expires this long after the IP was last seen."
    )
    allowlist: list[str] = Field(
        default=["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7"],
        description="Networks (CIDRs or single IPs) never blocked.",
    )
    block_declared_crawlers: bool = Field(
        default=False,
        description="Also block IPs whose every request declares a good crawler (analytics/patterns/good_bots.txt).",
    )
    aggregate_min_ips: int = Field(
        default=3, ge=2, description="Offending IPs of one /24 (IPv4) or /64 (IPv6) that become one CIDR entry."
    )


class SparkSettings(BaseModel):
    master: str = Field(default="local[*]", description="spark.master: local[*], spark://..., yarn, k8s://...")
    driver_memory: str = Field(default="2g", description="spark.driver.memory")
    shuffle_partitions: int = Field(default=8, description="spark.sql.shuffle.partitions")
    extra_conf: dict[str, str] = Field(default_factory=dict, description="Any other spark.* settings.")
    early_start: bool = Field(
        default=True,
        description="`python -m flows.daily` starts the JVM in the background before the flow, so it overlaps "
        "Prefect's start-up and the parsers.",
    )
    driver_jit: Literal["auto", "quick", "optimizing"] = Field(
        default="auto",
        description="The driver JVM's JIT compiler: `quick` stops at C1 (-XX:TieredStopAtLevel=1), which "
        "compiles Spark's many short-lived plans cheaply; `optimizing` is HotSpot's default (C1 then C2), "
        "which pays off on long scans; `auto` takes `quick` for days of at most `quick_jit_max_log_mib`.",
    )
    quick_jit_max_log_mib: int = Field(
        default=256,
        ge=0,
        description="With driver_jit `auto`: the largest day (its access logs' bytes as stored) run with the "
        "quick JIT.",
    )
    class_archive: bool = Field(
        default=True,
        description="Keep a class-data-sharing archive of the driver JVM's classes (analytics/class_archive.py): "
        "the first run writes it as its JVM exits, later runs start from it.",
    )
    class_archive_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "webtrail" / "jvm",
        description="Where the driver JVM's class archives are kept (one per JVM build and Spark version).",
    )
    interpreted_max_requests: int = Field(
        default=20_000,
        ge=0,
        description="Days with at most this many staged requests run Spark's expressions interpreted "
        "(no whole-stage or expression code generation): compiling the generated code costs more than it saves there.",
    )


class WebtrailSettings(BaseSettings):
    """Top-level settings; environment variables override the defaults."""

    model_config = SettingsConfigDict(env_prefix="WEBTRAIL_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(
        default=Path(".webtrail"),
        description="Staging Parquet, Spark outputs and the embedded PostgreSQL live here.",
    )
    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL URL; unset starts the embedded PostgreSQL under data_dir."
    )
    database_secret_block: str | None = Field(
        default=None,
        description="Name of a Prefect Secret block holding the PostgreSQL URL (used when no URL is set).",
    )
    access_logs: list[str] = Field(
        default_factory=list,
        description="Access-log files, globs or directories; empty means the bundled sample_logs/ day.",
    )
    events: list[str] = Field(
        default_factory=list, description="JSON-lines event files or globs; empty means none (or the sample's)."
    )
    events_api_url: str | None = Field(
        default=None,
        description="HTTP JSON API to pull the day's events from (paged; `start` / `end` query parameters).",
    )
    users_db: str | None = Field(
        default=None, description="User DB: SQLAlchemy URL, SQLite file or CSV; None means none (or the sample's)."
    )
    rejected_lines_cap: int = Field(default=1_000, description="Rejected lines stored per input file.")
    funnel_steps: list[str] = Field(
        default=["page_view:/product/", "add_to_cart", "checkout", "purchase"],
        description="Funnel steps: an event type, optionally ':path-prefix' for page_view.",
    )
    parser: ParserSettings = Field(default_factory=ParserSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    staging: StagingSettings = Field(default_factory=StagingSettings)
    blocklist: BlocklistSettings = Field(default_factory=BlocklistSettings)

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def output_dir(self) -> Path:
        return self.data_dir / "output"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"
