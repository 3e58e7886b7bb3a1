"""The error tree, re-exported for the application (it is drawn in :mod:`ingest.errors`)."""

from __future__ import annotations

from ingest.errors import (
    BrokerError,
    CheckpointError,
    ConfigError,
    DatamoatError,
    DeliveryError,
    ShardError,
    SinkError,
    SinkUnavailable,
)

__all__ = [
    "BrokerError",
    "CheckpointError",
    "ConfigError",
    "DatamoatError",
    "DeliveryError",
    "ShardError",
    "SinkError",
    "SinkUnavailable",
]
