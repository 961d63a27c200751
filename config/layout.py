"""Where each stage of one day's run reads and writes its files under the data directory.

The datasets and their file names come from the catalog (config/catalog): a staging dataset is
`staging/day=D/<name>.parquet`, an output table the directory `output/day=D/<name>/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from config import catalog
from config.catalog.value_keys import DICTIONARIES

OUTPUT_TABLES: tuple[str, ...] = catalog.OUTPUT_TABLES


def staging_file(directory: Path, name: str) -> Path:
    """The Parquet file of the staging dataset ``name`` of the catalog in a staging ``directory``."""
    declared = catalog.dataset(name)
    if declared.kind != "staging":
        raise ValueError(f"dataset {name!r} is {declared.kind}, not a staging dataset of config/catalog")
    return Path(directory) / f"{declared.name}.parquet"


@dataclass(frozen=True)
class DayLayout:
    """Paths of one day's staging datasets and Spark outputs (Parquet files or directories)."""

    data_dir: Path
    day: date

    @property
    def staging(self) -> Path:
        return self.data_dir / "staging" / f"day={self.day.isoformat()}"

    def staging_dataset(self, name: str) -> Path:
        """The Parquet file of one staging dataset of the catalog."""
        return staging_file(self.staging, name)

    @property
    def requests(self) -> Path:
        return self.staging_dataset("requests")

    @property
    def value_key_dictionaries(self) -> dict[str, Path]:
        """Every dictionary of the requests' value keys (config/catalog/value_keys.py): name -> file."""
        return {name: self.staging_dataset(name) for name in DICTIONARIES}

    @property
    def client_keys(self) -> Path:
        return self.staging_dataset("client_keys")

    @property
    def agent_keys(self) -> Path:
        return self.staging_dataset("agent_keys")

    @property
    def request_keys(self) -> Path:
        return self.staging_dataset("request_keys")

    @property
    def referer_keys(self) -> Path:
        return self.staging_dataset("referer_keys")

    @property
    def vhost_keys(self) -> Path:
        return self.staging_dataset("vhost_keys")

    @property
    def remote_user_keys(self) -> Path:
        return self.staging_dataset("remote_user_keys")

    @property
    def file_keys(self) -> Path:
        return self.staging_dataset("file_keys")

    @property
    def rejected(self) -> Path:
        return self.staging_dataset("rejected")

    @property
    def events(self) -> Path:
        return self.staging_dataset("events")

    @property
    def events_rejected(self) -> Path:
        return self.staging_dataset("events_rejected")

    @property
    def events_api_download(self) -> Path:
        """The day's events as fetched from the HTTP API, before validation."""
        return self.staging / "events_api.jsonl"

    @property
    def users(self) -> Path:
        return self.staging_dataset("users")

    @property
    def user_agents(self) -> Path:
        return self.staging_dataset("user_agents")

    @property
    def output(self) -> Path:
        return self.data_dir / "output" / f"day={self.day.isoformat()}"

    def output_table(self, table: str) -> Path:
        """Directory of Parquet part files Spark wrote for one output table of the catalog."""
        declared = catalog.dataset(table)
        if declared.kind != "output":
            raise ValueError(f"dataset {table!r} is {declared.kind}, not an output table of config/catalog")
        return self.output / declared.name
