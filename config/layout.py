"""Where each stage of one day's run reads and writes its files under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

OUTPUT_TABLES: tuple[str, ...] = (
    "sessions", "user_daily", "page_daily", "funnel_daily", "client_daily", "referrer_daily",
    "traffic_minute", "endpoint_daily", "status_daily", "security_findings", "ip_daily",
)


@dataclass(frozen=True)
class DayLayout:
    """Paths of one day's staging datasets and Spark outputs (Parquet files or directories)."""

    data_dir: Path
    day: date

    @property
    def staging(self) -> Path:
        return self.data_dir / "staging" / f"day={self.day.isoformat()}"

    @property
    def requests(self) -> Path:
        return self.staging / "requests.parquet"

    @property
    def rejected(self) -> Path:
        return self.staging / "rejected.parquet"

    @property
    def events(self) -> Path:
        return self.staging / "events.parquet"

    @property
    def events_rejected(self) -> Path:
        return self.staging / "events_rejected.parquet"

    @property
    def events_api_download(self) -> Path:
        """The day's events as fetched from the HTTP API, before validation."""
        return self.staging / "events_api.jsonl"

    @property
    def users(self) -> Path:
        return self.staging / "users.parquet"

    @property
    def user_agents(self) -> Path:
        return self.staging / "user_agents.parquet"

    @property
    def output(self) -> Path:
        return self.data_dir / "output" / f"day={self.day.isoformat()}"

    def output_table(self, table: str) -> Path:
        """Directory of Parquet part files Spark wrote for one output table."""
        return self.output / table
