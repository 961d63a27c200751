"""The compiled block pass (parsers/_fastsplit_lines.h): a block of bytes -> its lines as string views.

Expected lines are worked out by hand from the bytes; the reader without the extension must give
the same lines (parsers/line_reader.py's Python path).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import line_reader
from parsers.access_convert import JUNK_RE
from parsers.line_reader import LineReader, compiled_block_lines


def split(block: bytes) -> tuple[list[str], list[int]] | None:
    result = compiled_block_lines(block)
    if result is None:
        return None
    lines, control = result
    return lines.to_list(), control


def test_extension_has_the_block_pass() -> None:
    assert line_reader._compiled_split_block is not None  # built by setup.py


@pytest.mark.parametrize(
    ("block", "lines", "control"),
    [
        (b"ab\r\ncd\r\n", ["ab", "cd"], []),  # CRLF: the CR is not part of the line
        (b"ab\ncd\n", ["ab", "cd"], []),
        (b"one\ntwo", ["one", "two"], []),  # a last line without a newline
        (b"last\r", ["last"], []),  # ... ending in CR
        (b"\n\n", ["", ""], []),  # empty lines; the final newline starts no line
        (b"a\n\r\n\nb\n", ["a", "", "", "b"], []),
        (b"\r", [""], []),
        (b"123456789012\n1234567890123\n", ["123456789012", "1234567890123"], []),  # inline (12) and not (13)
        (b"two CRs\r\r\n", ["two CRs\r"], [0]),  # only one CR belongs to the line end
        ("caf\u00e9 \u20ac \U0001f600\n".encode(), ["caf\u00e9 \u20ac \U0001f600"], []),  # 2-, 3- and 4-byte UTF-8
    ],
)
def test_lines_of_hand_written_blocks(block: bytes, lines: list[str], control: list[int]) -> None:
    assert split(block) == (lines, control)


@pytest.mark.parametrize(
    "block",
    [
        b"ok\nbad \xff\n",  # a byte that never occurs in UTF-8
        b"\xc0\xaf\n",  # overlong '/'
        b"\xe0\x80\xaf\n",  # overlong, 3 bytes
        b"\xed\xa0\x80\n",  # a UTF-16 surrogate
        b"\xf4\x90\x80\x80\n",  # above U+10FFFF
        b"caf\xc3",  # a sequence cut at the end of the block
        b"caf\xc3(\n",  # a continuation byte missing
        b"12345678\x80\n",  # a stray continuation byte after a whole ASCII word
    ],
)
def test_invalid_utf8_block_is_refused(block: bytes) -> None:
    assert split(block) is None


def test_lines_with_control_bytes_are_reported() -> None:
    block = b"a\x00b\nc\rd\ne\r\r\nok\r\n\x7f\ntab\tok\nesc\x1b\nlast\r"
    assert split(block) == (["a\x00b", "c\rd", "e\r", "ok", "\x7f", "tab\tok", "esc\x1b", "last"], [0, 1, 2, 4, 6])


def test_line_spanning_two_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_reader, "CHUNK_BYTES", 8)  # every line crosses a read boundary
    path = tmp_path / "x.log"
    path.write_bytes(b"first line\r\nsecond line spans\r\n\r\nthird")
    lines = [text for batch in LineReader(path, 100, 1_000) for text in batch.lines.to_list()]
    assert lines == ["first line", "second line spans", "", "third"]


def test_compiled_and_python_reader_give_the_same_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b"ok\r\na\x00b\n\nbad \xff\r\nc\rd\ncaf\xc3\xa9\ne\r\r\nlast\r"
    path = tmp_path / "x.log"
    path.write_bytes(raw * 3)
    monkeypatch.setattr(line_reader, "CHUNK_BYTES", 16)  # blocks of a few lines: only some hold the bad byte

    def batches() -> list[tuple[int, list[str], dict[int, int], list[int]]]:
        reader = LineReader(path, 5, 1_000)
        return [(b.first_line_number, b.lines.to_list(), b.invalid_utf8, b.control_lines) for b in reader]

    compiled = batches()
    monkeypatch.setattr(line_reader, "_compiled_split_block", None)
    monkeypatch.setattr(line_reader, "_compiled_has_control", None)
    python = batches()
    lines = lambda result: [(first, text, bad) for first, text, bad, _ in result]  # noqa: E731
    assert lines(compiled) == lines(python)
    assert compiled[0][1] == ["ok", "a\x00b", "", "bad \ufffd", "c\rd"] and compiled[0][2] == {4: 5}
    assert compiled[0][3] == [2, 5]
    # the control lines a parser checks: the compiled pass may name fewer, never a line with junk less
    for (_, _, _, exact), (_, _, _, superset) in zip(compiled, python, strict=True):
        assert set(exact) <= set(superset)


_PIECES = st.sampled_from(
    [b"a", b" ", b"\n", b"\r", b"\r\n", b"\t", b"\x00", b"\x1b", b"\x7f", "é".encode(), "€".encode()]
)


@given(st.lists(_PIECES, max_size=60).map(b"".join))
@settings(max_examples=300, deadline=None)
def test_block_pass_matches_a_line_by_line_reading(block: bytes) -> None:
    # the reference: split on LF (a final LF starts no line), one CR dropped, JUNK_RE per line
    raw_lines = block.split(b"\n")[:-1] if block.endswith(b"\n") else block.split(b"\n") if block else []
    lines = [(raw[:-1] if raw.endswith(b"\r") else raw).decode() for raw in raw_lines]
    junk = [index for index, text in enumerate(lines) if re.search(JUNK_RE, text)]
    assert split(block) == (lines, junk)
