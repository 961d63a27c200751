"""Non-human traffic: the fixed block of attack scenarios, search-engine crawlers, malformed lines.

Attack sizes do not depend on the line count, so every scenario is present even in a small sample.
Attacker IPs come from the documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24), which
human visitors never use.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Iterator
from typing import Any, NamedTuple

from sample_logs import catalog
from sample_logs.noise import PROBER_IP, PROBER_UA, prober_hits
from sample_logs.records import DAY_MS, Context, Hit, event, format_hit, new_uuid
from sample_logs.users import (
    BRUTE_FORCE_TARGET,
    STUFFING_EXISTING,
    STUFFING_TAKEOVER,
    STUFFING_UNKNOWN,
    user_id,
)

SQLMAP_UA = "sqlmap/1.7.2#stable (https://sqlmap.org)"
NIKTO_UA = "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)"
_CHROME_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " \
              "Chrome/131.0.0.0 Safari/537.36"
_CHROME_MAC = _CHROME_WIN.replace("Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7")
_FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
MALFORMED_IP = "192.0.2.201"  # only ever appears on the (rejected) truncated lines

SQLI_TARGETS = (
    "/product?id=1%27%20OR%20%271%27=%271",
    "/search?q=shoes%27%20UNION%20SELECT%20username,password%20FROM%20users--",
    "/api/products?page=1%20AND%20sleep(5)", "/product/1050?ref=1%27%3B%20DROP%20TABLE%20orders--",
    "/search?q=1%22%20OR%20%221%22=%221", "/category/shoes?sort=price%20ORDER%20BY%201--",
    "/api/products?page=-1%20UNION%20ALL%20SELECT%20NULL,NULL,NULL--",
    "/search?q=%27%20AND%201=CONVERT(int,@@version)--",
    "/product/1001?id=1%20AND%20(SELECT%20*%20FROM%20(SELECT(SLEEP(5)))a)", "/login?next=%27%20OR%201=1--",
)
SQLMAP_PAYLOADS = ("%27", "%27%20AND%201=1--%20-", "%20AND%201=2", "%27%20OR%20%271%27=%271",
                   "%20UNION%20ALL%20SELECT%20NULL--", "%20UNION%20ALL%20SELECT%20NULL,NULL--",
                   "%20AND%20SLEEP(5)", "%27%20AND%20SLEEP(5)--%20-", "%29%20AND%201=1--",
                   "%20ORDER%20BY%201--")
TRAVERSAL_TARGETS = (
    "/../../etc/passwd", "/static/..%2f..%2f..%2fetc%2fpasswd", "/images/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/..%c0%af..%c0%afetc/passwd", "/download?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "/static/css/..%5c..%5cwindows%5cwin.ini", "/?page=../../../../etc/passwd",
    "/blog/..%252f..%252f..%252fetc/shadow",
)


class Attacker(NamedTuple):
    scenario: str
    ip: str
    ua: str
    categories: tuple[str, ...]
    hits: list[Hit]


def _series(rng: random.Random, start: int, count: int, lo_ms: int, hi_ms: int) -> list[int]:
    """n increasing timestamps from `start`, spaced lo..hi ms apart."""
    out, moment = [], start
    for _ in range(count):
        out.append(moment)
        moment += rng.randint(lo_ms, hi_ms)
    return out


def _at(hour: int, minute: int) -> int:
    return (hour * 60 + minute) * 60_000


# params: the fields of one login attempt (the POST line and its login event)
def _login_hit(ctx: Context, rng: random.Random, ts: int, ip: str, ua: str, uid: str, ok: bool,
               reason: str = "bad_password") -> Hit:
    props: dict[str, Any] = {} if ok else {"reason": reason}
    ev = event(ctx, rng, ts, "login_success" if ok else "login_failure", uid, new_uuid(rng), ip, ua,
               "/login", **props)
    return Hit(ts, ip, "POST", "/login", 302 if ok else 401, 154 if ok else 612, "-", ua,
               int(rng.lognormvariate(math.log(220), 0.3)), (ev,))


# params: the fields of one attacker request line
def _simple(rng: random.Random, ts: int, ip: str, ua: str, target: str, status: int,
            method: str = "GET") -> Hit:
    size = {200: rng.randint(5_000, 40_000), 404: 3_612, 403: 548, 400: 157, 429: 169}.get(status, 497)
    return Hit(ts, ip, method, target, status, size, "-", ua, int(rng.lognormvariate(math.log(20), 0.8)))


def attackers(ctx: Context) -> list[Attacker]:
    """The fixed attack block (about 700 lines)."""
    out: list[Attacker] = []

    rng, ip, ua = ctx.rng("attack", "brute"), "203.0.113.45", "python-requests/2.31.0"
    target = user_id(ctx, "d", BRUTE_FORCE_TARGET)
    hits = [_login_hit(ctx, rng, t, ip, ua, target, False) for t in _series(rng, _at(3, 14), 60, 3000, 6000)]
    out.append(Attacker("brute_force", ip, ua, ("brute_force",), hits))

    rng, ip, ua = ctx.rng("attack", "stuffing"), "198.51.100.23", _CHROME_WIN
    tries = [(user_id(ctx, "d", j), False, "bad_password") for j in STUFFING_EXISTING]
    tries += [(user_id(ctx, "x", j), False, "unknown_user") for j in STUFFING_UNKNOWN]
    rng.shuffle(tries)
    tries.insert(17, (user_id(ctx, "d", STUFFING_TAKEOVER[0]), True, ""))
    tries.insert(33, (user_id(ctx, "d", STUFFING_TAKEOVER[1]), True, ""))
    times = _series(rng, _at(4, 40), len(tries), 8000, 25000)
    hits = [_login_hit(ctx, rng, t, ip, ua, uid, ok, why)
            for t, (uid, ok, why) in zip(times, tries, strict=True)]
    out.append(Attacker("credential_stuffing", ip, ua, ("credential_stuffing", "brute_force"), hits))

    rng, ip, ua = ctx.rng("attack", "scan"), "192.0.2.77", _FIREFOX_LINUX
    paths = list(catalog.PROBE_PATHS)
    rng.shuffle(paths)
    hits = [_simple(rng, t, ip, ua, p, 403 if p in catalog.FORBIDDEN_PROBES else 404)
            for t, p in zip(_series(rng, _at(1, 22), len(paths), 300, 2000), paths, strict=True)]
    out.append(Attacker("path_scan", ip, ua, ("path_scan", "sensitive_file"), hits))

    rng, ip, ua = ctx.rng("attack", "sqli"), "203.0.113.108", _CHROME_MAC
    hits = [_simple(rng, t, ip, ua, p, rng.choice((200, 200, 500, 400)))
            for t, p in zip(_series(rng, _at(10, 5), 10, 5000, 40000), SQLI_TARGETS, strict=True)]
    out.append(Attacker("sql_injection", ip, ua, ("sql_injection",), hits))

    rng, ip, ua = ctx.rng("attack", "traversal"), "198.51.100.61", _CHROME_WIN
    hits = [_simple(rng, t, ip, ua, p, 400 if p.startswith("/..") else 404)
            for t, p in zip(_series(rng, _at(12, 31), 8, 2000, 10000), TRAVERSAL_TARGETS, strict=True)]
    out.append(Attacker("path_traversal", ip, ua, ("path_traversal",), hits))

    rng, ip = ctx.rng("attack", "sqlmap"), "192.0.2.150"
    targets = [f"/product/1042?id=1{p}" for p in SQLMAP_PAYLOADS] + [
        f"/search?q=shoes{p}" for p in SQLMAP_PAYLOADS]
    hits = [_simple(rng, t, ip, SQLMAP_UA, p, rng.choice((200, 500)))
            for t, p in zip(_series(rng, _at(15, 48), 20, 500, 3000), targets, strict=True)]
    out.append(Attacker("scanner_user_agent", ip, SQLMAP_UA, ("scanner_user_agent", "sql_injection"), hits))

    rng, ip = ctx.rng("attack", "nikto"), "203.0.113.200"
    targets = ["/", "/robots.txt", "/icons/README", "/favicon.ico"] + [
        "/" + "".join(rng.choices(string.ascii_letters + string.digits, k=8)) + ".html" for _ in range(16)]
    hits = [_simple(rng, t, ip, NIKTO_UA, p, 200 if p in ("/", "/robots.txt", "/favicon.ico") else 404)
            for t, p in zip(_series(rng, _at(17, 2), 20, 200, 1500), targets, strict=True)]
    out.append(Attacker("scanner_user_agent", ip, NIKTO_UA, ("scanner_user_agent",), hits))

    rng, ip, ua = ctx.rng("attack", "flood"), "198.51.100.200", _CHROME_WIN
    hits = []
    for number, moment in enumerate(_series(rng, _at(21, 37), 420, 20, 220)):  # ~50 s for 420 requests
        target = "/" if rng.random() < 0.5 else f"/api/products?page={rng.randint(1, 50)}"
        status = 429 if number > 250 and rng.random() < 0.7 else 200  # nginx limit_req kicks in
        hits.append(_simple(rng, moment, ip, ua, target, status))
    out.append(Attacker("flood", ip, ua, ("flood",), hits))

    # TLS, HELP, PRI, SSTP, WebDAV, CONNECT, RTSP, no version and empty requests within a minute
    out.append(Attacker("protocol_probe", PROBER_IP, PROBER_UA, ("malformed_request",), prober_hits(ctx, _at(2, 47))))
    return out


def crawler_counts(total: int) -> list[int]:
    """Split `total` crawler lines over the crawlers by share (largest remainder)."""
    raw = [total * share for _, _, share in catalog.CRAWLERS]
    counts = [int(x) for x in raw]
    by_remainder = sorted(range(len(raw)), key=lambda position: counts[position] - raw[position])
    for position in by_remainder[: total - sum(counts)]:
        counts[position] += 1
    return counts


def crawler_hits(ctx: Context, index: int, count: int) -> Iterator[Hit]:
    """n evenly spread requests of one crawler: robots.txt first, then pages (no assets, no events)."""
    ip, ua, _ = catalog.CRAWLERS[index]
    rng = ctx.rng("crawler", index)
    for number in range(count):
        ts = (number * DAY_MS + int(rng.random() * DAY_MS)) // count
        roll, status = rng.random(), 200
        if number == 0:
            path = "/robots.txt"
        elif roll < 0.02:
            path = "/sitemap.xml"
        elif roll < 0.06:
            path, status = f"/product/{rng.choice(catalog.MISSING_PRODUCT_IDS)}", 404
        elif roll < 0.10:
            path, status = f"/category/{rng.choice(catalog.CATEGORIES)}/", 301  # trailing-slash redirect
        elif roll < 0.60:
            path = f"/product/{rng.choice(catalog.PRODUCT_IDS)}"
        elif roll < 0.80:
            path = f"/category/{rng.choice(catalog.CATEGORIES)}?page={rng.randint(1, 9)}"
        elif roll < 0.95:
            path = rng.choice(catalog.BLOG_POSTS)
        else:
            path = rng.choice(("/", "/about"))
        size = {200: max(5_000, min(80_000, int(rng.lognormvariate(math.log(25_000), 0.5)))),
                404: 3_612, 301: 178}[status]
        yield Hit(ts, ip, "GET", path, status, size, "-", ua, int(rng.lognormvariate(math.log(90), 0.6)))


def malformed_hits(ctx: Context) -> list[Hit]:
    """Three lines a parser must reject: TLS handshake bytes, and two lines cut mid-field."""
    rng = ctx.rng("malformed")
    junk = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(
        b for b in rng.randbytes(48) if b not in (0x0A, 0x0D))
    prefix = ctx.log_prefix
    base = Hit(_at(13, 25), MALFORMED_IP, "GET", "/product/1234?ref=home", 200, 18_211,
               f"{catalog.SITE}/", _CHROME_WIN, 87)
    full = format_hit(prefix, base)
    cut_request = full[: full.index(b"?ref=") + 7]
    base2 = base._replace(ts=_at(22, 50), target="/category/bags")
    full2 = format_hit(prefix, base2)
    cut_agent = full2[: full2.index(b"(KHTML")]
    return [Hit(_at(6, 10), "", "", "", 0, 0, "", "", 0, raw=junk),
            base._replace(raw=cut_request), base2._replace(raw=cut_agent)]
