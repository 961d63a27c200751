"""The common shape of every security rule's output, and the input contract every rule reads.

A rule (analytics/security.py `RULES`) is a pure function `rule(requests, events, detection)`:

- `requests`: the prepared requests of the day (analytics/detectors.py `prepare`): the REQUESTS
  staging columns, the results of the pattern matching (detectors.MATCHED_COLUMNS: `_good_bot`,
  `_claimed`, `_engine`, `_hits`, `_sigma`, `_ua`, ...), `ts` (requested_at), `ts_us` (its epoch
  microseconds), `_user` (the remote user, null for '-') and `_request` (the raw request line, or
  'METHOD path'). Allowlisted requests are already left out.
- `events`: the day's application events (EVENTS columns), allowlisted IPs left out.
- `detection`: the detectors.Detection (patterns, labels, Sigma rules, `settings`).

It returns rows of SIGNAL_COLUMNS. A row whose `window_span` is null is a signal as it is. A row with
a `window_span` is a candidate of a sliding count: it is a signal when it lies in a window that
reached its `threshold` (analytics/windows.py evaluates every rule's windows in one pass), and its
`metric` is then the count of the window ending at it. No rule reads another rule's columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import Column, DataFrame, functions

from analytics import rules

US_PER_MINUTE = 60_000_000

FINDING_COLUMNS = (
    "client_ip", "category", "rule_id", "severity", "ts", "path", "user_id", "request", "status", "matched",
    "metric", "threshold", "window_minutes", "detail",
)
# window_at: the row's position on its rule's time axis (an integer: epoch microseconds, or the count
# rules' scaled time); window_span: the window's length on that axis, a window ending at t being
# (t - span, t]; window_key: the value counted distinctly (null: not counted), when window_distinct.
WINDOW_COLUMNS = ("window_at", "window_span", "window_key", "window_distinct")
SIGNAL_COLUMNS = FINDING_COLUMNS + WINDOW_COLUMNS
_TYPES = {
    "status": "int", "metric": "double", "threshold": "double", "window_minutes": "int", "ts": "timestamp",
    "window_at": "long", "window_span": "long", "window_distinct": "boolean",
}

Rule = Callable[[DataFrame, DataFrame, Any], DataFrame]  # (requests, events, detectors.Detection) -> signals


def to_signals(df: DataFrame, **values: Any) -> DataFrame:
    """Rows in the signal shape: `values` (Columns or literals), else df's column of that name, else null."""
    out = []
    for name in SIGNAL_COLUMNS:
        value = values.get(name, functions.col(name) if name in df.columns else None)
        col = value if isinstance(value, Column) else functions.lit(value)
        out.append(col.cast(_TYPES.get(name, "string")).alias(name))
    return df.select(*out)


def no_signals(df: DataFrame) -> DataFrame:
    """An empty frame of the signal shape."""
    return to_signals(df.limit(0))


def threshold_rule(category: str, threshold: float, window: int | None) -> dict[str, Any]:
    """The signal values naming a rules.THRESHOLD_RULES rule: category, rule_id, severity, threshold, window."""
    rule = rules.THRESHOLD_RULES[category]
    return {"category": category, "rule_id": rule.rule_id, "severity": rule.severity, "threshold": threshold,
            "window_minutes": window}


def login_event_text(outcome: str) -> Column:
    """The `request` of a login event signal: 'event login_<outcome> user=<id> path=<path>'."""
    return functions.concat(
        functions.lit(f"event login_{outcome} user="), functions.coalesce("user_id", functions.lit("-")),
        functions.lit(" path="), functions.coalesce("path", functions.lit("-")),
    )
