"""Every error datamoat raises on purpose, in one tree (every layer may import it).

    DatamoatError          anything datamoat raises on purpose
    ├── ConfigError        a bad flag, config file, environment variable or path
    ├── BrokerError        the Kafka broker can't be fetched, started, stopped or reached
    ├── DeliveryError      Kafka gave up on some of the firehose's posts
    ├── ShardError         a firehose worker process failed
    ├── SourceTimeout      records that must be read again could not be fetched in time
    ├── DeltaError         a record of the partials topic is not a datamoat delta
    ├── GroupMovedOn       the group rebalanced under a transaction: its batch is aborted
    ├── InstanceFenced     another process took over the transactional id: stop
    └── SinkError          a sink could not durably write (the only retryable sink error)
        └── SinkUnavailable    a sink kept failing until shutdown was requested

Each message says what was wrong and what to do about it; the CLI prints it as one line
and exits with status 2. ``tests/unit/test_errors.py`` keeps this drawing and the classes
in step, and checks that no other module defines a subclass.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ConfigError",
    "DatamoatError",
    "DeliveryError",
    "DeltaError",
    "GroupMovedOn",
    "InstanceFenced",
    "ShardError",
    "SinkError",
    "SinkUnavailable",
    "SourceTimeout",
]


class DatamoatError(Exception):
    """Base class of every error datamoat raises on purpose."""


class ConfigError(DatamoatError):
    """A flag, config file, environment variable or path is invalid; the message says how
    to fix it."""


class BrokerError(DatamoatError):
    """The Kafka broker can't be fetched, started, stopped or reached."""


class DeliveryError(DatamoatError):
    """Kafka gave up on some posts (after retrying for ``delivery_timeout_ms``)."""


class ShardError(DatamoatError):
    """A firehose worker process failed (its message says why)."""


class SourceTimeout(DatamoatError):
    """Records that must be read again could not be fetched in time."""


class DeltaError(DatamoatError):
    """A record of the partials topic is not a datamoat delta (wrong topic, or corrupt)."""


class GroupMovedOn(DatamoatError):
    """A transaction's offsets were refused because the consumer group rebalanced: the
    batch is aborted and its partitions' next owners read it again."""


class InstanceFenced(DatamoatError):
    """Another process with the same transactional id took over: this one must stop."""


class SinkError(DatamoatError):
    """A sink could not durably write its rows; nothing it was given may be assumed
    written. The only sink error the worker retries."""


class SinkUnavailable(SinkError):
    """A sink kept failing until shutdown was requested."""
