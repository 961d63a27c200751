"""One human session: page views with their assets and API calls, logins, carts, purchases.

Each session draws from its own RNG (seed, visitor, session), so it can be regenerated lazily and
identically. Rules the ground truth relies on: consecutive requests are at most 20 minutes apart,
and nothing is emitted after 23:59:59.999 (the session just ends there).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sample_logs import catalog
from sample_logs.records import LAST_MS, Context, Hit, event, new_uuid

if TYPE_CHECKING:
    from sample_logs.visitors import Visitor

MAX_THINK_MS = 20 * 60_000
# (log of median ms, sigma) of the lognormal request time per endpoint type.
_MEDIAN_SIGMA = {"page": (90, 0.6), "static": (3, 0.9), "api": (35, 0.7), "login": (220, 0.3),
                 "purchase": (800, 0.4)}
_LATENCY = {kind: (math.log(median), sigma) for kind, (median, sigma) in _MEDIAN_SIGMA.items()}
_LANDING = (("/", 35), ("product", 30), ("category", 20), ("blog", 10), ("search", 5))
_NEXT = (("product", 35), ("category", 20), ("search", 12), ("/", 8), ("blog", 5), ("/about", 2),
         ("/cart", 6), ("/account", 4))


class _Deadline(Exception):
    """Raised when the next request would fall after the end of the day."""


def session_hits(ctx: Context, visitor: Visitor, number: int, start: int) -> Iterator[Hit]:
    return HumanSession(ctx, visitor, number, start).hits()


class HumanSession:
    def __init__(self, ctx: Context, visitor: Visitor, number: int, start: int) -> None:
        self.ctx, self.visitor = ctx, visitor
        self.rng = ctx.rng("s", visitor.index, number)
        self.clock = start
        self.user_id: str | None = None
        self.cart: list[tuple[int, float]] = []
        self.first_page = True
        self.referer = "-"
        self.product: int | None = None  # product of the current page
        self.status = 200  # status of the last page

    # ------------------------------------------------------------ primitives
    def _latency(self, kind: str) -> int:
        mu, sigma = _LATENCY[kind]
        return min(int(math.exp(self.rng.gauss(mu, sigma))), 120_000)

    def _think(self, median_s: float = 30.0, sigma: float = 1.0) -> None:
        ms = int(self.rng.lognormvariate(math.log(median_s * 1000), sigma))
        self.clock += max(500, min(ms, MAX_THINK_MS))

    def _event(self, etype: str, path: str, user_id: str | None = None, **props: Any) -> dict[str, Any]:
        visitor = self.visitor
        return event(self.ctx, self.rng, self.clock, etype, user_id or self.user_id, visitor.anon, visitor.ip,
                     visitor.ua, path, **props)

    # params: the fields of one log line that vary within a session (the visitor gives the rest)
    def _hit(self, method: str, target: str, status: int, size: int, kind: str, referer: str,
             events: tuple[dict[str, Any], ...] = ()) -> Hit:
        if self.clock > LAST_MS:
            raise _Deadline
        visitor = self.visitor
        return Hit(self.clock, visitor.ip, method, target, status, size, referer, visitor.ua, self._latency(kind),
                   events, visitor.remote_user, visitor.proto)

    def _size(self, median: int, sigma: float, lo: int, hi: int) -> int:
        # exp(gauss) is lognormvariate without its slow rejection loop; same distribution.
        return max(lo, min(hi, int(math.exp(self.rng.gauss(math.log(median), sigma)))))

    # ------------------------------------------------------------ pages
    def _pick(self, choices: tuple[tuple[str, int], ...]) -> str:
        rng = self.rng
        kind = rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]
        if kind == "product":
            ref = "?ref=" + rng.choice(("home", "reco", "search", "category")) if rng.random() < 0.3 else ""
            return f"/product/{rng.choice(catalog.PRODUCT_IDS)}{ref}"
        if kind == "category":
            return f"/category/{rng.choice(catalog.CATEGORIES)}"
        if kind == "search":
            return f"/search?q={rng.choice(catalog.SEARCH_TERMS)}"
        if kind == "blog":
            return rng.choice(catalog.BLOG_POSTS)
        if kind == "/account" and not self.user_id:
            return "/"
        return kind

    def page(self, path: str, extra: tuple[str, dict[str, Any]] | None = None) -> Iterator[Hit]:
        """GET a page (page_view event when status < 400), then its assets and API calls."""
        rng, roll = self.rng, self.rng.random()
        status = 200
        if path.startswith("/product/") and roll < 0.015:
            path, status = f"/product/{rng.choice(catalog.MISSING_PRODUCT_IDS)}", 404  # stale link
        elif roll < 0.02 and not self.first_page:
            status = 304
        elif roll < 0.024:
            status = rng.choice((500, 502, 503))
        size = {200: self._size(25_000, 0.5, 5_000, 80_000), 304: 0, 404: 3_612}.get(status, 497)
        events: tuple[dict[str, Any], ...] = ()
        if status < 400:
            events = (self._event("page_view", path, referrer=None if self.referer == "-" else self.referer),)
            if extra:
                events += (self._event(extra[0], path, **extra[1]),)
        yield self._hit("GET", path, status, size, "page", self.referer, events)
        self.product = int(path.split("/")[2].split("?")[0]) if path.startswith("/product/") else None
        if status < 500:
            yield from self._assets(path, catalog.SITE + path)
        self.referer = catalog.SITE + path
        self.first_page = False
        self.status = status

    def _assets(self, path: str, url: str) -> Iterator[Hit]:
        rng = self.rng
        wanted: list[str] = []
        if self.first_page:  # cold cache: the whole bundle
            wanted += [*catalog.STATIC_CSS, *catalog.STATIC_JS, *catalog.FONTS]
            wanted += [catalog.SITE_IMAGES[0], catalog.SITE_IMAGES[4]]
        elif rng.random() < 0.3:
            wanted.append(rng.choice(catalog.STATIC_CSS))  # revalidated -> 304
        if path == "/":
            wanted += [catalog.SITE_IMAGES[1], catalog.SITE_IMAGES[2], catalog.BROKEN_IMAGE]
        if self.product is not None:
            wanted.append(f"/images/products/{self.product}.webp")
        if path.startswith("/category/"):
            thumbs = rng.randint(2, 4)
            wanted += [f"/images/products/{rng.choice(catalog.PRODUCT_IDS)}.jpg" for _ in range(thumbs)]
        for asset in wanted:
            self.clock += rng.randint(15, 400)
            if asset == catalog.BROKEN_IMAGE:
                yield self._hit("GET", asset, 404, 3_612, "static", url)
            elif not self.first_page and asset.endswith(".css"):
                yield self._hit("GET", asset, 304, 0, "static", url)
            else:
                ext = asset.rsplit(".", 1)[1]
                med = {"css": 60_000, "js": 180_000, "woff2": 48_000}.get(ext, 120_000)
                yield self._hit("GET", asset, 200, self._size(med, 0.7, 900, 2_500_000), "static", url)
        api = None
        if self.product is not None:
            api = f"/api/recommendations/{self.product}"
        elif path.startswith("/category/"):
            api = f"/api/products?page={rng.randint(1, 5)}"
        elif path == "/cart":
            api = "/api/cart"
        if api:
            self.clock += rng.randint(50, 900)
            status = 500 if rng.random() < 0.01 else 200
            yield self._hit("GET", api, status, self._size(1_500, 0.8, 120, 16_000), "api", url)

    # ------------------------------------------------------------ actions
    def login(self) -> Iterator[Hit]:
        uid = self.visitor.user_id
        yield from self.page("/login")
        ref = catalog.SITE + "/login"
        fails = (1 if self.rng.random() < 0.7 else 2) if self.rng.random() < self.visitor.mistype else 0
        for _ in range(fails):  # benign typo: one or two 401s, then success
            self._think(8, 0.5)
            ev = self._event("login_failure", "/login", uid, reason="bad_password")
            yield self._hit("POST", "/login", 401, 612, "login", ref, (ev,))
        self._think(8, 0.5)
        self.user_id = uid
        yield self._hit("POST", "/login", 302, 154, "login", ref, (self._event("login_success", "/login"),))

    def signup(self) -> Iterator[Hit]:
        yield from self.page("/signup")
        self._think(40, 0.5)
        new_id = f"u_{self.rng.getrandbits(64):016x}"
        self.user_id = new_id
        ev = self._event("signup", "/signup", plan="free")
        yield self._hit("POST", "/signup", 302, 154, "login", catalog.SITE + "/signup", (ev,))

    def add_to_cart(self) -> Iterator[Hit]:
        pid = self.product or catalog.PRODUCT_IDS[0]
        qty = 1 if self.rng.random() < 0.85 else 2
        self.cart.append((pid, catalog.product_price(pid) * qty))
        ev = self._event("add_to_cart", "/api/cart", product_id=pid, price=catalog.product_price(pid),
                         quantity=qty)
        size = self._size(400, 0.3, 120, 2_000)
        yield self._hit("POST", "/api/cart", 200, size, "api", self.referer, (ev,))

    def checkout(self) -> Iterator[Hit]:
        if not self.user_id:
            if self.visitor.user_id:
                yield from self.login()
            elif self.rng.random() < 0.45:
                yield from self.signup()
            else:
                return  # anonymous visitor abandons at the login wall
            self._think(10, 0.5)
        value = round(sum(p for _, p in self.cart), 2)
        yield from self.page("/checkout", ("checkout", {"items": len(self.cart), "value": value}))
        if self.status >= 400 or self.rng.random() < 0.3:
            return
        self._think(60, 0.6)
        order_id = new_uuid(self.rng)
        if self.rng.random() < 0.02:  # payment gateway down: no purchase
            yield self._hit("POST", "/checkout/complete", 502, 497, "purchase", catalog.SITE + "/checkout")
            return
        ev = self._event("purchase", "/checkout/complete", order_id=order_id, amount=value, currency="EUR",
                         items=len(self.cart))
        yield self._hit("POST", "/checkout/complete", 302, 154, "purchase", catalog.SITE + "/checkout", (ev,))
        self.cart.clear()
        self._think(1.5, 0.3)
        yield from self.page(f"/order/{order_id}")

    # ------------------------------------------------------------ the session
    def hits(self) -> Iterator[Hit]:
        try:
            yield from self._run()
        except _Deadline:
            return

    def _run(self) -> Iterator[Hit]:
        rng, visitor = self.rng, self.visitor
        roll = rng.random()
        self.referer = (rng.choice(catalog.SEARCH_REFERERS) if roll < 0.45 else
                        rng.choice(catalog.SOCIAL_REFERERS) if roll < 0.6 else "-")
        if rng.random() < 0.01:  # old bookmark: permanent redirect, not a page view
            yield self._hit("GET", "/shop", 301, 178, "static", self.referer)
            self.clock += rng.randint(30, 300)
            yield from self.page("/")
        else:
            yield from self.page(self._pick(_LANDING))
        if visitor.user_id and rng.random() < (0.9 if visitor.heavy else 0.35):
            self._think(5, 0.5)
            yield from self.login()
        pages = rng.randint(4, 8) if visitor.heavy else min(int(rng.paretovariate(1.4)), 40)
        for _ in range(pages):
            self._think()
            if self.product is not None and rng.random() < 0.18:
                yield from self.add_to_cart()
            elif self.cart and rng.random() < 0.25:
                yield from self.checkout()
            else:
                yield from self.page(self._pick(_NEXT))
        if self.user_id and rng.random() < 0.2:
            self._think(10)
            ev = self._event("logout", "/logout")
            yield self._hit("GET", "/logout", 302, 154, "static", self.referer, (ev,))
