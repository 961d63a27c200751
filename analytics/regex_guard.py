"""A start-character guard for an alternation of many patterns.

Java's regex engine tries every alternative at every position of the text, so a rule with 30
patterns costs about 30 tests per character. A lookahead of the characters any match can start with,
`(?=[...])`, rejects most positions with one class test. Matches are unchanged: only positions where
no alternative can start are skipped. The first characters are read from Python's own parse of the
patterns (written in the common subset of Java and Python syntax, see analytics/rules.py); whenever
they cannot be known (a pattern may start with any character, or match the empty string) there is no
guard, and the parser being a private module of `re`, any failure also means no guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

_SPACE = frozenset(" \t\n\r\f\v")  # Java's \s
_DIGIT = frozenset("0123456789")  # Java's \d (ASCII)
_MAX_RANGE = 256

First = tuple[frozenset[str] | None, bool]  # (possible first characters or None: unknown, can match empty)


def first_chars(patterns: Sequence[str]) -> frozenset[str] | None:
    """Every character a match of one of the patterns can start with; None when unknown."""
    try:
        from re import _constants, _parser
    except ImportError:
        return None
    chars: set[str] = set()
    for pattern in patterns:
        try:
            first, empty = _sequence(_parser.parse(pattern), _constants)
        except Exception:  # noqa: BLE001 - an unexpected parse shape only disables the guard
            return None
        if first is None or empty:
            return None
        chars |= first
    return frozenset(chars)


def guard(patterns: Sequence[str]) -> str:
    """`(?=[...])` of the patterns' first characters, or '' when unknown (no guard)."""
    chars = first_chars(patterns)
    if not chars:
        return ""
    return "(?=[" + "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):X}}}" for c in sorted(chars)) + "])"


def _sequence(items: Iterable[tuple[Any, Any]], constants: Any) -> First:
    """First characters of a sequence of parsed items, skipping zero-width ones (anchors, lookarounds)."""
    out: set[str] = set()
    for op, av in items:
        if op in (constants.AT, constants.ASSERT, constants.ASSERT_NOT):
            continue
        first, empty = _item(op, av, constants)
        if first is None:
            return None, False
        out |= first
        if not empty:
            return frozenset(out), False
    return frozenset(out), True


def _item(op: Any, av: Any, constants: Any) -> First:
    if op is constants.LITERAL:
        return frozenset({chr(av)}), False
    if op is constants.IN:
        return _char_class(av, constants), False
    if op is constants.SUBPATTERN:
        return _sequence(av[-1], constants)
    if op is constants.ATOMIC_GROUP:
        return _sequence(av, constants)
    if op is constants.BRANCH:
        chars: set[str] = set()
        empty = False
        for branch in av[1]:
            first, branch_empty = _sequence(branch, constants)
            if first is None:
                return None, False
            chars |= first
            empty = empty or branch_empty
        return frozenset(chars), empty
    if op in (constants.MAX_REPEAT, constants.MIN_REPEAT, constants.POSSESSIVE_REPEAT):
        low, _high, sub = av
        first, empty = _sequence(sub, constants)
        return first, empty or low == 0
    return None, False  # any character, negated literal, back reference...


def _char_class(items: Iterable[tuple[Any, Any]], constants: Any) -> frozenset[str] | None:
    chars: set[str] = set()
    for op, av in items:
        if op is constants.LITERAL:
            chars.add(chr(av))
        elif op is constants.RANGE and av[1] - av[0] < _MAX_RANGE:
            chars |= {chr(x) for x in range(av[0], av[1] + 1)}
        elif op is constants.CATEGORY and av in (constants.CATEGORY_SPACE, constants.CATEGORY_DIGIT):
            chars |= _SPACE if av is constants.CATEGORY_SPACE else _DIGIT
        else:
            return None  # negated classes, \w, wide ranges
    return frozenset(chars)
