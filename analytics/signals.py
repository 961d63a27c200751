"""The common shape of every security rule's output, and the input every rule reads.

A rule (analytics/security.py `RULES`) is a pure function `rule(day: RuleInput) -> signal rows`:

- `day.requests`: the day's requests that count for the rules (allowlisted ones left out), as the
  per-request frame has them (analytics/request_frame.py): the fact keys, `t` (epoch microseconds),
  `status`, `good_bot` (a verified or declared crawler), `fake` (a claim of a search engine from outside
  its ranges), `count_mask` (the count rules the request qualifies for, analytics/count_signals.py),
  `malformed` (analytics/window_rules.py) and `payload` (some pattern matched one of its parts,
  analytics/lookups.py).
- `day.candidates`: the few of those requests a request rule can turn into a signal, with their texts
  (analytics/rule_input.py `candidates`: what the day's per-client and per-minute counts say of them).
- `day.events`: the day's application events (EVENTS columns), allowlisted addresses left out.
- `day.facts`, `day.lookups`, `day.detection`: the keys' dictionaries, what each distinct value means,
  and what the rules match with.
- `day.texts(rows)`: rows with the texts of their keys (path, request line, user...), for the few
  rows that become signals (the candidates have them already).

A rule returns rows of SIGNAL_COLUMNS. A row whose `window_span` is null is a signal as it is. A row
with a `window_span` is a candidate of a sliding count: it is a signal when it lies in a window that
reached its `threshold` (analytics/windows.py evaluates every rule's windows in one pass), and its
`metric` is then the count of the window ending at it. Request-based rows name their client by
`client_key` (and a null `client_ip`), event-based ones by `client_ip`; analytics/security.py gives
every row its address before the windows. No rule reads another rule's columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame, functions

from analytics import rules

if TYPE_CHECKING:  # the lookups evaluate the count rules, whose signals are of this shape
    from analytics.detectors import Detection
    from analytics.facts import RequestFacts
    from analytics.lookups import Lookups

US_PER_MINUTE = 60_000_000

FINDING_COLUMNS = (
    "client_ip", "category", "rule_id", "severity", "ts", "path", "user_id", "request", "status", "matched",
    "metric", "threshold", "window_minutes", "detail",
)
# window_at: the row's position on its rule's time axis (an integer: epoch microseconds, or the count
# rules' scaled time); window_span: the window's length on that axis, a window ending at t being
# (t - span, t]; window_key: the value counted distinctly (null: not counted), when window_distinct.
WINDOW_COLUMNS = ("window_at", "window_span", "window_key", "window_distinct")
SIGNAL_COLUMNS = ("client_key", *FINDING_COLUMNS, *WINDOW_COLUMNS)
_TYPES = {
    "client_key": "int", "status": "int", "metric": "double", "threshold": "double", "window_minutes": "int",
    "ts": "timestamp", "window_at": "long", "window_span": "long", "window_distinct": "boolean",
}


@dataclass(frozen=True)
class RuleInput:
    """What every rule reads (module docstring)."""

    requests: DataFrame
    candidates: DataFrame
    events: DataFrame
    facts: RequestFacts
    lookups: Lookups
    detection: Detection
    texts: Callable[[DataFrame], DataFrame]


Rule = Callable[[RuleInput], DataFrame]


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


def request_texts() -> dict[str, Column]:
    """The signal columns of a request row that `RuleInput.texts` gave its texts: time, path, user
    (the remote user, null for '-'), request (the raw line, or 'METHOD path') and status."""
    return {
        "ts": functions.timestamp_micros("t"),
        "path": functions.col("path"),
        "user_id": functions.when(~functions.col("remote_user").isin("-", ""), functions.col("remote_user")),
        "request": functions.coalesce(functions.col("request"), functions.concat_ws(" ", "method", "path")),
        "status": functions.col("status"),
    }


def login_event_text(outcome: str) -> Column:
    """The `request` of a login event signal: 'event login_<outcome> user=<id> path=<path>'."""
    return functions.concat(
        functions.lit(f"event login_{outcome} user="), functions.coalesce("user_id", functions.lit("-")),
        functions.lit(" path="), functions.coalesce("path", functions.lit("-")),
    )
