"""The merger's snapshots in Kafka: a restart reads the newest one and the deltas after it.

Kafka Streams keeps a store's changelog in a compacted topic and commits it with the
task's offsets; the merger does the same with its whole state (:mod:`process.stage_two.snapshot`),
so a restart costs the state's size plus the deltas since the snapshot, not the run's
history.

- Every ``interval_s`` of wall time the merger's state, as it is after a batch, becomes a
  snapshot: bytes cut into chunks of at most ``chunk_bytes``. The chunks ride along the
  merger's next commits, at most ``per_commit_bytes`` each (a big state is written over
  several batches, so no batch waits for all of it), in the merger's transaction: a chunk
  is in the topic only if the batch it rode with committed.
- The batch that carries the last chunk also commits, in its partials offset's metadata,
  the snapshot's reference (:class:`SnapshotRef`): its sequence number, the partials offset
  it was taken at, where its chunks begin, their count and a digest. Until then the
  previous reference stands, so a merger killed mid-snapshot restarts from the previous one.
- Chunk keys are ``<merge group>/<slot>/<index>`` with the slot alternating between two,
  so compaction keeps the newest complete snapshot whole while the next one is written
  over the other slot.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from ingest.batch import OutRecord
from ingest.errors import SourceTimeout

__all__ = ["SNAPSHOT_INTERVAL_S", "SnapshotMissing", "SnapshotRef", "Snapshots", "StateLog"]

log = logging.getLogger("datamoat.merge")

#: Seconds between snapshots by default: a restart replays at most about this much input.
SNAPSHOT_INTERVAL_S: Final = 60.0
#: A chunk's value begins with its snapshot's sequence number, its index and the count.
_CHUNK: Final = struct.Struct(">QII")


class StateLog(Protocol):
    """Where the snapshots are (``ingest.kafka.state_log.KafkaStateLog``, or in memory)."""

    topic: str

    def end_offset(self) -> int:
        """An offset at or before where the next record will be (SourceTimeout: no answer)."""
        ...

    def records(self, start: int) -> Iterator[tuple[bytes | None, bytes | None, int]]: ...


class SnapshotMissing(RuntimeError):
    """The reference names a snapshot that is not (or no longer, whole) in the topic."""


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    seq: int
    #: The partials offset the state is at: every delta before it is in the state.
    offset: int
    #: An offset of the state topic at or before the snapshot's first chunk.
    first: int
    chunks: int
    size: int
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "offset": self.offset, "first": self.first,
                "chunks": self.chunks, "size": self.size, "digest": self.digest}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> SnapshotRef | None:
        """The reference in ``data`` (None: no usable reference)."""
        try:
            return cls(int(data["seq"]), int(data["offset"]), int(data["first"]),
                       int(data["chunks"]), int(data["size"]), str(data["digest"]))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None


def _digest(blob: bytes) -> str:
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


@dataclass
class _Writing:
    ref: SnapshotRef
    records: list[OutRecord]
    sent: int = 0


@dataclass
class Snapshots:
    """The snapshots of merge group ``name`` in ``state``."""

    state: StateLog
    name: str
    interval_s: float = SNAPSHOT_INTERVAL_S
    chunk_bytes: int = 512 * 1024
    per_commit_bytes: int = 8 * 1024 * 1024
    monotonic: Callable[[], float] = time.monotonic
    #: The newest complete snapshot (committed), if any.
    latest: SnapshotRef | None = None
    written: int = 0
    _writing: _Writing | None = None
    _last_at: float | None = None
    _taken: list[int] = field(default_factory=list)

    def key(self, seq: int, index: int) -> bytes:
        return f"{self.name}/{seq % 2}/{index}".encode()

    # --- writing ----------------------------------------------------------------------

    def due(self) -> bool:
        """True when a snapshot should be taken now (none is being written)."""
        if self._writing is not None or self.interval_s <= 0:
            return False
        now = self.monotonic()
        if self._last_at is None:
            self._last_at = now  # the first one an interval after start (restore is fresh)
        return now - self._last_at >= self.interval_s

    def start(self, blob: bytes | Callable[[], bytes], offset: int) -> None:
        """Write ``blob`` (or what it makes), the state at partials offset ``offset``, over
        the next commits; with the broker away, skipped until the next interval (the
        previous snapshot stands) before anything is serialised."""
        self._last_at = self.monotonic()
        try:
            first = self.state.end_offset()
        except SourceTimeout as exc:
            log.warning("merger snapshot skipped (%s); the next in %.0f s", exc, self.interval_s)
            return
        if callable(blob):
            blob = blob()
        seq = self.latest.seq + 1 if self.latest is not None else 1
        step = self.chunk_bytes
        pieces = [blob[at : at + step] for at in range(0, len(blob), step)] or [b""]
        ref = SnapshotRef(seq, offset, first, len(pieces), len(blob), _digest(blob))
        records = [
            OutRecord(self.state.topic, _CHUNK.pack(seq, i, len(pieces)) + piece, self.key(seq, i))
            for i, piece in enumerate(pieces)
        ]
        self._writing = _Writing(ref, records)

    def take(self) -> tuple[list[OutRecord], SnapshotRef | None]:
        """The chunks for the next commit, and the reference when they complete it."""
        w = self._writing
        if w is None:
            return [], None
        budget, end = self.per_commit_bytes, w.sent
        while end < len(w.records) and (end == w.sent or budget >= len(w.records[end].value)):
            budget -= len(w.records[end].value)
            end += 1
        self._taken = [w.sent, end]
        return w.records[w.sent : end], w.ref if end == len(w.records) else None

    def committed(self) -> None:
        """The commit with the chunks of the last :meth:`take` went through."""
        w = self._writing
        if w is None or not self._taken:
            return
        w.sent = self._taken[1]
        self._taken = []
        if w.sent == len(w.records):
            self.latest, self._writing = w.ref, None
            self.written += 1
            log.debug("merger snapshot %d: %d bytes at partials offset %d",
                      w.ref.seq, w.ref.size, w.ref.offset)  # fmt: skip

    # --- reading ----------------------------------------------------------------------

    def read(self, ref: SnapshotRef) -> bytes:
        """The snapshot ``ref`` names, whole and checked."""
        pieces: dict[int, bytes] = {}
        prefix = f"{self.name}/{ref.seq % 2}/".encode()
        for key, value, _ in self.state.records(ref.first):
            if not (key and value and key.startswith(prefix) and len(value) >= _CHUNK.size):
                continue  # another group's or slot's, or a tombstone
            seq, index, count = _CHUNK.unpack_from(value)
            if seq == ref.seq and count == ref.chunks:
                pieces[index] = value[_CHUNK.size :]
                if len(pieces) == ref.chunks:
                    break
        if len(pieces) != ref.chunks:
            raise SnapshotMissing(
                f"snapshot {ref.seq} has {len(pieces)} of its {ref.chunks} chunks in "
                f"{self.state.topic} from offset {ref.first}"
            )
        blob = b"".join(pieces[i] for i in range(ref.chunks))
        if len(blob) != ref.size or _digest(blob) != ref.digest:
            raise SnapshotMissing(f"snapshot {ref.seq} in {self.state.topic} fails its digest")
        return blob
