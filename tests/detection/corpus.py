"""The labelled detection corpus (corpus.txt): hand-written clients, rendered as a combined access log.

corpus.txt is written by hand from the public detectors' rule descriptions (CrowdSec hub
scenarios and their tests, fail2ban filter.d files, SigmaHQ webserver rules, the CVE advisories),
not by the sample generator. Its small language:

    client IP kind=attack|nearmiss|benign family=NAME [expect=cat1,cat2] [cve=ID]
    ua TEXT                  user agent of the next lines (default: a desktop Firefox)
    at HH:MM:SS              time of the next line (default 10:00:00 on DAY)
    +S "REQUEST" STATUS [ref=URL] [user=NAME] [ua=TEXT]     one line S seconds after the previous
    *N/S "REQUEST" STATUS [...]                             N lines S seconds apart; {i} is 1..N

The request is written as the server logs it (Apache writes binary bytes as `\\x16`); junk and
empty request lines are requests too (parsers/schema.py, REQUEST_KINDS), so every line is counted.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.txt")
DAY = date(2026, 5, 1)
DEFAULT_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
_LINE = re.compile(
    r'^([+*])(\S+)\s+"((?:[^"\\]|\\.)*)"\s+(\d{3})((?:\s+(?:ref|user)=\S+)*)(?:\s+ua=(.*))?$'
)


@dataclass
class Client:
    ip: str
    kind: str
    family: str
    expect: set[str] = field(default_factory=set)
    cve: str | None = None
    lines: list[str] = field(default_factory=list)


def _fmt(ts: datetime) -> str:
    return ts.strftime("%d/%b/%Y:%H:%M:%S +0000")


def load(path: Path = CORPUS) -> list[Client]:
    """The clients of the corpus with their rendered combined-log lines."""
    clients: list[Client] = []
    current: Client | None = None
    ua, now = DEFAULT_UA, datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.name}:{number}"
        if line.startswith("client "):
            words = shlex.split(line)
            attrs = dict(w.split("=", 1) for w in words[2:])
            expect = set(filter(None, attrs.get("expect", "").split(",")))
            current = Client(words[1], attrs["kind"], attrs["family"], expect, attrs.get("cve"))
            clients.append(current)
            ua, now = DEFAULT_UA, datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=10)
            continue
        if current is None:
            raise ValueError(f"{where}: a line before the first client")
        if line.startswith("ua "):
            ua = line[3:]
            continue
        if line.startswith("at "):
            hour, minute, second = (int(x) for x in line[3:].split(":"))
            now = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(
                hours=hour, minutes=minute, seconds=second
            )
            continue
        found = _LINE.match(line)
        if not found:
            raise ValueError(f"{where}: not a corpus line: {line!r}")
        op, step, request, status, extras, line_ua = found.groups()
        opts = dict(x.split("=", 1) for x in extras.split())
        count, gap = (1, float(step)) if op == "+" else (int(step.split("/")[0]), float(step.split("/")[1]))
        for repeat in range(1, count + 1):
            now += timedelta(seconds=gap)
            this_ua = (line_ua or ua).replace("{i}", str(repeat))
            ref = opts.get("ref", "-").replace("{i}", str(repeat))
            user = opts.get("user", "-")
            current.lines.append(
                f'{current.ip} - {user} [{_fmt(now)}] "{request.replace("{i}", str(repeat))}" {status} 512 '
                f'"{ref}" "{this_ua}"'
            )
    return clients


def write_log(clients: list[Client], target: Path) -> Path:
    """All lines of all clients in time order, as one combined access log."""
    lines = [line for c in clients for line in c.lines]
    stamp = re.compile(r"\[([^\]]+)\]")
    lines.sort(key=lambda text: datetime.strptime(stamp.search(text).group(1), "%d/%b/%Y:%H:%M:%S %z"))
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
