"""Path templates, asset types and page views: table-driven, one Spark action."""

from __future__ import annotations

from pyspark.sql import SparkSession, functions

from analytics.paths import PATH_RULES, PathRule, asset_type, is_page_view, path_template

# path, template, asset type
CASES = [
    ("/", "/", None),
    ("/product/123", "/product/{id}", None),
    ("/product/123/", "/product/{id}", None),
    ("/users/42/orders/7", "/users/{id}/orders/{id}", None),
    ("/order/3fa85f64-5717-4562-b3fc-2c963f66afa6", "/order/{uuid}", None),
    ("/blob/0123456789abcdef0123", "/blob/{hash}", None),
    ("/blob/abcdef", "/blob/abcdef", None),
    ("/archive/2026/05", "/archive/{date}", None),
    ("/archive/2026/05/01/post", "/archive/{date}/post", None),
    ("/report/2026-05-01", "/report/{date}", None),
    ("/v2/items", "/v2/items", None),
    ("/product/123abc", "/product/123abc", None),
    ("/u/jane@example.com", "/u/{email}", None),
    ("/static/app.CSS", "/static/app.CSS", "css"),
    ("/static/app.js", "/static/app.js", "js"),
    ("/img/logo.png", "/img/logo.png", "image"),
    ("/images/products/1960.jpg", "/images/products/{id}.jpg", "image"),
    ("/v1/2026.tar.gz", "/v1/2026.tar.gz", None),
    ("/files/12/34.pdf", "/files/{id}/{id}.pdf", None),
    ("/fonts/a.woff2", "/fonts/a.woff2", "font"),
    ("/doc.pdf", "/doc.pdf", None),
]

# method, status, path, is_page_view
VIEWS = [
    ("GET", 200, "/product/1", True),
    ("get", 304, "/", True),
    ("POST", 200, "/product/1", False),
    ("GET", 404, "/missing", False),
    ("GET", 200, "/static/app.js", False),
    ("GET", 200, "/api/cart", False),
    ("GET", 200, "/api", False),
    ("GET", 200, "/apidocs", True),
    ("GET", None, "/x", False),
]


def test_templates_assets_and_page_views(spark: SparkSession) -> None:
    rows = [(p, "GET", 200, t, a, None) for p, t, a in CASES] + [(p, m, s, None, None, v) for m, s, p, v in VIEWS]
    df = spark.createDataFrame(rows, "path string, method string, status int, tpl string, asset string, pv boolean")
    custom = (*PATH_RULES, PathRule("sku", r"(?<=/sku/)[A-Z]{3}-\d+", "{sku}"))
    out = df.select(
        "path",
        "tpl",
        "asset",
        "pv",
        path_template("path").alias("t"),
        asset_type("path").alias("a"),
        is_page_view().alias("v"),
        path_template(functions.lit("/sku/ABC-12/x"), custom).alias("c"),
    ).collect()
    for row in out:
        if row.pv is None:
            assert (row.t, row.a) == (row.tpl, row.asset), row.path
        else:
            assert row.v == row.pv, (row.path, row.v)
    assert out[0].c == "/sku/{sku}/x"
