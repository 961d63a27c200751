"""The notebook / script API behind ``webtrail.connect()``: pandas DataFrames of the staged requests
and the warehouse tables, with the same settings (``WEBTRAIL_*``) as the flows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics.rules import SEVERITIES
from config.settings import WebtrailSettings
from report.investigate import glob_to_like
from webtrail.sql import QueryResult, SqlWorkspace, window_days
from webtrail.staging import staged_days

if TYPE_CHECKING:
    from warehouse.gateway import Warehouse


@dataclass(frozen=True)
class SqlRequest:
    """A read-only query over ``days`` days ending with ``day`` (default: the newest staged day)."""

    sql: str
    day: date | None = None
    days: int = 1


class Webtrail:
    """A connection to webtrail's staging (Parquet under the data dir) and warehouse (PostgreSQL).

    Every method takes ``day`` (default: the newest staged day) and ``days`` (how many days ending
    with ``day``, default 1) and returns a pandas DataFrame. The warehouse is reached only by the
    methods that need it (and the embedded server started only then).
    """

    def __init__(
        self, settings: WebtrailSettings | None = None, database_url: str | None = None,
        warehouse: Warehouse | None = None,
    ) -> None:
        self.settings = settings or WebtrailSettings()
        self.data_dir = Path(self.settings.data_dir).resolve()
        self._url = database_url
        self._warehouse = warehouse
        self._workspaces: dict[tuple[date, ...], SqlWorkspace] = {}

    # -- plumbing -------------------------------------------------------------------------------
    @property
    def warehouse(self) -> Warehouse:
        """The warehouse, resolved on first use like the flows do (flag, WEBTRAIL_DATABASE_URL, the
        secret block, else the embedded server, started only then)."""
        if self._warehouse is None:
            from warehouse.gateway import Warehouse

            self._warehouse = Warehouse.resolve(self.settings, self._url)
        return self._warehouse

    def database_url(self) -> str:
        """The configured PostgreSQL URL, or the embedded server's (started when needed)."""
        return self.warehouse.url

    def _connect_warehouse(self) -> Any:
        from warehouse.connect import connect

        conn = connect(self.warehouse.url)
        conn.set_session(readonly=True)
        return conn

    def staged_days(self) -> list[date]:
        """Every day with staged requests, oldest first."""
        return staged_days(self.data_dir)

    def window(self, day: date | str | None = None, days: int = 1) -> list[date]:
        """The days of a window: ``days`` days ending with ``day`` (default: the newest staged day)."""
        if isinstance(day, str):
            day = date.fromisoformat(day)
        if day is None:
            staged = self.staged_days()
            if not staged:
                raise FileNotFoundError(f"nothing staged under {self.data_dir / 'staging'}: run the daily flow first")
            day = staged[-1]
        return window_days(day, days)

    def workspace(self, day: date | str | None = None, days: int = 1) -> SqlWorkspace:
        """The DuckDB workspace of a window (kept open and reused by later calls)."""
        key = tuple(self.window(day, days))
        if key not in self._workspaces:
            self._workspaces[key] = SqlWorkspace(self.data_dir, key, self._connect_warehouse)
        return self._workspaces[key]

    def query(
        self, sql: str, day: date | str | None = None, days: int = 1, params: Sequence[Any] | None = None
    ) -> QueryResult:
        """Run a read-only query; the Arrow result and what it read."""
        return self.workspace(day, days).query(sql, params)

    def run(self, request: SqlRequest) -> QueryResult:
        """Run a read-only query over the request's window."""
        return self.query(request.sql, request.day, request.days)

    def close(self) -> None:
        for workspace in self._workspaces.values():
            workspace.close()
        self._workspaces.clear()

    def __enter__(self) -> Webtrail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- DataFrames -----------------------------------------------------------------------------
    def sql(self, sql: str, day: date | str | None = None, days: int = 1, params: Sequence[Any] | None = None) -> Any:
        """Any read-only DuckDB query over the views requests, rejected, findings, sessions, ip_daily."""
        return self.query(sql, day, days, params).table.to_pandas()

    def _filtered(self, view: str, filters: dict[str, Any], order: str, day: Any, days: int,
                  limit: int | None) -> Any:
        clauses, params = [], []
        for clause, value in filters.items():
            if value is not None:
                clauses.append(clause)
                params.append(value)
        text = f"SELECT * FROM {view}"  # noqa: S608 - view and clauses are ours; values are bound
        if clauses:
            text += " WHERE " + " AND ".join(clauses)
        text += f" ORDER BY {order}"
        if limit is not None:
            text += " LIMIT ?"
            params.append(int(limit))
        return self.sql(text, day, days, params)

    def requests(
        self, day: date | str | None = None, days: int = 1, ip: str | None = None, path: str | None = None,
        status: int | None = None, limit: int | None = None,
    ) -> Any:
        """Staged raw requests of the window, in time order; ``path`` is a glob over the whole path."""
        filters = {
            "client_ip = ?": ip,
            "path LIKE ? ESCAPE '\\'": glob_to_like(path) if path else None,
            "status = ?": status,
        }
        return self._filtered("requests", filters, "requested_at, client_ip", day, days, limit)

    def rejected(self, day: date | str | None = None, days: int = 1, limit: int | None = None) -> Any:
        """The quarantined lines of the window's runs, with their reason."""
        return self._filtered("rejected", {}, "day, source_file, line_number", day, days, limit)

    def findings(
        self, day: date | str | None = None, days: int = 1, ip: str | None = None,
        min_severity: str | None = None, category: str | None = None,
    ) -> Any:
        """Security findings of the window (``webtrail.security_findings``), most severe first."""
        if min_severity is not None and min_severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {SEVERITIES}")
        allowed = list(SEVERITIES[SEVERITIES.index(min_severity):]) if min_severity else None
        filters = {"client_ip = ?": ip, "list_contains(?, severity)": allowed, "category = ?": category}
        order = "day, list_position(['critical', 'high', 'medium', 'low'], severity), client_ip, category"
        return self._filtered("findings", filters, order, day, days, None)

    def sessions(
        self, day: date | str | None = None, days: int = 1, ip: str | None = None, user_id: str | None = None,
        limit: int | None = None,
    ) -> Any:
        """Sessions that started in the window's days."""
        filters = {"client_ip = ?": ip, "user_id = ?": user_id}
        return self._filtered("sessions", filters, "started_at, session_id", day, days, limit)

    def ip_daily(self, day: date | str | None = None, days: int = 1, ip: str | None = None) -> Any:
        """Per-IP daily totals of the window."""
        return self._filtered("ip_daily", {"client_ip = ?": ip}, "day, requests DESC, client_ip", day, days, None)


def connect(database_url: str | None = None, data_dir: str | Path | None = None) -> Webtrail:
    """Open webtrail's staging and warehouse with the flows' configuration (``WEBTRAIL_*``).

    ``database_url`` and ``data_dir`` override ``WEBTRAIL_DATABASE_URL`` and ``WEBTRAIL_DATA_DIR``.
    """
    settings = WebtrailSettings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": Path(data_dir)})
    return Webtrail(settings, database_url)
