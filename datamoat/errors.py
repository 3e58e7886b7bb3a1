"""The error tree, re-exported for the application (it is drawn in :mod:`ingest.errors`)."""

from __future__ import annotations

from ingest import errors as _tree
from ingest.errors import BrokerError as BrokerError
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

__all__ = list(_tree.__all__)
