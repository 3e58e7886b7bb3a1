"""The source protocol: a partitioned, replayable input with commits and rebalances.

A source owns its read positions: the worker never seeks. Positions move forward as records
are polled; after a rebalance they restart at the committed offsets, and the source tells
its listener (the worker) first, so the partitions' state can move with them. Every commit
carries, per partition, the offset of the next record to read and the metadata the worker
stores with it (the partition's resume point).

Kafka's consumer group (:class:`ingest.kafka.source.KafkaSource`) is the full case. A
source that is the only reader of its partitions (the in-memory topic, an NDJSON file)
satisfies the protocol through :class:`SoloSource`: its partitions never move, nothing is
read twice, and there is no group to fence with, so those parts are trivial. The worker
calls the same methods whatever the source is, and never asks which it has.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ingest.batch import RawBatch

__all__ = ["Committed", "Offsets", "PartitionListener", "SoloSource", "Source"]

#: ``{partition: (next offset, metadata)}``: what a commit records.
Offsets = Mapping[int, tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Committed:
    """A partition's committed offset and the metadata stored with it."""

    offset: int
    metadata: str = ""


class PartitionListener(Protocol):
    """Told of partitions moving, before any record of an assigned one is returned."""

    def revoked(self, partitions: set[int]) -> None: ...

    def assigned(self, committed: dict[int, Committed | None]) -> None: ...


class Source(Protocol):
    """A partitioned, replayable log of raw records."""

    #: Outages of the input so far (the broker away), and their seconds.
    outages: int
    outage_s: float

    @property
    def down(self) -> bool:
        """True while the last poll failed (the broker is away)."""
        ...

    @property
    def joined(self) -> bool:
        """Reading as a member of its group (readiness: not while joining, rebalancing or
        cut off from the group's coordinator)."""
        ...

    # --- reading --------------------------------------------------------------------------

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        """Up to ``max_records`` records, waiting at most ``timeout_ms`` for the first."""
        ...

    def read_range(self, partition: int, start: int, end: int) -> RawBatch:
        """Records ``[start, end)`` of ``partition`` again (positions untouched): to rebuild
        the open windows of a partition taken over."""
        ...

    def partitions(self) -> set[int]:
        """The partitions this source currently reads."""
        ...

    def position(self, partition: int) -> int:
        """The offset of the next record this source will read from ``partition``."""
        ...

    def backlog(self) -> dict[int, int]:
        """Per assigned partition, records available but not yet polled."""
        ...

    def listened_s(self) -> float:
        """Seconds this source has been in unbroken contact with its input, up to now. A
        partition's silence counts towards idleness only while it is heard: time with the
        broker away, or with this reader not asking, is no evidence that nothing came."""
        ...

    def lag(self) -> dict[int, int]:
        """Per assigned partition, consumer lag as Kafka defines it: the log-end offset
        minus the committed offset."""
        ...

    def pause(self) -> None:
        """Stop returning records (back-pressure) while :meth:`poll` keeps membership."""
        ...

    def resume(self) -> None: ...

    # --- rebalances -----------------------------------------------------------------------

    @property
    def rebalancing(self) -> bool:
        """True between a revocation and the assignment that follows it."""
        ...

    def take_revoked(self) -> set[int]:
        """Partitions that moved to another reader since the last call: their records
        polled before are read again by their next owner, so drop them."""
        ...

    def rewind(self) -> None:
        """Go back to the committed offsets of every partition (after an aborted batch),
        telling the listener as on an assignment."""
        ...

    # --- committing -----------------------------------------------------------------------

    def commit(self, offsets: Offsets) -> None:
        """Record that every record before ``offsets[p][0]`` of partition ``p`` is done,
        with ``offsets[p][1]`` as its metadata."""
        ...

    def all_committed(self) -> dict[int, Committed | None]:
        """The committed offsets of every partition of the input, read or not."""
        ...

    def group_metadata(self) -> Any:
        """What a transaction needs to fence readers of a past generation (None: none)."""
        ...

    def close(self) -> None: ...


class SoloSource(ABC):
    """The trivial adapter: a source that is the only reader of its partitions.

    Subclasses read (:meth:`read`) and say where they stand; this gives the rest of
    :class:`Source`: commits kept in memory (with their metadata), pausing, and the
    rebalance calls of a reader whose partitions never move.
    """

    down = False
    joined = True  # no group to join
    outages = 0
    outage_s = 0.0

    def __init__(self) -> None:
        self.commits: dict[int, Committed] = {}
        self._paused = False

    @abstractmethod
    def read(self, max_records: int, timeout_ms: int) -> RawBatch:
        """Up to ``max_records`` new records, waiting at most ``timeout_ms``."""

    @abstractmethod
    def partitions(self) -> set[int]: ...

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        if self._paused:
            time.sleep(timeout_ms / 1000.0)
            return RawBatch()
        return self.read(max_records, timeout_ms)

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def listened_s(self) -> float:
        return math.inf  # in this process: never out of touch

    def commit(self, offsets: Offsets) -> None:
        self.commits.update({p: Committed(o, m) for p, (o, m) in offsets.items()})

    def committed_offset(self, partition: int) -> int:
        c = self.commits.get(partition)
        return 0 if c is None else c.offset

    def all_committed(self) -> dict[int, Committed | None]:
        return {p: self.commits.get(p) for p in self.partitions()}

    @property
    def rebalancing(self) -> bool:
        return False  # the partitions never move

    def take_revoked(self) -> set[int]:
        return set()

    def read_range(self, partition: int, start: int, end: int) -> RawBatch:
        # Only a partition taken over from another reader is read again; there is none.
        raise LookupError(f"partition {partition} has no other reader: nothing to read again")

    def rewind(self) -> None:
        return None  # no group rebalances under a batch: nothing is aborted

    def group_metadata(self) -> Any:
        return None

    def close(self) -> None:
        return None
