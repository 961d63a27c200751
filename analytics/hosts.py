"""Host names as the tables compare them: the vhost of a request and the host of its referer.

Both are normalized the same way (lower case, port and trailing dot removed, a leading `www.`
stripped, bounded to MAX_HOST_CHARS), so `https://WWW.Shop.example:443/x` and a vhost `shop.example`
are the same site. A referer is external when its host is neither the request's vhost nor one of the
site's own hosts (analytics/sessions.py).
"""

from __future__ import annotations

from pyspark.sql import Column, functions

from analytics.contracts import MAX_HOST_CHARS, bounded_text


def _bare_host(host: Column) -> Column:
    return functions.regexp_replace(
        functions.regexp_replace(functions.lower(functions.trim(host)), r"(:\d+)?\.?$", ""), r"^www\.", ""
    )


def _bounded_host(bare: Column) -> Column:
    return functions.when(bare != "", bounded_text(bare, MAX_HOST_CHARS))


def normalize_host(host: Column) -> Column:
    """Lower case, port and trailing dot removed, leading `www.` stripped, bounded; '' becomes null."""
    return _bounded_host(_bare_host(host))


def referer_raw_host(referer: Column) -> Column:
    """The host part of an absolute URL (scheme://[user@]host[:port]...), '' when there is none."""
    return functions.regexp_extract(referer, r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]+)", 1)


def referer_host(referer: Column) -> Column:
    """Normalized host of an absolute http(s)-like referer URL; null for '-', relative or garbage."""
    return normalize_host(referer_raw_host(referer))


def host_steps(hosts: dict[str, Column]) -> list[dict[str, Column]]:
    """`normalize_host` of each (name, host) of `hosts` as steps (analytics/lookups.py `_steps`) ending
    in `name`: the bare host, read three times, is a column of its own."""
    steps: list[dict[str, Column]] = [{}, {}]
    for name, host in hosts.items():
        steps[0][f"{name}__bare"] = _bare_host(host)
        steps[1][name] = _bounded_host(functions.col(f"{name}__bare"))
    return steps
