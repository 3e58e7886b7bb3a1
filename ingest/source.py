"""The source protocol: where raw posts come from, in batches, with offsets to commit.

A source owns its read positions: the worker never seeks. Positions move forward as
records are polled; after a rebalance (Kafka) they restart at the committed offsets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from ingest.batch import RawBatch

__all__ = ["Source"]


@runtime_checkable
class Source(Protocol):
    """A partitioned, replayable log of raw records (Kafka, or the in-memory fake)."""

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        """Up to ``max_records`` records, waiting at most ``timeout_ms`` for the first."""
        ...

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Record that every record before ``offsets[p]`` of partition ``p`` is done."""
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

    def lag(self) -> dict[int, int]:
        """Per assigned partition, consumer lag as Kafka defines it: the log-end offset
        minus the committed offset."""
        ...

    def close(self) -> None: ...
