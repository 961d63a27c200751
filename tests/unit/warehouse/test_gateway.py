"""Warehouse.resolve's order (flag, env, secret block, embedded) and what it never does: import
Prefect without a secret block, or show the password."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.settings import WebtrailSettings
from warehouse.gateway import Warehouse, run_lock_key

REPO_ROOT = Path(__file__).resolve().parents[3]
FLAG_URL = "postgresql://flag:flag-secret@db.example/webtrail"
ENV_URL = "postgresql://env:env-secret@db.example/webtrail"


@pytest.fixture()
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> WebtrailSettings:
    monkeypatch.setenv("WEBTRAIL_DATABASE_URL", ENV_URL)
    # A block that does not exist: resolving it would fail, so these tests show it is never read.
    monkeypatch.setenv("WEBTRAIL_DATABASE_SECRET_BLOCK", "no-such-block")
    monkeypatch.setenv("WEBTRAIL_DATA_DIR", str(tmp_path))
    return WebtrailSettings()


def test_the_flag_wins_over_the_environment(settings: WebtrailSettings) -> None:
    assert Warehouse.resolve(settings, FLAG_URL).url == FLAG_URL
    assert Warehouse.resolve(settings, SecretStr(FLAG_URL)).url == FLAG_URL


def test_the_environment_wins_over_the_secret_block(settings: WebtrailSettings) -> None:
    assert Warehouse.resolve(settings).url == ENV_URL
    assert Warehouse.resolve(settings, "").url == ENV_URL  # an empty flag is no flag


def test_repr_and_redacted_url_hide_the_password(settings: WebtrailSettings) -> None:
    warehouse = Warehouse.resolve(settings, FLAG_URL)
    for shown in (repr(warehouse), str(warehouse), warehouse.redacted_url, repr([warehouse])):
        assert "flag-secret" not in shown and "flag:***@db.example" in shown


def test_run_lock_keys_are_stable_signed_32_bit_integers() -> None:
    keys = {run_lock_key(f"00000000-0000-0000-0000-{index:012d}") for index in range(2000)}
    assert all(-(2**31) <= key < 2**31 for key in keys)
    assert any(key < 0 for key in keys) and len(keys) == 2000
    assert run_lock_key("a1b2") == run_lock_key("a1b2")


def test_command_lines_do_not_import_prefect_without_a_secret_block() -> None:
    code = (
        "import sys\n"
        "import warehouse.show, webtrail.client, report.html, report.blocklist_run\n"
        "from config.settings import WebtrailSettings\n"
        "from warehouse.gateway import Warehouse\n"
        f"assert Warehouse.resolve(WebtrailSettings()).url == {ENV_URL!r}\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] == 'prefect')\n"
        "assert not loaded, loaded[:5]\n"
    )
    env = {"PATH": "/usr/bin:/bin", "WEBTRAIL_DATABASE_URL": ENV_URL, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
