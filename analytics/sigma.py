"""Sigma rules for web server logs, parsed with pySigma and evaluated as Spark column expressions.

Rules (`*.yml` / `*.yaml`, one or several documents per file) load from
`SecuritySettings.sigma_rules_dir`. Only rules whose logsource is `category: webserver` (or
`product: apache` / `nginx` / `iis` with no category) are kept. pySigma parses the detection and
its condition (`1 of selection_*`, `all of them`, `not filter`, `and` / `or`), applying the value
modifiers (`contains`, `startswith`, `endswith`, `all`, `re`, `cidr` is not supported); this module
turns the parsed tree into one boolean Column per rule over the request columns (FIELDS).
String values match case-insensitively with Sigma's wildcards (`*`, `?`), regexes as written, and a
keyword (a value without a field) anywhere in the raw request line, referer or user agent.

Why not pysigma-backend-databricks: its current release (0.1.7) requires pySigma < 2.0 (webtrail
runs pySigma 2.x), and it emits SQL text for Databricks, which would still need mapping to our
columns and parsing back into a plan; the tree walk below is about 100 lines and has no string SQL.

A rule that cannot be read or compiled (bad YAML, an unknown field, an unsupported modifier) is
reported in `SigmaLoad.errors` (file, rule, reason), logged as a warning, and skipped: it never
fails the run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pyspark.sql import Column, functions

log = logging.getLogger(__name__)

# Sigma webserver field names (W3C extended log format, as SigmaHQ uses them) -> request columns.
FIELDS: dict[str, str] = {
    "c-ip": "client_ip", "clientip": "client_ip", "src_ip": "client_ip",
    "cs-method": "method", "method": "method",
    "cs-uri-stem": "path", "uri": "path",
    "cs-uri-query": "query",
    "cs-uri": "_uri", "url": "_uri", "request": "request",
    "sc-status": "status", "status": "status",
    "cs-user-agent": "user_agent", "c-useragent": "user_agent", "useragent": "user_agent",
    "cs-referer": "referer", "cs-referrer": "referer", "referer": "referer",
    "cs-username": "remote_user", "cs-host": "vhost", "cs-version": "protocol",
    "sc-bytes": "bytes", "time-taken": "request_time_ms",
}
SEVERITY = {"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
_WEB_PRODUCTS = {"apache", "nginx", "iis", "webserver"}


class SigmaCompileError(ValueError):
    """A rule uses something this evaluator cannot express."""


@dataclass(frozen=True)
class WebRule:
    """One compiled Sigma rule: its identity and its condition over the request columns."""

    rule_id: str
    title: str
    severity: str
    tags: tuple[str, ...]
    condition: Column
    source: str


@dataclass
class SigmaLoad:
    rules: list[WebRule] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _column(name: str) -> Column:
    target = FIELDS.get(name.lower())
    if target is None:
        raise SigmaCompileError(f"field {name!r} is not a web server field webtrail maps ({', '.join(sorted(FIELDS))})")
    if target == "_uri":
        return functions.when(functions.col("query").isNull(), functions.col("path")).otherwise(
            functions.concat_ws("?", "path", "query")
        )
    return functions.col(target)


def _string_match(col: Column, value: object) -> Column:
    from sigma.types import SigmaString, SpecialChars

    assert isinstance(value, SigmaString)
    parts = value.s
    plain = [p for p in parts if isinstance(p, str)]
    wild = [p for p in parts if not isinstance(p, str)]
    text = functions.lower(col.cast("string"))
    if not wild:
        return text == "".join(plain).lower()
    if all(w == SpecialChars.WILDCARD_MULTI for w in wild) and len(plain) == 1:
        needle = functions.lit(plain[0].lower())
        starts, ends = parts[0] == SpecialChars.WILDCARD_MULTI, parts[-1] == SpecialChars.WILDCARD_MULTI
        if starts and ends and len(parts) == 3:
            return text.contains(needle)
        if ends and len(parts) == 2:
            return text.startswith(needle)
        if starts and len(parts) == 2:
            return text.endswith(needle)
    regex = "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p == SpecialChars.WILDCARD_MULTI else ".") for p in parts
    )
    return col.cast("string").rlike("(?is)^" + regex + "$")


def _value_match(col: Column, value: object) -> Column:
    from sigma.types import SigmaBool, SigmaNull, SigmaNumber, SigmaRegularExpression, SigmaString

    if isinstance(value, SigmaNull):
        return col.isNull()
    if isinstance(value, SigmaNumber):
        return col.cast("double") == float(value.number)
    if isinstance(value, SigmaBool):
        return col.cast("boolean") == functions.lit(value.boolean)
    if isinstance(value, SigmaRegularExpression):
        flags = "".join(sorted({f.name[0].lower() for f in value.flags} & {"i", "m", "s"}))
        regex = value.regexp.to_plain() if hasattr(value.regexp, "to_plain") else str(value.regexp)
        re.compile(regex)
        return col.cast("string").rlike((f"(?{flags})" if flags else "") + regex)
    if isinstance(value, SigmaString):
        return _string_match(col, value)
    raise SigmaCompileError(f"value type {type(value).__name__} is not supported")


def _keyword(value: object) -> Column:
    """A keyword (value without field) matches as a substring of the request line, referer or agent."""
    from sigma.types import SigmaString, SpecialChars

    if isinstance(value, SigmaString):
        parts = list(value.s)
        if parts[:1] != [SpecialChars.WILDCARD_MULTI]:
            parts = [SpecialChars.WILDCARD_MULTI, *parts]
        if parts[-1:] != [SpecialChars.WILDCARD_MULTI]:
            parts = [*parts, SpecialChars.WILDCARD_MULTI]
        value = SigmaString.from_str("")
        value.s = parts
    texts = [functions.coalesce(functions.col(c), functions.lit("")) for c in ("request", "referer", "user_agent")]
    hits = [_value_match(t, value) for t in texts]
    return hits[0] | hits[1] | hits[2]


def compile_condition(node: object) -> Column:
    """A Column of pySigma's parsed condition tree."""
    from sigma.conditions import (
        ConditionAND,
        ConditionFieldEqualsValueExpression,
        ConditionNOT,
        ConditionOR,
        ConditionValueExpression,
    )

    if isinstance(node, ConditionAND | ConditionOR):
        parts = [compile_condition(arg) for arg in node.args]
        out = parts[0]
        for part in parts[1:]:
            out = (out & part) if isinstance(node, ConditionAND) else (out | part)
        return out
    if isinstance(node, ConditionNOT):
        return ~functions.coalesce(compile_condition(node.args[0]), functions.lit(False))
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return functions.coalesce(_value_match(_column(node.field), node.value), functions.lit(False))
    if isinstance(node, ConditionValueExpression):
        return _keyword(node.value)
    raise SigmaCompileError(f"condition element {type(node).__name__} is not supported")


def _is_web(rule: object) -> bool:
    source = rule.logsource  # type: ignore[attr-defined]
    if source.category:
        return source.category.lower() == "webserver"
    return (source.product or "").lower() in _WEB_PRODUCTS or (source.service or "").lower() in _WEB_PRODUCTS


def compile_rule(rule: object, source: str) -> WebRule:
    """A WebRule of one parsed pySigma rule; SigmaCompileError (or pySigma's errors) when it cannot be."""
    conditions = [compile_condition(c.parsed) for c in rule.detection.parsed_condition]  # type: ignore[attr-defined]
    condition = conditions[0]
    for extra in conditions[1:]:
        condition = condition | extra
    level = getattr(rule.level, "name", None) or "medium"  # type: ignore[attr-defined]
    return WebRule(
        rule_id=str(rule.id or rule.title),  # type: ignore[attr-defined]
        title=str(rule.title), severity=SEVERITY.get(str(level).lower(), "medium"),  # type: ignore[attr-defined]
        tags=tuple(str(t) for t in rule.tags), condition=condition, source=source,  # type: ignore[attr-defined]
    )


def load_rules(directory: Path | None) -> SigmaLoad:
    """Every webserver rule of `directory` compiled, with one error line per rule skipped."""
    return _load(str(Path(directory).resolve())) if directory is not None else SigmaLoad()


@lru_cache(maxsize=8)
def _load(directory: str) -> SigmaLoad:
    from sigma.collection import SigmaCollection

    out = SigmaLoad()
    root = Path(directory)
    if not root.is_dir():
        out.errors.append(f"{root}: WEBTRAIL_SECURITY__SIGMA_RULES_DIR is not a directory")
    files = sorted([*root.rglob("*.yml"), *root.rglob("*.yaml")]) if root.is_dir() else []
    for file in files:
        try:
            collection = SigmaCollection.from_yaml(file.read_text(encoding="utf-8"), collect_errors=True)
        except Exception as error:  # noqa: BLE001 - any unreadable file is reported and skipped
            out.errors.append(f"{file}: cannot read ({error})")
            continue
        for rule in collection.rules:
            name = f"{file}: rule {getattr(rule, 'title', '?')!r} ({getattr(rule, 'id', None)})"
            errors = list(getattr(rule, "errors", []) or [])
            if errors:
                out.errors.append(f"{name}: {errors[0]}")
                continue
            if not _is_web(rule):
                continue
            try:
                out.rules.append(compile_rule(rule, str(file)))
            except Exception as error:  # noqa: BLE001 - pySigma and our own errors alike skip the rule
                out.errors.append(f"{name}: cannot compile ({error})")
    for line in out.errors:
        log.warning("Sigma rule skipped: %s", line)
    return out
