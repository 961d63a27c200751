"""A hostile corpus built here, with exact counts per reject reason.

Every line read must be parsed or rejected (read == parsed + rejected), whatever the bytes.
"""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import pytest

TS = "[24/Nov/2026:13:55:36 +0000]"
TIMED = f'198.51.100.{{}} - - {TS} "GET /i/{{}} HTTP/1.1" 200 10 "-" "Mozilla/5.0" 0.010'
COMBINED = f'198.51.100.1 - - {TS} "GET /c HTTP/1.1" 200 10 "-" "Mozilla/5.0"'
COMMON = f'198.51.100.1 - - {TS} "GET /clf HTTP/1.0" 304 -'
VHOST = f'shop.example:443 198.51.100.1 - - {TS} "GET /v HTTP/1.1" 200 10 "-" "Mozilla/5.0"'


def corpus() -> tuple[bytes, dict[str, int], int]:
    """(file bytes, expected rejects by reason, expected parsed lines)."""
    good = [TIMED.format(i % 200, i).encode() for i in range(300)]
    parts: list[bytes] = list(good)
    parsed = len(good)
    # mixed formats in one file: parsed through the fallbacks
    parts += [COMBINED.encode(), COMMON.encode(), VHOST.encode()]
    parsed += 3
    # CRLF endings and invalid UTF-8 still parse
    parts += [TIMED.format(1, "crlf").encode() + b"\r", TIMED.format(1, "caf\xe9").encode("latin-1")]
    parsed += 2
    # an empty request line is a request the server answered, not a reject
    parts.append(TIMED.format(1, 1).replace('"GET /i/1 HTTP/1.1"', '""').encode())
    parsed += 1
    rejects = {
        "no_format_match": [
            TIMED.format(1, 1).encode()[:60],  # truncated line
            b'{"remote_addr": "1.2.3.4", "status": 200}',  # a JSON line inside a text log
            b"GET / HTTP/1.1",
            TIMED.format(1, 1).encode().replace(b'"GET', b'"GET "evil"'),  # unescaped quotes
        ],
        "binary_junk": [
            b"\x00" * 4096,  # zero-filled block after a crash
            TIMED.format(1, 1).encode() + b"\x00",
            b"\x1b[31m" + TIMED.format(1, 1).encode(),  # terminal escape injected raw
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # raw TLS hello bytes, invalid UTF-8 too
            b"mid\rline",  # a lone CR inside a line
        ],
        "line_too_long": [
            b"A" * (1 << 20),  # 1 MB line
            TIMED.format(1, "x" * 70_000).encode(),
            b"\xff" * 70_000,  # long and invalid UTF-8: length wins
        ],
        "empty_line": [b"", b"   ", b"\t", b"\r"],
        "bad_timestamp": [TIMED.format(1, 1).replace("24/Nov/2026", "24/Foo/2026").encode()],
        "missing_client": [TIMED.format(1, 1).replace("198.51.100.1 ", "- ").encode()],
    }
    # interleave the bad lines between good ones so every batch size sees a mix
    for position, bad in enumerate(line for lines in rejects.values() for line in lines):
        parts.insert(7 * position + 3, bad)
    return b"\n".join(parts) + b"\n", {k: len(v) for k, v in rejects.items()}, parsed


@pytest.mark.parametrize("batch_lines", [1, 7, 64, 500_000])
def test_hostile_file_exact_counts(parse_lines, batch_lines: int) -> None:
    data, expected, parsed = corpus()
    req, rej, st = parse_lines(data, batch_lines=batch_lines)
    assert st.format_name == "combined_timed"
    assert st.rejected_by_reason == dict(sorted(expected.items()))
    assert st.lines_parsed == parsed == req.height
    assert st.lines_read == st.lines_parsed + st.lines_rejected == data.count(b"\n")
    assert req["has_invalid_utf8"].sum() == 1
    assert not any("\x00" in t for t in rej["raw_text"])
    assert rej["raw_text"].str.len_chars().max() <= 2_000


def test_same_corpus_gzip_and_crlf_everywhere(parse_lines) -> None:
    data, expected, parsed = corpus()
    crlf = re.sub(rb"(?<!\r)\n", b"\r\n", data)  # CRLF everywhere (lines already ending in CR stay)
    _, _, st = parse_lines(gzip.compress(crlf), name="access.log.1.gz")
    assert st.rejected_by_reason == dict(sorted(expected.items()))
    assert st.lines_parsed == parsed


def test_truncated_gzip(parse_lines, tmp_path: Path) -> None:
    data, _, _ = corpus()
    packed = gzip.compress(data)
    cut = packed[: int(len(packed) * 0.6)]
    # what an independent decoder recovers from the cut stream
    recovered = zlib.decompressobj(wbits=31).decompress(cut)
    full_lines, partial = recovered.count(b"\n"), not recovered.endswith(b"\n")
    _, rej, st = parse_lines(cut, name="access.log.2.gz")
    assert st.truncated
    assert st.lines_read == full_lines + partial == st.lines_parsed + st.lines_rejected
    assert st.rejected_by_reason.get("truncated_file", 0) == int(partial)
    if partial:
        assert rej["reason"][-1] == "truncated_file"
