"""The root of datamoat's exception tree (every layer may raise a subclass).

    DatamoatError                 anything datamoat raises on purpose
    ├── ConfigError               a bad flag, config file or environment value (datamoat.errors)
    ├── BrokerError               the local Kafka broker can't be fetched, started or reached
    └── SinkError                 a sink could not durably write (retryable)

Each message says what was wrong and what to do about it; the CLI prints it as one line.
"""

from __future__ import annotations

__all__ = [
    "DatamoatError",
    "DeltaError",
    "GroupMovedOn",
    "InstanceFenced",
    "SinkError",
    "SinkUnavailable",
]


class DatamoatError(Exception):
    """Base class of every error datamoat raises on purpose."""


class DeltaError(DatamoatError):
    """A record of the partials topic is not a datamoat delta (wrong topic, or corrupt)."""


class SinkError(DatamoatError):
    """A sink could not durably write (the only sink error that is retried)."""


class SinkUnavailable(SinkError):
    """A sink kept failing until shutdown was requested."""


class GroupMovedOn(DatamoatError):
    """A transaction's offsets were refused because the consumer group rebalanced: the
    batch is aborted and its partitions' next owners read it again."""


class InstanceFenced(DatamoatError):
    """Another process with the same transactional id took over: this one must stop."""
