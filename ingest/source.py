"""The source protocol: where raw posts come from, in batches, with offsets to commit."""

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

    def seek(self, offsets: Mapping[int, int]) -> None:
        """Continue each named partition from ``offsets[p]`` (restoring a checkpoint)."""
        ...

    def partitions(self) -> set[int]:
        """The partitions this source currently reads."""
        ...

    def lag(self) -> dict[int, int]:
        """Per assigned partition, records available but not yet polled."""
        ...

    def close(self) -> None: ...
