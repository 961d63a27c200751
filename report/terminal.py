"""What `python -m flows.daily` shows: progress in a terminal, the summary as a table on stdout (or
JSON), and one clear message per outcome. Exit codes: 0 loaded (or skipped), 1 error, 2 usage, 3 blocked.

In a terminal the live display owns the screen, so everything written to stderr (Prefect's log
lines, Spark's JVM warnings) goes to a log file under the data directory for the run, named at the
end. With --quiet the same happens and nothing but errors is shown. Text that can come from inputs
(file names, messages) is printed as plain text, never as rich markup, with control characters replaced.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from report.progress import RunObserver, TerminalProgress

EXIT_LOADED, EXIT_ERROR, EXIT_USAGE, EXIT_BLOCKED = 0, 1, 2, 3
STAGE_ARTIFACTS = {"input_checks": "inputs", "output_checks": "outputs", "loaded_checks": "loaded"}


def plain(value: Any) -> Text:
    """Inert terminal text: no markup, control characters shown as '?'."""
    text = "" if value is None else str(value)
    return Text("".join(ch if ch.isprintable() else "?" for ch in text))


@dataclass
class OutputMode:
    """How the run talks to the user (from the command-line flags and whether stdout is a terminal)."""

    quiet: bool = False
    json: bool = False
    progress: bool = False

    @classmethod
    def from_flags(cls, quiet: bool, as_json: bool, stdout: TextIO | None = None) -> OutputMode:
        stream = stdout or sys.stdout
        interactive = bool(getattr(stream, "isatty", lambda: False)())
        return cls(quiet=quiet, json=as_json, progress=interactive and not quiet and not as_json)

    @property
    def captures_stderr(self) -> bool:
        return self.progress or self.quiet


class _NoTraceback(logging.Formatter):
    """Formats like the wrapped formatter, without the traceback of expected outcomes (a blocked gate)."""

    def __init__(self, inner: logging.Formatter | None, quiet_types: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()
        self.quiet_types = quiet_types

    def format(self, record: logging.LogRecord) -> str:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not isinstance(exc, self.quiet_types):
            return self.inner.format(record)
        saved = record.exc_info, record.exc_text
        record.exc_info, record.exc_text = None, None  # other handlers (Prefect's API) keep the traceback
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text = saved


# Prefect's console handler, named rather than imported: Prefect is imported only in flows/ and tasks/
# (tests/unit/test_layers.py), and this module only needs to recognise the handler Prefect installed.
CONSOLE_HANDLER_CLASS = ("prefect.logging.handlers", "PrefectConsoleHandler")


def _is_console_handler(handler: logging.Handler) -> bool:
    return any((cls.__module__, cls.__qualname__) == CONSOLE_HANDLER_CLASS for cls in type(handler).__mro__)


def _console_handlers() -> list[logging.Handler]:
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    return [handler for logger in loggers for handler in logger.handlers if _is_console_handler(handler)]


@contextlib.contextmanager
def console_logging(quiet_types: tuple[type[BaseException], ...], level: int | None) -> Iterator[None]:
    """Console log lines without tracebacks of `quiet_types`, optionally at a higher level."""
    handlers = _console_handlers()
    saved = [(h, h.formatter, h.level) for h in handlers]
    for handler in handlers:
        handler.setFormatter(_NoTraceback(handler.formatter, quiet_types))
        if level is not None:
            handler.setLevel(level)
    try:
        yield
    finally:
        for handler, formatter, old_level in saved:
            handler.setFormatter(formatter)
            handler.setLevel(old_level)


@contextlib.contextmanager
def stderr_to_file(path: Path) -> Iterator[Path]:
    """Send file descriptor 2 (Python and the JVM Spark starts alike) to `path` while the run lasts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield path
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def quiet_console() -> None:
    """Console log lines at WARNING from now on (Prefect logs its shutdown at interpreter exit)."""
    for handler in _console_handlers():
        handler.setLevel(logging.WARNING)


def run_log_path(data_dir: Path) -> Path:
    return data_dir / "logs" / f"daily-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.log"


class Terminal:
    """The CLI's output for one run."""

    def __init__(self, mode: OutputMode, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.mode = mode
        self.out = Console(file=stdout or sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=stderr or sys.stderr, highlight=False, soft_wrap=True)
        self.log_file: Path | None = None

    def _json(self, document: Any) -> None:
        """One JSON document on stdout, exactly as json.dumps writes it (no colours, no wrapping)."""
        self.out.file.write(json.dumps(document, default=str) + "\n")
        self.out.file.flush()

    def observer(self) -> RunObserver | TerminalProgress:
        return TerminalProgress(self.out) if self.mode.progress else RunObserver()

    def _where_logs(self) -> str:
        return f" Full log: {self.log_file}" if self.log_file else ""

    def completed(self, result: Mapping[str, Any]) -> None:
        if self.mode.json:
            self._json(result)
        elif not self.mode.quiet:
            self.out.print(plain(f"webtrail daily run for {result.get('day')}: {result.get('status')}"))
            self.out.print(summary_table(result))
            extra = result.get("html_report")
            if extra:
                self.out.print(plain(f"HTML report: {extra}  (open it in a browser; python -m http.server "
                                     f"--directory {Path(str(extra)).parent} serves the directory)"))
            if result.get("query_hint"):
                self.out.print(plain(f"Look at the tables: {result['query_hint']}"))
            if self.log_file:
                self.out.print(plain(f"Full log: {self.log_file}"))

    def skipped(self, result: Mapping[str, Any]) -> None:
        if self.mode.json:
            self._json(result)
        elif not self.mode.quiet:
            self.out.print(plain(f"{result['day']}: already loaded from the same inputs (use --force to reload)."))

    def blocked(self, day: str, failures: list[str], stage: str | None) -> None:
        """One line per failed blocking check, then where to read more; no traceback."""
        loaded = stage == "loaded_checks"
        head = (f"{day} was loaded, but a blocking check of the loaded tables failed:" if loaded
                else f"{day} was not loaded: a blocking data-quality check failed:")
        artifact = f"webtrail-quality-{STAGE_ARTIFACTS.get(stage or '', 'inputs')}"
        more = (f"Read more: python -m warehouse.show quality_results --day {day}  (or the Prefect artifact "
                f"{artifact}).{self._where_logs()}")
        failures = [line.strip() for line in failures if line.strip()]
        if self.mode.json:
            self._json({"day": day, "status": "blocked", "stage": stage, "failures": failures})
        self.err.print(plain(head))
        for line in failures:
            self.err.print(plain(f"  {line.strip()}"))
        self.err.print(plain(more))

    def error(self, message: str) -> None:
        if self.mode.json:
            self._json({"status": "error", "error": message})
        self.err.print(plain(f"error: {message}{self._where_logs()}"))


def summary_table(result: Mapping[str, Any]) -> Table:
    """The run summary as a table (RunSummary.to_dict())."""
    table = Table()
    table.add_column("what")
    table.add_column("value", justify="right")
    users = result.get("users_read")
    rows: list[tuple[str, Any]] = [
        ("run", result.get("run_id")),
        ("access-log lines read", f"{result.get('lines_read', 0):,}"),
        ("  parsed", f"{result.get('lines_parsed', 0):,}"),
        ("  rejected", f"{result.get('lines_rejected', 0):,}"),
        ("events read / rejected", f"{result.get('events_read', 0):,} / {result.get('events_rejected', 0):,}"),
        ("users read", "none" if users is None else f"{users:,}"),
        ("sessions (human / bot)", f"{result.get('human_sessions', 0):,} / {result.get('bot_sessions', 0):,}"),
    ]
    findings = result.get("findings_by_category") or {}
    rows.append(("security findings", f"{sum(findings.values()):,}"))
    rows += [(f"  {category}", f"{count:,}") for category, count in sorted(findings.items())]
    quality = result.get("quality") or {}
    rows.append(("quality checks", ", ".join(f"{k} {v}" for k, v in sorted(quality.items())) or "none"))
    rows += [(f"rows in webtrail.{name}", f"{count:,}") for name, count in (result.get("table_rows") or {}).items()]
    for label, value in rows:
        table.add_row(plain(label), plain(value))
    return table
