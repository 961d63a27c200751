"""The driver JVM's class archive files (analytics/class_archive.py): read, write once, install only when whole."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.class_archive import NO_ARCHIVE, archive_key, finish_archive, plan_archive

KEY = "k1"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_installed_archive_is_read(tmp_path: Path) -> None:
    (tmp_path / f"{KEY}.jsa").write_bytes(b"archive")
    plan = plan_archive(tmp_path, KEY)
    assert plan.java_option == f"-XX:SharedArchiveFile={tmp_path / 'k1.jsa'}"
    assert plan.writing is None and plan.lock is None


def test_the_first_run_writes_a_part_file_under_a_lock_and_installs_it_after_a_clean_exit(tmp_path: Path) -> None:
    plan = plan_archive(tmp_path / "new", KEY)  # the directory is created
    part = tmp_path / "new" / f"{KEY}.{os.getpid()}.part"
    assert plan.java_option == f"-XX:ArchiveClassesAtExit={part}"
    assert plan.writing == part
    assert (tmp_path / "new" / f"{KEY}.lock").read_text() == str(os.getpid())
    part.write_bytes(b"classes")  # what the JVM writes as it exits
    assert finish_archive(plan, 0) is True
    assert (tmp_path / "new" / f"{KEY}.jsa").read_bytes() == b"classes"
    assert sorted(path.name for path in (tmp_path / "new").iterdir()) == [f"{KEY}.jsa"]


@pytest.mark.parametrize("exit_code", [1, -7, None])  # failed, killed by SIGBUS, still running at the timeout
def test_a_part_file_of_an_unclean_exit_is_discarded(tmp_path: Path, exit_code: int | None) -> None:
    plan = plan_archive(tmp_path, KEY)
    assert plan.writing is not None
    plan.writing.write_bytes(b"half")
    assert finish_archive(plan, exit_code) is False
    assert list(tmp_path.iterdir()) == []


def test_an_empty_or_missing_part_file_is_not_installed(tmp_path: Path) -> None:
    plan = plan_archive(tmp_path, KEY)
    assert finish_archive(plan, 0) is False  # the JVM could not archive (no base archive, say)
    assert list(tmp_path.iterdir()) == []


def test_a_second_run_while_the_first_writes_runs_without_an_archive(tmp_path: Path) -> None:
    (tmp_path / f"{KEY}.lock").write_text(str(os.getppid()))  # a live writer
    assert plan_archive(tmp_path, KEY) == NO_ARCHIVE
    assert finish_archive(NO_ARCHIVE, 0) is False
    assert (tmp_path / f"{KEY}.lock").exists()  # not ours to release


def test_a_lock_left_by_a_dead_writer_is_taken_over_with_its_part_file_removed(tmp_path: Path) -> None:
    dead = _dead_pid()
    (tmp_path / f"{KEY}.lock").write_text(str(dead))
    (tmp_path / f"{KEY}.{dead}.part").write_bytes(b"truncated")
    plan = plan_archive(tmp_path, KEY)
    assert plan.writing == tmp_path / f"{KEY}.{os.getpid()}.part"
    assert not (tmp_path / f"{KEY}.{dead}.part").exists()
    assert (tmp_path / f"{KEY}.lock").read_text() == str(os.getpid())


def test_an_unusable_directory_turns_the_archive_off_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-file").write_text("")
    with caplog.at_level(logging.WARNING, logger="analytics.class_archive"):
        assert plan_archive(tmp_path / "a-file" / "jvm", KEY) == NO_ARCHIVE
    assert "WEBTRAIL_SPARK__CLASS_ARCHIVE_DIR" in caplog.text
    assert str(tmp_path / "a-file" / "jvm") in caplog.text


def test_the_key_changes_with_the_jvm_build_and_its_options() -> None:
    base = archive_key('openjdk version "17.0.15"', "2g")
    assert archive_key('openjdk version "17.0.15"', "2g") == base
    assert archive_key('openjdk version "17.0.16"', "2g") != base
    assert archive_key('openjdk version "17.0.15"', "4g") != base
