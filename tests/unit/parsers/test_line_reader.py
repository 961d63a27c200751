"""Streaming reader: compression by magic bytes, truncation, long lines, batching."""

from __future__ import annotations

import bz2
import gzip
import hashlib
from pathlib import Path

from parsers.line_reader import LineReader

LINES = [f"line {i} " + "x" * (i % 50) for i in range(2_000)]
DATA = ("\n".join(LINES) + "\n").encode()


def read(path: Path, batch: int = 300, max_bytes: int = 1_000) -> tuple[list[str], LineReader]:
    reader = LineReader(path, batch, max_bytes)
    out: list[str] = []
    for batch_of_lines in reader:
        assert batch_of_lines.first_line_number == len(out) + 1 and len(batch_of_lines.lines) <= batch
        out += batch_of_lines.lines.to_list()
    return out, reader


def test_plain_gzip_bzip2_multi_member(tmp_path: Path) -> None:
    files = {
        "a.log": DATA,
        "a.log.1.gz": gzip.compress(DATA),
        "a.log.2.bz2": bz2.compress(DATA),
        "a.log.3.gz": gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]),  # concatenated members
        "misnamed.log": gzip.compress(DATA),  # codec chosen by magic bytes
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        lines, reader = read(tmp_path / name)
        assert lines == LINES, name
        assert not reader.truncated
        assert reader.sha256 == hashlib.sha256(data).hexdigest()


def test_truncated_gzip_keeps_readable_lines(tmp_path: Path) -> None:
    packed = gzip.compress(DATA)
    path = tmp_path / "cut.log.gz"
    path.write_bytes(packed[: len(packed) // 2])
    reader = LineReader(path, 500, 1_000)
    batches = list(reader)
    lines = [ln for b in batches for ln in b.lines.to_list()]
    assert reader.truncated and 0 < len(lines) < len(LINES)
    assert lines[:-1] == LINES[: len(lines) - 1]
    assert batches[-1].truncated_line == len(lines)  # the partial last line is flagged


def test_long_line_is_capped_while_reading(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_bytes(b"short\n" + b"y" * 3_000_000 + b"\nafter")
    lines, _ = read(path, max_bytes=100)
    assert lines[0] == "short" and lines[2] == "after"
    assert len(lines[1]) > 100  # still visibly too long, but memory stayed bounded


def test_invalid_utf8_reported_with_raw_length(tmp_path: Path) -> None:
    path = tmp_path / "bad.log"
    path.write_bytes(b"ok\nbad \xff\xfe\r\nok\n")
    [batch] = list(LineReader(path, 10, 100))
    assert batch.lines.to_list() == ["ok", "bad \ufffd\ufffd", "ok"]  # the CR of CRLF is not part of a line
    assert batch.invalid_utf8 == {2: 6}


def test_control_lines_flag_exactly_the_lines_with_control_bytes(tmp_path):
    # CRLF endings are not junk; a NUL, a lone CR mid-line, a DEL and an ESC are
    raw = b"ok\r\n" b"a\x00b\n" b"fine\n" b"c\rd\n" b"del\x7f\n" b"tab\tok\n" b"esc\x1b[0m\n" b"last"
    path = tmp_path / "ctl.log"
    path.write_bytes(raw)
    [batch] = list(LineReader(path, 100, 1_000))
    assert batch.control_lines == [2, 4, 5, 7]
    assert batch.may_have_control


def test_control_lines_are_numbered_across_batches(tmp_path):
    path = tmp_path / "ctl.log"
    path.write_bytes(b"".join(b"x\x01\n" if n % 3 == 0 else b"y\n" for n in range(1, 11)))
    batches = list(LineReader(path, 4, 1_000))
    assert [b.control_lines for b in batches] == [[3], [6], [9]]
