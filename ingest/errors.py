"""The root of datamoat's exception tree (every layer may raise a subclass).

    DatamoatError                 anything datamoat raises on purpose
    ├── ConfigError               a bad flag, config file or environment value (datamoat.errors)
    ├── BrokerError               the local Kafka broker can't be fetched, started or reached
    └── SinkError                 a sink could not durably write (retryable)

Each message says what was wrong and what to do about it; the CLI prints it as one line.
"""

from __future__ import annotations

__all__ = ["DatamoatError", "DeltaError"]


class DatamoatError(Exception):
    """Base class of every error datamoat raises on purpose."""


class DeltaError(DatamoatError):
    """A record of the partials topic is not a datamoat delta (wrong topic, or corrupt)."""
