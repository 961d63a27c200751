"""Settings shared by every stage."""

from config.settings import WebtrailSettings, get_settings

__all__ = ["WebtrailSettings", "get_settings"]
