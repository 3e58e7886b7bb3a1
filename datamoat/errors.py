"""The error tree and the exit statuses, re-exported for the application (both are in
:mod:`ingest.errors`)."""

from __future__ import annotations

from ingest import errors as _tree
from ingest.errors import EXIT_FAILURE as EXIT_FAILURE
from ingest.errors import EXIT_INTERRUPTED as EXIT_INTERRUPTED
from ingest.errors import EXIT_NOPERM as EXIT_NOPERM
from ingest.errors import EXIT_OK as EXIT_OK
from ingest.errors import EXIT_UNAVAILABLE as EXIT_UNAVAILABLE
from ingest.errors import EXIT_USAGE as EXIT_USAGE
from ingest.errors import AccessDenied as AccessDenied
from ingest.errors import BrokerError as BrokerError
from ingest.errors import BrokerUnreachable as BrokerUnreachable
from ingest.errors import ConfigError as ConfigError
from ingest.errors import DatamoatError as DatamoatError
from ingest.errors import DeliveryError as DeliveryError
from ingest.errors import DeltaError as DeltaError
from ingest.errors import GroupMovedOn as GroupMovedOn
from ingest.errors import InstanceFenced as InstanceFenced
from ingest.errors import ShardError as ShardError
from ingest.errors import SinkError as SinkError
from ingest.errors import SinkUnavailable as SinkUnavailable
from ingest.errors import SourceTimeout as SourceTimeout
from ingest.errors import StateLost as StateLost

__all__ = list(_tree.__all__)
