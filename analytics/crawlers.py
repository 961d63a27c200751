"""Search-engine crawler ranges, the IP allowlist, and the command that refreshes the ranges.

A crawler is *verified* when its user agent claims an engine (the engine's `user_agent` regex) and
its address lies in that engine's published ranges; a claim from outside them is a fake crawler
(fail2ban's apache-fakegooglebot, which asks reverse DNS; webtrail asks the published lists, so
the day's analysis needs no network). One file per engine in patterns/crawler_ranges/, in the
format Google and Bing publish (`creationTime`, `prefixes` of `ipv4Prefix` / `ipv6Prefix`) plus
`engine`, `user_agent` and `source`. The shipped files are dated by their `creationTime`; refresh
one from a downloaded copy of the engine's list:

    python -m analytics.crawlers refresh google googlebot.json [--dest DIR]

Addresses are looked up once per distinct client IP (a Python UDF: Spark has no network type), so
the cost is the day's distinct IPs, not its requests.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Column, DataFrame, functions, types

BUILTIN_RANGES = Path(__file__).resolve().parent / "patterns" / "crawler_ranges"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Engine:
    """One search engine: its name, the user-agent regex of its claim, its networks and their date."""

    name: str
    user_agent: str
    networks: tuple[Network, ...]
    created: str


def load_engines(directory: Path | None = None) -> list[Engine]:
    """The engines of `directory` (default: the built-in ranges), sorted by name."""
    engines = []
    for file in sorted(Path(directory or BUILTIN_RANGES).glob("*.json")):
        doc = json.loads(file.read_text(encoding="utf-8"))
        try:
            nets = tuple(ipaddress.ip_network(p.get("ipv4Prefix") or p["ipv6Prefix"]) for p in doc["prefixes"])
            engines.append(Engine(doc["engine"], doc["user_agent"], nets, str(doc.get("creationTime", ""))))
        except (KeyError, ValueError) as error:
            raise ValueError(f"{file}: not a crawler range file ({error})") from error
    return engines


def _networks(texts: list[str]) -> list[Network]:
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as error:
            raise ValueError(f"WEBTRAIL_SECURITY__ALLOW_CIDRS: {text!r} is not a network ({error})") from error
    return out


def ip_tags(ips: DataFrame, engines: list[Engine], allow_ips: list[str], allow_cidrs: list[str]) -> DataFrame:
    """Per distinct `client_ip` of `ips`: `_engine` (the engine whose ranges hold it, or null) and `_allowed`."""
    ranges = [(e.name, net) for e in engines for net in e.networks]
    allowed = _networks(list(allow_cidrs)) + _networks([f"{ip}/{'128' if ':' in ip else '32'}" for ip in allow_ips])

    def tag(ip: str | None) -> tuple[str | None, bool]:
        try:
            address = ipaddress.ip_address((ip or "").strip())
        except ValueError:
            return None, False
        engine = next((name for name, net in ranges if address.version == net.version and address in net), None)
        return engine, any(address.version == net.version and address in net for net in allowed)

    schema = types.StructType(
        [types.StructField("engine", types.StringType()), types.StructField("allowed", types.BooleanType())]
    )
    tagged = functions.udf(tag, schema)(functions.col("client_ip"))
    return ips.select("client_ip").distinct().select(
        "client_ip", tagged.getField("engine").alias("_engine"), tagged.getField("allowed").alias("_allowed")
    )


def claimed_engine(user_agent: Column, engines: list[Engine]) -> Column:
    """The engine a user agent claims to be (first match in name order), or null."""
    out = functions.lit(None).cast("string")
    for engine in reversed(engines):
        out = functions.when(user_agent.rlike("(?i)" + engine.user_agent), functions.lit(engine.name)).otherwise(out)
    return out


def refresh(engine: str, downloaded: Path, dest: Path | None = None) -> Path:
    """Replace the prefixes and date of `engine`'s range file with those of a downloaded official list."""
    dest = Path(dest or BUILTIN_RANGES)
    target = dest / f"{engine}.json"
    shipped = BUILTIN_RANGES / f"{engine}.json"
    current = json.loads(shipped.read_text()) if shipped.exists() else {
        "engine": engine, "user_agent": engine, "source": str(downloaded)}
    new = json.loads(Path(downloaded).read_text(encoding="utf-8"))
    prefixes = new.get("prefixes")
    if not isinstance(prefixes, list) or not prefixes:
        raise ValueError(f"{downloaded}: no 'prefixes' list (expected the engine's published JSON format)")
    for prefix in prefixes:
        ipaddress.ip_network(prefix.get("ipv4Prefix") or prefix["ipv6Prefix"])
    doc = current | {"creationTime": new.get("creationTime", ""), "prefixes": prefixes}
    dest.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics.crawlers", description="Crawler range files.")
    sub = parser.add_subparsers(dest="command", required=True)
    refresh_parser = sub.add_parser("refresh", help="replace an engine's ranges with a downloaded copy of its list")
    refresh_parser.add_argument("engine")
    refresh_parser.add_argument("file", type=Path)
    refresh_parser.add_argument(
        "--dest", type=Path, default=None, help="directory to write (default: the built-in one)"
    )
    sub.add_parser("list", help="engines, dates and range counts")
    args = parser.parse_args(argv)
    if args.command == "refresh":
        try:
            print(refresh(args.engine, args.file, args.dest))
        except (OSError, ValueError, KeyError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    for engine in load_engines():
        print(f"{engine.name}\t{engine.created}\t{len(engine.networks)} networks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
