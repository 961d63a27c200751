"""A class-data-sharing (CDS) archive of the driver JVM's classes, kept from one run to the next.

Spark's driver loads about 20,000 classes from some 250 jars before its first query answers, and
every run loads the same ones. HotSpot can write the classes a JVM loaded to an archive when it
exits (`-XX:ArchiveClassesAtExit`) and map that archive into later JVMs (`-XX:SharedArchiveFile`),
which then skip finding, parsing and verifying them (BENCHMARKS.md, "The driver JVM").

The archive is only valid for the JVM build and class path that wrote it, so its file name is a
key over both. The first run of a key writes `<key>.<pid>.part` and renames it to `<key>.jsa` only
after its JVM exited cleanly: HotSpot crashes (SIGBUS) mapping a truncated archive, so a half-written
file must never carry the final name. One run at a time writes a key (`<key>.lock`); the others run
without an archive meanwhile.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pyspark

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchivePlan:
    """What one JVM launch does with the archive: read it, write it, or neither."""

    java_option: str | None = None  # the -XX option to add to the driver's Java options
    writing: Path | None = None  # the .part file this JVM writes at its exit
    target: Path | None = None  # the archive's final name
    lock: Path | None = None  # held while this run writes


NO_ARCHIVE = ArchivePlan()


def archive_key(java_version: str, launch_options: str) -> str:
    """A key over what makes an archive valid: the JVM build, Spark's jars and the JVM's own options."""
    digest = hashlib.sha256()
    digest.update(java_version.encode())
    digest.update(pyspark.__version__.encode())
    digest.update(launch_options.encode())
    jars = Path(pyspark.__file__).parent / "jars"
    for jar in sorted(jars.glob("*.jar")):
        digest.update(f"{jar.name}:{jar.stat().st_size}".encode())
    return digest.hexdigest()[:20]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _claim(lock: Path) -> bool:
    """Take the key's writer lock; a lock left by a process that no longer runs is taken over."""
    for _attempt in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or "0")
            except (OSError, ValueError):
                holder = 0
            if holder and _process_alive(holder):
                return False
            # stale: its writer died before finishing; so may have its JVM, mid-write
            lock.unlink(missing_ok=True)
            lock.with_name(lock.name.replace(".lock", f".{holder}.part")).unlink(missing_ok=True)
            continue
        with os.fdopen(handle, "w") as out:
            out.write(str(os.getpid()))
        return True
    return False


def plan_archive(directory: Path, key: str) -> ArchivePlan:
    """Read `<key>.jsa` if it exists, else write it at this JVM's exit if no other run is; never raises."""
    target = directory / f"{key}.jsa"
    if target.is_file():
        return ArchivePlan(java_option=f"-XX:SharedArchiveFile={target}", target=target)
    lock = directory / f"{key}.lock"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not _claim(lock):
            return NO_ARCHIVE
    except OSError as exc:
        LOGGER.warning("JVM class archive off: cannot write under %s (%s); set "
                       "WEBTRAIL_SPARK__CLASS_ARCHIVE_DIR to a writable directory", directory, exc)
        return NO_ARCHIVE
    part = directory / f"{key}.{os.getpid()}.part"
    return ArchivePlan(java_option=f"-XX:ArchiveClassesAtExit={part}", writing=part, target=target, lock=lock)


def finish_archive(plan: ArchivePlan, jvm_exit_code: int | None) -> bool:
    """After the JVM exited: install the archive it wrote if it exited cleanly; release the lock.

    Returns whether an archive was installed. An exit code of None (the JVM did not end in time)
    or non-zero discards the part file, which may be incomplete.
    """
    if plan.writing is None or plan.target is None:
        return False
    installed = False
    try:
        if jvm_exit_code == 0 and plan.writing.is_file() and plan.writing.stat().st_size > 0:
            os.replace(plan.writing, plan.target)
            installed = True
        else:
            plan.writing.unlink(missing_ok=True)
    except OSError as exc:
        LOGGER.warning("JVM class archive %s not installed: %s", plan.target, exc)
    finally:
        if plan.lock is not None:
            plan.lock.unlink(missing_ok=True)
    return installed
