"""Streaming line reader for plain, gzip and bzip2 files with bounded memory.

Lines are split on ``\\n`` only, and one ``\\r`` at the end of a line is not part of it, so CRLF and
LF files give the same lines. A final newline does not start another line. Bytes are decoded as
UTF-8; the rare lines with invalid bytes are decoded with U+FFFD replacement and reported, so the
fast path (a whole block at once) stays fast: with the compiled extension (parsers/_fastsplit.c)
one C pass turns a valid block into its lines, as Arrow string views into the block itself. A
truncated or corrupt compressed stream yields what could be decompressed and sets ``truncated``;
the partial last line is reported separately.
"""

from __future__ import annotations

import bz2
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

CHUNK_BYTES = 4 << 20
_MAX_VIEW_OFFSET = (1 << 31) - 1  # Arrow string_view offsets and lengths are int32
# C0 controls except TAB, LF and CR, plus DEL. Deleting them is a cheap "any junk in this block?"
# test (Python's re scans bytes 5x slower); only a block that has some is searched line by line.
_CONTROL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CONTROL_TABLE = np.zeros(256, dtype=bool)
_CONTROL_TABLE[list(_CONTROL)] = True


try:  # the compiled test (parsers/_fastsplit.c) is 5x cheaper than translate; same answer
    from parsers._fastsplit import has_control_bytes as _compiled_has_control
    from parsers._fastsplit import split_block as _compiled_split_block
except ImportError:
    _compiled_has_control = None
    _compiled_split_block = None


def has_control_bytes(block: bytes) -> bool:
    """Whether a block may hold a line with raw control bytes (a CR is fine only before LF)."""
    if _compiled_has_control is not None:
        return _compiled_has_control(block)
    return python_has_control_bytes(block)


def python_has_control_bytes(block: bytes) -> bool:
    """has_control_bytes without the compiled extension."""
    if len(block.translate(None, _CONTROL)) != len(block):
        return True
    if b"\r" not in block:  # memchr: the usual LF-only file skips the counting
        return False
    return block.count(b"\r") != block.count(b"\r\n")


def control_line_indexes(block: bytes, newline_ends: np.ndarray | None = None) -> list[int]:
    """0-based indexes of the lines of ``block`` holding a control byte or a CR not before LF (a CR
    ending a final partial line is included: a superset is safe, the parser checks each line)."""
    if not has_control_bytes(block):
        return []
    data = np.frombuffer(block, dtype=np.uint8)
    carriage = np.flatnonzero(data == 0x0D)
    after = np.minimum(carriage + 1, len(data) - 1)
    lone = carriage[(carriage + 1 >= len(data)) | (data[after] != 0x0A)]
    positions = np.union1d(np.flatnonzero(_CONTROL_TABLE[data]), lone)
    if newline_ends is None:
        newline_ends = np.flatnonzero(data == 0x0A)
    # a control byte's line is the number of newlines before it
    return np.unique(np.searchsorted(newline_ends, positions)).tolist()


@dataclass
class LineBatch:
    """Consecutive lines of one file; ``first_line_number`` is 1-based."""

    first_line_number: int
    lines: pl.Series  # String; without the "\n" and one "\r" before it
    # line number -> raw byte length, only for lines that held invalid UTF-8 (sparse)
    invalid_utf8: dict[int, int] = field(default_factory=dict)
    # line number of a partial last line of a truncated compressed file, if any
    truncated_line: int | None = None
    # line numbers that may hold raw control bytes (sorted): the parser checks only these lines
    control_lines: list[int] = field(default_factory=list)

    @property
    def may_have_control(self) -> bool:
        return bool(self.control_lines)


class LineReader:
    """Iterate over a file in ``LineBatch``es of at most ``batch_lines`` lines.

    Lines longer than ``max_line_bytes`` are cut to ``max_line_bytes + 1`` bytes while reading, so
    one endless line cannot exhaust memory and the caller still sees it as too long.
    After iteration ``sha256`` (of the file's bytes as stored) and ``truncated`` are set.
    """

    def __init__(self, path: Path, batch_lines: int, max_line_bytes: int) -> None:
        self.path = Path(path)
        self.batch_lines = max(1, batch_lines)
        self.max_line_bytes = max_line_bytes
        self.truncated = False
        self.size_bytes = self.path.stat().st_size
        self._hash = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    # -- raw bytes -------------------------------------------------------------------------------
    def _file_chunks(self) -> Iterator[bytes]:
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                self._hash.update(chunk)
                yield chunk

    def _gzip(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        decompressor, started = zlib.decompressobj(wbits=31), False
        try:
            for data in raw:
                while data:
                    started = True
                    yield decompressor.decompress(data, CHUNK_BYTES)  # bounded output: no zip bomb
                    if decompressor.eof:  # member ended: a multi-member gzip may continue
                        data, decompressor, started = (
                            decompressor.unused_data.lstrip(b"\0"),
                            zlib.decompressobj(wbits=31),
                            False,
                        )
                    else:
                        data = decompressor.unconsumed_tail
            yield decompressor.flush()
        except zlib.error:
            started = True
        self.truncated = started and not decompressor.eof

    def _bzip2(self, raw: Iterator[bytes]) -> Iterator[bytes]:
        decompressor, started = bz2.BZ2Decompressor(), False
        try:
            for data in raw:
                while True:
                    started = started or bool(data)
                    yield decompressor.decompress(data, CHUNK_BYTES)
                    data = b""
                    if decompressor.eof:
                        data, decompressor, started = decompressor.unused_data, bz2.BZ2Decompressor(), False
                        if not data:
                            break
                    elif decompressor.needs_input:
                        break
        except (OSError, EOFError):
            started = True
        self.truncated = started and not decompressor.eof

    def chunks(self) -> Iterator[bytes]:
        """Decompressed bytes; the codec is chosen by magic bytes, not by file name."""
        with open(self.path, "rb") as handle:
            magic = handle.read(3)
        raw = self._file_chunks()
        if magic[:2] == b"\x1f\x8b":
            return self._gzip(raw)
        if magic == b"BZh":
            return self._bzip2(raw)
        return raw

    # -- lines -----------------------------------------------------------------------------------
    def _blocks(self) -> Iterator[bytes | memoryview]:
        """Blocks of whole lines, each ending with its newline; a final partial line comes last.

        A line cut by a chunk boundary is joined into a block of its own, and the chunk's whole lines
        after it are a view of the chunk: joining the two (a copy of every chunk) cost a tenth of
        the reader's time."""
        pending = b""
        for chunk in self.chunks():
            if not chunk:
                continue
            cut = chunk.rfind(b"\n")
            if cut < 0:
                # no newline yet: keep only enough of the line to know it is too long
                pending = (pending + chunk)[: self.max_line_bytes + 1]
                continue
            start = 0
            if pending:
                start = chunk.find(b"\n") + 1
                yield pending + chunk[:start]
            if start <= cut:
                yield memoryview(chunk)[start : cut + 1]
            pending = chunk[cut + 1 : cut + 2 + self.max_line_bytes]
        if pending:
            yield pending

    def _decode(self, block: bytes | memoryview, first: int) -> tuple[pl.Series, dict[int, int], list[int]]:
        """The block's lines, its invalid-UTF-8 lines and the line numbers holding control bytes."""
        split = compiled_block_lines(block)
        if split is not None:
            lines, control_indexes = split
            return lines, {}, [first + i for i in control_indexes]
        block = bytes(block)
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 0x0A)
        control = [first + i for i in control_line_indexes(block, ends)]
        if block.endswith(b"\n"):
            lines = _arrow_lines(block, ends)
            if lines is not None:
                return lines, {}, control
            block = block[:-1]
        lines_py, bad = [], {}
        for index, raw in enumerate(block.split(b"\n")):
            text = raw[:-1] if raw.endswith(b"\r") else raw
            try:
                lines_py.append(text.decode("utf-8"))
            except UnicodeDecodeError:
                lines_py.append(text.decode("utf-8", errors="replace"))
                bad[first + index] = len(raw.rstrip(b"\r"))
        return pl.Series("line", lines_py, dtype=pl.String), bad, control

    def __iter__(self) -> Iterator[LineBatch]:
        next_line = 1  # number of the first pending line
        pieces: list[pl.Series] = []
        pending = 0
        bad: dict[int, int] = {}
        control: list[int] = []  # line numbers that hold control bytes
        last_block_partial = False
        for block in self._blocks():
            first = next_line + pending
            lines, block_bad, block_control = self._decode(block, first)
            control += block_control
            pieces.append(lines)
            pending += lines.len()
            bad.update(block_bad)
            last_block_partial = block[-1] != 0x0A  # a block is never empty
            while pending >= self.batch_lines:
                joined = pl.concat(pieces) if len(pieces) > 1 else pieces[0]
                batch, rest = joined.head(self.batch_lines), joined.slice(self.batch_lines)
                end = next_line + self.batch_lines
                yield self._batch(next_line, batch, bad, control, None)
                bad = {k: v for k, v in bad.items() if k >= end}
                control = [n for n in control if n >= end]
                pieces, pending, next_line = [rest], rest.len(), end
        if pending:
            joined = pl.concat(pieces) if len(pieces) > 1 else pieces[0]
            last = next_line + pending - 1
            truncated_line = last if self.truncated and last_block_partial else None
            yield self._batch(next_line, joined, bad, control, truncated_line)

    @staticmethod
    def _batch(
        first: int, lines: pl.Series, bad: dict[int, int], control: list[int], truncated: int | None
    ) -> LineBatch:
        end = first + lines.len()
        flagged = [n for n in control if n < end]
        return LineBatch(first, lines, {k: v for k, v in bad.items() if k < end}, truncated, flagged)


def _arrow_lines(block: bytes, ends: np.ndarray) -> pl.Series | None:
    """The lines of a newline-terminated block without a Python object per line, or None when the
    block is not valid UTF-8. Offsets come from the newline positions ``ends``; the data buffer is
    shared."""
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    offsets[1:] = ends + 1
    arr = pa.Array.from_buffers(pa.large_string(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    try:
        arr.validate(full=True)  # UTF-8 check in C++
    except pa.ArrowInvalid:
        return None
    series = pl.Series("line", arr)
    return series.str.strip_suffix("\n").str.strip_suffix("\r")


def compiled_block_lines(block: bytes | memoryview) -> tuple[pl.Series, list[int]] | None:
    """(the lines of a block, 0-based indexes of those holding control bytes) from the compiled
    block pass, or None without the extension or when the block is not valid UTF-8. The lines are
    string views into ``block``: no text is copied."""
    if _compiled_split_block is None or len(block) > _MAX_VIEW_OFFSET:
        return None  # a view's offset is 32 bits: a block that long (a huge max_line_bytes) takes the Python path
    split = _compiled_split_block(block)
    if split is None:
        return None
    count, views, control = split
    array = pa.Array.from_buffers(pa.string_view(), count, [None, pa.py_buffer(views), pa.py_buffer(block)])
    return pl.Series("line", array), control
