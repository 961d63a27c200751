"""Finding input files: explicit files, globs and directories, rotated sets in time order."""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

# access.log, access.log.1, access.log.2.gz, access.log-20261124.bz2, site.access_log, ...
_ROTATED = re.compile(
    r"^(?P<base>.+?(?:\.log|_log|access[^/]*?))"
    r"(?:\.(?P<num>\d+)|-(?P<date>\d{8}(?:\d{2})?))?"
    r"(?:\.(?:gz|bz2))?$"
)
# directories hold other logs too: error logs are never access logs
_SKIP = re.compile(r"(^|[._-])error", re.IGNORECASE)


def _rotation_key(path: Path) -> tuple[str, int, str]:
    """Sort key: per base name, oldest first (highest number, then dated, then the live file)."""
    match = _ROTATED.match(path.name)
    if not match:
        return (str(path), 1, "")
    base = str(path.parent / match.group("base"))
    if match.group("num") is not None:
        return (base, -int(match.group("num")), "")  # .3 before .2 before .1
    if match.group("date") is not None:
        return (base, 0, match.group("date"))  # dateext: older dates first, after numbered ones
    return (base, 1, "")  # the live file is the newest


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


def is_access_log(path: Path) -> bool:
    """Whether a file found in a directory looks like an access log (rotated or not)."""
    return bool(_ROTATED.match(path.name)) and not _SKIP.search(path.name)


def discover_files(patterns: Sequence[str]) -> list[Path]:
    """Expand files, globs and directories into access-log files, each rotated set oldest first.

    A file named explicitly is always taken; directories contribute files that look like access
    logs (``*.log``, ``*.log.N``, ``*.log.N.gz``, ``*.log-YYYYMMDD.bz2``..., not error logs).
    Raises FileNotFoundError naming the pattern when a pattern matches nothing.
    """
    found: dict[Path, None] = {}
    for pattern in patterns:
        hits: list[Path] = []
        candidates = glob.glob(pattern, recursive=True) if _has_magic(pattern) else [pattern]
        for candidate in map(Path, candidates):
            if candidate.is_dir():
                hits += [p for p in candidate.iterdir() if p.is_file() and is_access_log(p)]
            elif candidate.is_file():
                hits.append(candidate)
        if not hits:
            raise FileNotFoundError(f"no access log matches {pattern!r}")
        found.update(dict.fromkeys(p.resolve() for p in hits))
    return sorted(found, key=_rotation_key)


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes as stored (compressed files are not decompressed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def stored_bytes(patterns: Sequence[str]) -> int | None:
    """Total size as stored (compressed files at their compressed size) of the access logs the patterns name.

    None when a pattern matches nothing: the caller only estimates a day's size with it, and the
    parse stage reports the missing input.
    """
    try:
        return sum(path.stat().st_size for path in discover_files(patterns))
    except OSError:
        return None
