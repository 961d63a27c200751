"""User ids and the SQLite user database (`users.db`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sample_logs.records import Context

# Dormant accounts (no visit today) exist in the DB; the attacks pick their targets among them.
DORMANT_MIN = 300
BRUTE_FORCE_TARGET = 0  # dormant index; an admin account
STUFFING_EXISTING = range(10, 40)  # dormant indexes tried by the credential stuffer (fail)
STUFFING_TAKEOVER = (40, 41)  # dormant indexes where the stuffer succeeds
STUFFING_UNKNOWN = range(0, 10)  # ids that do not exist in the DB

_COUNTRIES = ("DE", "FR", "GB", "US", "NL", "ES", "IT", "PL", "SE", "AT", "CH", "BE", "CA", "BR", "JP")
_COUNTRY_W = (18, 12, 12, 14, 7, 7, 6, 5, 3, 3, 3, 3, 3, 1, 1)
_FIRST = ("anna", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "ida", "jonas", "lea",
          "marco", "nina", "oscar", "paula", "quentin", "rosa", "sami", "tara", "uwe")
_LAST = ("muller", "martin", "smith", "rossi", "garcia", "jansen", "nowak", "berg", "dubois", "weber")

SCHEMA = """CREATE TABLE users (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    country TEXT NOT NULL,
    plan TEXT NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    is_admin INTEGER NOT NULL CHECK (is_admin IN (0, 1)),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deleted'))
)"""


def user_id(ctx: Context, kind: str, index: int) -> str:
    """Stable id of user `index` of a namespace: "v" visitor, "d" dormant, "x" non-existent."""
    return f"u_{ctx.rng('user', kind, index).getrandbits(64):016x}"


def dormant_count(n_visitors: int) -> int:
    return DORMANT_MIN + n_visitors // 4


def user_row(ctx: Context, uid: str, created_at: str | None, kind: str) -> tuple[object, ...]:
    """A plausible row for `uid`; `created_at` None draws a date in the 3 years before the day."""
    rng = ctx.rng("row", uid)
    if created_at is None:
        start = datetime(ctx.day.year, ctx.day.month, ctx.day.day, tzinfo=UTC)
        created = start - timedelta(seconds=rng.randrange(60, 3 * 365 * 86400))
        created_at = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    name = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randrange(1, 999)}"
    email = f"{name}@example.{rng.choice(('com', 'org', 'net'))}"
    country = rng.choices(_COUNTRIES, weights=_COUNTRY_W)[0]
    plan = "free" if kind == "signup" else rng.choices(("free", "pro", "enterprise"), weights=(70, 25, 5))[0]
    is_admin = int(kind == "admin" or (kind == "dormant" and rng.random() < 0.01))
    status = "active"
    if kind == "dormant":  # only accounts nobody logs into today may be suspended / deleted
        status = rng.choices(("active", "suspended", "deleted"), weights=(90, 5, 5))[0]
    return uid, email, created_at, country, plan, is_admin, status


class UsersDb:
    """Writes users.db; rows are inserted as they come so memory stays bounded."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.execute(SCHEMA)
        self.count = 0

    def add(self, rows: Iterable[tuple[object, ...]]) -> None:
        before = self.conn.total_changes
        self.conn.executemany("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        self.count += self.conn.total_changes - before

    def close(self) -> None:
        self.conn.commit()
        # VACUUM gives a compact file whose bytes depend only on the rows inserted.
        self.conn.execute("VACUUM")
        self.conn.close()


def dormant_rows(ctx: Context, count: int) -> Iterable[tuple[object, ...]]:
    special = {BRUTE_FORCE_TARGET: "admin", **dict.fromkeys(STUFFING_TAKEOVER, "active")}
    for number in range(count):
        yield user_row(ctx, user_id(ctx, "d", number), None, special.get(number, "dormant"))
