"""Every error datamoat raises on purpose, in one tree (every layer may import it).

    DatamoatError          anything datamoat raises on purpose                            exit 1
    ├── ConfigError        a bad flag, config file, environment variable or path               2
    ├── BrokerError        the broker can't be fetched or started, or a request failed         1
    │   ├── BrokerUnreachable  no Kafka broker answers at the bootstrap address               69
    │   └── AccessDenied   authentication or authorisation failed                             77
    ├── DeliveryError      Kafka gave up on some of the firehose's posts                       1
    ├── ShardError         a firehose worker process failed                                    1
    ├── SourceTimeout      records that must be read again could not be fetched in time        1
    ├── DeltaError         a record of the partials topic is not a datamoat delta              1
    ├── StateLost          the deltas a merger's state needs are no longer in Kafka           1
    ├── GroupMovedOn       the group rebalanced under a transaction: its batch is aborted      1
    ├── InstanceFenced     another process took over the transactional id: stop                1
    └── SinkError          a sink could not durably write (the only retryable sink error)      1
        └── SinkUnavailable  a sink kept failing until shutdown was requested                  1

Each message says what was wrong and what to do about it; the CLI prints it as one line
and exits with the class's ``exit_status`` (the column on the right). The exit statuses a
script can tell apart are the ``EXIT_*`` constants below, defined here and nowhere else:
besides the errors' own, 0 after a graceful stop (one Ctrl-C or SIGTERM) and 130 when a
second Ctrl-C stops at once. ``tests/unit/test_errors.py`` keeps this drawing and the
classes in step, and checks that no other module defines a subclass.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_NOPERM",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "AccessDenied",
    "BrokerError",
    "BrokerUnreachable",
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
    "StateLost",
]

#: Done; also after a graceful stop (one Ctrl-C or SIGTERM: batch committed, summary printed).
EXIT_OK = 0
#: Any failure without a status of its own.
EXIT_FAILURE = 1
#: A bad flag, config file, environment variable or path (argparse's own status too).
EXIT_USAGE = 2
#: No Kafka broker answers (sysexits.h ``EX_UNAVAILABLE``).
EXIT_UNAVAILABLE = 69
#: Kafka refused this client: authentication, authorisation or TLS verification failed
#: (sysexits.h ``EX_NOPERM``).
EXIT_NOPERM = 77
#: A second Ctrl-C stopped at once (128 + SIGINT, as a shell reports a process it killed).
EXIT_INTERRUPTED = 130


class DatamoatError(Exception):
    """Base class of every error datamoat raises on purpose."""

    #: The CLI's exit status when this error ends a command.
    exit_status: ClassVar[int] = EXIT_FAILURE


class ConfigError(DatamoatError):
    """A flag, config file, environment variable or path is invalid; the message says how
    to fix it."""

    exit_status = EXIT_USAGE


class BrokerError(DatamoatError):
    """The Kafka broker can't be fetched, started or stopped, or a request to it failed."""


class BrokerUnreachable(BrokerError):
    """No Kafka broker answers at the bootstrap address (after waiting, when told to)."""

    exit_status = EXIT_UNAVAILABLE


class AccessDenied(BrokerError):
    """Kafka refused this client: authentication or authorisation failed (or the broker's
    TLS certificate failed verification); the message names what was refused."""

    exit_status = EXIT_NOPERM


class DeliveryError(DatamoatError):
    """Kafka gave up on some posts (after retrying for ``delivery_timeout_ms``)."""


class ShardError(DatamoatError):
    """A firehose worker process failed (its message says why)."""


class SourceTimeout(DatamoatError):
    """Records that must be read again could not be fetched in time."""


class DeltaError(DatamoatError):
    """A record of the partials topic is not a datamoat delta (wrong topic, or corrupt)."""


class StateLost(DatamoatError):
    """A merger's state can't be rebuilt exactly: the deltas it needs are past the partials
    topic's retention and no usable snapshot covers them."""


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
