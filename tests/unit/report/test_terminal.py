"""Terminal output of python -m flows.daily: inert text, the summary table, output modes, file offsets."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest
from rich.console import Console

from report.progress import RunObserver, TerminalProgress, observer, observing, open_file_offsets
from report.terminal import OutputMode, Terminal, _NoTraceback, plain, summary_table

RESULT = {
    "run_id": "r-1", "day": "2026-11-24", "status": "completed", "lines_read": 6000, "lines_parsed": 5997,
    "lines_rejected": 3, "events_read": 1169, "events_rejected": 1, "users_read": None,
    "human_sessions": 232, "bot_sessions": 164, "findings_by_category": {"flood": 1, "[red]x[/red]": 2},
    "quality": {"PASSED": 289}, "table_rows": {"sessions": 396},
}


def _render(renderable: object, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_plain_text_is_never_markup_and_has_no_control_characters() -> None:
    text = plain("[bold]/x[/bold]\x1b[31m\r\n")
    assert text.plain == "[bold]/x[/bold]?[31m??"
    assert _render(text).strip() == "[bold]/x[/bold]?[31m??"


def test_summary_table_holds_the_numbers() -> None:
    out = _render(summary_table(RESULT))
    for label, value in [("access-log lines read", "6,000"), ("rejected", "3"), ("users read", "none"),
                         ("sessions (human / bot)", "232 / 164"), ("security findings", "3"),
                         ("[red]x[/red]", "2"), ("rows in webtrail.sessions", "396"), ("quality checks", "PASSED 289")]:
        line = next(row for row in out.splitlines() if label in row)
        assert line.rstrip(" │").endswith(value), line


def test_output_modes() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert OutputMode.from_flags(False, False, Tty()).progress is True
    assert OutputMode.from_flags(False, False, io.StringIO()).progress is False  # piped
    assert OutputMode.from_flags(True, False, Tty()) == OutputMode(quiet=True, json=False, progress=False)
    assert OutputMode.from_flags(False, True, Tty()).progress is False
    assert isinstance(Terminal(OutputMode(progress=True), io.StringIO()).observer(), TerminalProgress)
    assert type(Terminal(OutputMode(), io.StringIO()).observer()) is RunObserver


def test_json_mode_prints_only_json() -> None:
    out, err = io.StringIO(), io.StringIO()
    Terminal(OutputMode(json=True), out, err).completed(RESULT)
    import json

    assert json.loads(out.getvalue())["lines_read"] == 6000
    assert err.getvalue() == ""
    table = io.StringIO()
    Terminal(OutputMode(), table, err).completed(RESULT)
    assert table.getvalue().splitlines()[0] == "webtrail daily run for 2026-11-24: completed"


def test_blocked_lines_and_where_to_read_more() -> None:
    out, err = io.StringIO(), io.StringIO()
    failures = ["  parse_stats.parse_quality: measured 0.09"]
    Terminal(OutputMode(), out, err).blocked("2026-11-22", failures, "input_checks")
    assert err.getvalue().splitlines() == [
        "2026-11-22 was not loaded: a blocking data-quality check failed:",
        "  parse_stats.parse_quality: measured 0.09",
        "Read more: python -m warehouse.show quality_results --day 2026-11-22  (or the Prefect artifact "
        "webtrail-quality-inputs).",
    ]
    assert out.getvalue() == ""


def test_the_formatter_drops_only_the_traceback_of_quiet_exceptions() -> None:
    formatter = _NoTraceback(logging.Formatter("%(message)s"), (KeyError,))
    for exc, shows_traceback in ((KeyError("k"), False), (ValueError("v"), True)):
        try:
            raise exc
        except Exception:
            record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
        text = formatter.format(record)
        assert ("Traceback" in text) is shows_traceback
        assert record.exc_info is not None  # other handlers still get it


def test_open_file_offsets_reads_the_real_position(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_bytes(b"x" * 5000)
    assert open_file_offsets([path]) == {}
    with open(path, "rb", buffering=0) as handle:
        handle.read(1234)
        offsets = open_file_offsets([path])
    if not Path("/proc/self/fdinfo").exists():
        pytest.skip("no /proc on this system: the progress shows no live byte counts")
    assert offsets == {path: 1234}


def test_the_default_observer_is_silent_and_observing_installs_another() -> None:
    default = observer()
    custom = RunObserver()
    with observing(custom):
        assert observer() is custom
        observer().stage_started("parse")
    assert observer() is default and custom.current_stage == "parse"



def test_console_logging_reformats_prefects_console_handler_and_no_other() -> None:
    """Prefect's console handler (named, not imported, by report/terminal.py) gets the quiet formatter."""
    from prefect.logging.handlers import PrefectConsoleHandler

    from report.terminal import console_logging

    class CustomConsole(PrefectConsoleHandler):
        pass

    logger = logging.getLogger("webtrail.test.console")
    prefect_handler, subclass_handler, other = PrefectConsoleHandler(), CustomConsole(), logging.StreamHandler()
    for handler in (prefect_handler, subclass_handler, other):
        logger.addHandler(handler)
    try:
        with console_logging((ValueError,), logging.WARNING):
            assert isinstance(prefect_handler.formatter, _NoTraceback)
            assert isinstance(subclass_handler.formatter, _NoTraceback)
            assert prefect_handler.level == logging.WARNING
            assert other.formatter is None and other.level == logging.NOTSET
        assert not isinstance(prefect_handler.formatter, _NoTraceback) and prefect_handler.level == logging.NOTSET
    finally:
        for handler in (prefect_handler, subclass_handler, other):
            logger.removeHandler(handler)
