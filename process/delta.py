"""What stage one (the partition workers) hands to stage two (the merger).

A :class:`Delta` is the output of one micro-batch of one worker:

* ``partials``: per (window, key), the sums of the windows that closed in the worker's
  partitions in this batch (PARTIAL_SCHEMA plus ``unique_authors``, counted per input
  partition: the input is keyed by author, so per-partition counts add up exactly);
* ``cascades``: the batch's posts beyond their root as the cascade tracker folds them
  (FOLD_SCHEMA): cascades span partitions, so they are tracked after the merge;
* ``marks``: per input partition the worker reads, how far its windows are closed
  (:class:`Mark`); the merger closes a window once every input partition's mark has
  passed it;
* ``stats``: the batch's :class:`~process.accounting.Counts`, so the merger can report
  the whole group's throughput.

On Kafka a delta is one record of its group's partials topic (``<group>.partials``):
``b"DMD2" | header length (4 bytes, big-endian) | JSON header | Arrow IPC frames``. The
header names the delta's :class:`Origin` (the worker group and the input topic it read) and
keys the marks by input topic and partition, so a merger can tell its own deltas from any
other pipeline's. Format 1 (``b"DMD1"``, before per-group partials topics) carried no
origin; it is still decoded, with ``origin`` None, so a merger can skip it and say why.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Final

import orjson
import polars as pl

from ingest.errors import DeltaError
from process.accounting import Counts
from process.aggregate import PARTIAL_SCHEMA
from process.cascade_state import FOLD_SCHEMA

__all__ = ["DELTA_SCHEMA", "END", "Delta", "Mark", "Origin", "decode_delta", "encode_delta"]

#: ``closed_through`` of a partition whose input has ended: every window is closed.
END: Final = 2**62
DELTA_SCHEMA: Final = pl.Schema({**PARTIAL_SCHEMA, "unique_authors": pl.Int64()})
_MAGIC: Final = b"DMD2"
_MAGIC_V1: Final = b"DMD1"


@dataclass(frozen=True, slots=True)
class Origin:
    """Whose delta it is: the worker group that wrote it and the input topic it read."""

    group: str
    topic: str

    def __str__(self) -> str:
        return f"group {self.group!r} reading {self.topic!r}"


@dataclass(frozen=True, slots=True)
class Mark:
    """One input partition's progress: every window ending at or before
    ``closed_through`` (epoch ms) has been handed on; ``idle`` while the partition is
    caught up and silent, so it no longer holds the other partitions' windows open."""

    closed_through: int | None
    idle: bool = False


def _empty_partials() -> pl.DataFrame:
    return pl.DataFrame(schema=DELTA_SCHEMA)


def _empty_cascades() -> pl.DataFrame:
    return pl.DataFrame(schema=FOLD_SCHEMA)


@dataclass(frozen=True, slots=True)
class Delta:
    partials: pl.DataFrame = field(default_factory=_empty_partials)
    cascades: pl.DataFrame = field(default_factory=_empty_cascades)
    marks: dict[int, Mark] = field(default_factory=dict)
    stats: Counts = field(default_factory=Counts)
    #: Who wrote it (None in one process, and for a format-1 record).
    origin: Origin | None = None
    #: Per input partition the offsets ``[first, next)`` that hold every post the partial
    #: rows sum (a superset: from the first record of a window open before this batch); so
    #: rows that come after their window is final can be traced back to their posts.
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)

    def carries_data(self) -> bool:
        return bool(self.partials.height or self.cascades.height)


def encode_delta(delta: Delta, origin: Origin) -> bytes:
    """``delta`` as one partials record, stamped with ``origin``."""
    frames = io.BytesIO()
    sizes = []
    for frame in (delta.partials, delta.cascades):
        at = frames.tell()
        frame.write_ipc(frames, compression="lz4")
        sizes.append(frames.tell() - at)
    marks = {str(p): [m.closed_through, m.idle] for p, m in delta.marks.items()}
    header = orjson.dumps(
        {
            "group": origin.group,
            "topic": origin.topic,
            "marks": {origin.topic: marks},
            "ranges": {str(p): list(r) for p, r in delta.ranges.items()},
            "stats": delta.stats.to_json(),
            "sizes": sizes,
        }
    )
    return b"".join((_MAGIC, len(header).to_bytes(4, "big"), header, frames.getvalue()))


def decode_delta(data: bytes) -> Delta:
    """The delta in ``data``; :class:`DeltaError` when it is not one."""
    view = memoryview(data)
    try:
        magic = bytes(view[:4])
        if magic not in (_MAGIC, _MAGIC_V1):
            raise ValueError("no delta header")
        size = int.from_bytes(view[4:8], "big")
        header = orjson.loads(view[8 : 8 + size])
        at = 8 + size
        frames = []
        for n in header["sizes"]:
            frames.append(pl.read_ipc(io.BytesIO(view[at : at + n])))
            at += n
        origin = None
        marks_by_partition = header["marks"]
        if magic == _MAGIC:
            origin = Origin(str(header["group"]), str(header["topic"]))
            if set(header["marks"]) - {origin.topic}:
                raise ValueError("marks of a topic other than the delta's input")
            marks_by_partition = header["marks"].get(origin.topic, {})
        marks = {int(p): Mark(c, bool(i)) for p, (c, i) in marks_by_partition.items()}
        ranges = {int(p): (int(a), int(b)) for p, (a, b) in header.get("ranges", {}).items()}
        partials, cascades = frames
        return Delta(
            partials.cast(DELTA_SCHEMA),
            cascades.cast(FOLD_SCHEMA),
            marks,
            Counts.from_json(header["stats"]),
            origin,
            ranges,
        )
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        orjson.JSONDecodeError,
        pl.exceptions.PolarsError,
    ) as exc:
        raise DeltaError(f"not a datamoat delta record ({exc})") from None
