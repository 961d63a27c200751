"""The shipped migration files are well-formed and ordered."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.migrate import MigrationError, discover


def test_shipped_migrations_are_numbered_from_one() -> None:
    versions = [m.version for m in discover()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(len(m.checksum) == 64 for m in discover())


def test_bad_names_and_duplicates_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("")
    with pytest.raises(MigrationError, match="NNN_lowercase_name"):
        discover(tmp_path)
    (tmp_path / "1_x.sql").unlink()
    (tmp_path / "001_a.sql").write_text("")
    (tmp_path / "001_b.sql").write_text("")
    with pytest.raises(MigrationError, match="two migrations with version 1"):
        discover(tmp_path)
