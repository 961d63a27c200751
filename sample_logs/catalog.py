"""Static vocabulary of the synthetic shop: user agents, paths, referers, probe paths.

Everything here is constant and ordered, so the generator stays deterministic.
"""

from __future__ import annotations

SITE = "https://shop.example.com"

# ---------------------------------------------------------------- user agents
_WIN = "Windows NT 10.0; Win64; x64"
_MAC = "Macintosh; Intel Mac OS X 10_15_7"
_LINUX = "X11; Linux x86_64"
_ANDROID_DEVICES = ("K", "SM-S918B", "Pixel 8", "SM-A546B", "M2101K6G")
_IOS = ("16_6", "17_4", "17_6", "18_1", "18_3")
_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI_WK = "AppleWebKit/605.1.15 (KHTML, like Gecko)"


def _build_human_agents() -> tuple[str, ...]:
    """About 200 distinct browser UAs from templates (families x platforms x versions)."""
    out: list[str] = []
    for version in range(122, 142):  # Chrome desktop
        for plat in (_WIN, _MAC, _LINUX):
            out.append(f"Mozilla/5.0 ({plat}) {_WEBKIT} Chrome/{version}.0.0.0 Safari/537.36")
    for index, version in enumerate(range(124, 142)):  # Chrome Android
        dev = _ANDROID_DEVICES[index % len(_ANDROID_DEVICES)]
        out.append(f"Mozilla/5.0 (Linux; Android {10 + index % 5}; {dev}) {_WEBKIT} "
                   f"Chrome/{version}.0.0.0 Mobile Safari/537.36")
    for index, version in enumerate(range(128, 138)):  # Chrome iOS
        out.append(f"Mozilla/5.0 (iPhone; CPU iPhone OS {_IOS[index % 5]} like Mac OS X) {_SAFARI_WK} "
                   f"CriOS/{version}.0.6613.{98 + index} Mobile/15E148 Safari/604.1")
    for version in range(124, 140):  # Firefox desktop
        for plat in (_WIN, "Macintosh; Intel Mac OS X 10.15", _LINUX):
            out.append(f"Mozilla/5.0 ({plat}; rv:{version}.0) Gecko/20100101 Firefox/{version}.0")
    for version in range(128, 136):  # Firefox Android
        out.append(f"Mozilla/5.0 (Android 14; Mobile; rv:{version}.0) Gecko/{version}.0 Firefox/{version}.0")
    for version in ("16.6", "17.4", "17.6", "18.1", "18.3"):  # Safari macOS
        out.append(f"Mozilla/5.0 ({_MAC}) {_SAFARI_WK} Version/{version} Safari/605.1.15")
    for ios in _IOS:  # Safari iPhone / iPad
        ver = ios.replace("_", ".")
        for dev in ("iPhone; CPU iPhone OS", "iPad; CPU OS"):
            out.append(f"Mozilla/5.0 ({dev} {ios} like Mac OS X) {_SAFARI_WK} "
                       f"Version/{ver} Mobile/15E148 Safari/604.1")
    for version in range(126, 140):  # Edge
        for plat in (_WIN, _MAC):
            out.append(f"Mozilla/5.0 ({plat}) {_WEBKIT} Chrome/{version}.0.0.0 Safari/537.36 Edg/{version}.0.0.0")
    for index, version in enumerate(range(22, 28)):  # Samsung Internet
        out.append(f"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S92{index}B) {_WEBKIT} "
                   f"SamsungBrowser/{version}.0 Chrome/{115 + index * 2}.0.0.0 Mobile Safari/537.36")
    for index, version in enumerate(range(106, 116)):  # Opera
        out.append(f"Mozilla/5.0 ({(_WIN, _MAC)[index % 2]}) {_WEBKIT} Chrome/{version + 14}.0.0.0 "
                   f"Safari/537.36 OPR/{version}.0.0.0")
    return tuple(dict.fromkeys(out))[:200]


HUMAN_AGENTS: tuple[str, ...] = _build_human_agents()
# Chrome-like UAs come first in the list: weight them up so the family mix looks real.
HUMAN_AGENT_WEIGHTS: tuple[float, ...] = tuple(
    3.0 if "Chrome/" in ua and "Edg/" not in ua and "OPR/" not in ua else 1.0 for ua in HUMAN_AGENTS
)

# (ip, user agent, share of crawler traffic); each line is one crawler client.
CRAWLERS: tuple[tuple[str, str, float], ...] = (
    ("66.249.66.1", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.25),
    ("66.249.66.87", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)", 0.20),
    ("157.55.39.12", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 0.15),
    ("5.255.231.10", "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", 0.10),
    ("180.76.15.140", "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
     0.10),
    ("20.191.45.212", "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", 0.08),
    ("54.36.148.92", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 0.12),
)

# First octets for human IPv4 addresses: public-looking, disjoint from crawler, documentation
# (attacker) and private ranges, so an IP alone tells the three populations apart.
HUMAN_FIRST_OCTETS: tuple[int, ...] = (
    24, 31, 37, 46, 62, 68, 71, 73, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91,
    92, 93, 94, 95, 98, 99, 108, 109, 112, 118, 121, 122, 124, 125, 176, 177, 178, 179, 181, 182,
    185, 186, 187, 188, 189, 190, 191, 193, 194, 195, 196, 197, 200, 201,
)

# ---------------------------------------------------------------- site content
CATEGORIES = ("shoes", "running", "jackets", "bags", "accessories", "kids", "sale", "outdoor",
              "home-office", "electronics", "watches", "gifts")
PRODUCT_IDS = range(1000, 2000)
MISSING_PRODUCT_IDS = range(9000, 9100)  # linked from stale pages, answered 404
SEARCH_TERMS = ("running+shoes", "rain+jacket", "backpack", "wireless+headphones", "gift+for+dad",
                "trail+shoes", "yoga+mat", "smart+watch", "kids+boots", "laptop+sleeve", "sale",
                "winter+coat", "water+bottle", "sunglasses", "t%C3%B6rtchen")
BLOG_POSTS = ("/blog/2026/05/how-to-choose-running-shoes", "/blog/2026/06/summer-hiking-checklist",
              "/blog/2026/08/back-to-school-guide", "/blog/2026/09/caring-for-leather-bags",
              "/blog/2026/10/layering-for-autumn", "/blog/2026/11/black-friday-preview")
STATIC_CSS = ("/static/css/main.3f9a1c.css", "/static/css/vendor.8b21e0.css")
STATIC_JS = ("/static/js/app.5c7d2e.js", "/static/js/vendor.a1b2c3.js", "/static/js/analytics.js")
FONTS = ("/fonts/inter-regular.woff2", "/fonts/inter-bold.woff2")
SITE_IMAGES = ("/images/logo.png", "/images/hero-autumn.jpg", "/images/banner-sale.webp",
               "/images/icons/cart.png", "/favicon.ico")
# The home page references an image that was deleted: every visitor of "/" gets one 404 for it.
# A benign look-alike of a path scan (one path, many clients).
BROKEN_IMAGE = "/images/promo-black-friday.webp"

def product_price(product_id: int) -> float:
    """Deterministic price of a product, in EUR."""
    return round(5 + (product_id * 7919 % 30000) / 100, 2)


SEARCH_REFERERS = ("https://www.google.com/", "https://www.google.de/", "https://www.bing.com/",
                   "https://duckduckgo.com/", "https://search.yahoo.com/", "https://yandex.ru/")
SOCIAL_REFERERS = ("https://www.facebook.com/", "https://l.facebook.com/", "https://t.co/x7Fq2ZrA",
                   "https://www.instagram.com/", "https://www.reddit.com/r/running/",
                   "https://www.pinterest.com/")

# ---------------------------------------------------------------- attack vocabulary
PROBE_PATHS: tuple[str, ...] = (
    "/wp-admin/", "/wp-login.php", "/wp-config.php", "/wp-config.php.bak", "/xmlrpc.php",
    "/wp-content/plugins/revslider/", "/wp-includes/wlwmanifest.xml", "/.env", "/.env.local",
    "/.env.production", "/.git/config", "/.git/HEAD", "/.gitignore", "/.svn/entries", "/.hg/store",
    "/.DS_Store", "/.htpasswd", "/.htaccess", "/.aws/credentials", "/.ssh/id_rsa", "/phpmyadmin/",
    "/pma/", "/myadmin/", "/phpMyAdmin/index.php", "/admin/", "/admin/login.php", "/administrator/",
    "/manager/html", "/console/", "/actuator/env", "/actuator/health", "/server-status", "/server-info",
    "/backup.zip", "/backup.tar.gz", "/site.tar.gz", "/www.zip", "/db.sql", "/dump.sql",
    "/database.sql", "/config.php.bak", "/config.json", "/config.yml", "/settings.py",
    "/web.config", "/composer.json", "/composer.lock", "/package.json", "/docker-compose.yml",
    "/Dockerfile", "/id_rsa", "/shell.php", "/cmd.php", "/c99.php", "/r57.php", "/upload.php",
    "/cgi-bin/test-cgi", "/cgi-bin/php", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/solr/admin/", "/jenkins/login", "/owa/auth/logon.aspx", "/remote/login", "/boaform/admin/formLogin",
    "/HNAP1/", "/druid/index.html", "/telescope/requests", "/_profiler/phpinfo", "/phpinfo.php",
    "/info.php", "/test.php", "/debug/default/view",
)
# Probe paths whose server answer is 403 (nginx deny rules) rather than 404.
FORBIDDEN_PROBES = frozenset({"/.git/config", "/.git/HEAD", "/.htpasswd", "/.htaccess", "/server-status",
                              "/server-info", "/.svn/entries", "/.hg/store"})
