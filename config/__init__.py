"""Settings shared by every stage."""

from config.settings import WebtrailSettings

__all__ = ["WebtrailSettings"]
