"""The run summary printed by `python -m flows.daily` and published as Prefect artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Protocol


class _FileStats(Protocol):
    path: str
    size_bytes: int
    sha256: str
    lines_read: int
    lines_parsed: int
    lines_rejected: int


class _EventsResult(Protocol):
    files: Sequence[_FileStats]


@dataclass
class RunSummary:
    """What one daily run read, rejected and wrote."""

    run_id: str
    day: date
    inputs: list[dict[str, Any]]
    table_rows: dict[str, int]
    findings_by_category: dict[str, int]
    human_sessions: int
    bot_sessions: int
    users_read: int | None = None
    query_hint: str = ""
    quality: dict[str, int] = field(default_factory=dict)

    @property
    def lines_read(self) -> int:
        return input_totals(self.inputs)["lines_read"]

    @property
    def lines_parsed(self) -> int:
        return input_totals(self.inputs)["lines_parsed"]

    @property
    def lines_rejected(self) -> int:
        return input_totals(self.inputs)["lines_rejected"]

    @property
    def events_read(self) -> int:
        return input_totals(self.inputs)["events_read"]

    @property
    def events_rejected(self) -> int:
        return input_totals(self.inputs)["events_rejected"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["day"] = self.day.isoformat()
        data["status"] = "completed"
        for key in ("lines_read", "lines_parsed", "lines_rejected", "events_read", "events_rejected"):
            data[key] = getattr(self, key)
        return data

    def to_text(self) -> str:
        """The short plain-text summary for the terminal."""
        findings = ", ".join(f"{k} {v}" for k, v in sorted(self.findings_by_category.items())) or "none"
        tables = "\n".join(f"  webtrail.{t:<18} {n:>8} rows" for t, n in self.table_rows.items())
        return (
            f"webtrail daily run {self.run_id} for {self.day}: completed\n"
            f"  access log lines: read {self.lines_read}, parsed {self.lines_parsed}, "
            f"rejected {self.lines_rejected}\n"
            f"  events: read {self.events_read}, rejected {self.events_rejected}; "
            f"users: {self.users_read if self.users_read is not None else 'none'}\n"
            f"  sessions: {self.human_sessions} human, {self.bot_sessions} bot\n"
            f"  security findings: {findings}\n"
            f"  quality checks: {self.quality or 'none'}\n"
            f"tables written for {self.day}:\n{tables}\n"
            f"look at them: {self.query_hint}"
        )


def input_rows(access_stats: Sequence[_FileStats], events_result: _EventsResult | None) -> list[dict[str, Any]]:
    """One audit row per input file (run_inputs), access logs then event files."""
    rows: list[dict[str, Any]] = []
    event_stats = list(events_result.files) if events_result is not None else []
    for kind, stats in (("access_log", access_stats), ("events", event_stats)):
        for file_stats in stats:
            rows.append({
                "kind": kind, "path": file_stats.path, "size_bytes": file_stats.size_bytes,
                "sha256": file_stats.sha256, "lines_read": file_stats.lines_read,
                "lines_parsed": file_stats.lines_parsed, "lines_rejected": file_stats.lines_rejected,
            })
    return rows


def input_totals(inputs: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Run-level counts (pipeline_runs) from the per-file audit rows."""

    def total(kind: str, key: str) -> int:
        return sum(int(row[key]) for row in inputs if row["kind"] == kind)

    return {
        "lines_read": total("access_log", "lines_read"),
        "lines_parsed": total("access_log", "lines_parsed"),
        "lines_rejected": total("access_log", "lines_rejected"),
        "events_read": total("events", "lines_read"),
        "events_rejected": total("events", "lines_rejected"),
    }
