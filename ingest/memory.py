"""The in-memory transport: a partitioned log in one process, standing in for Kafka.

``MemoryTopic`` is an append-only log per partition, like a Kafka topic, with two limits
Kafka enforces by other means: records a reader has committed are dropped (retention), and
a writer waits while more than ``max_backlog`` records are unconsumed (the broker's
backpressure), so a fast firehose can't fill the memory. ``MemorySource`` reads it with its
own offsets. Used by ``--transport memory`` (no broker) and by unit tests.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from ingest.batch import RawBatch
from ingest.source import Offsets, SoloSource

__all__ = ["MemorySource", "MemoryTopic"]


class MemoryTopic:
    """A partitioned log of (key, value) records; thread-safe."""

    def __init__(self, partitions: int = 6, max_backlog: int = 500_000) -> None:
        if partitions < 1:
            raise ValueError("a topic needs at least one partition")
        self.partitions = partitions
        self.max_backlog = max_backlog
        self._keys: list[list[bytes | None]] = [[] for _ in range(partitions)]
        self._values: list[list[bytes]] = [[] for _ in range(partitions)]
        self._base = [0] * partitions  # offset of the first record still held
        self._cond = threading.Condition()
        self.closed = False

    def append(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        """Append records (``partitions[i]`` is record i's); waits while the backlog is full."""
        with self._cond:
            while self._held() >= self.max_backlog and not self.closed:
                self._cond.wait(0.1)
            if len(set(partitions)) == 1:
                p = partitions[0]
                self._keys[p].extend(keys)
                self._values[p].extend(values)
            else:
                for p, k, v in zip(partitions, keys, values, strict=True):
                    self._keys[p].append(k)
                    self._values[p].append(v)
            self._cond.notify_all()

    write = append  # the PostWriter protocol

    def flush(self) -> None:
        return None

    def close(self) -> None:
        """No more records will come (a reader at the end then stops waiting)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def end_offsets(self) -> list[int]:
        with self._cond:
            return [b + len(v) for b, v in zip(self._base, self._values, strict=True)]

    def retain(self, offsets: Mapping[int, int]) -> None:
        """Drop every record before ``offsets[p]`` (they are committed)."""
        with self._cond:
            for p, offset in offsets.items():
                drop = offset - self._base[p]
                if drop > 0:
                    del self._values[p][:drop]
                    del self._keys[p][:drop]
                    self._base[p] = offset
            self._cond.notify_all()

    def read(self, positions: list[int], max_records: int, timeout_ms: int) -> RawBatch:
        """Records from ``positions`` on (advanced in place), an even share per partition."""
        batch = RawBatch()
        with self._cond:
            if not self._available(positions) and not self.closed:
                self._cond.wait(timeout_ms / 1000.0)
            share = -(-max_records // self.partitions)  # an even share each, rounded up
            for p in range(self.partitions):
                base, values = self._base[p], self._values[p]
                start = positions[p] - base
                if start < 0:
                    raise LookupError(f"offset {positions[p]} of partition {p} was dropped")
                end = min(len(values), start + share)
                if end <= start:
                    continue
                batch.values.extend(values[start:end])
                batch.keys.extend(self._keys[p][start:end])
                batch.partitions.extend([p] * (end - start))
                batch.offsets.extend(range(base + start, base + end))
                positions[p] = base + end
        return batch

    def _held(self) -> int:
        return sum(len(v) for v in self._values)

    def _available(self, positions: list[int]) -> bool:
        return any(self._base[p] + len(v) > positions[p] for p, v in enumerate(self._values))


class MemorySource(SoloSource):
    """The only reader of a :class:`MemoryTopic`: commits drop what they cover."""

    def __init__(self, topic: MemoryTopic) -> None:
        super().__init__()
        self.topic = topic
        self.positions = [0] * topic.partitions

    def read(self, max_records: int, timeout_ms: int) -> RawBatch:
        return self.topic.read(self.positions, max_records, timeout_ms)

    def commit(self, offsets: Offsets) -> None:
        super().commit(offsets)
        self.topic.retain({p: o for p, (o, _) in offsets.items()})

    def partitions(self) -> set[int]:
        return set(range(self.topic.partitions))

    def position(self, partition: int) -> int:
        return self.positions[partition]

    def backlog(self) -> dict[int, int]:
        ends = self.topic.end_offsets()
        return {p: ends[p] - self.positions[p] for p in range(self.topic.partitions)}

    def lag(self) -> dict[int, int]:
        ends = self.topic.end_offsets()
        return {p: ends[p] - self.committed_offset(p) for p in range(self.topic.partitions)}

    def exhausted(self) -> bool:
        """True once the topic is closed and everything in it has been read."""
        return self.topic.closed and not any(self.backlog().values())
