"""Internet background noise: the lines every internet-facing server logs that no browser sends.

- Empty requests: a connection opened and closed (or timed out) before any request line. nginx logs
  `"-" 400 0`; 1-6% of the lines of public sites. Spread over the day from a pool of scanner
  addresses, at most EMPTY_PER_IP each and hours apart, so none of them is a burst.
- TLS on the plain-HTTP port: a ClientHello that nginx logs escaped (`"\\x16\\x03\\x01..."`) and
  answers 400; one line per scanning address.
- A protocol prober (an attacker of the fixed block, sample_logs/attacks.py): within a minute, TLS
  hellos, `HELP`, `PRI * HTTP/2.0`, `SSTP_DUPLEX_POST`, WebDAV `PROPFIND` / `MKCOL`, `CONNECT`, an
  RTSP request, a request line without version and a burst of empty requests. Its malformed
  requests reach the malformed_request threshold (10 in 10 minutes).

Noise addresses use first octets no human, crawler or attacker uses (45, 167).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import NamedTuple

from sample_logs.records import DAY_MS, Context, Hit

EMPTY_SHARE_PER_MILLE = 20  # 2% of the lines
EMPTY_PER_IP = 2
TLS_PER_MILLE = 1  # 0.1% of the lines, at least MIN_TLS
MIN_TLS = 3
PROBER_IP = "192.0.2.66"
PROBER_UA = "-"


class Line(NamedTuple):
    """A noise line: the request line as logged, status, bytes, and its request_kind."""

    request: str
    status: int
    size: int
    kind: str


def _tls_hello(ctx: Context, number: int) -> str:
    """The start of a TLS 1.0-record ClientHello as nginx escapes it (\\xHH for bytes outside 0x20-0x7e)."""
    rng = ctx.rng("tls", number)
    body = bytes([0x16, 0x03, 0x01, 0x00, 0xF4, 0x01, 0x00, 0x00, 0xF0, 0x03, 0x03]) + rng.randbytes(20)
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02X}" for b in body)


EMPTY = Line("-", 400, 0, "empty")


def prober_lines(ctx: Context) -> list[Line]:
    """The protocol prober's requests, in order (12 malformed_request reasons, 2 WebDAV 405s)."""
    return [
        Line(_tls_hello(ctx, 0), 400, 157, "malformed"),
        Line(_tls_hello(ctx, 1), 400, 157, "malformed"),
        Line("HELP", 400, 157, "malformed"),
        Line("PRI * HTTP/2.0", 400, 157, "http"),
        Line("SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1", 400, 157, "http"),
        Line("PROPFIND / HTTP/1.1", 405, 166, "http"),
        Line("MKCOL /webdav/ HTTP/1.1", 405, 166, "http"),
        Line("CONNECT www.example.com:443 HTTP/1.1", 400, 157, "http"),
        Line("OPTIONS rtsp://shop.example.com:554/ RTSP/1.0", 400, 157, "non_http"),
        Line("GET /", 400, 157, "http"),
        Line(_tls_hello(ctx, 2), 400, 157, "malformed"),
        EMPTY, EMPTY, EMPTY,
    ]


def _noise_ip(octet: int, number: int) -> str:
    return f"{octet}.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255 or 1}"


def _hit(ts: int, ip: str, line: Line, rt_ms: int) -> Hit:
    """A Hit whose request line is `line.request` as a whole (method empty: see records.format_hit)."""
    return Hit(ts, ip, "", line.request, line.status, line.size, "-", PROBER_UA, rt_ms, proto="", kind=line.kind)


def prober_hits(ctx: Context, start_ms: int) -> list[Hit]:
    """The prober's hits: 3-6 s apart from start_ms."""
    rng = ctx.rng("prober")
    hits, moment = [], start_ms
    for line in prober_lines(ctx):
        hits.append(_hit(moment, PROBER_IP, line, rng.randint(0, 5)))
        moment += rng.randint(3_000, 6_000)
    return hits


def counts(lines: int) -> tuple[int, int]:
    """(empty requests, TLS hellos) of the background noise of a day of `lines` lines."""
    return lines * EMPTY_SHARE_PER_MILLE // 1000, max(MIN_TLS, lines * TLS_PER_MILLE // 1000)


def _stratified(ctx: Context, name: str, count: int, start: int, span: int) -> Iterator[tuple[int, int]]:
    """(slot, time) for slot < count: one random time in each of `count` equal slices of
    [start, start + span), in order."""
    rng = ctx.rng("noise", name)
    for slot in range(count):
        yield slot, start + (slot * span + int(rng.random() * span)) // count


def noise_hits(ctx: Context, lines: int) -> Iterator[Hit]:
    """The background noise in time order (each hit's `kind` set); streams, memory stays bounded.

    Address k of the empty-request pool sends one empty request in each half of the day.
    """
    n_empty, n_tls = counts(lines)
    half = DAY_MS // EMPTY_PER_IP
    pool = -(-n_empty // EMPTY_PER_IP)
    rng = ctx.rng("noise", "rt")

    def empties(part: int) -> Iterator[Hit]:
        count = pool if part < EMPTY_PER_IP - 1 or n_empty % EMPTY_PER_IP == 0 else n_empty - pool * (EMPTY_PER_IP - 1)
        for slot, ts in _stratified(ctx, f"empty{part}", count, part * half, half):
            ip_no = slot if part % 2 == 0 else pool - 1 - slot
            rt = rng.choice((0, 0, 1, 2, rng.randint(10, 60_000)))  # closed at once, or at client_header_timeout
            yield _hit(ts, _noise_ip(45, 1 + 7 * ip_no), EMPTY, rt)

    def hellos() -> Iterator[Hit]:
        for slot, ts in _stratified(ctx, "tls", n_tls, 0, DAY_MS - 1):
            yield _hit(ts, _noise_ip(167, 10 + slot), Line(_tls_hello(ctx, 100 + slot), 400, 157, "malformed"), 0)

    streams = [empties(part) for part in range(EMPTY_PER_IP)] + [hellos()]
    yield from heapq.merge(*streams, key=lambda hit: (hit.ts, hit.ip))
