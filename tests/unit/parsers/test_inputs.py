"""Input discovery: rotated sets oldest first, globs, directories, clear errors."""

from __future__ import annotations

import bz2
import gzip
import hashlib
from pathlib import Path

import pytest

from parsers.inputs import discover_files, sha256_file


def make(tmp_path: Path, names: list[str]) -> None:
    for name in names:
        path = tmp_path / name
        data = b"x\n"
        path.write_bytes(
            gzip.compress(data) if name.endswith(".gz") else bz2.compress(data) if name.endswith(".bz2") else data
        )


def test_rotated_set_oldest_first(tmp_path: Path) -> None:
    make(
        tmp_path,
        [
            "access.log",
            "access.log.1",
            "access.log.2.gz",
            "access.log.3.bz2",
            "access.log.10.gz",
            "error.log",
            "error.log.1",
            "events.jsonl",
            "notes.txt",
        ],
    )
    got = [p.name for p in discover_files([str(tmp_path)])]
    assert got == ["access.log.10.gz", "access.log.3.bz2", "access.log.2.gz", "access.log.1", "access.log"]


def test_dateext_and_several_sets(tmp_path: Path) -> None:
    make(tmp_path, ["b.access.log", "a.log-20261123.gz", "a.log", "a.log-20261122.gz"])
    got = [p.name for p in discover_files([str(tmp_path)])]
    assert got == ["a.log-20261122.gz", "a.log-20261123.gz", "a.log", "b.access.log"]


def test_glob_file_and_dedupe(tmp_path: Path) -> None:
    make(tmp_path, ["access.log", "access.log.1", "other.txt"])
    got = discover_files([str(tmp_path / "access.log*"), str(tmp_path / "access.log"), str(tmp_path / "other.txt")])
    assert [p.name for p in got] == ["access.log.1", "access.log", "other.txt"]


def test_nothing_matches_names_the_pattern(tmp_path: Path) -> None:
    make(tmp_path, ["access.log"])
    with pytest.raises(FileNotFoundError, match="nope"):
        discover_files([str(tmp_path / "access.log"), str(tmp_path / "nope*.log")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        discover_files([str(tmp_path / "empty")])


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    assert sha256_file(path) == hashlib.sha256(b"abc").hexdigest()
