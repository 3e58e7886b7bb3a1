"""Application-level errors. The tree is drawn in :mod:`ingest.errors`."""

from __future__ import annotations

from ingest.errors import DatamoatError

__all__ = ["BrokerError", "ConfigError", "DatamoatError"]


class ConfigError(DatamoatError):
    """A flag, config file or environment value is invalid; the message says how to fix it."""


class BrokerError(DatamoatError):
    """The Kafka broker can't be fetched, started, stopped or reached."""
