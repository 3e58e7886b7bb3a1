"""Records as bytes: a raw micro-batch in (the undecoded records of one or more polls,
columns side by side), and records out: one (:class:`OutRecord`), or many of one topic as
columns (:class:`OutColumns`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import polars as pl

__all__ = ["OutColumns", "OutRecord", "RawBatch"]


@dataclass(slots=True)
class RawBatch:
    """Records as they came off the transport, before decoding.

    Parallel lists (one entry per record) rather than a list of record objects: the decoder
    joins ``values`` in one call, and the rest is only read for dead letters and offsets.
    """

    values: list[bytes] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def extend(self, other: RawBatch) -> None:
        self.values.extend(other.values)
        self.keys.extend(other.keys)
        self.partitions.extend(other.partitions)
        self.offsets.extend(other.offsets)

    def without(self, partitions: set[int]) -> RawBatch:
        """This batch less the records of ``partitions`` (revoked in a rebalance)."""
        if not partitions or not self.values:
            return self
        keep = [i for i, p in enumerate(self.partitions) if p not in partitions]
        return RawBatch(
            values=[self.values[i] for i in keep],
            keys=[self.keys[i] for i in keep],
            partitions=[self.partitions[i] for i in keep],
            offsets=[self.offsets[i] for i in keep],
        )

    def next_offsets(self) -> dict[int, int]:
        """Per partition, the offset after the last record of this batch (what to commit)."""
        if not self.values:
            return {}
        frame = pl.DataFrame(
            {"p": self.partitions, "o": self.offsets}, schema={"p": pl.Int32, "o": pl.Int64}
        )
        last = frame.group_by("p").agg(pl.col("o").max() + 1)
        return dict(zip(last["p"].to_list(), last["o"].to_list(), strict=True))


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to write: topic, value, key and headers."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True, slots=True)
class OutColumns:
    """Records of one topic as two columns, every one with a key and no headers: a
    batch of signals written without an object per record."""

    topic: str
    keys: list[bytes]
    values: list[bytes]

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.values):
            raise ValueError(f"{len(self.keys)} keys for {len(self.values)} values")

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[OutRecord]:
        """The records one by one (for a writer without a bulk path)."""
        for key, value in zip(self.keys, self.values, strict=True):
            yield OutRecord(self.topic, value, key)
